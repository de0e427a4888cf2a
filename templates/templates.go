// Package templates renders the messages Beckon sends: embedded defaults
// for invite.email, invite.sms and invite.reminder.email in English and
// French, text/template for subjects, text and SMS, html/template for HTML.
// No free text from an inviter reaches a recipient: names and titles pass
// through Sanitize first, for messages and pages alike.
package templates

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Template names.
const (
	InviteEmail   = "invite.email"
	InviteSMS     = "invite.sms"
	ReminderEmail = "invite.reminder.email"
)

// DefaultLocale is the last locale of every fallback chain.
const DefaultLocale = "en"

//go:embed defaults
var defaults embed.FS

// Data is what a template may use.
type Data struct {
	// Product is the product named in messages (BECKON_PRODUCT_NAME).
	Product      string
	InviterName  string
	InviterEmail string
	ChatTitle    string
	// ChatKind is "one_on_one" or "group", as in the invite.
	ChatKind        string
	External        bool
	Link            string
	UnsubscribeLink string
	ExpiresAt       string
}

// Rendered is a rendered message; SMS uses Text only.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Set is a parsed set of templates by name and locale.
type Set struct {
	byKey map[string]compiled // "name/locale"
}

// Key names a template in a locale.
type Key struct {
	Name   string
	Locale string
}

// DefaultSources returns the embedded templates, the version 1 of each
// name in en and fr.
func DefaultSources() (map[Key]Source, error) {
	entries, err := fs.ReadDir(defaults, "defaults")
	if err != nil {
		return nil, err
	}
	out := map[Key]Source{}
	for _, e := range entries {
		// invite.email.en.subject → name invite.email, locale en, part subject
		base := e.Name()
		part := base[strings.LastIndexByte(base, '.')+1:]
		rest := strings.TrimSuffix(base, "."+part)
		locale := rest[strings.LastIndexByte(rest, '.')+1:]
		k := Key{strings.TrimSuffix(rest, "."+locale), locale}
		body, err := fs.ReadFile(defaults, "defaults/"+base)
		if err != nil {
			return nil, err
		}
		src := out[k]
		v := strings.TrimRight(string(body), "\n")
		switch part {
		case PartSubject:
			src.Subject = v
		case PartText:
			src.Text = v
		case PartHTML:
			src.HTML = v
		default:
			return nil, fmt.Errorf("template %s: unknown part %q", base, part)
		}
		out[k] = src
	}
	return out, nil
}

// Defaults parses the embedded templates.
func Defaults() (*Set, error) {
	srcs, err := DefaultSources()
	if err != nil {
		return nil, err
	}
	s := &Set{byKey: map[string]compiled{}}
	for k, src := range srcs {
		c, probs := compile(k.Name, src)
		if len(probs) > 0 {
			return nil, fmt.Errorf("template %s/%s: %w", k.Name, k.Locale, errInvalid(probs))
		}
		s.byKey[k.Name+"/"+k.Locale] = c
	}
	return s, nil
}

// Locales returns the fallback chain of a locale: fr-CA → fr-ca, fr, en.
func Locales(locale string) []string {
	l := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
	var out []string
	if l != "" {
		out = append(out, l)
		if lang, _, ok := strings.Cut(l, "-"); ok {
			out = append(out, lang)
		}
	}
	return append(out, DefaultLocale)
}

// Render renders template name for the first locale of locale's fallback
// chain that has it. It returns the locale used.
func (s *Set) Render(name, locale string, d Data) (Rendered, string, error) {
	for _, l := range Locales(locale) {
		c, ok := s.byKey[name+"/"+l]
		if !ok {
			continue
		}
		r, p := c.render(d)
		if p != nil {
			return r, l, fmt.Errorf("render %s/%s %s, line %d: %s", name, l, p.Part, p.Line, p.Reason)
		}
		return r, l, nil
	}
	return Rendered{}, "", fmt.Errorf("no template %s for %q", name, locale)
}

// Message is Render for the invite service: the embedded templates are
// version 1.
func (s *Set) Message(_ context.Context, name, locale string, d Data) (Rendered, Used, error) {
	r, l, err := s.Render(name, locale, d)
	return r, Used{Locale: l, Version: 1}, err
}

// gsm7 is the GSM 03.38 basic character set; gsm7ext costs two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7ext = "^{}\\[~]|€\f"
)

// SMSSegments returns the encoding an SMS of text needs and how many
// segments it takes: GSM-7 (160 septets, 153 a segment when split) or UCS-2
// (70 characters, 67 when split; characters outside the BMP take two).
func SMSSegments(text string) (encoding string, segments int) {
	encoding, segments, _ = SMSInfo(text)
	return encoding, segments
}

// SMSInfo is SMSSegments that also returns the characters (each once, in
// order) that are not GSM-7 and so force UCS-2.
func SMSInfo(text string) (encoding string, segments int, ucs2 []string) {
	septets := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			if c := string(r); !slices.Contains(ucs2, c) {
				ucs2 = append(ucs2, c)
			}
		}
	}
	if len(ucs2) == 0 {
		return "GSM-7", count(septets, 160, 153), nil
	}
	units := len([]rune(text))
	for _, r := range text {
		if r > 0xFFFF {
			units++
		}
	}
	return "UCS-2", count(units, 70, 67), ucs2
}

func count(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
