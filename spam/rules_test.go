package spam_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/reputation"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/spam"
	"github.com/beckon-chat/beckon/store"
)

// clock is a test clock that the store and the screen share.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	db    *store.DB
	gate  *request.Service
	clock *clock
	fp    *spam.Fingerprinter
}

// setup opens a migrated database with the tenant acme (sender s1, s2)
// and personal recipients r1…r9.
func setup(t testing.TB, e testenv.Engine) *env {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	db, err := store.Open(ctx, e.URL, store.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := directory.NewService(db)
	if _, err := dir.PutTenant(ctx, directory.Tenant{ID: "acme", Name: "Acme", Domains: []string{"acme.com"}, Policy: directory.DefaultPolicy()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2"} {
		if _, err := dir.PutAccount(ctx, directory.AccountInput{ID: id, TenantID: "acme", DisplayName: id, Identifiers: []string{id + "@acme.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 9; i++ {
		id := fmt.Sprintf("r%d", i)
		if _, err := dir.PutAccount(ctx, directory.AccountInput{ID: id, DisplayName: id, Identifiers: []string{id + "@mail.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := db.SpamKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, gate: request.NewService(db, nil), clock: c, fp: spam.NewFingerprinter(key)}
}

// step is one message through a rule: after advancing the clock, the rule
// judges it; deliver also passes it through the gate (creating the
// pair's request), and the recipient then takes act on that request.
type step struct {
	from, to, text string
	advance        time.Duration
	spam           bool
	deliver        bool
	act            request.Action
}

func run(t *testing.T, en *env, rule spam.Rule, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		en.clock.add(s.advance)
		m := &spam.Message{Message: request.Message{Sender: s.from, Recipient: s.to, ChatID: "chat-" + s.from + s.to, Text: s.text}, Now: en.clock.now()}
		got, err := rule.Spam(ctx, m)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.spam {
			t.Fatalf("step %d (%s→%s %q): spam = %v; want %v", i, s.from, s.to, s.text, got, s.spam)
		}
		if s.deliver {
			d, err := en.gate.Check(ctx, m.Message)
			if err != nil || d.Decision != request.Deliver {
				t.Fatalf("step %d: deliver: %+v %v", i, d, err)
			}
			if s.act != "" {
				if _, err := en.gate.Act(ctx, d.RequestID, s.act); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

const offer = "Hi! Earn 500 dollars a day working from home, no experience needed. Reply YES to start."

// TestRules drives each built-in rule over its threshold on a real
// database (SQLite, PostgreSQL, PgBouncer).
func TestRules(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		t.Run("Links", func(t *testing.T) {
			en := setup(t, e)
			run(t, en, spam.LinksRule{Store: en.db}, []step{
				{from: "s1", to: "r1", text: "hello, no link here", deliver: true},
				{from: "s1", to: "r1", text: "see evil.com/x", spam: true},
				{from: "s1", to: "r2", text: "https://example.org", spam: true},
				{from: "s2", to: "r1", text: "hello from s2", deliver: true, act: request.Accept},
				{from: "s2", to: "r2", text: "accepted by someone: https://example.org"},
				{from: "s1", to: "r1", text: "still nobody accepted s1: example.org", spam: true},
			})
		})
		t.Run("NewRecipients", func(t *testing.T) {
			en := setup(t, e)
			// The subtests share one database: s1 wrote to r1 in Links.
			run(t, en, spam.NewRecipientsRule{Store: en.db, Max: 3, Window: time.Hour}, []step{
				{from: "s1", to: "r3", text: "hi", deliver: true},
				{from: "s1", to: "r4", text: "hi", deliver: true},
				{from: "s1", to: "r5", text: "hi", deliver: true},
				{from: "s1", to: "r6", text: "hi", spam: true},
				{from: "s1", to: "r3", text: "a known recipient passes"},
				{from: "s2", to: "r6", text: "another sender passes", deliver: true},
				{from: "s1", to: "r6", text: "after the window", advance: time.Hour + time.Second, deliver: true},
				{from: "s1", to: "r7", text: "hi", deliver: true},
				{from: "s1", to: "r8", text: "hi", deliver: true},
				{from: "s1", to: "r9", text: "hi", spam: true},
			})
		})
		t.Run("NearDuplicate", func(t *testing.T) {
			en := setup(t, e)
			run(t, en, spam.NearDuplicateRule{Store: en.db, Fingerprinter: en.fp, Max: 2, Window: time.Hour}, []step{
				{from: "s1", to: "r1", text: offer},
				{from: "s1", to: "r1", text: offer}, // the same recipient again
				{from: "s1", to: "r2", text: "HI!! Earn 900 dollars a day working from home, no experience needed. Reply YES to start"},
				{from: "s1", to: "r3", text: offer, spam: true},
				{from: "s1", to: "r1", text: offer, spam: true}, // three recipients now
				{from: "s1", to: "r4", text: "Dear r4, the minutes of Tuesday's meeting are in the shared folder."},
				{from: "s1", to: "r5", text: "thanks!"},
				{from: "s1", to: "r6", text: "thanks!"},
				{from: "s1", to: "r7", text: "thanks!"},
				{from: "s2", to: "r1", text: offer}, // per sender
				{from: "s1", to: "r8", text: offer, advance: time.Hour + time.Second},
			})
		})
		t.Run("History", func(t *testing.T) {
			en := setup(t, e)
			rep := reputation.NewService(en.db, reputation.DefaultParams(), en.clock.now, 0)
			run(t, en, spam.HistoryRule{Reputations: rep}, []step{
				{from: "s1", to: "r1", text: "hi", deliver: true, act: request.Report},
				{from: "s1", to: "r2", text: "one report is not yet a bad history", deliver: true, act: request.Block},
				{from: "s1", to: "r3", text: "a report and a block are", spam: true},
				{from: "s2", to: "r4", text: "another sender passes", deliver: true, act: request.Decline},
				{from: "s2", to: "r5", text: "one decline is not a history"},
			})
		})
		t.Run("BadDomain", func(t *testing.T) {
			en := setup(t, e)
			domains := spam.NewDomains(en.db, time.Minute, en.clock.now)
			if _, err := domains.Put(context.Background(), "Evil.COM"); err != nil {
				t.Fatal(err)
			}
			run(t, en, spam.BadDomainRule{Domains: domains}, []step{
				{from: "s1", to: "r1", text: "no link"},
				{from: "s1", to: "r1", text: "go to https://evil.com", spam: true},
				{from: "s1", to: "r1", text: "go to WWW.Login.EVIL.com/x", spam: true},
				{from: "s1", to: "r1", text: "ｅｖｉｌ．ｃｏｍ", spam: true},
				{from: "s1", to: "r1", text: "go to notevil.com", spam: false},
				{from: "s1", to: "r1", text: "mail me at me@evil.com", spam: false},
			})
		})
	})
}

// TestDomainsAcrossNodes: a domain put on one node applies there at once
// and on another node (its own copy) within the TTL; a deletion too.
func TestDomainsAcrossNodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		en := setup(t, e)
		a := spam.NewDomains(en.db, 5*time.Second, en.clock.now)
		b := spam.NewDomains(en.db, 5*time.Second, en.clock.now)
		bad := func(d *spam.Domains, host string) bool {
			t.Helper()
			ok, err := d.Bad(ctx, host)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if bad(a, "x.evil.com") || bad(b, "x.evil.com") {
			t.Fatal("bad before the list has it")
		}
		if _, err := a.Put(ctx, "evil.com"); err != nil {
			t.Fatal(err)
		}
		if !bad(a, "x.evil.com") {
			t.Fatal("the node that put it does not see it")
		}
		if bad(b, "x.evil.com") {
			t.Fatal("another node sees it before its TTL (the test's premise)")
		}
		en.clock.add(5 * time.Second)
		if !bad(b, "x.evil.com") {
			t.Fatal("another node does not see it after its TTL")
		}
		again, err := a.Put(ctx, "EVIL.com.")
		if err != nil || again.Name != "evil.com" {
			t.Fatalf("put again: %+v %v", again, err)
		}
		list, err := a.List(ctx)
		if err != nil || len(list) != 1 || list[0].Name != "evil.com" || list[0].AddedAt.IsZero() {
			t.Fatalf("list: %+v %v", list, err)
		}
		if err := a.Delete(ctx, "evil.com"); err != nil {
			t.Fatal(err)
		}
		if err := a.Delete(ctx, "evil.com"); err != nil {
			t.Fatalf("delete again: %v", err)
		}
		en.clock.add(5 * time.Second)
		if bad(a, "x.evil.com") || bad(b, "x.evil.com") {
			t.Fatal("still bad after the delete")
		}
		if _, err := a.Put(ctx, "not a domain"); err == nil {
			t.Fatal("put of a bad name")
		}
	})
}

// TestPruneSpam: fingerprints and claims older than the window go.
func TestPruneSpam(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		en := setup(t, e)
		fp, _ := en.fp.Fingerprint(offer)
		now := en.clock.now()
		if _, err := en.db.RecordFingerprint(ctx, "s1", "r1", fp, now.Add(-2*time.Hour), now.Add(-3*time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		if n, err := en.db.RecordFingerprint(ctx, "s1", "r2", fp, now, now.Add(-3*time.Hour), 10); err != nil || n != 2 {
			t.Fatalf("recipients: %d %v", n, err)
		}
		for _, c := range []struct {
			to string
			at time.Time
		}{{"r1", now.Add(-2 * time.Hour)}, {"r2", now}} {
			if ok, err := en.db.ClaimRecipient(ctx, "s1", c.to, c.at, now.Add(-3*time.Hour), 2); err != nil || !ok {
				t.Fatalf("claim %s: %v %v", c.to, ok, err)
			}
		}
		n, err := en.db.PruneSpam(ctx, now.Add(-time.Hour))
		if err != nil || n != spam.Bands+1 {
			t.Fatalf("pruned %d, %v; want %d", n, err, spam.Bands+1)
		}
		if n, err := en.db.RecordFingerprint(ctx, "s1", "r3", fp, now, now.Add(-3*time.Hour), 10); err != nil || n != 2 {
			t.Fatalf("after pruning: %d %v", n, err)
		}
		// r1's claim is gone and r2's stays: with a threshold of 2, r1
		// is a second new recipient again and r3 a third.
		for _, c := range []struct {
			to string
			ok bool
		}{{"r1", true}, {"r2", true}, {"r3", false}} {
			if ok, err := en.db.ClaimRecipient(ctx, "s1", c.to, now, now.Add(-3*time.Hour), 2); err != nil || ok != c.ok {
				t.Fatalf("after pruning, claim %s: %v %v; want %v", c.to, ok, err, c.ok)
			}
		}
	})
}

// ruleFunc is a rule made of a function, for the screen's own tests.
type ruleFunc struct {
	name string
	fn   func(m *spam.Message) (bool, error)
}

func (r ruleFunc) Name() string                                          { return r.name }
func (r ruleFunc) Spam(_ context.Context, m *spam.Message) (bool, error) { return r.fn(m) }

type classifier struct {
	spam bool
	err  error
	n    int
}

func (c *classifier) Spam(context.Context, request.Message) (bool, error) {
	c.n++
	return c.spam, c.err
}

// TestScreen: rules in order, the first that fires decides and is
// counted; the hook is asked last; a failing hook passes the message
// (fail open) or rejects it (fail closed).
func TestScreen(t *testing.T) {
	is := func(text string) func(*spam.Message) (bool, error) {
		return func(m *spam.Message) (bool, error) { return m.Text == text, nil }
	}
	rules := []spam.Rule{ruleFunc{"first", is("a")}, ruleFunc{"second", is("b")},
		ruleFunc{"broken", func(m *spam.Message) (bool, error) {
			if m.Text == "err" {
				return false, errors.New("down")
			}
			return false, nil
		}}}
	for _, c := range []struct {
		name       string
		text       string
		hook       *classifier
		failClosed bool
		spam       bool
		err        bool
		verdict    string
		hookCalls  int
	}{
		{"FirstRule", "a", &classifier{}, false, true, false, "first", 0},
		{"SecondRule", "b", &classifier{}, false, true, false, "second", 0},
		{"RuleError", "err", &classifier{}, false, false, true, "", 0},
		{"Clean", "c", nil, false, false, false, spam.VerdictNone, 0},
		{"HookHam", "c", &classifier{}, false, false, false, spam.VerdictNone, 1},
		{"HookSpam", "c", &classifier{spam: true}, false, true, false, spam.VerdictHook, 1},
		{"HookFailsOpen", "c", &classifier{err: errors.New("timeout")}, false, false, false, spam.VerdictNone, 1},
		{"HookFailsClosed", "c", &classifier{err: errors.New("timeout")}, true, true, false, spam.VerdictHookFailed, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var verdicts []string
			cfg := spam.Config{Rules: rules, FailClosed: c.failClosed, Observe: func(v string) { verdicts = append(verdicts, v) }}
			if c.hook != nil {
				cfg.Hook = c.hook
			}
			got, err := spam.NewScreen(cfg).Spam(context.Background(), request.Message{Sender: "s", Recipient: "r", ChatID: "c", Text: c.text})
			if got != c.spam || (err != nil) != c.err {
				t.Fatalf("spam = %v, %v", got, err)
			}
			want := []string{c.verdict}
			if c.err {
				want = nil
			}
			if !slices.Equal(verdicts, want) {
				t.Fatalf("verdicts %q; want %q", verdicts, want)
			}
			if c.hook != nil && c.hook.n != c.hookCalls {
				t.Fatalf("hook called %d times; want %d", c.hook.n, c.hookCalls)
			}
		})
	}
}

// TestNewRecipientsConcurrent: one sender writes to ten new recipients
// three times each, all at once, spread over three nodes (three
// connection pools on one database). Exactly the threshold (5) of
// recipients pass, with every message to them: a recipient claimed by
// one message is not counted again by the others.
func TestNewRecipientsConcurrent(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		en := setup(t, e)
		rules := nodes(t, e, en, func(db *store.DB) spam.Rule {
			return spam.NewRecipientsRule{Store: db, Max: 5, Window: time.Hour}
		})
		var mu sync.Mutex
		passed := map[string]int{}
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := fmt.Sprintf("x%d", i%10)
				m := &spam.Message{Message: request.Message{Sender: "s1", Recipient: to, ChatID: "c", Text: "hi"}, Now: en.clock.now()}
				s, err := rules[i%3].Spam(context.Background(), m)
				if err != nil {
					t.Error(err)
				}
				if !s {
					mu.Lock()
					passed[to]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(passed) != 5 {
			t.Fatalf("%d recipients passed (%v); want 5", len(passed), passed)
		}
		for to, n := range passed {
			if n != 3 {
				t.Fatalf("%d of 3 messages to %s passed; want all", n, to)
			}
		}
	})
}

// nodes returns rule on en's database and on two more pools of it.
func nodes(t *testing.T, e testenv.Engine, en *env, rule func(*store.DB) spam.Rule) []spam.Rule {
	t.Helper()
	rules := []spam.Rule{rule(en.db)}
	for range 2 {
		db, err := store.Open(context.Background(), e.URL, store.Options{Now: en.clock.now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		rules = append(rules, rule(db))
	}
	return rules
}

// TestNearDuplicateConcurrent: one text to 30 recipients at once, spread
// over three nodes (three connection pools on one database): exactly the
// threshold (5) passes, whatever the interleaving.
func TestNearDuplicateConcurrent(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		en := setup(t, e)
		rules := nodes(t, e, en, func(db *store.DB) spam.Rule {
			return spam.NearDuplicateRule{Store: db, Fingerprinter: en.fp, Max: 5, Window: time.Hour}
		})
		var passed atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &spam.Message{Message: request.Message{Sender: "s1", Recipient: fmt.Sprintf("x%d", i), ChatID: "c", Text: offer}, Now: en.clock.now()}
				s, err := rules[i%3].Spam(context.Background(), m)
				if err != nil {
					t.Error(err)
				}
				if !s {
					passed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := passed.Load(); n != 5 {
			t.Fatalf("%d passed; want 5", n)
		}
	})
}
