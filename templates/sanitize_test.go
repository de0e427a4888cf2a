package templates_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/beckon-chat/beckon/templates"
)

// hostile are inviter-chosen names and titles that try to carry a
// destination, markup or invisible text to a recipient, with exactly what
// is left of them.
var hostile = []struct{ name, in, want string }{
	// Links with a scheme.
	{"HTTP", "http://x", ""},
	{"HTTPSInSentence", "Free money at https://evil.example/x", "Free money at"},
	{"Hxxp", "hxxps://evil[.]com/login", ""},
	{"JavaScript", "javascript:alert(1)", ""},
	{"JavaScriptMixedCase", "JaVaScRiPt:alert(1)", ""},
	{"JavaScriptBare", "javascript:", ""},
	{"JavaScriptZeroWidth", "java\u200bscript:alert(1)", ""},
	{"VBScript", "vbscript:msgbox(1)", ""},
	{"Data", "data:text/html,hi", ""},
	{"Mailto", "mailto:a@b", ""},
	{"Tel", "tel:+15550100", ""},
	// Domains.
	{"Bare", "Call evil.com", "Call"},
	{"WWW", "Visit www.evil.com now", "Visit now"},
	{"WWWNoTLD", "www.evil", ""},
	{"Shortener", "bit.ly/x", ""},
	{"UnknownTLD", "evil.zzz", ""},
	{"InitialDomain", "x.ai", ""},
	{"Telegram", "t.me/scam", ""},
	{"SecondLevel", "evil.co.uk", ""},
	{"Upper", "EVIL.COM", ""},
	{"Path", "Evil.Com/Login", ""},
	{"TLDPrefix", "evil.com-login", ""},
	{"Subdomains", "paypal.com.evil.xyz", ""},
	{"IDN", "пример.рф", ""},
	{"Punycode", "xn--80ak6aa92e.com", ""},
	{"PunycodeTLD", "evil.xn--p1ai", ""},
	{"CyrillicTLD", "evil.сом", ""},
	{"Markdown", "[click](evil.com)", ""},
	{"Emoji", "I \u2665 \U0001f44d\u200d.ws", "I \u2665"},
	// Obfuscated dots.
	{"BracketDot", "evil[.]com", ""},
	{"ParenDot", "evil(.)com", ""},
	{"BraceDotWord", "evil{dot}com", ""},
	{"BracketDotWordSpaced", "evil [dot] com", ""},
	{"DotWord", "Meet me at evil dot com", "Meet me at"},
	{"AtDot", "scam(at)evil(dot)com", ""},
	{"SpaceBeforeDot", "evil .com", ""},
	{"SpaceAfterDot", "evil. com", ""},
	{"SpacesAroundDot", "evil . com", ""},
	{"SpacedLetters", "e v i l . c o m", "e v i"},
	{"NoBreakSpace", "evil\u00a0.com", ""},
	{"LineSeparator", "evil\u2028.com", ""},
	{"ParagraphSeparator", "Eve\u2029evil.com", "Eve"},
	// Look-alike dots.
	{"IdeographicFullStop", "evil\u3002com", ""},
	{"FullwidthFullStop", "evil\uff0ecom", ""},
	{"HalfwidthIdeographicFullStop", "evil\uff61com", ""},
	{"OneDotLeader", "evil\u2024com", ""},
	{"SmallFullStop", "evil\ufe52com", ""},
	{"RaisedDot", "evil\u2e33com", ""},
	{"MiddleDot", "evil\u00b7com", ""},
	{"KatakanaMiddleDot", "evil\u30fbcom", ""},
	{"Fullwidth", "ＥＶＩＬ．ＣＯＭ", ""},
	{"IdeographicSpaceAndFullwidth", "Visit\u3000evil．ｃｏｍ", "Visit"},
	{"DotThenSpace", "Visit evil\u3002 com now", "Visit now"},
	// Combining marks.
	{"Strikethrough", "evil.c\u0336om", ""},
	{"Tilde", "evil.c\u0303om", ""},
	{"Enclosing", "evil.com\u20dd", ""},
	{"EnclosingCircle", "Eve\u20dd", "Eve"},
	{"Zalgo", "Z\u0351\u0352\u0353\u0354\u0355\u0356algo", "Z\u0353\u0354\u0355algo"}, // marks in canonical order, three kept,
	// Addresses.
	{"IPv4Path", "192.168.13.37/login", ""},
	{"IPv4Port", "10.0.0.1:8080", ""},
	{"IPv4", "1.2.3.4", ""},
	{"IPv4Hex", "0x7f.1", ""},
	{"IPv4Decimal", "2130706433", ""},
	{"IPv6Loopback", "[::1]", ""},
	{"IPv6LinkLocal", "fe80::1", ""},
	{"IPv6Port", "[2001:db8::1]:443", ""},
	{"IPv6Full", "2001:db8:0:0:0:0:0:1", ""},
	{"Email", "mail me: bad@evil.com", "mail me:"},
	{"Handle", "@scammer", ""},
	// Phone numbers.
	{"PhoneUS", "Call +1 888 555 0100 now", "Call now"},
	{"PhoneFR", "call 0033 6 12 34 56 78", "call"},
	{"PhoneParens", "+33 (0)6 12 34 56 78", ""},
	{"PhoneFullwidth", "１２３４５６７８９", ""},
	{"PhoneFullwidthSentence", "Ｃａｌｌ ＋１ ８８８ ５５５ ０１００", "Call"},
	{"PhoneArabicIndic", "٠١٢٣٤٥٦٧٨٩", ""},
	{"PhoneWhatsApp", "WhatsApp +447700900123", "WhatsApp"},
	{"PhoneEmoji", "Mallory 📞 +44 20 7946 0958", "Mallory 📞"},
	// Markup.
	{"Img", "<img src=x onerror=alert(1)>", ""},
	{"Script", "Bob <script>alert(1)</script> Smith", "Bob alert(1) Smith"},
	{"Anchor", "<a href=x>", ""},
	{"Unclosed", "unclosed <a href='x'", "unclosed"},
	{"Bold", "<b>bold</b>", "bold"},
	{"SVG", "<svg/onload=alert(1)>", ""},
	{"NumericReferences", "&#x3C;script&#x3E;", "script"},
	{"NamedReferences", "&lt;b&gt;", "b"},
	{"FullwidthAngles", "＜b＞hi", "hi"},
	// Invisible and control characters.
	{"ZeroWidthInDomain", "ev\u200bil.com", ""},
	{"RightToLeftOverride", "Eve\u202eoll\u202c", "Eveoll"},
	{"ReversedDomain", "\u202emoc.live", ""},
	{"ControlCharacters", "Tab\tand\nnewline\x00", "Tab and newline"},
	{"GraphemeJoiner", "ev\u034fil.com", ""},
	{"InvalidUTF8", "Eve\xff\xfeil", "Eveil"},
}

