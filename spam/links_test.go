package spam_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/spam"
)

func TestLinks(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"None", "hello, how are you? e.g. see file.txt or readme", nil},
		{"Scheme", "go to https://Evil.COM/path?x=1 now", []string{"evil.com"}},
		{"SchemeLess", "visit evil.com/promo today", []string{"evil.com"}},
		{"WWW", "www.evil.example", []string{"www.evil.example"}},
		{"TrailingPunctuation", "look: evil.com. And evil.net! (evil.org), «evil.io»", []string{"evil.com", "evil.net", "evil.org", "evil.io"}},
		{"UpperCase", "EVIL.COM/X", []string{"evil.com"}},
		{"Port", "http://evil.com:8080/x", []string{"evil.com"}},
		{"UserInfo", "http://google.com@evil.com/login", []string{"evil.com"}},
		{"Email", "write to bob@evil.com", nil},
		{"ObfuscatedScheme", "hxxp://evil.com/x", []string{"evil.com"}},
		{"Glued", "hello:https://evil.com", []string{"evil.com"}},
		{"BracketDot", "evil[.]com", []string{"evil.com"}},
		{"FullWidth", "ｅｖｉｌ．ｃｏｍ", []string{"evil.com"}},
		{"IdeographicDot", "evil。com", []string{"evil.com"}},
		{"ZeroWidth", "ev\u200bil.c\u200dom", []string{"evil.com"}},
		{"SoftHyphen", "evil\u00ad.com", []string{"evil.com"}},
		{"Unicode", "https://bücher.example/x", []string{"xn--bcher-kva.example"}},
		{"UnicodeBare", "bücher.de", []string{"xn--bcher-kva.de"}},
		{"Punycode", "xn--bcher-kva.de", []string{"xn--bcher-kva.de"}},
		{"Percent", "http://%65vil.com/", []string{"evil.com"}},
		{"Backslash", "http:\\\\evil.com\\x", []string{"evil.com"}},
		{"IPv4 (a bare dotted quad is a version or a score)", "http://192.0.2.7/x and 198.51.100.1", []string{"192.0.2.7"}},
		{"Markdown", "[click](https://evil.com/a)", []string{"evil.com"}},
		{"Subdomain", "https://a.b.evil.com", []string{"a.b.evil.com"}},
		{"Once", "evil.com evil.com/x EVIL.com", []string{"evil.com"}},
		{"FileExtension", "open report.pdf and main.go", nil},
		{"VersionNumber", "v1.2 is out", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := spam.Links(c.text); !slices.Equal(got, c.want) {
				t.Fatalf("Links(%q) = %q; want %q", c.text, got, c.want)
			}
		})
	}
}

func TestParseDomain(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Evil.COM", "evil.com"},
		{"evil.com.", "evil.com"},
		{" bücher.example ", "xn--bcher-kva.example"},
		{"zip", "zip"},
		{"192.0.2.7", "192.0.2.7"},
		{"", ""},
		{"evil.com/x", ""},
		{"http://evil.com", ""},
		{"a..b", ""},
		{"bad domain", ""},
		{"user@evil.com", ""},
		{"2130706433", "127.0.0.1"}, // every numeric form a link reads
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"1.2.3.999999999999", ""}, // names no link can have
		{"-", ""},
		{"_", ""},
		{"-evil.com", ""},
		{"evil-.com", ""},
		{"evil.c0m", ""},
	} {
		got, err := spam.ParseDomain(c.in)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, c := range []struct {
		host, domain string
		want         bool
	}{
		{"evil.com", "evil.com", true},
		{"a.b.evil.com", "evil.com", true},
		{"notevil.com", "evil.com", false},
		{"evil.com.au", "evil.com", false},
		{"x.zip", "zip", true},
	} {
		if got := spam.HostMatches(c.host, c.domain); got != c.want {
			t.Errorf("HostMatches(%q, %q) = %v", c.host, c.domain, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello,   WORLD!!", "helloworld"},
		{"Order #12345 costs $99.90", "order0costs0"},
		{"see https://evil.com/track?id=abc123 now", "seeevilcomnow"},
		{"ｆｕｌｌ width", "fullwidth"},
		{"E.a.r.n  e a r n", "earnearn"},
		{"еаrn mоneу", "earnmoney"},
		{"ea‎rN⁣ ́️͏money", "earnmoney"},
	} {
		if got := spam.Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// shared reports how many bands two texts' fingerprints share.
func shared(f *spam.Fingerprinter, a, b string) int {
	fa, _ := f.Fingerprint(a)
	fb, _ := f.Fingerprint(b)
	n := 0
	for i := range fa {
		if fa[i] == fb[i] {
			n++
		}
	}
	return n
}

func TestFingerprint(t *testing.T) {
	f := spam.NewFingerprinter([]byte("test key of the fingerprints"))
	base := "Hi Bob! Earn 500 dollars a day working from home, no experience needed. Reply YES to start."
	for _, c := range []struct {
		name, text string
		alike      bool
	}{
		{"Same", base, true},
		{"OtherName", "Hi Alice! Earn 500 dollars a day working from home, no experience needed. Reply YES to start.", true},
		{"OtherNumbers", "Hi Bob! Earn 750 dollars a day working from home, no experience needed. Reply YES to start!!", true},
		{"Case", "HI BOB! EARN 500 DOLLARS A DAY WORKING FROM HOME, NO EXPERIENCE NEEDED. REPLY YES TO START.", true},
		{"Different", "Dear colleague, the quarterly report is attached; let me know what you think of section three.", false},
		{"Rephrased", "Would you like to make money at home? Tell me and I will explain how it works for you.", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := shared(f, base, c.text); (n > 0) != c.alike {
				t.Fatalf("%d bands shared; alike = %v", n, c.alike)
			}
		})
	}
	t.Run("Short", func(t *testing.T) {
		if _, ok := f.Fingerprint("hi there, thanks!"); ok {
			t.Fatal("a short text has a fingerprint")
		}
	})
	t.Run("Keyed", func(t *testing.T) {
		a, _ := f.Fingerprint(base)
		b, _ := spam.NewFingerprinter([]byte("another key, another database")).Fingerprint(base)
		for i := range a {
			if a[i] == b[i] {
				t.Fatalf("band %d is the same under two keys", i)
			}
		}
	})
}

func sharedBands(a, b spam.Fingerprint) int {
	n := 0
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				n++
			}
		}
	}
	return n
}

