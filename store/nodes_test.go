package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

// TestTwoNodes: stores on one database as separate processes see it —
// `beckon migrate` then `beckon serve`, then two nodes at once. Through
// PgBouncer in transaction pooling mode they share server connections:
// nothing one leaves on a connection (a named statement, a session setting
// or lock) may trip another. Every path runs: migrate, resolve, keys,
// directory writes, invites, the outbox claim and lease, the webhook
// lease, events and idempotency keys.
func TestTwoNodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		node := func() *store.DB {
			t.Helper()
			db, err := store.Open(ctx, e.URL, store.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			return db
		}
		// `beckon migrate`, then a process that seeds and works alone.
		node().Close()
		first := node()
		dir := directory.NewService(first)
		if _, err := dir.PutAccount(ctx, directory.AccountInput{ID: "alice", DisplayName: "Alice", Region: "FR",
			Identifiers: []string{"alice@example.org"}}); err != nil {
			t.Fatal(err)
		}
		_, secret, err := auth.NewService(first, time.Now, 0).Create(ctx, "backend", []auth.Scope{auth.ScopeResolve})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		invites, claimed := map[string]bool{}, map[string]int{}
		work := func(db *store.DB, tag string) error {
			if _, err := auth.NewService(db, time.Now, 0).Authenticate(ctx, secret); err != nil {
				return fmt.Errorf("authenticate: %w", err)
			}
			if _, err := directory.NewService(db).PutAccount(ctx, directory.AccountInput{ID: "acct-" + tag, DisplayName: tag,
				Region: "FR", Identifiers: []string{tag + "@example.org"}}); err != nil {
				return fmt.Errorf("put account: %w", err)
			}
			var want []resolver.Identifier
			for _, raw := range []string{"alice@example.org", tag + "@example.org", "nobody@example.org", "x-" + tag + "@example.com"} {
				id, err := resolver.Normalize(raw, "FR")
				if err != nil {
					return err
				}
				want = append(want, id)
			}
			req, owners, err := db.Lookup(ctx, "acct-"+tag, want[:3])
			if err != nil {
				return fmt.Errorf("lookup: %w", err)
			}
			if req.ID != "acct-"+tag || owners[0].AccountID != "alice" || owners[1].AccountID != "acct-"+tag || owners[2].Found {
				return fmt.Errorf("lookup: %+v %+v", req, owners)
			}
			if _, err := db.Owners(ctx, "alice", want[1:2]); err != nil {
				return fmt.Errorf("owners: %w", err)
			}
			id := "inv_" + tag
			to := want[3]
			now := time.Now()
			inv := invite.Invite{ID: id, InviterID: "alice", Recipient: to, Channel: "email", Chat: invite.Chat{ID: "c", Kind: "group"},
				Locale: "en", Status: invite.Pending, Delivery: invite.Queued, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSentAt: now}
			msg := &invite.Message{InviteID: id, Kind: "invite", Channel: "email", To: to.Value, Subject: "s", Text: "t"}
			if err := db.CreateInvite(ctx, inv, "hash-"+tag, msg); err != nil {
				return fmt.Errorf("create invite: %w", err)
			}
			if _, err := db.PendingInvitesTo(ctx, "alice", []resolver.Identifier{to}); err != nil {
				return fmt.Errorf("pending invites: %w", err)
			}
			msgs, err := db.Claim(ctx, 3, time.Hour)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			mu.Lock()
			invites[id] = true
			for _, m := range msgs {
				claimed[m.InviteID]++
			}
			mu.Unlock()
			if _, _, err := db.WebhookLease(ctx, tag, time.Minute); err != nil {
				return fmt.Errorf("webhook lease: %w", err)
			}
			if _, err := db.EventsAfter(ctx, event.Position{}, 10); err != nil {
				return fmt.Errorf("events: %w", err)
			}
			if kept, _, _, err := db.IdempotencyClaim(ctx, "key", "idem-"+tag, "h", time.Hour); err != nil || kept != "" {
				return fmt.Errorf("idempotency claim: %q %v", kept, err)
			}
			if err := db.IdempotencySave(ctx, "key", "idem-"+tag, 201, "{}"); err != nil {
				return fmt.Errorf("idempotency save: %w", err)
			}
			if kept, status, _, err := db.IdempotencyClaim(ctx, "key", "idem-"+tag, "h", time.Hour); err != nil || kept == "" || status != 201 {
				return fmt.Errorf("idempotency replay: %q %d %v", kept, status, err)
			}
			return nil
		}
		if err := work(first, "first"); err != nil {
			t.Fatal(err)
		}
		first.Close()

		// Two nodes at once, four workers each.
		nodes := []*store.DB{node(), node()}
		errs := make(chan error, 8)
		var wg sync.WaitGroup
		for n, db := range nodes {
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5 {
						if err := work(db, fmt.Sprintf("n%dw%di%d", n, w, i)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		if err := errors.Join(all...); err != nil {
			t.Fatal(err)
		}
		// Every message claimed once, whichever node took it.
		for {
			msgs, err := nodes[0].Claim(ctx, 50, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				claimed[m.InviteID]++
			}
		}
		for id := range invites {
			if claimed[id] != 1 {
				t.Errorf("%s claimed %d times", id, claimed[id])
			}
		}
		if len(claimed) != len(invites) || len(invites) != 41 {
			t.Fatalf("%d invites, %d claimed", len(invites), len(claimed))
		}
	})
}