// legitimate names and titles come out unchanged.
var legitimate = []string{
	"Alice Martin", "Chloé Dupont", "François-Xavier O'Neil", "Zoë", "José María", "李小龙", "Ελένη",
	"Анна", "محمد", "Dr. Smith", "J.R.R. Tolkien", "Quote 2026", "Zoë Ångström-Ölund",
	"Nguyễn Thị Minh Khai", "Marcel·lí Domingo", "R.K.Narayan", "Mrs. Green", "Ms. Li", "Dr. Ng",
	"St. John's", "Apt. 4B", "ジョン・スミス", "שָׁלוֹם", "Søren Kierkegaard", "Björk Guðmundsdóttir",
	"Łukasz Żółć", "Straße", "Renée 🎉", "Team 🇫🇷", "Family 👨\u200d👩\u200d👧", "Team: Sales",
	"Big data: plans", "Q3: Plan", "10:30 standup", "Budget 2.5", "Room 101", "Tom & Jerry", "AT&T",
	"Mary-Jane", "J.Doe", "A.Sharma",
}

func TestSanitize(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			if got := templates.Sanitize(c.in); got != c.want {
				t.Errorf("Sanitize(%q) = %q; want %q", c.in, got, c.want)
			}
		})
	}
	t.Run("Keeps", func(t *testing.T) {
		for _, in := range legitimate {
			if got := templates.Sanitize(in); got != in {
				t.Errorf("Sanitize(%q) = %q; want it unchanged", in, got)
			}
		}
	})
	t.Run("Folds", func(t *testing.T) {
		for in, want := range map[string]string{
			"  lots    of   space  ":        "lots of space",
			strings.Repeat("abcdefghij", 6): strings.Repeat("abcdefghij", 4),
			"Ｊｏｈｎ":                          "John",
			"\ufb01nance":                   "finance",
		} {
			if got := templates.Sanitize(in); got != want {
				t.Errorf("Sanitize(%q) = %q; want %q", in, got, want)
			}
		}
	})
}