// TestNearDuplicateEvasion: every variant is the same campaign as a
// recipient reads it (lookalike letters, invisible characters, letters
// spaced with dots), and shares bands with the original.
func TestNearDuplicateEvasion(t *testing.T) {
	f := spam.NewFingerprinter([]byte("0123456789abcdef"))
	base, _ := f.Fingerprint(offer)
	every := func(s string, n int, ins string) string {
		var b strings.Builder
		for i, r := range []rune(s) {
			b.WriteRune(r)
			if i%n == n-1 {
				b.WriteString(ins)
			}
		}
		return b.String()
	}
	homo := strings.NewReplacer("a", "\u0430", "e", "\u0435", "o", "\u043e", "i", "\u0456").Replace(offer)
	variants := map[string]string{
		"cyrillic homoglyphs (а е о і)": homo,
		"LRM U+200E every 3 runes":      every(offer, 3, "\u200e"),
		"U+2063 invisible sep every 3":  every(offer, 3, "\u2063"),
		"CGJ U+034F every 3 runes":      every(offer, 3, "\u034f"),
		"variation selector U+FE0F":     every(offer, 3, "\ufe0f"),
		"letter-spaced with dots":       every(offer, 1, "."),
	}
	for name, v := range variants {
		fp, ok := f.Fingerprint(v)
		if !ok || sharedBands(base, fp) == 0 {
			t.Errorf("%s: evades the near-duplicate rule", name)
		}
	}
}

// TestLinksNumericHosts: numeric hosts a browser opens are links, read as
// the dotted address; a bare dotted quad in prose is not.
func TestLinksNumericHosts(t *testing.T) {
	for s, want := range map[string]string{"http://3232235777/login": "192.168.1.1", "http://0x7f000001/": "127.0.0.1",
		"http://[2001:db8::1]/x": "[2001:db8::1]", "http://127.1/": "127.0.0.1", "http://0177.0.0.1/": "127.0.0.1"} {
		if got := spam.Links(s); len(got) != 1 || got[0] != want {
			t.Errorf("Links(%q) = %v; want [%s]", s, got, want)
		}
	}
	for _, s := range []string{"please update to 1.2.3.4 first", "the score was 10.20.30.40"} {
		if got := spam.Links(s); len(got) != 0 {
			t.Errorf("Links(%q) = %v: not a link (false positive, links_unaccepted rejects it)", s, got)
		}
	}
}

// TestBadDomainAfterManyLinks: a listed domain behind 64 harmless links is
// still found.
func TestBadDomainAfterManyLinks(t *testing.T) {
	en := setup(t, testenv.SQLite(t))
	d := spam.NewDomains(en.db, time.Hour, en.clock.now)
	if _, err := d.Put(context.Background(), "evil.com"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 64 {
		fmt.Fprintf(&b, "https://ok%d.example.org ", i)
	}
	b.WriteString("https://evil.com/login")
	m := &spam.Message{Message: request.Message{Sender: "s1", Recipient: "r1", Text: b.String()}}
	bad, err := spam.BadDomainRule{Domains: d}.Spam(context.Background(), m)
	if err != nil || !bad {
		t.Fatalf("bad = %v, %v: a link to a listed domain passes after 64 other links (%d bytes)", bad, err, b.Len())
	}
}

// TestDomainsReloadOutlivesRequest: the read of the list once its copy is
// stale serves every check, so the request that happens to start it (here
// one already cancelled, as a client that hung up) does not cut it short
// and leave the node on its old copy for another TTL.
func TestDomainsReloadOutlivesRequest(t *testing.T) {
	en := setup(t, testenv.SQLite(t))
	a := spam.NewDomains(en.db, time.Minute, en.clock.now)
	b := spam.NewDomains(en.db, time.Minute, en.clock.now)
	ctx := context.Background()
	if bad, err := a.Bad(ctx, "evil.com"); err != nil || bad {
		t.Fatalf("before: %v %v", bad, err)
	}
	if _, err := b.Put(ctx, "evil.com"); err != nil {
		t.Fatal(err)
	}
	en.clock.add(time.Minute)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if bad, err := a.Bad(gone, "evil.com"); err != nil || !bad {
		t.Fatalf("after the TTL, from a cancelled request: bad = %v, %v", bad, err)
	}
}

// TestListedNumericHostMatches: a numeric host listed in any form is the
// host a link to any other form of it reads as.
func TestListedNumericHostMatches(t *testing.T) {
	en := setup(t, testenv.SQLite(t))
	d := spam.NewDomains(en.db, time.Hour, en.clock.now)
	if _, err := d.Put(context.Background(), "0x7f.1"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"http://2130706433/x", "see http://127.0.0.1/login", "http://0177.0.0.1"} {
		m := &spam.Message{Message: request.Message{Sender: "s1", Recipient: "r1", Text: text}}
		if bad, err := (spam.BadDomainRule{Domains: d}).Spam(context.Background(), m); err != nil || !bad {
			t.Errorf("%q: bad = %v, %v", text, bad, err)
		}
	}
}
