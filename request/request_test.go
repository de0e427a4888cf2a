package request_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/store"
)

// textScreen calls spam exactly the texts it is given: a stand-in at the
// interface, for the gate's own tests.
type textScreen map[string]bool

func (s textScreen) Spam(_ context.Context, m request.Message) (bool, error) { return s[m.Text], nil }

// setup returns a gate on a fresh database with tenants and accounts:
// acme (a1, a2), globex (g1), strict (s1: limit 3, no inbound from or
// outbound to personal accounts), picky (k1: blocks globex.com), partnered
// (w1: may reach only acme.com), the personal p1 and p2, and the personal
// p3 with a phone number and no email.
func setup(t testing.TB, e testenv.Engine) (*request.Service, *store.DB) {
	t.Helper()
	ctx := context.Background()
	// The feed waits for older transactions of the whole server (other
	// packages' tests run at once) to end rather than leave events out.
	db, err := store.Open(ctx, e.URL, store.Options{Now: time.Now, FeedWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := directory.NewService(db)
	strict := directory.DefaultPolicy()
	strict.PreAcceptanceMessageLimit, strict.InboundPersonal, strict.OutboundPersonal = 3, false, false
	picky := directory.DefaultPolicy()
	picky.BlockedDomains = []string{"globex.com"}
	partnered := directory.DefaultPolicy()
	partnered.AllowedDomains = []string{"acme.com"}
	for _, tn := range []directory.Tenant{
		{ID: "acme", Name: "Acme", Domains: []string{"acme.com"}, Policy: directory.DefaultPolicy()},
		{ID: "globex", Name: "Globex", Domains: []string{"globex.com"}, Policy: directory.DefaultPolicy()},
		{ID: "strict", Name: "Strict", Domains: []string{"strict.com"}, Policy: strict},
		{ID: "picky", Name: "Picky", Domains: []string{"picky.com"}, Policy: picky},
		{ID: "partnered", Name: "Partnered", Domains: []string{"partnered.com"}, Policy: partnered},
	} {
		if _, err := dir.PutTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []directory.AccountInput{
		{ID: "a1", TenantID: "acme", DisplayName: "A One", Identifiers: []string{"a1@acme.com", "+33612345678"}},
		{ID: "a2", TenantID: "acme", DisplayName: "A Two", Identifiers: []string{"a2@acme.com"}},
		{ID: "g1", TenantID: "globex", DisplayName: "G One", Identifiers: []string{"g1@globex.com"}},
		{ID: "s1", TenantID: "strict", DisplayName: "S One", Identifiers: []string{"s1@strict.com"}},
		{ID: "k1", TenantID: "picky", DisplayName: "K One", Identifiers: []string{"k1@picky.com"}},
		{ID: "p1", DisplayName: "P One", Identifiers: []string{"p1@mail.example"}},
		{ID: "p2", DisplayName: "P Two", Identifiers: []string{"p2@mail.example"}},
		{ID: "w1", TenantID: "partnered", DisplayName: "W One", Identifiers: []string{"w1@partnered.com"}},
		{ID: "p3", DisplayName: "P Three", Region: "FR", Identifiers: []string{"+33698765432"}},
	} {
		if _, err := dir.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return request.NewService(db, textScreen{"SPAM": true}), db
}

func msg(from, to string) request.Message {
	return request.Message{Sender: from, Recipient: to, ChatID: "chat-" + from + "-" + to, Text: "hello"}
}

func check(t *testing.T, svc *request.Service, m request.Message, decision, reason string, remaining int) request.Decision {
	t.Helper()
	d, err := svc.Check(context.Background(), m)
	if err != nil {
		t.Fatalf("check %s→%s: %v", m.Sender, m.Recipient, err)
	}
	got := -1
	if d.Remaining != nil {
		got = *d.Remaining
	}
	if d.Decision != decision || d.Reason != reason || got != remaining {
		t.Fatalf("check %s→%s = %s/%s remaining %d; want %s/%s remaining %d", m.Sender, m.Recipient, d.Decision, d.Reason, got, decision, reason, remaining)
	}
	return d
}

func TestCheckReasons(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db := setup(t, e)
		ctx := context.Background()
		act := func(from, to string, a request.Action) {
			t.Helper()
			d := check(t, svc, msg(from, to), request.Deliver, request.ReasonPreAcceptance, 9)
			if _, err := svc.Act(ctx, d.RequestID, a); err != nil {
				t.Fatal(err)
			}
		}
		spam := msg("g1", "p2")
		spam.Text = "SPAM"
		for _, c := range []struct {
			name, from, to string
			prepare        func()
			m              *request.Message
			decision       string
			reason         string
			remaining      int
		}{
			{name: "same_tenant", from: "a1", to: "a2", decision: request.Deliver, reason: request.ReasonSameTenant, remaining: -1},
			{name: "pre_acceptance", from: "a1", to: "g1", decision: request.Deliver, reason: request.ReasonPreAcceptance, remaining: 9},
			{name: "pre_acceptance personal recipient", from: "g1", to: "p1", decision: request.Deliver, reason: request.ReasonPreAcceptance, remaining: 9},
			{name: "accepted", from: "a2", to: "g1", prepare: func() { act("a2", "g1", request.Accept) }, decision: request.Deliver, reason: request.ReasonAccepted, remaining: -1},
			{name: "declined", from: "p1", to: "a1", prepare: func() { act("p1", "a1", request.Decline) }, decision: request.Reject, reason: request.ReasonDeclined, remaining: -1},
			{name: "blocked by recipient", from: "p2", to: "a1", prepare: func() { db.PutBlock(ctx, "a1", "p2") }, decision: request.Reject, reason: request.ReasonBlocked, remaining: -1},
			{name: "blocked by sender", from: "a1", to: "p2", decision: request.Reject, reason: request.ReasonBlocked, remaining: -1},
			{name: "blocked same tenant", from: "a2", to: "a1", prepare: func() { db.PutBlock(ctx, "a2", "a1") }, decision: request.Reject, reason: request.ReasonBlocked, remaining: -1},
			{name: "block action", from: "g1", to: "a1", prepare: func() { act("g1", "a1", request.Block) }, decision: request.Reject, reason: request.ReasonBlocked, remaining: -1},
			{name: "policy inbound personal", from: "p1", to: "s1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy outbound personal", from: "s1", to: "p1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy recipient blocked domain", from: "g1", to: "k1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy sender blocked domain", from: "k1", to: "g1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "sender allowed domain", from: "w1", to: "a2", decision: request.Deliver, reason: request.ReasonPreAcceptance, remaining: 9},
			{name: "policy sender other domain", from: "w1", to: "g1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy sender allowed domains, recipient without email", from: "w1", to: "p3", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy recipient allowed domains, sender without email", from: "p3", to: "w1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "policy recipient allowed domains, sender elsewhere", from: "g1", to: "w1", decision: request.Reject, reason: request.ReasonPolicy, remaining: -1},
			{name: "spam", m: &spam, decision: request.Reject, reason: request.ReasonSpam, remaining: -1},
		} {
			t.Run(c.name, func(t *testing.T) {
				if c.prepare != nil {
					c.prepare()
				}
				m := msg(c.from, c.to)
				if c.m != nil {
					m = *c.m
				}
				check(t, svc, m, c.decision, c.reason, c.remaining)
			})
		}
		t.Run("limit_reached", func(t *testing.T) {
			for want := 2; want >= 0; want-- {
				check(t, svc, msg("g1", "s1"), request.Deliver, request.ReasonPreAcceptance, want)
			}
			for range 2 {
				check(t, svc, msg("g1", "s1"), request.Reject, request.ReasonLimitReached, 0)
			}
			// Past the allowance the screen is not asked: nothing more can
			// be delivered whatever it would say.
			over := msg("g1", "s1")
			over.Text = "SPAM"
			check(t, svc, over, request.Reject, request.ReasonLimitReached, 0)
			d := check(t, svc, msg("s1", "g1"), request.Deliver, request.ReasonPreAcceptance, 9) // the other way is another pair
			if r, err := db.Request(ctx, d.RequestID); err != nil || r.Delivered != 1 || r.Held != 0 {
				t.Fatalf("%+v %v", r, err)
			}
		})
		t.Run("rejected messages use no allowance", func(t *testing.T) {
			check(t, svc, msg("a1", "p1"), request.Deliver, request.ReasonPreAcceptance, 9)
			bad := msg("a1", "p1")
			bad.Text = "SPAM"
			check(t, svc, bad, request.Reject, request.ReasonSpam, -1)
			check(t, svc, msg("a1", "p1"), request.Deliver, request.ReasonPreAcceptance, 8)
		})
		t.Run("one request.created per pair", func(t *testing.T) {
			evs, err := db.Events(ctx, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			created := map[string]int{}
			for _, ev := range evs {
				if ev.Type == event.RequestCreated {
					created[string(ev.Data)]++
				}
			}
			// a1→g1, g1→p1, a2→g1, p1→a1, g1→a1, w1→a2, g1→s1, s1→g1, a1→p1.
			if len(created) != 9 {
				t.Fatalf("%d request.created events: %v", len(created), created)
			}
			for k, n := range created {
				if n != 1 {
					t.Fatalf("%s published %d times", k, n)
				}
			}
		})
	})
}

func TestCheckInvalid(t *testing.T) {
	svc, _ := setup(t, testenv.SQLite(t))
	for _, c := range []struct {
		name  string
		m     request.Message
		code  string
		field string
	}{
		{"no sender", request.Message{Recipient: "g1", ChatID: "c"}, fault.CodeMissingField, "sender"},
		{"no recipient", request.Message{Sender: "a1", ChatID: "c"}, fault.CodeMissingField, "recipient"},
		{"no chat", request.Message{Sender: "a1", Recipient: "g1"}, fault.CodeMissingField, "chat_id"},
		{"self", request.Message{Sender: "a1", Recipient: "a1", ChatID: "c"}, fault.CodeInvalidField, "recipient"},
		{"bad chat id", request.Message{Sender: "a1", Recipient: "g1", ChatID: "c c"}, fault.CodeInvalidID, "chat_id"},
		{"bad sender id", request.Message{Sender: "a 1", Recipient: "g1", ChatID: "c"}, fault.CodeInvalidID, "sender"},
		{"bad text", request.Message{Sender: "a1", Recipient: "g1", ChatID: "c", Text: "\xff"}, fault.CodeInvalidField, "text"},
		{"unknown sender", request.Message{Sender: "nobody", Recipient: "g1", ChatID: "c"}, fault.CodeAccountNotFound, "sender"},
		{"unknown recipient", request.Message{Sender: "a1", Recipient: "nobody", ChatID: "c"}, fault.CodeAccountNotFound, "recipient"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Check(context.Background(), c.m)
			f := fault.As(err)
			if f == nil || f.Code != c.code || f.Field != c.field {
				t.Fatalf("got %v; want %s on %s", err, c.code, c.field)
			}
		})
	}
}

// TestCheckConcurrent: 100 checks at once on one pair deliver exactly the
// limit, on SQLite and PostgreSQL.
func TestCheckConcurrent(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, _ := setup(t, e)
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := msg("a1", "g1")
				m.Text = fmt.Sprint("message ", i)
				d, err := svc.Check(context.Background(), m)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					counts["error: "+err.Error()]++
					return
				}
				counts[d.Reason]++
			}()
		}
		wg.Wait()
		if counts[request.ReasonPreAcceptance] != 10 || counts[request.ReasonLimitReached] != 90 {
			t.Fatalf("got %v; want 10 delivered and 90 limit_reached", counts)
		}
		got, err := svc.List(context.Background(), "g1", "", "", 10)
		if err != nil || len(got.Items) != 1 || got.Items[0].Delivered != 10 || got.Items[0].Held != 90 {
			t.Fatalf("requests to g1 %+v, %v: want one, 10 delivered and 90 held", got, err)
		}
	})
}
