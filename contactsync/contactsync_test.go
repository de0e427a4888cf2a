package contactsync_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/contactsync"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
)

var secret = []byte("a test secret of 32 bytes, exact")

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func openDB(t testing.TB, e testenv.Engine) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), e.URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// rig is a contact sync service on a real database with a real limiter
// (600 an hour, as in production) on the same test clock.
type rig struct {
	svc     *contactsync.Service
	limiter *ratelimit.Memory
	limit   ratelimit.Limit
	clock   *clock
}

func newRig(t *testing.T, db *store.DB) *rig {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	svc, err := contactsync.New(contactsync.Config{Store: db, Secret: secret, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{svc: svc, limiter: ratelimit.NewMemory(c.Now), limit: ratelimit.Limit{Rate: 600, Burst: 600, Period: time.Hour}, clock: c}
}

var errRefused = errors.New("refused")

// resolve charges requester's resolve of raw identifiers as the API does:
// normalised, invalid entries counted apart, the limiter behind charge.
func (r *rig) resolve(t *testing.T, requester string, raws ...string) (contactsync.Bill, error) {
	t.Helper()
	var ids []resolver.Identifier
	invalid := 0
	for _, raw := range raws {
		id, err := resolver.Normalize(raw, "FR")
		if err != nil {
			invalid++
			continue
		}
		ids = append(ids, id)
	}
	return r.svc.Charge(context.Background(), requester, ids, invalid, func(n int) error {
		res, err := r.limiter.AllowN(context.Background(), "requester:"+requester, r.limit, n)
		if err != nil {
			return err
		}
		if n > 0 && !res.OK() {
			return errRefused
		}
		return nil
	})
}

func numbers(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+3361%07d", from+i)
	}
	return out
}

func TestKey(t *testing.T) {
	svc, err := contactsync.New(contactsync.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := contactsync.New(contactsync.Config{Secret: []byte("another secret, 32 bytes long!!")})
	alice, _ := resolver.Normalize("alice@example.com", "")
	aliceUpper, _ := resolver.Normalize("  Alice <ALICE@Example.COM> ", "")
	phone, _ := resolver.Normalize("06 12 34 56 78", "FR")
	phoneIntl, _ := resolver.Normalize("+33 6 12 34 56 78", "")
	k := svc.Key("u1", alice)
	if len(k) != 16 {
		t.Fatalf("key of %d bytes; want 16", len(k))
	}
	for _, c := range []struct {
		name string
		a, b []byte
		same bool
	}{
		{"same contact written otherwise", k, svc.Key("u1", aliceUpper), true},
		{"same number written otherwise", svc.Key("u1", phone), svc.Key("u1", phoneIntl), true},
		{"other requester", k, svc.Key("u2", alice), false},
		{"other identifier", k, svc.Key("u1", phone), false},
		{"other secret", k, other.Key("u1", alice), false},
		{"no ambiguity between requester and identifier", svc.Key("u1e", resolver.Identifier{Kind: "mail", Value: "x"}),
			svc.Key("u1", resolver.Identifier{Kind: "email", Value: "x"}), false},
	} {
		if bytes.Equal(c.a, c.b) != c.same {
			t.Errorf("%s: equal = %v; want %v", c.name, !c.same, c.same)
		}
	}
	if _, err := contactsync.New(contactsync.Config{Secret: []byte("short")}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

// TestDailySync: a backend re-checking the same 500 contacts every day for
// two months stays within 600 an hour: it pays for them once.
func TestDailySync(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		r := newRig(t, openDB(t, e))
		book := append(numbers(0, 499), "  Alice <ALICE@Example.COM> ")
		for day := range 60 {
			bill, err := r.resolve(t, "u1", book...)
			if err != nil {
				t.Fatalf("day %d: %v", day, err)
			}
			want := 0
			if day == 0 {
				want = 500
			}
			if bill.Charged != want || bill.Fresh != want || bill.Known != 500-want {
				t.Fatalf("day %d: %+v; want %d charged", day, bill, want)
			}
			// The same contacts written otherwise are the same contacts.
			if bill, err := r.resolve(t, "u1", "alice@example.com", "06 10 00 00 07"); err != nil || bill.Charged != 0 {
				t.Fatalf("day %d, rewritten: %+v %v", day, bill, err)
			}
			r.clock.Add(24 * time.Hour)
		}
		// Another requester with the same book pays for it.
		if bill, err := r.resolve(t, "u2", book...); err != nil || bill.Charged != 500 {
			t.Fatalf("u2: %+v %v", bill, err)
		}
	})
}

// TestCharging: the charging rule, step by step.
func TestCharging(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		r := newRig(t, openDB(t, e))
		steps := []struct {
			name    string
			advance time.Duration
			ids     []string
			charged int
			err     error
		}{
			{"new identifiers are charged", 0, numbers(0, 300), 300, nil},
			{"known ones are free", 0, numbers(0, 300), 0, nil},
			{"mixing old and new charges the new", 0, numbers(200, 200), 100, nil},
			{"duplicates of a new one are charged once", 0, []string{"new@example.com", "NEW@example.com", "new@example.com"}, 1, nil},
			{"invalid entries are charged every time", 0, []string{"garbage", "garbage", "+1"}, 3, nil},
			// 404 charged so far, 196 left: 197 new ones are refused,
			// whatever old ones come with them.
			{"over the limit: refused", 0, append(numbers(0, 400), numbers(1000, 197)...), 197, errRefused},
			{"refused ones stay new", 0, numbers(1000, 196), 196, nil},
			{"old ones stay free at the limit", 0, numbers(0, 400), 0, nil},
			{"new ones are refused at the limit", 0, numbers(2000, 1), 1, errRefused},
			{"garbage is refused at the limit", 0, []string{"garbage"}, 1, errRefused},
			// A lookup within 0.9 of the window renews it.
			{"renewed before expiry", 26 * 24 * time.Hour, numbers(0, 10), 0, nil},
			{"still free a window after the first lookup", 26 * 24 * time.Hour, numbers(0, 10), 0, nil},
			{"expired after a window without lookup", 0, numbers(10, 5), 5, nil},
			{"charged again, then free", time.Second, numbers(10, 5), 0, nil},
		}
		for _, s := range steps {
			r.clock.Add(s.advance)
			bill, err := r.resolve(t, "u1", s.ids...)
			if bill.Charged != s.charged || !errors.Is(err, s.err) {
				t.Fatalf("%s: charged %d (%+v), err %v; want %d, %v", s.name, bill.Charged, bill, err, s.charged, s.err)
			}
		}
	})
}

