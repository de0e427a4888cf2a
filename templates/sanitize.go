package templates

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes is how much of an inviter's name or a chat title reaches a
// recipient.
const MaxNameRunes = 40

// Sanitize makes an inviter-chosen string (a display name or a chat title)
// safe to show a recipient, in a message or on a page. It
//
//   - applies NFKC (fullwidth letters, digits and dots become ASCII);
//   - removes format characters (zero-width characters, bidi overrides;
//     only a joiner inside an emoji sequence stays), turns control
//     characters, line and paragraph separators and every other
//     non-graphic rune into a space, and drops overlay and enclosing
//     combining marks (evil.c̶om) and any mark past the third on one letter;
//   - removes markup (tags, character references, any < or >);
//   - removes runs of seven or more digits, separators allowed between them
//     (phone numbers, decimal IP addresses);
//   - removes every word that holds a domain name: a label, a dot and two
//     letters or more, however the dot is written (evil.com, evil。com,
//     evil[.]com, evil(dot)com, evil .com). After a dot and a space
//     ("Dr. Smith"), the word "dot" or an initial ("A.Sharma"), only the
//     TLDs in shortTLDs count ("evil. com", "evil dot com", "t.me");
//   - removes every word with a scheme (javascript:, data:, hxxp://, …), an
//     @ (addresses, handles), www., xn--, an IPv4 or IPv6 literal or 0x;
//   - folds white space and cuts the result to MaxNameRunes.
//
// Removed things leave a space, so that what is left cannot join into a new
// link; the steps repeat until nothing changes, which makes Sanitize
// idempotent. The result may be empty (callers then use a neutral word).
func Sanitize(s string) string {
	s = strings.ToValidUTF8(s, "")
	for range 8 {
		t := clean(normalize(s))
		if t == s {
			return t
		}
		s = t
	}
	return "" // never seen: fail closed rather than loop
}

// clean runs the removals once and cuts the result.
func clean(s string) string {
	s = markup.ReplaceAllString(s, " ")
	words := strings.Fields(removeDomains(strings.Join(strings.Fields(s), " ")))
	kept := words[:0]
	for _, w := range words {
		if !linkWord.MatchString(w) {
			kept = append(kept, w)
		}
	}
	s = strings.Join(strings.Fields(phone.ReplaceAllString(strings.Join(kept, " "), " ")), " ")
	if utf8.RuneCountInString(s) > MaxNameRunes {
		s = strings.TrimSpace(string([]rune(s)[:MaxNameRunes]))
	}
	return s
}

// maxMarks is how many combining marks one letter keeps: Vietnamese needs
// two (ễ), pointed Hebrew and Tibetan stacks three.
const maxMarks = 3

