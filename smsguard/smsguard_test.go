package smsguard_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/smsguard"
	"github.com/beckon-chat/beckon/store"
)

func TestPrefix(t *testing.T) {
	for _, c := range []struct{ number, prefix, redacted string }{
		{"+447812345678", "+44781", "+44781*******"},
		{"+33612345678", "+33612", "+33612******"},
		{"+14155550100", "+1415", "+1415*******"},
		{"+3524621", "+35246", "+35246**"}, // a short national number: two digits
		{"not a number", "", "[number]"},
		{"", "", "[number]"},
	} {
		if got := smsguard.Prefix(c.number); got != c.prefix {
			t.Errorf("Prefix(%q) = %q; want %q", c.number, got, c.prefix)
		}
		if got := smsguard.Redact(c.number); got != c.redacted {
			t.Errorf("Redact(%q) = %q; want %q", c.number, got, c.redacted)
		}
	}
}

func TestPumped(t *testing.T) {
	th := smsguard.DefaultThresholds()
	for _, c := range []struct {
		name string
		st   smsguard.Stats
		want bool
	}{
		{"Quiet", smsguard.Stats{Recent: 3, Baseline: 168, Day: 24, DayAccepted: 5}, false},
		// No history: taken as one an hour, so 20 in two hours is 10×.
		{"NewPrefixSurgeNeverAccepted", smsguard.Stats{Recent: 40, Day: 40}, true},
		{"BelowMinimum", smsguard.Stats{Recent: 29, Day: 29}, false},
		// Normal is 10 an hour (1680 a week): 10× over two hours is 200.
		{"BusyPrefixUsualRate", smsguard.Stats{Recent: 25, Baseline: 1680, Day: 240}, false},
		{"BusyPrefixNineTimes", smsguard.Stats{Recent: 180, Baseline: 1680, Day: 400}, false},
		{"BusyPrefixTenTimes", smsguard.Stats{Recent: 200, Baseline: 1680, Day: 400}, true},
		// A fifth of the normal traffic is accepted (48 a day): those
		// acceptances do not hide a surge nobody accepts.
		{"NormalAcceptancesDoNotHide", smsguard.Stats{Recent: 200, Baseline: 1680, BaselineAccepted: 336, Day: 440, DayAccepted: 48}, true},
		{"SurgeAlsoAccepted", smsguard.Stats{Recent: 200, Baseline: 1680, BaselineAccepted: 336, Day: 440, DayAccepted: 60}, false},
		// Surging but accepted: a campaign, not pumping. Normal is one an
		// hour, the excess 276: 2% of it is 5.52.
		{"SurgeAccepted", smsguard.Stats{Recent: 200, Baseline: 168, Day: 300, DayAccepted: 30}, false},
		{"SurgeAcceptedUnderTwoPercent", smsguard.Stats{Recent: 200, Baseline: 168, Day: 300, DayAccepted: 5}, true},
		{"SurgeAcceptedOverTwoPercent", smsguard.Stats{Recent: 200, Baseline: 168, Day: 300, DayAccepted: 6}, false},
	} {
		if got := th.Pumped(c.st); got != c.want {
			t.Errorf("%s: Pumped(%+v) = %v; want %v", c.name, c.st, got, c.want)
		}
	}
}

type counts struct {
	held     map[string]int
	cooloffs int
}

func newGuard(t *testing.T, e testenv.Engine, now *time.Time, budget int, logs *bytes.Buffer) (*smsguard.Guard, *counts) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, e.URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c := &counts{held: map[string]int{}}
	g := smsguard.New(smsguard.Config{Store: db, Thresholds: smsguard.DefaultThresholds(), CoolOff: 3 * time.Hour,
		TenantDailyBudget: budget, Log: slog.New(slog.NewTextHandler(logs, nil)),
		OnHeld: func(r string) { c.held[r]++ }, OnCoolOff: func() { c.cooloffs++ }, Now: func() time.Time { return *now }})
	return g, c
}

// send asks the guard about n SMS to numbers of prefix (9 digits after
// it) and returns how many it held.
func send(t *testing.T, g *smsguard.Guard, tenant, prefix string, n int, from int) int {
	t.Helper()
	held := 0
	for i := range n {
		h, err := g.Hold(context.Background(), tenant, fmt.Sprintf("%s%07d", prefix, from+i))
		if err != nil {
			t.Fatal(err)
		}
		if h {
			held++
		}
	}
	return held
}