// TestOnlyHashesStored looks into the database: no row holds the
// requester or the identifier.
func TestOnlyHashesStored(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		r := newRig(t, openDB(t, e))
		if _, err := r.resolve(t, "requester-42", "alice@example.com", "+33612345678"); err != nil {
			t.Fatal(err)
		}
		driver, dsn := "pgx", e.DirectURL
		if e.Name == "sqlite" {
			driver, dsn = "sqlite", "file:"+strings.TrimPrefix(e.DirectURL, "sqlite://")
		}
		raw, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query(`SELECT key FROM contact_lookups`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			n++
			for _, plain := range []string{"requester-42", "alice", "example.com", "612345678"} {
				if bytes.Contains(k, []byte(plain)) {
					t.Errorf("key %x holds %q", k, plain)
				}
			}
			want := [][]byte{r.svc.Key("requester-42", resolver.Identifier{Kind: resolver.Email, Value: "alice@example.com"}),
				r.svc.Key("requester-42", resolver.Identifier{Kind: resolver.Phone, Value: "+33612345678"})}
			if !bytes.Equal(k, want[0]) && !bytes.Equal(k, want[1]) {
				t.Errorf("key %x is neither keyed hash", k)
			}
		}
		if n != 2 {
			t.Fatalf("%d rows; want 2", n)
		}
		var cols int
		q := `SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'contact_lookups'`
		if e.Name == "sqlite" {
			q = `SELECT COUNT(*) FROM pragma_table_info('contact_lookups')`
		}
		if err := raw.QueryRow(q).Scan(&cols); err != nil || cols != 3 {
			t.Fatalf("contact_lookups has %d columns (%v); want key, seen_at and charged_at only", cols, err)
		}
	})
}

