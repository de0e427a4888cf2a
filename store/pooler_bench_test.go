package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

// BenchmarkResolvePooler measures the store's resolve (Lookup of one
// identifier, and of a batch of 100) on one PostgreSQL database reached
// three ways: directly with prepared statements (the default), directly
// with pooler=transaction (what skipping prepared statements costs), and
// through PgBouncer with pooler=transaction. Twice GOMAXPROCS goroutines
// share a pool of 4 connections, as a node's handlers do:
//
//	./scripts/test -run '^$' -bench ResolvePooler ./store/
func BenchmarkResolvePooler(b *testing.B) {
	ctx := context.Background()
	direct := testenv.Postgres(b)
	bouncer := testenv.PgBouncer(b)
	seed, err := store.Open(ctx, direct.URL, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer seed.Close()
	if _, err := seed.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	batch := make([]directory.Account, 0, 1000)
	for i := range n {
		a, err := directory.AccountInput{ID: fmt.Sprintf("u%d", i), DisplayName: "U", Discoverable: true, Region: "FR",
			Identifiers: []string{fmt.Sprintf("u%d@example.com", i)}}.Prepare("")
		if err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, a); len(batch) == cap(batch) {
			if _, err := seed.ImportAccounts(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// Fresh tables have no statistics until autovacuum comes by: plans
	// (and figures) would depend on when it does.
	admin, err := sql.Open("pgx", direct.DirectURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	// The PgBouncer engine made a database of its own: the benchmark reads
	// the seeded one through PgBouncer.
	through, err := url.Parse(bouncer.URL)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := url.Parse(direct.URL)
	through.Path = d.Path
	unprepared, _ := url.Parse(direct.URL)
	q := unprepared.Query()
	q.Set("pooler", "transaction")
	unprepared.RawQuery = q.Encode()
	for _, c := range []struct{ name, url string }{
		{"direct-prepared", direct.URL},
		{"direct-unprepared", unprepared.String()},
		{"pgbouncer", through.String()},
	} {
		db, err := store.Open(ctx, c.url, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", c.name, size), func(b *testing.B) {
				b.SetParallelism(2)
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						want := make([]resolver.Identifier, size)
						for j := range want {
							want[j] = resolver.Identifier{Kind: resolver.Email, Value: fmt.Sprintf("u%d@example.com", (i*size+j)%n)}
						}
						i++
						_, owners, err := db.Lookup(ctx, "u0", want)
						if err != nil || !owners[0].Found {
							b.Errorf("lookup: %v", err)
							return
						}
					}
				})
			})
		}
		db.Close()
	}
}