func FuzzSanitize(f *testing.F) {
	for _, c := range hostile {
		f.Add(c.in)
	}
	for _, in := range legitimate {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := templates.Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) = %q: not UTF-8", in, out)
		}
		if n := utf8.RuneCountInString(out); n > templates.MaxNameRunes {
			t.Fatalf("Sanitize(%q) = %q: %d runes", in, out, n)
		}
		if again := templates.Sanitize(out); again != out {
			t.Fatalf("Sanitize(%q) = %q, but Sanitize(%q) = %q", in, out, out, again)
		}
		if why := unsafeText(out); why != "" {
			t.Fatalf("Sanitize(%q) = %q: %s", in, out, why)
		}
		if why := linkLike(out); why != "" {
			t.Fatalf("Sanitize(%q) = %q: %s", in, out, why)
		}
	})
}

// unsafeText says what in s is not plain, visible, folded text.
func unsafeText(s string) string {
	if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
		return "white space not folded"
	}
	if strings.ContainsAny(s, "<>") {
		return "angle bracket"
	}
	rs := []rune(s)
	marks := 0
	for i, r := range rs {
		switch {
		case r == '\u200d' && i > 0 && i+1 < len(rs): // joins an emoji sequence
		case r == ' ':
		case !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r):
			return "invisible or control character " + string(r)
		case unicode.Is(unicode.Me, r) || r >= 0x334 && r <= 0x338:
			return "enclosing or overlay mark"
		}
		if unicode.Is(unicode.Mn, r) {
			if marks++; marks > 3 {
				return "more than three marks in a row"
			}
		} else {
			marks = 0
		}
	}
	return ""
}

