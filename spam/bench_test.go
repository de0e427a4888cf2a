package spam_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/spam"
)

// syllables make the words of the benchmarks' texts: 16 words of two or
// three syllables each, drawn anew for every message, so that two texts
// are as unlike as two people's messages are.
var syllables = strings.Fields("ka lo mi ne ru ta vo shi an el or ub pre tra ste gle mon dar fin zu qui bel")

// sentence returns the i-th text.
func sentence(i int) string {
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	next := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	out := make([]string, 16)
	for j := range out {
		w := ""
		for range 2 + next()%2 {
			w += syllables[next()%uint64(len(syllables))]
		}
		out[j] = w
	}
	return strings.Join(out, " ") + "."
}

// benchScreen is the screen app.New builds but the reputation (every
// built-in rule, on SQLite, a few listed domains, the default thresholds).
// The benchmarks spread their messages over enough senders that no rule
// fires for a normal sender: every message pays for every rule.
func benchScreen(b *testing.B) (*spam.Screen, *env) {
	return benchScreenOn(b, testenv.SQLite(b))
}

func benchScreenOn(b *testing.B, e testenv.Engine) (*spam.Screen, *env) {
	en := setup(b, e)
	domains := spam.NewDomains(en.db, 0, nil)
	for _, d := range []string{"evil.com", "phish.example", "xn--bcher-kva.example"} {
		if _, err := domains.Put(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
	return spam.NewScreen(spam.Config{Rules: spam.Builtin(en.db, domains, nil, en.fp, spam.DefaultLimits())}), en
}

// BenchmarkScreen is the spam screen's cost per pre-acceptance message,
// in process on SQLite: plain (a sentence, no link: one read, one write),
// short (no fingerprint: one read), link (a link from a sender nobody
// accepted: rejected after the domain list and one read), campaign (one
// sender, one text, to ever more recipients: rejected), and plain from
// several goroutines at once.
func BenchmarkScreen(b *testing.B) {
	ctx := context.Background()
	screen, _ := benchScreen(b)
	var n atomic.Int64
	msg := func(sender, text string) request.Message {
		i := n.Add(1)
		if sender == "" {
			sender = fmt.Sprintf("s%d", i%500)
		}
		return request.Message{Sender: sender, Recipient: fmt.Sprintf("r%d", i), ChatID: "c", Text: text}
	}
	for _, c := range []struct {
		name, sender string
		text         func(i int) string
		spam         bool
	}{
		{"plain", "", sentence, false},
		{"short", "", func(int) string { return "hello there" }, false},
		{"link", "", func(int) string { return "the form is at https://forms.example.org/x" }, true},
		{"campaign", "spammer", func(int) string { return sentence(1) }, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				got, err := screen.Spam(ctx, msg(c.sender, c.text(i)))
				if err != nil || (got != c.spam && (c.name != "campaign" || i > 5)) {
					b.Fatalf("message %d: spam = %v, %v", i, got, err)
				}
			}
		})
	}
	b.Run("plain-parallel", func(b *testing.B) {
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := screen.Spam(ctx, msg("", sentence(int(seq.Add(1))))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkScreenPostgres is BenchmarkScreen's plain and short on
// PostgreSQL (the test server, prepared statements).
func BenchmarkScreenPostgres(b *testing.B) {
	ctx := context.Background()
	screen, _ := benchScreenOn(b, testenv.Postgres(b))
	var n int
	for _, c := range []struct {
		name string
		text func(i int) string
	}{{"plain", sentence}, {"short", func(int) string { return "hello there" }}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n++
				m := request.Message{Sender: fmt.Sprintf("s%d", n%500), Recipient: fmt.Sprintf("r%d", n), ChatID: "c", Text: c.text(n)}
				if got, err := screen.Spam(ctx, m); err != nil || got {
					b.Fatalf("spam = %v, %v", got, err)
				}
			}
		})
	}
}

// BenchmarkCheck is the gate's check of a pre-acceptance message with and
// without the screen, in process on SQLite: the difference is what the
// screen adds to POST /v1/requests/check. 500 senders (tenant acme) write
// to 2000 personal recipients, each message to a recipient new to its
// sender, in their own words.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	screen, en := benchScreen(b)
	dir := directory.NewService(en.db)
	const senders, recipients = 500, 2000
	for i := range recipients {
		in := directory.AccountInput{ID: fmt.Sprintf("b%d", i), DisplayName: "B", Identifiers: []string{fmt.Sprintf("b%d@mail.example", i)}}
		if i < senders {
			in = directory.AccountInput{ID: fmt.Sprintf("t%d", i), TenantID: "acme", DisplayName: "T", Identifiers: []string{fmt.Sprintf("t%d@acme.com", i)}}
			if _, err := dir.PutAccount(ctx, in); err != nil {
				b.Fatal(err)
			}
			in = directory.AccountInput{ID: fmt.Sprintf("b%d", i), DisplayName: "B", Identifiers: []string{fmt.Sprintf("b%d@mail.example", i)}}
		}
		if _, err := dir.PutAccount(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	for _, c := range []struct {
		name   string
		screen request.Screen
	}{{"noscreen", request.NoScreen{}}, {"screen", screen}} {
		b.Run(c.name, func(b *testing.B) {
			gate := request.NewService(en.db, c.screen)
			for b.Loop() {
				n++
				m := request.Message{Sender: fmt.Sprintf("t%d", n%senders), Recipient: fmt.Sprintf("b%d", (n/senders+n)%recipients),
					ChatID: "c", Text: sentence(n)}
				d, err := gate.Check(ctx, m)
				if err != nil || d.Reason == request.ReasonSpam {
					b.Fatalf("check %d: %+v %v", n, d, err)
				}
			}
		})
	}
}

// BenchmarkFingerprint is the CPU part of the near-duplicate rule.
func BenchmarkFingerprint(b *testing.B) {
	f := spam.NewFingerprinter([]byte("key"))
	text := sentence(42)
	for b.Loop() {
		f.Fingerprint(text)
	}
}

// BenchmarkLinks is the link parser on a text with two links.
func BenchmarkLinks(b *testing.B) {
	text := "Hello, see https://Forms.Example.org/x?id=1 or evil.com/y before Friday, thanks!"
	for b.Loop() {
		spam.Links(text)
	}
}
