package resolver_test

import (
	"context"
	"testing"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

// countingStore counts the queries resolve makes.
type countingStore struct {
	resolver.Store
	calls int
}

func (c *countingStore) Owners(ctx context.Context, requester string, ids []resolver.Identifier) ([]resolver.Owner, error) {
	c.calls++
	return c.Store.Owners(ctx, requester, ids)
}

func (c *countingStore) Lookup(ctx context.Context, requester string, ids []resolver.Identifier) (resolver.Requester, []resolver.Owner, error) {
	c.calls++
	return c.Store.Lookup(ctx, requester, ids)
}

func (c *countingStore) Requester(ctx context.Context, id string) (resolver.Requester, error) {
	c.calls++
	return c.Store.Requester(ctx, id)
}

// TestSameQueries proves that every hidden outcome costs the same store
// calls as the unregistered one, and gives the same result.
func TestSameQueries(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		db, err := store.Open(ctx, e.URL, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		dir := directory.NewService(db)
		for _, a := range []directory.AccountInput{
			{ID: "asker", DisplayName: "Asker", Discoverable: true, Region: "FR", Identifiers: []string{"asker@example.com"}},
			{ID: "hidden", DisplayName: "Hidden", Identifiers: []string{"hidden@example.com", "+33611111111"}},
			{ID: "blocker", DisplayName: "Blocker", Discoverable: true, Identifiers: []string{"blocker@example.com", "+33622222222"}},
		} {
			if _, err := dir.PutAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dir.Block(ctx, "blocker", "asker"); err != nil {
			t.Fatal(err)
		}
		cs := &countingStore{Store: db}
		svc := resolver.NewService(cs, nil)
		// Emails and international numbers: one query. National numbers
		// need the requester's region first: two. Never a difference by
		// outcome.
		for _, c := range []struct {
			calls int
			ids   []string
		}{
			{1, []string{"nobody@example.com", "hidden@example.com", "blocker@example.com"}},
			{1, []string{"+33 6 00 00 00 00", "+33 6 11 11 11 11", "+33 6 22 22 22 22"}},
			{2, []string{"06 00 00 00 00", "06 11 11 11 11", "06 22 22 22 22"}},
		} {
			var base resolver.Result
			for i, id := range c.ids {
				cs.calls = 0
				res, err := svc.Resolve(ctx, "asker", resolver.Query{Identifier: id})
				if err != nil {
					t.Fatal(err)
				}
				if cs.calls != c.calls {
					t.Fatalf("%s: %d store calls; want %d", id, cs.calls, c.calls)
				}
				res.Identifier = resolver.Identifier{}
				if i == 0 {
					base = res
				} else if res.Match != base.Match || res.Invitable != base.Invitable || res.Account != nil || res.Match != resolver.MatchNone {
					t.Fatalf("%s: %+v; want %+v", id, res, base)
				}
			}
		}
	})
}

// TestInvitableSMSCountries: invitable follows sms_countries as the store
// hands it to resolve: empty is the tenant's region only (none for a tenant
// without one), ["*"] every country, and a personal account's own region.
func TestInvitableSMSCountries(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		db, err := store.Open(ctx, e.URL, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		dir := directory.NewService(db)
		everywhere := directory.DefaultPolicy()
		everywhere.SMSCountries = []string{"*"}
		for _, tn := range []directory.Tenant{
			{ID: "home", Name: "Home", Region: "FR", Policy: directory.DefaultPolicy()},
			{ID: "world", Name: "World", Region: "FR", Policy: everywhere},
			{ID: "nowhere", Name: "No region", Policy: directory.DefaultPolicy()},
		} {
			if _, err := dir.PutTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []directory.AccountInput{
			{ID: "member", TenantID: "home", DisplayName: "Member", Region: "GB"},
			{ID: "traveller", TenantID: "world", DisplayName: "Traveller"},
			{ID: "lost", TenantID: "nowhere", DisplayName: "Lost", Region: "FR"},
			{ID: "brit", DisplayName: "Brit", Region: "GB"},
			{ID: "anon", DisplayName: "Anon"},
		} {
			if _, err := dir.PutAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		svc := resolver.NewService(db, nil)
		for requester, want := range map[string][2]bool{
			"member":    {true, false}, // the tenant's region, not the member's
			"traveller": {true, true},
			"lost":      {false, false},
			"brit":      {false, true},
			"anon":      {false, false},
		} {
			for i, number := range []string{"+33612345678", "+447400123456"} {
				res, err := svc.Resolve(ctx, requester, resolver.Query{Identifier: number})
				if err != nil {
					t.Fatal(err)
				}
				if res.Match != resolver.MatchNone || res.Invitable != want[i] {
					t.Errorf("%s resolves %s: %+v; want invitable %v", requester, number, res, want[i])
				}
			}
		}
	})
}
