package store_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

// wireCounter is a TCP proxy in front of PostgreSQL that counts the round
// trips clients ask for: each Sync (the end of an extended-protocol query)
// and each simple Query message.
type wireCounter struct {
	addr  string
	trips atomic.Int64
}

// countWire starts a wireCounter to the server of pgURL and returns it
// with pgURL pointed at it.
func countWire(t testing.TB, pgURL string) (*wireCounter, string) {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &wireCounter{addr: ln.Addr().String()}
	target := u.Host
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() { _, _ = io.Copy(client, server); client.Close() }()
			go func() { w.count(client, server); server.Close() }()
		}
	}()
	u.Host = w.addr
	return w, u.String()
}

// count forwards the client's messages to the server, counting Sync and
// Query. The first messages (SSL, GSS requests and the startup) have no
// type byte.
func (w *wireCounter) count(client io.Reader, server io.Writer) {
	var head [5]byte
	for started := false; ; {
		if !started {
			if _, err := io.ReadFull(client, head[:4]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(head[:4])
			body := make([]byte, n-4)
			if _, err := io.ReadFull(client, body); err != nil {
				return
			}
			code := binary.BigEndian.Uint32(body[:4])
			started = code != 80877103 && code != 80877104 // SSLRequest, GSSENCRequest
			if _, err := server.Write(append(head[:4:4], body...)); err != nil {
				return
			}
			continue
		}
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return
		}
		if head[0] == 'S' || head[0] == 'Q' {
			w.trips.Add(1)
		}
		body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if _, err := server.Write(append(head[:5:5], body...)); err != nil {
			return
		}
	}
}

// batchFixture is a PostgreSQL database with a requester, owners, and the
// requester's pending invites to some identifiers, behind a wireCounter.
type batchFixture struct {
	wire    *wireCounter
	svc     *resolver.Service
	plain   []resolver.Query // 1000 identifiers, 100 owned, no pending invite
	pending []resolver.Query // the same with pending invites to 10 unowned ones
}

func newBatchFixture(t testing.TB, e testenv.Engine) *batchFixture {
	ctx := context.Background()
	wire, proxied := countWire(t, e.URL)
	db, err := store.Open(ctx, proxied, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := directory.NewService(db)
	if _, err := dir.PutAccount(ctx, directory.AccountInput{ID: "asker", DisplayName: "Asker", Discoverable: true,
		Identifiers: []string{"asker@example.com"}}); err != nil {
		t.Fatal(err)
	}
	f := &batchFixture{wire: wire, svc: resolver.NewService(db, invite.Finder{Store: db})}
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("someone%d@example.com", i)
		if i%10 == 0 {
			if _, err := dir.PutAccount(ctx, directory.AccountInput{ID: fmt.Sprintf("u%d", i), DisplayName: "U",
				Discoverable: i%20 == 0, Identifiers: []string{id}}); err != nil {
				t.Fatal(err)
			}
		}
		f.plain = append(f.plain, resolver.Query{Identifier: id})
		f.pending = append(f.pending, resolver.Query{Identifier: id})
	}
	direct := e.DirectURL
	if direct == "" {
		direct = e.URL
	}
	raw, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	now := time.Now().UTC()
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("guest%d@example.org", i)
		f.pending[i*100+1].Identifier = id
		if _, err := raw.ExecContext(ctx, `INSERT INTO invites (id, inviter_id, recipient_kind, recipient_value, channel,
			chat_id, chat_kind, chat_title, locale, status, delivery, suppressed, resends, last_sent_at, created_at, expires_at,
			updated_at) VALUES ($1, 'asker', 'email', $2, 'email', 'c', 'one_on_one', '', 'en', 'pending', 'queued', false, 0,
			$3, $3, $4, $3)`, fmt.Sprintf("inv_%d", i), id, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// trips resolves qs and returns the round trips it took and the answers.
func (f *batchFixture) trips(t testing.TB, qs []resolver.Query) (int64, []resolver.BatchItem) {
	before := f.wire.trips.Load()
	items, err := f.svc.ResolveBatch(context.Background(), "asker", qs)
	if err != nil {
		t.Fatal(err)
	}
	return f.wire.trips.Load() - before, items
}

// postgresEngines are PostgreSQL, directly and through PgBouncer.
var postgresEngines = []func(testing.TB) testenv.Engine{testenv.Postgres, testenv.PgBouncer}

// TestBatchRoundTrips: a batch resolve of 1000 on PostgreSQL (directly and
// through PgBouncer) is one round trip to the database, two when the
// requester has pending invites among them, counted on the wire. The least
// of three tries is taken, as the pool may check an idle connection first
// (one more Query).
func TestBatchRoundTrips(t *testing.T) {
	for _, engine := range postgresEngines {
		e := engine(t)
		t.Run(e.Name, func(t *testing.T) { testBatchRoundTrips(t, newBatchFixture(t, e)) })
	}
}

func testBatchRoundTrips(t *testing.T, f *batchFixture) {
	for _, c := range []struct {
		name    string
		qs      []resolver.Query
		want    int64
		pending int
	}{{"no pending invite", f.plain, 1, 0}, {"pending invites", f.pending, 2, 10}} {
		f.trips(t, c.qs) // prepares the statements on the connection
		least := int64(1 << 30)
		var items []resolver.BatchItem
		for i := 0; i < 3; i++ {
			var n int64
			n, items = f.trips(t, c.qs)
			least = min(least, n)
		}
		if least != c.want {
			t.Errorf("%s: a batch of %d took %d round trips, want %d", c.name, len(c.qs), least, c.want)
		}
		matches := map[resolver.Match]int{}
		for _, it := range items {
			if it.Err != nil {
				t.Fatalf("%s: %v", c.name, it.Err)
			}
			matches[it.Result.Match]++
		}
		if matches[resolver.MatchPendingInvite] != c.pending || matches[resolver.MatchAccount] != 50 {
			t.Errorf("%s: outcomes %v, want %d pending invites and 50 accounts", c.name, matches, c.pending)
		}
	}
}

// BenchmarkBatchResolve1000 times a batch resolve of 1000 identifiers on
// PostgreSQL, directly and through PgBouncer (100 owned, 10 with the
// requester's pending invite), through the resolver and the store, and
// reports round trips per batch.
func BenchmarkBatchResolve1000(b *testing.B) {
	for _, engine := range postgresEngines {
		e := engine(b)
		b.Run(e.Name, func(b *testing.B) {
			f := newBatchFixture(b, e)
			f.trips(b, f.pending)
			var trips int64
			for b.Loop() {
				n, _ := f.trips(b, f.pending)
				trips += n
			}
			b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
		})
	}
}
