package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/store"
	"github.com/jmoiron/sqlx"
)

// insertEvent writes an event through ex (a transaction or the pool), as
// the store's writers do: the table's defaults fill in the position.
func insertEvent(t *testing.T, ex sqlx.ExecerContext, id string) {
	t.Helper()
	_, err := ex.ExecContext(context.Background(),
		`INSERT INTO events (id, type, data, created_at) VALUES ($1, 'test.event', '{}', now())`, id)
	if err != nil {
		t.Fatalf("insert event %s: %v", id, err)
	}
}

// feed reads the whole feed following the cursor from after.
func feed(t *testing.T, db *store.DB, after string) []string {
	t.Helper()
	var got []string
	for {
		events, err := db.Events(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("events after %q: %v", after, err)
		}
		if len(events) == 0 {
			return got
		}
		for _, e := range events {
			got = append(got, e.ID)
		}
		after = events[len(events)-1].ID
	}
}

// feedShows waits until the feed after the event after shows want, no
// more (other tests' transactions on the server may hold it back a
// while), and fails if it shows anything else.
func feedShows(t *testing.T, db *store.DB, after string, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = feed(t, db, after); len(got) >= len(want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("feed after %q = %v; want %v", after, got, want)
	}
}

// TestFeedWaitsForOlderTransactions: an event committed while an older
// transaction that wrote an event is still open stays out of the feed
// until that transaction ends; then both show, the older one first.
func TestFeedWaitsForOlderTransactions(t *testing.T) {
	e := testenv.Postgres(t)
	db := open(t, e)
	// While this test holds a transaction open, the feeds of every
	// database on the server wait for it: nowDB does not wait.
	nowDB, err := store.Open(context.Background(), e.URL, store.Options{FeedWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer nowDB.Close()
	raw := sqlx.MustOpen("pgx", e.URL)
	defer raw.Close()
	ctx := context.Background()

	older, err := raw.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	insertEvent(t, older, "evt_older") // takes its seq first
	insertEvent(t, raw, "evt_newer")   // commits first, with a later seq
	if got := feed(t, nowDB, ""); len(got) != 0 {
		t.Fatalf("feed while an older writer is open = %v; want nothing yet (a reader passing evt_newer would miss evt_older)", got)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	feedShows(t, db, "", "evt_older", "evt_newer")

	// A transaction that started writing first orders first, even when it
	// writes its event after a newer transaction committed one.
	first, err := raw.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	if _, err := first.ExecContext(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	insertEvent(t, raw, "evt_second")
	if got := feed(t, nowDB, "evt_newer"); len(got) != 0 {
		t.Fatalf("feed while the first writer is open = %v; want nothing yet", got)
	}
	insertEvent(t, first, "evt_first")
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	feedShows(t, db, "evt_newer", "evt_first", "evt_second")
}

// TestFeedUnderConcurrentWriters: writers commit in any order while a
// reader tails the feed with after=; the reader sees every event, in the
// order of a full read made afterwards.
func TestFeedUnderConcurrentWriters(t *testing.T) {
	e := testenv.Postgres(t)
	db := open(t, e)
	raw := sqlx.MustOpen("pgx", e.URL)
	defer raw.Close()
	raw.SetMaxOpenConns(16)
	ctx := context.Background()

	var writers sync.WaitGroup
	for w := range 12 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 40 {
				tx, err := raw.BeginTxx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				insertEvent(t, tx, fmt.Sprintf("evt_%02d_%02d", w, i))
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // commit in another order
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()

	// Tail until every event showed (other tests' transactions on the
	// server may hold the feed back a while after the writers are done).
	var tailed []string
	after := ""
	deadline := time.Now().Add(20 * time.Second)
	for len(tailed) < 12*40 && time.Now().Before(deadline) {
		got := feed(t, db, after)
		tailed = append(tailed, got...)
		if len(got) > 0 {
			after = got[len(got)-1]
		}
	}
	<-done
	all := feed(t, db, "")
	if len(all) != 12*40 || len(tailed) != 12*40 {
		t.Fatalf("the feed holds %d events, the tailing reader saw %d; want %d", len(all), len(tailed), 12*40)
	}
	if !slices.Equal(tailed, all) {
		t.Fatalf("the tailing reader saw the events in another order than the full read; first difference at %d", firstDiff(tailed, all))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFeedAfterLogicalMove: events restored from a server whose
// transaction counter ran ahead of this one's (pg_dump/restore, logical
// replication) keep their positions; after `beckon migrate`, new events
// come after them, and a reader or the webhook that passed them misses
// nothing.
func TestFeedAfterLogicalMove(t *testing.T) {
	e := testenv.Postgres(t)
	db := open(t, e)
	raw := sqlx.MustOpen("pgx", e.URL)
	defer raw.Close()
	ctx := context.Background()
	for i, id := range []string{"evt_old1", "evt_old2"} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO events (tx, id, type, data, created_at) VALUES ($1, $2, 'test.event', '{}', now())`,
			int64(5_000_000_000+i), id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx); err != nil { // as serve does at start
		t.Fatal(err)
	}
	insertEvent(t, raw, "evt_new")
	feedShows(t, db, "", "evt_old1", "evt_old2", "evt_new")
	feedShows(t, db, "evt_old2", "evt_new")
}
