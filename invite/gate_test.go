package invite_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/templates"
)

// capped returns a service like setup's whose per-recipient cap is 2 a day.
func capped(t *testing.T, e testenv.Engine) (*invite.Service, *store.DB, *time.Time) {
	t.Helper()
	_, db, now := setup(t, e)
	clock := func() time.Time { return *now }
	tmpl, _ := templates.Defaults()
	lim := ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}
	svc := invite.NewService(invite.Config{Store: db, Accounts: db, Resolver: resolver.NewService(db, invite.Finder{Store: db}),
		Templates: tmpl, Limiter: ratelimit.NewMemory(clock), Limits: invite.Limits{PerInviterMinute: lim, PerTenantDay: lim,
			PerRecipientDay: ratelimit.Limit{Rate: 2, Burst: 2, Period: 24 * time.Hour}, SMSPerCountry: lim},
		PublicURL: "https://beckon.test", TTL: 14 * 24 * time.Hour, Now: clock})
	return svc, db, now
}

// TestGateCapOnceAMessage: a message's cap decision is recorded with its
// attempt, so a retry (the provider failed) is not charged again; a message
// claimed again after a crash, before anything was recorded, is charged
// again — more held, never one let through uncharged.
func TestGateCapOnceAMessage(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db, now := capped(t, e)
		ctx := context.Background()
		invite3 := func(to string) {
			t.Helper()
			for i := range 3 {
				if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: to,
					Chat: invite.Chat{ID: fmt.Sprintf("c%d", i), Kind: invite.OneOnOne}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		admit := func() ([]notify.Message, []bool) {
			t.Helper()
			msgs, err := db.Claim(ctx, 10, time.Second)
			if err != nil || len(msgs) != 3 {
				t.Fatalf("claim: %d %v", len(msgs), err)
			}
			ok, err := svc.Admit(ctx, msgs)
			if err != nil {
				t.Fatal(err)
			}
			return msgs, ok
		}
		invite3("x@example.org")
		msgs, first := admit()
		if !slices.Equal(first, []bool{true, true, false}) {
			t.Fatalf("first claim: %v; the cap is 2", first)
		}
		// The provider is down: all three are retried, with their decisions.
		var retry []notify.Attempt
		for _, m := range msgs {
			retry = append(retry, notify.Attempt{Message: m, State: notify.StateRetry, RetryAt: *now})
		}
		if err := db.Record(ctx, retry); err != nil {
			t.Fatal(err)
		}
		if _, again := admit(); !slices.Equal(again, first) {
			t.Fatalf("retried: %v; want the first decisions %v", again, first)
		}
		*now = now.Add(2 * time.Second) // x's leases run out
		if _, again := admit(); !slices.Equal(again, first) {
			t.Fatalf("claimed again: %v; want the recorded decisions %v", again, first)
		}
		*now = now.Add(2 * time.Second)
		for {
			if msgs, _ := db.Claim(ctx, 10, time.Hour); len(msgs) == 0 {
				break // x's messages out of the way for good
			}
		}
		invite3("y@example.org")
		if _, ok := admit(); !slices.Equal(ok, first) {
			t.Fatalf("y: %v", ok)
		}
		*now = now.Add(2 * time.Second) // the worker dies before recording anything
		if _, crashed := admit(); !slices.Equal(crashed, []bool{false, false, false}) {
			t.Fatalf("claimed again after a crash: %v; want all held (charged again, over the cap)", crashed)
		}
	})
}

// TestRecordFenced: a worker whose lease ran out records nothing over the
// worker that took its messages over.
func TestRecordFenced(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db, now := setup(t, e)
		ctx := context.Background()
		if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "y@example.org",
			Chat: invite.Chat{ID: "c", Kind: invite.OneOnOne}}); err != nil {
			t.Fatal(err)
		}
		stale, _ := db.Claim(ctx, 10, time.Second)
		*now = now.Add(2 * time.Second)
		fresh, _ := db.Claim(ctx, 10, time.Second)
		if len(stale) != 1 || len(fresh) != 1 {
			t.Fatalf("claims: %d %d", len(stale), len(fresh))
		}
		if err := db.Record(ctx, []notify.Attempt{{Message: fresh[0], State: notify.StateSent}}); err != nil {
			t.Fatal(err)
		}
		if err := db.Record(ctx, []notify.Attempt{{Message: stale[0], State: notify.StateHeld}}); err != nil {
			t.Fatal(err)
		}
		inv, err := db.Invite(ctx, fresh[0].InviteID)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Suppressed || inv.Delivery != invite.Sent {
			t.Fatalf("the stale worker's record won: suppressed=%v delivery=%s", inv.Suppressed, inv.Delivery)
		}
	})
}