// linkLike says what in s a recipient could follow, open or call. It
// states the policy again without the sanitiser's regular expressions.
func linkLike(s string) string {
	t := strings.ToLower(s)
	for _, bad := range []string{"://", ":/", `:\`, "@", "xn--", "javascript:", "vbscript:", "::"} {
		if strings.Contains(t, bad) {
			return "contains " + bad
		}
	}
	if reference(t) {
		return "character reference"
	}
	if strings.HasPrefix(t, "www.") || strings.Contains(t, " www.") {
		return "www."
	}
	for _, scheme := range []string{"http", "https", "data", "mailto", "tel", "sms", "ftp", "file", "tg", "whatsapp", "skype"} {
		for i := 0; ; {
			j := strings.Index(t[i:], scheme+":")
			if j < 0 {
				break
			}
			j += i
			before, _ := utf8.DecodeLastRuneInString(t[:j])
			after, _ := utf8.DecodeRuneInString(t[j+len(scheme)+1:])
			if (j == 0 || !inWord(before)) && after != utf8.RuneError && after != ' ' {
				return "scheme " + scheme
			}
			i = j + 1
		}
	}
	rs := []rune(t)
	digits := 0
	for i, r := range rs {
		switch {
		case unicode.IsDigit(r):
			if digits++; digits >= 7 {
				return "seven digits"
			}
		case strings.ContainsRune(" ()+/_", r) || unicode.Is(unicode.Pd, r) || isDot(r):
		default:
			digits = 0
		}
		if r == '0' && i+2 < len(rs) && rs[i+1] == 'x' && strings.ContainsRune("0123456789abcdef", rs[i+2]) && (i == 0 || !inWord(rs[i-1])) {
			return "0x"
		}
	}
	if groups(rs, isDot, func(r rune) bool { return r >= '0' && r <= '9' }) >= 4 {
		return "IPv4"
	}
	if groups(rs, func(r rune) bool { return r == ':' }, func(r rune) bool { return strings.ContainsRune("0123456789abcdef", r) }) >= 4 {
		return "IPv6"
	}
	return domainLike(rs)
}

// groups returns the longest run of non-empty groups of in-runes joined by
// single sep-runes.
func groups(rs []rune, sep, in func(rune) bool) int {
	best, n, size := 0, 0, 0
	for _, r := range rs {
		switch {
		case in(r):
			if size == 0 {
				n++
			}
			size++
		case sep(r) && size > 0:
			size = 0
		default:
			n, size = 0, 0
			continue
		}
		best = max(best, n)
	}
	return best
}

// reference reports an HTML character reference: &#65, &#x41, &lt;, &lt.
func reference(t string) bool {
	hex := func(s string) bool { return s != "" && strings.ContainsAny(s[:1], "0123456789abcdef") }
	word := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	for i := range t {
		if t[i] != '&' {
			continue
		}
		rest := t[i+1:]
		if strings.HasPrefix(rest, "#x") && hex(rest[2:]) || strings.HasPrefix(rest, "#") && hex(rest[1:]) {
			return true
		}
		n := 0
		for n < len(rest) && word(rest[n]) {
			n++
		}
		if n > 0 && rest[0] >= 'a' && n < len(rest) && rest[n] == ';' {
			return true
		}
		for _, legacy := range []string{"lt", "gt", "amp", "quot", "apos", "nbsp"} {
			if strings.HasPrefix(rest, legacy) { // HTML decodes &ampx as &x
				return true
			}
		}
	}
	return false
}

var shortTLDs = strings.Fields("com net org info biz xyz top app dev io co me ru cn uk su tk ml ga cf gq cc tv ws gg")

// domainLike looks around every dot (a middle dot only before a Latin
// letter, and not in l·l) for a label before it and two letters after it,
// a space allowed on either side; after a dot and a space, the word "dot"
// or an initial, only the common TLDs count. Dots may be written [.]
// (dot) {punkt}.
func domainLike(rs []rune) string {
	rs = bracketedDots(rs)
	for i, r := range rs {
		if !isDot(r) {
			continue
		}
		b := i - 1
		spaceBefore := b >= 0 && rs[b] == ' '
		if spaceBefore {
			b--
		}
		a := i + 1
		spaceAfter := a < len(rs) && rs[a] == ' '
		if spaceAfter {
			a++
		}
		if b < 0 || !isLabel(rs[b]) {
			continue
		}
		if strings.ContainsRune("·∙⋅‧⸱ᐧ・", r) && (a == len(rs) || rs[a] > unicode.MaxASCII || !unicode.IsLetter(rs[a]) ||
			r == '·' && !spaceBefore && !spaceAfter && (rs[b] == 'l' || rs[b] == 'L') && (rs[a] == 'l' || rs[a] == 'L')) {
			continue
		}
		initial := b == 0 || !isLabel(rs[b-1])
		tld := letters(rs[a:])
		if spaced := spacedLetters(rs[a:]); len([]rune(spaced)) > 1 && contains(shortTLDs, spaced) {
			return "domain ." + spaced
		}
		switch n := len([]rune(tld)); {
		case n < 2:
		case contains(shortTLDs, tld):
			return "domain ." + tld
		case spaceAfter && !spaceBefore, initial && n > 2:
		default:
			return "domain ." + tld
		}
	}
	words := strings.Fields(string(rs))
	for i := 0; i+2 < len(words); i++ {
		if contains([]string{"dot", "punkt", "point", "punto"}, words[i+1]) && isLabel([]rune(words[i])[len([]rune(words[i]))-1]) &&
			contains(shortTLDs, letters([]rune(words[i+2]))) {
			return "domain dot " + words[i+2]
		}
	}
	return ""
}

// bracketedDots rewrites [.] (dot) {punkt} and the like, with any spaces
// around and inside, as ".".
func bracketedDots(rs []rune) []rune {
	s := string(rs)
	if !strings.ContainsAny(s, "[({") {
		return rs
	}
	for _, pair := range []string{"[]", "()", "{}"} {
		for _, d := range []string{".", "。", "dot", "punkt", "point", "punto", "⸳", "·", "・"} {
			for _, in := range []string{d, " " + d, d + " ", " " + d + " "} {
				form := pair[:1] + in + pair[1:]
				s = strings.ReplaceAll(s, " "+form+" ", ".")
				s = strings.ReplaceAll(s, " "+form, ".")
				s = strings.ReplaceAll(s, form+" ", ".")
				s = strings.ReplaceAll(s, form, ".")
			}
		}
	}
	return []rune(s)
}

// letters returns the leading letters of rs, lower-cased, without marks.
func letters(rs []rune) string {
	var b strings.Builder
	for _, r := range []rune(norm.NFD.String(string(rs))) {
		if unicode.IsMark(r) {
			continue
		}
		if !unicode.IsLetter(r) {
			break
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// spacedLetters returns "com" for "c o m ...": single letters one space
// apart.
func spacedLetters(rs []rune) string {
	var b strings.Builder
	for i := 0; i < len(rs) && unicode.IsLetter(rs[i]) && (i+1 == len(rs) || !isLabel(rs[i+1])); i += 2 {
		b.WriteRune(rs[i])
		if i+1 == len(rs) || rs[i+1] != ' ' {
			break
		}
	}
	return b.String()
}

func isDot(r rune) bool { return strings.ContainsRune(".。⸳⸼ꓸ܁܂·∙⋅‧⸱ᐧ・", r) }

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// inWord reports runes that make 0x or a scheme part of a longer word.
func inWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) }

func isLabel(r rune) bool {
	return isAlnum(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.So, r) || r == '-' || r == '_'
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
