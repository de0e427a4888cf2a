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

func (c *countingStore) Owner(ctx context.Context, id resolver.Identifier, requester string) (resolver.Owner, bool, error) {
	c.calls++
	return c.Store.Owner(ctx, id, requester)
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
			{ID: "asker", DisplayName: "Asker", Discoverable: true, Identifiers: []string{"asker@example.com"}},
			{ID: "hidden", DisplayName: "Hidden", Identifiers: []string{"hidden@example.com"}},
			{ID: "blocker", DisplayName: "Blocker", Discoverable: true, Identifiers: []string{"blocker@example.com"}},
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
		req, err := svc.Requester(ctx, "asker")
		if err != nil {
			t.Fatal(err)
		}
		var base resolver.Result
		for i, id := range []string{"nobody@example.com", "hidden@example.com", "blocker@example.com"} {
			cs.calls = 0
			res, err := svc.Resolve(ctx, req, resolver.Query{Identifier: id})
			if err != nil {
				t.Fatal(err)
			}
			if cs.calls != 1 {
				t.Fatalf("%s: %d store calls; want 1", id, cs.calls)
			}
			res.Identifier = resolver.Identifier{}
			if i == 0 {
				base = res
			} else if res.Match != base.Match || res.Invitable != base.Invitable || res.Account != nil {
				t.Fatalf("%s: %+v; want %+v", id, res, base)
			}
		}
	})
}
