package templates

import (
	"strconv"
	"time"
)

// monthNames are the month names of each language that dates are written
// in, January first.
var monthNames = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
}

// FormatDate writes the day of t (in t's location) the way a sentence of
// locale's language does: "8 December 2026" in English, "8 décembre 2026"
// (and "1er décembre 2026") in French. A locale follows the fallback
// chain of Locales (fr-CA → fr → en).
func FormatDate(t time.Time, locale string) string {
	lang := DefaultLocale
	for _, l := range Locales(locale) {
		if _, ok := monthNames[l]; ok {
			lang = l
			break
		}
	}
	day := strconv.Itoa(t.Day())
	if lang == "fr" && t.Day() == 1 {
		day = "1er"
	}
	return day + " " + monthNames[lang][t.Month()-1] + " " + strconv.Itoa(t.Year())
}
