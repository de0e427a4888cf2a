package invite_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/templates"
)

// setup returns a service on a fresh database with a clock the test moves,
// and an inviter "alice".
func setup(t *testing.T, e testenv.Engine) (*invite.Service, *store.DB, *time.Time) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db, err := store.Open(ctx, e.URL, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := directory.NewService(db).PutAccount(ctx, directory.AccountInput{ID: "alice", DisplayName: "Alice", Identifiers: []string{"alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	tmpl, _ := templates.Defaults()
	lim := ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}
	svc := invite.NewService(invite.Config{Store: db, Accounts: db, Resolver: resolver.NewService(db, invite.Finder{Store: db}),
		Templates: tmpl, Limiter: ratelimit.NewMemory(clock), Limits: invite.Limits{PerInviterMinute: lim, PerTenantDay: lim, PerRecipientDay: lim, SMSPerCountry: lim},
		PublicURL: "https://beckon.test", TTL: 14 * 24 * time.Hour, Now: clock})
	return svc, db, &now
}

// firstToken claims the queued message, marks it sent and returns its token.
func firstToken(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	msgs, _ := db.Claim(ctx, 10, time.Minute)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if err := db.Record(ctx, []notify.Attempt{{Message: msgs[0], State: notify.StateSent}}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(regexpLink(msgs[0].Text), "https://beckon.test/i/")
}

func TestTicket(t *testing.T) {
	svc, db, now := setup(t, testenv.SQLite(t))
	ctx := context.Background()
	if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "bob@example.org", Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}}); err != nil {
		t.Fatal(err)
	}
	token := firstToken(t, db)
	link := func(ticket, id string) error {
		_, err := svc.Link(ctx, invite.LinkInput{Account: directory.AccountInput{ID: id, DisplayName: "Bob", Discoverable: true},
			Identifier: "bob@example.org", Ticket: ticket})
		return err
	}
	late, _, err := svc.Accept(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(invite.TicketTTL + time.Second)
	if err := link(late, "bob"); err == nil || !strings.Contains(err.Error(), "invalid_ticket") {
		t.Fatalf("an expired ticket: %v", err)
	}
	fresh, _, err := svc.Accept(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := link(fresh, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := link(fresh, "bob"); err != nil {
		t.Fatalf("the same link again must answer the same: %v", err)
	}
	if _, err := svc.Link(ctx, invite.LinkInput{Account: directory.AccountInput{ID: "eve", DisplayName: "Eve"},
		Identifier: "eve@example.org", Ticket: fresh}); err == nil || !strings.Contains(err.Error(), "invalid_ticket") {
		t.Fatalf("a ticket for another identifier: %v", err)
	}
}

// TestLinkRace: links of one identifier to several accounts at once, each
// with a ticket of the invite, have one winner; the others are
// identifier_taken and change nothing.
func TestLinkRace(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db, _ := setup(t, e)
		ctx := context.Background()
		created, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "bob@example.org", Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}})
		if err != nil {
			t.Fatal(err)
		}
		token := firstToken(t, db)
		const n = 4
		tickets := make([]string, n)
		for i := range tickets {
			if tickets[i], _, err = svc.Accept(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, n)
		for i, ticket := range tickets {
			go func() {
				_, err := svc.Link(ctx, invite.LinkInput{Account: directory.AccountInput{ID: fmt.Sprintf("bob%d", i), DisplayName: "Bob"},
					Identifier: "bob@example.org", Ticket: ticket})
				errs <- err
			}()
		}
		won := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				won++
			case fault.CodeOf(err) != "identifier_taken":
				t.Errorf("a losing link: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d links won", won)
		}
		inv, _ := svc.Get(ctx, created.Invite.ID)
		var types []string
		for _, ev := range eventsOnceShown(t, db, 4) {
			types = append(types, string(ev.Type))
		}
		if inv.Status != invite.Accepted || strings.Join(types, ",") != "invite.created,invite.sent,account.linked,invite.accepted" {
			t.Fatalf("invite %s, events %v", inv.Status, types)
		}
	})
}

// eventsOnceShown reads the feed from the start once it shows at least n
// events: on PostgreSQL an event shows once every older transaction on the
// server has ended (other tests' too).
func eventsOnceShown(t *testing.T, db *store.DB, n int) []event.Event {
	t.Helper()
	var events []event.Event
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if events, err = db.EventsAfter(context.Background(), event.Position{}, 100); err != nil {
			t.Fatal(err)
		}
		if len(events) >= n {
			return events
		}
	}
	t.Fatalf("the feed shows %d events; want %d", len(events), n)
	return nil
}