// TestPumpedPrefix: a week of normal traffic to two prefixes, then one of
// them receives a burst nobody accepts. The burst trips a cool-off after
// the minimum; the other prefix, and the pumped one's acceptances, are
// unaffected; after the cool-off the prefix sends again, and trips again
// if the pumping goes on.
func TestPumpedPrefix(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		now := time.Date(2026, 11, 16, 0, 30, 0, 0, time.UTC)
		logs := &bytes.Buffer{}
		g, c := newGuard(t, e, &now, 0, logs)
		ctx := context.Background()
		// A week: two SMS an hour to each prefix, a third accepted.
		for h := range 7 * 24 {
			for _, p := range []string{"+44781", "+33612"} {
				if held := send(t, g, "", p, 2, h*2); held != 0 {
					t.Fatalf("hour %d, %s: %d held in normal traffic", h, p, held)
				}
				if h%3 == 0 {
					if err := g.Accepted(ctx, p+"0000000"); err != nil {
						t.Fatal(err)
					}
				}
			}
			now = now.Add(time.Hour)
		}
		// The burst: 100 in a few minutes to +44781, none accepted. The
		// normal for two hours is 4 (2 already sent in the window); 10×
		// is 40: the 39th SMS of the burst trips, and the day's
		// acceptances are those the normal traffic explains.
		held := send(t, g, "", "+44781", 100, 900000)
		if held != 62 || c.cooloffs != 1 {
			t.Fatalf("burst: %d held, %d cool-offs; want 62 held after a cool-off", held, c.cooloffs)
		}
		if c.held[smsguard.ReasonPrefix] != held {
			t.Fatalf("counted %v; want %d", c.held, held)
		}
		// Another prefix of the same country, and another country, pass.
		if h := send(t, g, "", "+33612", 5, 0) + send(t, g, "", "+44791", 5, 0); h != 0 {
			t.Fatalf("normal prefixes: %d held", h)
		}
		// Logged with the number redacted.
		if !strings.Contains(logs.String(), "+44781*******") || strings.Contains(logs.String(), "+447810900") {
			t.Fatalf("logs show the number:\n%s", tail(logs.String()))
		}
		// In cool-off for 3 hours.
		now = now.Add(2 * time.Hour)
		if h := send(t, g, "", "+44781", 3, 0); h != 3 {
			t.Fatalf("in cool-off: %d of 3 held", h)
		}
		// After it, with the pumping stopped for hours: sent again.
		now = now.Add(4 * time.Hour)
		if h := send(t, g, "", "+44781", 3, 0); h != 0 {
			t.Fatalf("after the cool-off: %d of 3 held", h)
		}
		// The pumping starts again: a second cool-off.
		send(t, g, "", "+44781", 200, 800000)
		if c.cooloffs != 2 {
			t.Fatalf("%d cool-offs; want a second one", c.cooloffs)
		}
	})
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// TestTenantBudget: a tenant's SMS stop at its daily budget, another
// tenant and personal accounts are not affected, and the next UTC day
// starts afresh.
func TestTenantBudget(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		now := time.Date(2026, 11, 16, 22, 0, 0, 0, time.UTC)
		g, c := newGuard(t, e, &now, 5, &bytes.Buffer{})
		// Spread over prefixes, so that no prefix trips.
		for i, p := range []string{"+33611", "+33622", "+33633", "+33644", "+33655", "+33666", "+33677"} {
			want := 0
			if i >= 5 {
				want = 1
			}
			if h := send(t, g, "acme", p, 1, 0); h != want {
				t.Fatalf("SMS %d of acme: held %d; want %d", i+1, h, want)
			}
		}
		if h := send(t, g, "globex", "+33688", 5, 0) + send(t, g, "", "+33699", 8, 0); h != 0 {
			t.Fatalf("other tenant and personal accounts: %d held", h)
		}
		if c.held[smsguard.ReasonBudget] != 2 || c.cooloffs != 0 {
			t.Fatalf("counted %v, %d cool-offs", c.held, c.cooloffs)
		}
		now = now.Add(3 * time.Hour) // the next UTC day
		if h := send(t, g, "acme", "+33612", 5, 0); h != 0 {
			t.Fatalf("next day: %d held", h)
		}
	})
}

// TestTwoNodes: two nodes (two guards, each with its own connections) on
// one database see one prefix's traffic, one cool-off and one budget.
func TestTwoNodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		now := time.Date(2026, 11, 16, 10, 30, 0, 0, time.UTC)
		a, ca := newGuard(t, e, &now, 10, &bytes.Buffer{})
		b, cb := newGuard(t, e, &now, 10, &bytes.Buffer{})
		nodes := []*smsguard.Guard{a, b}
		held := 0
		for i := range 40 {
			held += send(t, nodes[i%2], "", "+44781", 1, i)
		}
		// No history: the 31st trips, on whichever node, and both hold.
		if held != 10 || ca.cooloffs+cb.cooloffs != 1 {
			t.Fatalf("%d of 40 held, %d+%d cool-offs; want 10 and one", held, ca.cooloffs, cb.cooloffs)
		}
		spent := 0
		for i := range 16 {
			spent += 1 - send(t, nodes[i%2], "acme", fmt.Sprintf("+336%02d", i), 1, 0)
		}
		if spent != 10 {
			t.Fatalf("acme sent %d SMS on two nodes; want its budget, 10", spent)
		}
	})
}
