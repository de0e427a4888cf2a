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

// TestGateCapOnceAMessage: a message claimed again after a crash (its lease
// ran out, nothing recorded) keeps the cap decision of its first claim: it
// is neither charged twice nor let through uncharged.
func TestGateCapOnceAMessage(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		svc, db, now := capped(t, e)
		ctx := context.Background()
		for i := range 3 {
			if _, err := svc.Create(ctx, invite.CreateInput{InviterID: "alice", Identifier: "x@example.org",
				Chat: invite.Chat{ID: fmt.Sprintf("c%d", i), Kind: invite.OneOnOne}}); err != nil {
				t.Fatal(err)
			}
		}
		admit := func() []bool {
			t.Helper()
			msgs, err := db.Claim(ctx, 10, time.Second)
			if err != nil || len(msgs) != 3 {
				t.Fatalf("claim: %d %v", len(msgs), err)
			}
			ok, err := svc.Admit(ctx, msgs)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		first := admit()
		if !slices.Equal(first, []bool{true, true, false}) {
			t.Fatalf("first claim: %v; the cap is 2", first)
		}
		*now = now.Add(2 * time.Second) // the worker died: its lease runs out
		if again := admit(); !slices.Equal(again, first) {
			t.Fatalf("claimed again: %v; want the first decisions %v", again, first)
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