// TestSweep: one reminder three days before expiry, then expiry with its
// event, after which the link no longer opens anything.
func TestSweep(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		svc, db, nowp := setup(t, e)
		created, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "bob@example.org", Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}})
		if err != nil {
			t.Fatal(err)
		}
		token := firstToken(t, db)

		*nowp = nowp.Add(10 * 24 * time.Hour) // four days left: nothing yet
		if x, r, err := svc.Sweep(ctx); err != nil || x != 0 || r != 0 {
			t.Fatalf("day 10: %d %d %v", x, r, err)
		}
		*nowp = nowp.Add(25 * time.Hour) // under three days left
		if x, r, err := svc.Sweep(ctx); err != nil || x != 0 || r != 1 {
			t.Fatalf("day 11: %d %d %v", x, r, err)
		}
		if _, r, _ := svc.Sweep(ctx); r != 0 {
			t.Fatal("a second reminder")
		}
		msgs, _ := db.Claim(ctx, 10, time.Minute)
		if len(msgs) != 1 || msgs[0].Kind != "reminder" || !strings.HasPrefix(msgs[0].Subject, "Reminder") {
			t.Fatalf("reminder: %+v", msgs)
		}
		if _, err := svc.Land(ctx, token); err != nil {
			t.Fatalf("the first link stops working after a reminder: %v", err)
		}
		*nowp = created.Invite.ExpiresAt.Add(time.Second)
		if x, _, err := svc.Sweep(ctx); err != nil || x != 1 {
			t.Fatalf("expiry: %d %v", x, err)
		}
		inv, _ := svc.Get(ctx, created.Invite.ID)
		if inv.Status != invite.Expired {
			t.Fatalf("status %s", inv.Status)
		}
		if _, err := svc.Land(ctx, token); err != invite.ErrGone {
			t.Fatalf("expired link: %v", err)
		}
		events := eventsOnceShown(t, db, 3) // created, sent, expired
		if last := events[len(events)-1]; last.Type != "invite.expired" {
			t.Fatalf("last event %s", last.Type)
		}
	})
}

func regexpLink(text string) string {
	i := strings.Index(text, "https://beckon.test/i/")
	return text[i : i+len("https://beckon.test/i/")+43]
}

// TestDateInLocale: the expiry date of a message is written in the
// invite's language.
func TestDateInLocale(t *testing.T) {
	svc, db, now := setup(t, testenv.SQLite(t))
	ctx := context.Background()
	*now = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) // expires on 8 December
	for _, c := range []struct{ locale, to, want string }{
		{"fr", "rene@example.org", "8 décembre 2026"},
		{"fr-CA", "gaby@example.org", "8 décembre 2026"},
		{"en", "bob@example.org", "8 December 2026"},
	} {
		if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: c.to, Locale: c.locale, Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}}); err != nil {
			t.Fatal(err)
		}
		msgs, _ := db.Claim(ctx, 10, time.Minute)
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		if m := msgs[0]; !strings.Contains(m.Text, c.want) || !strings.Contains(m.HTML, c.want) {
			t.Fatalf("%s: no %q in\n%s\n%s", c.locale, c.want, m.Text, m.HTML)
		}
		if err := db.Record(ctx, []notify.Attempt{{Message: msgs[0], State: notify.StateSent}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSignupWithTicket: the ticket, not the caller, names the identifier
// the account gets; an unknown, expired or used ticket binds nothing.
func TestSignupWithTicket(t *testing.T) {
	svc, db, now := setup(t, testenv.SQLite(t))
	ctx := context.Background()
	if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "bob@example.org", Locale: "fr", Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}}); err != nil {
		t.Fatal(err)
	}
	token := firstToken(t, db)
	account := func(id string) directory.AccountInput {
		return directory.AccountInput{ID: id, DisplayName: "Someone", Discoverable: true}
	}
	for _, ticket := range []string{"", "nope", strings.Repeat("A", 43)} {
		if _, err := svc.SignupWithTicket(ctx, account("mallory"), ticket); err != invite.ErrInvalidTicket {
			t.Fatalf("ticket %q: %v", ticket, err)
		}
		if _, err := svc.OpenTicket(ctx, ticket); err != invite.ErrInvalidTicket {
			t.Fatalf("open ticket %q: %v", ticket, err)
		}
	}
	late, _, _ := svc.Accept(ctx, token)
	*now = now.Add(invite.TicketTTL)
	if _, err := svc.SignupWithTicket(ctx, account("bob"), late); err != invite.ErrInvalidTicket {
		t.Fatalf("expired ticket: %v", err)
	}
	ticket, _, _ := svc.Accept(ctx, token)
	if s, err := svc.OpenTicket(ctx, ticket); err != nil || s.Identifier.Value != "bob@example.org" || s.Locale != "fr" {
		t.Fatalf("open: %+v %v", s, err)
	}
	linked, err := svc.SignupWithTicket(ctx, account("bob"), ticket)
	if err != nil || linked.Identifier.Value != "bob@example.org" || len(linked.Accepted) != 1 {
		t.Fatalf("sign-up: %+v %v", linked, err)
	}
	if _, err := svc.OpenTicket(ctx, ticket); err != invite.ErrInvalidTicket {
		t.Fatalf("used ticket opens: %v", err)
	}
	if _, err := svc.SignupWithTicket(ctx, account("eve"), ticket); err != invite.ErrInvalidTicket {
		t.Fatalf("used ticket, another account: %v", err)
	}
	for _, id := range []string{"mallory", "eve"} {
		if _, err := db.Account(ctx, id); err == nil {
			t.Fatalf("account %s was written", id)
		}
	}
}