// normalize applies NFKC, removes invisible runes and unusual combining
// marks, and turns every other non-graphic rune into a space.
func normalize(s string) string {
	var b strings.Builder
	marks, prev := 0, ' '
	rs := []rune(norm.NFKD.String(s))
	for i, r := range rs {
		switch {
		case r == '\u200d' && i+1 < len(rs) && emoji(prev) && emoji(rs[i+1]):
			// a zero-width joiner inside an emoji sequence (👩‍💻) stays
		case unicode.Is(unicode.Cf, r) || r == '\u034f': // invisible: zero-width, bidi, grapheme joiner
			continue
		case unicode.In(r, unicode.Mn, unicode.Me):
			marks++
			if marks <= maxMarks && !unusualMark(r) {
				b.WriteRune(r)
				prev = r
			}
			continue
		case unicode.IsSpace(r) || !unicode.IsGraphic(r):
			r = ' '
		}
		marks, prev = 0, r
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// emoji reports runes an emoji sequence joins: symbols, skin tones and
// the emoji presentation selector.
func emoji(r rune) bool { return r == '\ufe0f' || unicode.In(r, unicode.So, unicode.Sk) }

// unusualMark reports marks that strike through, enclose or overlay a
// letter rather than accent it.
func unusualMark(r rune) bool {
	return unicode.Is(unicode.Me, r) ||
		r >= '\u0334' && r <= '\u0338' || // overlays: tilde, strokes, solidus
		r >= '\u20d0' && r <= '\u20ff' || // marks for symbols
		r >= '\ufe20' && r <= '\ufe2f' // half marks
}

// dots are read as a dot in a domain name once NFKC has run (it turns
// U+FF0E, U+2024 and U+FE52 into "." and U+FF61 into U+3002); middleDots
// only before a Latin letter, so that ジョン・スミス keeps its dot.
const (
	dots       = ".\u3002\u2e33\u2e3c\ua4f8\u0701\u0702"
	middleDots = "\u00b7\u2219\u22c5\u2027\u2e31\u1427\u30fb"
)

// schemes are URL schemes that make a word a link when something follows
// their colon; javascript:, vbscript: and anything:// always do.
const schemes = `https?|hxxps?|s?ftps?|file|data|blob|about|view-source|mailto|tel|sms|smsto|mms|callto|facetime(-audio)?|skype|sips?|tg|whatsapp|viber|intent|market|itms(-[a-z]+)?|wss?|ircs?|geo|maps|news|nntp|magnet|bitcoin|zoommtg|slack|discord|ms-[a-z-]+`

var (
	// markup matches tags (closed or not), character references and any
	// stray angle bracket.
	markup = regexp.MustCompile(`(?i)<[/!?]?\pL[^<>]*>?|&#x?[0-9a-f]+;?|&[a-z][a-z0-9]*;|&(lt|gt|amp|quot|apos|nbsp)|[<>]`)
	// phone matches seven or more digits with separators between them.
	phone = regexp.MustCompile(`[+(]*\p{Nd}(?:[ ()+/_\p{Pd}` + regexp.QuoteMeta(dots+middleDots) + `]*\p{Nd}){6,}\)?`)
	// linkWord matches a word (no spaces) that is or holds a link.
	linkWord = regexp.MustCompile(`(?i)@|:[/\\]|^[/\\]{2}|xn--|^www\d*[` + regexp.QuoteMeta(dots+middleDots) + `]|::|(^|[^\pL\pN\pM])0x[0-9a-f]|` +
		`(java|vb|live)script:|(^|[^\pL\pN\pM])(` + schemes + `):.|` +
		`\d+([` + regexp.QuoteMeta(dots+middleDots) + `]\d+){3}|[0-9a-f]+(:[0-9a-f]*){3,}`)
)

// shortTLDs are the top-level domains that make a link even after a dot
// and a space or the word "dot" ("evil. com", "evil dot com", where
// "Dr. Smith" stays), or after an initial ("t.me", where "A.Sharma" stays).
var shortTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "info": true, "biz": true, "xyz": true, "top": true,
	"app": true, "dev": true, "io": true, "co": true, "me": true, "ru": true, "cn": true,
	"uk": true, "su": true, "tk": true, "ml": true, "ga": true, "cf": true, "gq": true,
	"cc": true, "tv": true, "ws": true, "gg": true,
}

// lookAlikes maps Cyrillic and Greek letters that look Latin to the Latin
// letter, so that "evil. сом" (Cyrillic) is read as "evil. com".
var lookAlikes = map[rune]rune{
	'а': 'a', 'с': 'c', 'е': 'e', 'о': 'o', 'р': 'p', 'х': 'x', 'у': 'y', 'і': 'i', 'ј': 'j',
	'ѕ': 's', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ο': 'o', 'ν': 'v', 'ι': 'i', 'κ': 'k',
	'ρ': 'p', 'α': 'a', 'τ': 't', 'υ': 'u', 'м': 'm', 'к': 'k', 'т': 't', 'п': 'n', 'г': 'r',
}

// Separators between two labels, by how sure they make a domain.
const (
	noDot   = iota
	dot     // "evil.com", "evil .com", "evil[.]com", "evil(dot)com"
	weakDot // "Dr. Smith", "evil dot com": a domain only before shortTLDs
)

// removeDomains replaces with a space every word that holds a domain name:
// a label, a dot and a top-level domain of two letters or more, whatever
// the TLD (no list is needed to see evil.zzz as a link). Labels are runs of
// letters, digits, marks, symbols (emoji domains), "-" and "_"; what is
// between two labels decides whether they are a name and a TLD.
func removeDomains(s string) string {
	labels := labelSpans(s)
	text := func(i int) string { return s[labels[i][0]:labels[i][1]] }
	// letterFollows reports a single-rune label i, a space and a letter.
	letterFollows := func(i int) bool {
		return i+1 < len(labels) && utf8.RuneCountInString(text(i)) == 1 && s[labels[i][1]:labels[i+1][0]] == " " &&
			utf8.RuneCountInString(text(i+1)) == 1 && leadingLetters(text(i+1)) != ""
	}
	// starts and ends bound the word (between spaces) holding each label.
	starts, ends := make([]int, len(labels)), make([]int, len(labels))
	for i, at, from := 0, 0, 0; i < len(labels); i++ {
		if j := strings.LastIndexByte(s[from:labels[i][0]], ' '); j >= 0 {
			at = from + j + 1
		}
		starts[i], from = at, labels[i][1]
	}
	for i, at, to := len(labels)-1, len(s), len(s); i >= 0; i-- {
		if j := strings.IndexByte(s[labels[i][1]:to], ' '); j >= 0 {
			at = labels[i][1] + j
		}
		ends[i], to = at, labels[i][0]
	}
	var drop [][2]int
	for i := 0; i+1 < len(labels); i++ {
		gap, next := s[labels[i][1]:labels[i+1][0]], i+1
		kind := separator(text(i), gap, text(i+1))
		if kind == noDot && i+2 < len(labels) && isDotWord(text(i+1)) {
			kind, next = dotWord(gap, s[labels[i+1][1]:labels[i+2][0]]), i+2
		}
		if kind == noDot {
			continue
		}
		// The TLD is the label's leading letters ("com" of "com-login").
		tld, last := foldTLD(leadingLetters(text(next))), next
		n := utf8.RuneCountInString(tld)
		initial := utf8.RuneCountInString(text(i)) == 1 && n > 2 // A.Sharma, R.K.Narayan
		domain := n >= 2 && (kind == dot && !initial || shortTLDs[tld])
		// Or the longest common TLD spelt in single letters: "c o m".
		for j, spelt, spelling := next, tld, !domain; spelling && letterFollows(j); j++ {
			spelt += foldTLD(text(j + 1))
			if shortTLDs[spelt] {
				domain, last = true, j+1
			}
		}
		if !domain {
			continue
		}
		drop = append(drop, [2]int{starts[i], ends[last]})
	}
	if len(drop) == 0 {
		return s
	}
	var b strings.Builder
	at := 0
	for _, d := range drop {
		if d[0] > at {
			b.WriteString(s[at:d[0]])
			b.WriteByte(' ')
		}
		at = max(at, d[1])
	}
	b.WriteString(s[at:])
	return b.String()
}

// labelSpans returns the byte spans of the maximal runs of label runes.
func labelSpans(s string) [][2]int {
	var spans [][2]int
	start := -1
	for i, r := range s {
		in := unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.So) || r == '-' || r == '_'
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			spans = append(spans, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		spans = append(spans, [2]int{start, len(s)})
	}
	return spans
}

// separator classifies the gap between two labels: a dot alone, after a
// space or in brackets is a dot; followed by a space only, a weak dot.
// Catalan l·l (Marcel·lí) is no dot.
func separator(before, gap, after string) int {
	g := strings.ReplaceAll(gap, " ", "")
	if strings.HasPrefix(g, "[") || strings.HasPrefix(g, "(") || strings.HasPrefix(g, "{") {
		if len(g) > 2 && closes(g[0], g[len(g)-1]) && isDot(g[1:len(g)-1], after) {
			return dot
		}
		return noDot
	}
	switch {
	case !isDot(g, after), gap == "·" && strings.HasSuffix(strings.ToLower(before), "l") && strings.HasPrefix(strings.ToLower(after), "l"):
		return noDot
	case gap == g || gap[0] == ' ':
		return dot
	}
	return weakDot
}

// isDot reports whether d, before a label, is one dot: a middle dot only
// before a Latin letter.
func isDot(d, after string) bool {
	r, n := utf8.DecodeRuneInString(d)
	switch {
	case n == 0 || n != len(d):
		return false
	case strings.ContainsRune(dots, r):
		return true
	}
	return strings.ContainsRune(middleDots, r) && after != "" && after[0] < utf8.RuneSelf && unicode.IsLetter(rune(after[0]))
}

// dotWord classifies the gaps around the word "dot" between two labels:
// bracketed ("evil [dot] com") it is a dot, between spaces a weak dot.
func dotWord(before, after string) int {
	b, a := strings.TrimSpace(before), strings.TrimSpace(after)
	switch {
	case before == " " && after == " ":
		return weakDot
	case len(b) == 1 && len(a) == 1 && closes(b[0], a[0]):
		return dot
	}
	return noDot
}

func closes(open, close byte) bool {
	return open == '[' && close == ']' || open == '(' && close == ')' || open == '{' && close == '}'
}

func isDotWord(w string) bool {
	switch strings.ToLower(w) {
	case "dot", "punkt", "point", "punto":
		return true
	}
	return false
}

func leadingLetters(label string) string {
	for i, r := range label {
		if !unicode.In(r, unicode.L, unicode.M) {
			return label[:i]
		}
	}
	return label
}

// foldTLD lower-cases a TLD, drops its combining marks and reads look-alike
// letters as Latin.
func foldTLD(t string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(t)) {
		if unicode.Is(unicode.M, r) {
			continue
		}
		if l, ok := lookAlikes[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return b.String()
}
