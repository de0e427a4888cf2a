package spam

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// lookup turns a host into the ASCII form browsers resolve (punycode for
// internationalised names, after the mapping of UTS #46: case, width).
var lookup = idna.New(idna.MapForLookup(), idna.Transitional(false))

// Links returns the hosts of the links in text, lower-case ASCII (punycode
// for internationalised names), without port, user or trailing dot, each
// once, in order. It finds what a chat client would make clickable and
// what a spammer writes to get past a filter: http(s):// and other schemes
// (hxxp://), scheme-less hosts (evil.com/x, www.evil.com), upper case,
// full-width letters and dots, zero-width characters inside a name,
// "[.]" for a dot, percent-encoded hosts, user@ before the host, trailing
// punctuation. A bare name (no scheme, no www.) counts only when its last
// label is a common generic or a country top-level domain (so "file.txt",
// "main.go" or "e.g." are not links); e-mail addresses are not links.
//
// Every link of the text is read (the gate caps a text at 32 KiB): a
// listed domain behind any number of harmless links is found. With a
// scheme, numeric IPv4 hosts in every form a browser accepts (dotted,
// decimal, hex, octal, shortened) are read as the dotted address, and a
// bracketed IPv6 literal as itself; without one, a dotted quad is not a
// link (version numbers, scores).
func Links(text string) []string {
	text = clean(text)
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for rest := text; ; {
		i := strings.Index(rest, "://[")
		if i < 0 {
			break
		}
		rest = rest[i+4:]
		if j := strings.IndexByte(rest, ']'); j > 0 && strings.Contains(rest[:j], ":") && !strings.ContainsFunc(rest[:j], separator) {
			add("[" + rest[:j] + "]")
		}
	}
	for _, tok := range strings.FieldsFunc(text, separator) {
		for _, h := range tokenHosts(tok) {
			add(h)
		}
	}
	return out
}

// invisible are characters a spammer puts inside a name so that a filter
// reading the text sees no name, while clients that strip them show one.
var invisible = strings.NewReplacer(
	"\u00ad", "", "\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "", "\u180e", "",
	// Dots that IDNA maps to a full stop, and the usual written-out dots.
	"\u3002", ".", "\uff0e", ".", "\uff61", ".", "[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".",
	"\\", "/",
)

// clean folds compatibility forms (full-width letters, ligatures), removes
// invisible characters — those listed and every format character,
// variation selector and default-ignorable code point (LRM, U+2061–2064,
// CGJ, U+FE0F…), which clients do not show — and lower-cases.
func clean(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			return -1
		}
		return r
	}, norm.NFKC.String(text))
	return strings.ToLower(invisible.Replace(text))
}

// separator splits a text into candidate tokens: spaces and characters
// that cannot be part of a host and that wrap links in prose or markup.
func separator(r rune) bool {
	if unicode.IsSpace(r) || unicode.IsControl(r) {
		return true
	}
	switch r {
	case '<', '>', '"', '\'', '(', ')', '[', ']', '{', '}', '|', ',', ';', '`', '«', '»', '“', '”', '‘', '’':
		return true
	}
	return false
}

// tokenHosts returns the hosts in one token: after "://" when there is
// one, else each ':'-separated part that has the shape of a host.
func tokenHosts(tok string) []string {
	if i := strings.Index(tok, "://"); i >= 0 {
		if h, ok := host(tok[i+3:], true); ok {
			return []string{h}
		}
		return nil
	}
	if strings.HasPrefix(tok, "//") {
		if h, ok := host(tok[2:], true); ok {
			return []string{h}
		}
		return nil
	}
	var out []string
	for _, part := range strings.Split(tok, ":") {
		if h, ok := host(part, false); ok {
			out = append(out, h)
		}
	}
	return out
}

// host reads the host at the start of s (what follows a scheme, or a bare
// token). With scheme, user@ is dropped; without, a token with '@' is an
// e-mail address, not a link.
func host(s string, scheme bool) (string, bool) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if !scheme {
			return "", false
		}
		s = s[at+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && scheme {
		s = s[:i]
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil {
			s = strings.ToLower(u)
		}
	}
	s = strings.TrimFunc(s, edgePunct)
	if ip, ok := ipv4(s); ok {
		return ip, scheme // a bare dotted quad is a version number or a score
	}
	if s == "" || !strings.Contains(s, ".") {
		return "", false
	}
	h, err := lookup.ToASCII(s)
	if err != nil && !ascii(h) {
		return "", false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !validLabel(l) {
			return "", false
		}
	}
	tld := labels[len(labels)-1]
	if !letters(tld) && !strings.HasPrefix(tld, "xn--") {
		return "", false
	}
	if !scheme && labels[0] != "www" && !commonTLD(tld) {
		return "", false
	}
	return h, true
}

// edgePunct is what may stand before or after a link in prose.
func edgePunct(r rune) bool {
	switch r {
	case '.', ',', ';', ':', '!', '?', '*', '_', '~', '-', '+', '=', '&', '$', '^', '\'', '"':
		return true
	}
	return false
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func letters(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return s != ""
}

// ipv4 reads s as a browser reads a numeric host (WHATWG URL): one to
// four parts, each decimal, hex (0x) or octal (leading 0), the last one
// filling the remaining bytes; it returns the dotted address.
func ipv4(s string) (string, bool) {
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if s == "" || len(parts) > 4 {
		return "", false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			p, base = p[2:], 16
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil && !(p == "" && base == 16) {
			return "", false
		}
		nums[i] = n
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return "", false
	}
	addr := last
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return "", false
		}
		addr |= n << (8 * (3 - i))
	}
	return fmt.Sprintf("%d.%d.%d.%d", addr>>24, addr>>16&255, addr>>8&255, addr&255), true
}

// tlds are the top-level domains that make a bare name a link: common
// generic ones and every country code; any punycode one does too.
var tlds = setOf(`com net org info biz xyz top online site club shop store app dev page
	link click live life pro tech space website fun buzz win bid loan men date party review stream
	icu vip work email today world money cash finance bank crypto trade market deals sale bet casino
	games game download zip mov rest cam monster cyou sbs cfd lol mobi name asia tel gov edu int
	ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw by bz
	ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk
	fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir
	is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk
	ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl
	pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy sz tc
	td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw`)

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func commonTLD(t string) bool { return tlds[t] || strings.HasPrefix(t, "xn--") }

// HostMatches reports whether host is domain or one of its subdomains.
func HostMatches(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}