// TestConcurrentNodes: goroutines on two nodes (two pools on one
// database) look up the same new identifier at once, half of them with a
// limiter that refuses: exactly one allowed lookup pays, the refused ones
// record nothing, and the identifier ends known.
func TestConcurrentNodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		nodes := []*store.DB{openDB(t, e), openDB(t, e)}
		now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		id := resolver.Identifier{Kind: resolver.Phone, Value: "+33612345678"}
		for round := range 5 {
			var mu sync.Mutex
			paid := 0
			var wg sync.WaitGroup
			for g := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					svc, _ := contactsync.New(contactsync.Config{Store: nodes[g%2], Secret: secret, Now: func() time.Time { return now }})
					bill, err := svc.Charge(context.Background(), fmt.Sprint("u", round), []resolver.Identifier{id}, 0, func(n int) error {
						if g%4 < 2 {
							return errRefused
						}
						return nil
					})
					if bill.Degraded {
						t.Errorf("store failed: %v", bill.StoreErr)
					}
					if err == nil && bill.Charged == 1 {
						mu.Lock()
						paid++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if paid != 1 {
				t.Fatalf("round %d: %d allowed lookups paid for one new identifier; want exactly 1", round, paid)
			}
		}
	})
}

func TestPrune(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		db := openDB(t, e)
		r := newRig(t, db)
		if _, err := r.resolve(t, "u1", numbers(0, 7)...); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(20 * 24 * time.Hour)
		if _, err := r.resolve(t, "u1", numbers(100, 3)...); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(11 * 24 * time.Hour) // the first 7 expired, not the 3
		n, err := db.PruneLookups(context.Background(), r.clock.Now().Add(-r.svc.Window()), 2)
		if err != nil || n != 7 {
			t.Fatalf("pruned %d, %v; want 7", n, err)
		}
		if n, err := r.svc.Prune(context.Background()); err != nil || n != 0 {
			t.Fatalf("pruned again %d, %v; want 0", n, err)
		}
		if bill, err := r.resolve(t, "u1", numbers(100, 3)...); err != nil || bill.Charged != 0 {
			t.Fatalf("the recent ones: %+v %v", bill, err)
		}
	})
}

// TestStoreDown: when the store fails, every entry is charged.
func TestStoreDown(t *testing.T) {
	db := openDB(t, testenv.SQLite(t))
	r := newRig(t, db)
	var observed []error
	svc, _ := contactsync.New(contactsync.Config{Store: db, Secret: secret, Now: r.clock.Now,
		Observe: func(err error) { observed = append(observed, err) }})
	r.svc = svc
	if _, err := r.resolve(t, "u1", numbers(0, 3)...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	bill, err := r.resolve(t, "u1", append(numbers(0, 3), "garbage")...)
	if err != nil || !bill.Degraded || bill.Charged != 4 || bill.StoreErr == nil {
		t.Fatalf("%+v %v; want 4 charged, degraded", bill, err)
	}
	if len(observed) != 2 || observed[0] != nil || observed[1] == nil {
		t.Fatalf("observed %v; want nil then the failure", observed)
	}
}

func TestGeneratedSecret(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		a, b := openDB(t, e), openDB(t, e)
		s1, err := a.GeneratedSecret(context.Background(), "contact_sync", []byte("first secret of the two nodes..."))
		if err != nil {
			t.Fatal(err)
		}
		s2, err := b.GeneratedSecret(context.Background(), "contact_sync", []byte("second secret of the two nodes.."))
		if err != nil || !bytes.Equal(s1, s2) || string(s1) != "first secret of the two nodes..." {
			t.Fatalf("%q, %q, %v; want the first one twice", s1, s2, err)
		}
	})
}

// BenchmarkCharge: one resolve of one identifier, new or known, on SQLite
// (BECKON_BENCH_PG=1: PostgreSQL).
func BenchmarkCharge(b *testing.B) {
	e := testenv.SQLite(b)
	if os.Getenv("BECKON_BENCH_PG") != "" {
		e = testenv.Postgres(b)
	}
	db := openDB(b, e)
	svc, _ := contactsync.New(contactsync.Config{Store: db, Secret: secret})
	free := func(int) error { return nil }
	ctx := context.Background()
	for _, c := range []struct {
		name string
		id   func(i int) resolver.Identifier
	}{
		{"new", func(i int) resolver.Identifier {
			return resolver.Identifier{Kind: resolver.Email, Value: fmt.Sprintf("n%d@example.com", i)}
		}},
		{"known", func(i int) resolver.Identifier {
			return resolver.Identifier{Kind: resolver.Email, Value: "n1@example.com"}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := svc.Charge(ctx, "u1", []resolver.Identifier{c.id(i)}, 0, free); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
