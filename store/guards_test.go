package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/reputation"
	"github.com/beckon-chat/beckon/smsguard"
	"github.com/beckon-chat/beckon/store"
	"github.com/jmoiron/sqlx"
)

// rawDB opens the engine's database with database/sql, to write rows as
// they would be after months of use.
func rawDB(t *testing.T, e testenv.Engine) (*sql.DB, func(string) string) {
	t.Helper()
	driver, dsn, bind := "pgx", e.DirectURL, func(q string) string { return sqlx.Rebind(sqlx.DOLLAR, q) }
	if e.Name == "sqlite" {
		driver, dsn, bind = "sqlite", "file:"+strings.TrimPrefix(e.URL, "sqlite://")+"?_pragma=busy_timeout(5000)", func(q string) string { return q }
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw, bind
}

// ts writes a time as the store does on SQLite; PostgreSQL reads the same
// text as a timestamp.
func ts(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

// TestSenderSignals: one indexed read finds what recipients did to a
// sender — invites declined and accepted, requests decided, blocks by
// account and from the invite page — within the window, newest first, and
// nothing of other senders; the score it gives recovers with time.
func TestSenderSignals(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		db := open(t, e)
		raw, bind := rawDB(t, e)
		ctx := context.Background()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := raw.ExecContext(ctx, bind(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		old := epoch.Add(-200 * 24 * time.Hour)
		for _, id := range []string{"spammer", "other", "r1", "r2", "r3", "r4", "r5"} {
			exec(`INSERT INTO accounts (id, display_name, discoverable, created_at, updated_at) VALUES (?, ?, TRUE, ?, ?)`, id, id, ts(old), ts(old))
		}
		invite := func(id, inviter, to, status string, at time.Time) {
			exec(`INSERT INTO invites (id, inviter_id, recipient_kind, recipient_value, channel, chat_id, chat_kind, locale, status,
				delivery, suppressed, last_sent_at, created_at, expires_at, updated_at)
				VALUES (?, ?, 'email', ?, 'email', 'c', 'group', 'en', ?, 'sent', FALSE, ?, ?, ?, ?)`, id, inviter, to, status, ts(at), ts(at), ts(at.Add(time.Hour)), ts(at))
		}
		request := func(id, sender, recipient, status string, at time.Time) {
			exec(`INSERT INTO requests (id, sender_id, recipient_id, chat_id, status, created_at, updated_at) VALUES (?, ?, ?, 'c', ?, ?, ?)`,
				id, sender, recipient, status, ts(at), ts(at))
		}
		invite("i1", "spammer", "a@example.com", "declined", epoch.Add(-time.Hour))
		invite("i2", "spammer", "b@example.com", "accepted", epoch.Add(-2*time.Hour))
		invite("i3", "spammer", "c@example.com", "pending", epoch.Add(-time.Hour))
		invite("i4", "spammer", "d@example.com", "declined", epoch.Add(-100*24*time.Hour)) // outside the window
		invite("i5", "other", "a@example.com", "declined", epoch.Add(-time.Hour))
		request("q1", "spammer", "r1", "blocked", epoch.Add(-3*time.Hour))
		request("q2", "spammer", "r2", "reported", epoch.Add(-4*time.Hour))
		request("q3", "spammer", "r3", "pending", epoch.Add(-time.Hour))
		request("q4", "other", "r1", "declined", epoch.Add(-time.Hour))
		exec(`INSERT INTO blocks (account_id, blocked_id, created_at) VALUES (?, ?, ?)`, "r1", "spammer", ts(epoch.Add(-3*time.Hour)))
		exec(`INSERT INTO blocks (account_id, blocked_id, created_at) VALUES (?, ?, ?)`, "r4", "spammer", ts(epoch.Add(-5*time.Hour)))
		exec(`INSERT INTO identifier_blocks (kind, value, blocked_id, created_at) VALUES ('email', 'e@example.com', 'spammer', ?)`, ts(epoch.Add(-6*time.Hour)))

		got, err := db.SenderSignals(ctx, "spammer", epoch.Add(-84*24*time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		lines := func(got []reputation.Signal) string {
			var l []string
			for _, s := range got {
				l = append(l, fmt.Sprintf("%s %s %s", s.Kind, s.Who, epoch.Sub(s.At)))
			}
			slices.Sort(l)
			return strings.Join(l, "\n")
		}
		// r1 blocked twice: the request and the account block.
		want := []string{"accepted email:b@example.com 2h0m0s", "blocked email:e@example.com 6h0m0s", "blocked r1 3h0m0s",
			"blocked r1 3h0m0s", "blocked r4 5h0m0s", "declined email:a@example.com 1h0m0s", "reported r2 4h0m0s"}
		if g, w := lines(got), strings.Join(want, "\n"); g != w {
			t.Fatalf("signals:\n%s\nwant:\n%s", g, w)
		}
		// At most limit from each source, the newest.
		got, err = db.SenderSignals(ctx, "spammer", epoch.Add(-84*24*time.Hour), 1)
		want = []string{"blocked email:e@example.com 6h0m0s", "blocked r1 3h0m0s", "blocked r1 3h0m0s", "declined email:a@example.com 1h0m0s"}
		if g, w := lines(got), strings.Join(want, "\n"); err != nil || g != w {
			t.Fatalf("limit 1: %v\n%s\nwant:\n%s", err, g, w)
		}

		// The score, by the service with its clock: four refusals (1 + 2 +
		// 3 + 2 + 2 = 10 by weight) against one acceptance.
		now := epoch
		svc := reputation.NewService(db, reputation.DefaultParams(), func() time.Time { return now }, 0)
		sc, err := svc.Score(ctx, "spammer")
		if err != nil || sc.Bad < 9.9 || sc.Good < 0.99 {
			t.Fatalf("score %+v, %v", sc, err)
		}
		if bad, err := svc.Bad(ctx, "spammer"); err != nil || !bad {
			t.Fatalf("Bad = %v, %v; want true", bad, err)
		}
		if bad, err := svc.Bad(ctx, "other"); err != nil || bad {
			t.Fatalf("Bad(other) = %v, %v; want false", bad, err)
		}
		first := sc.Factor
		now = epoch.Add(60 * 24 * time.Hour)
		if f, err := svc.Factor(ctx, "spammer"); err != nil || f != 1 || first >= 1 {
			t.Fatalf("factor %.2f then, %.2f sixty days later (%v); want shrunk, then recovered", first, f, err)
		}
	})
}

// TestSMSGuardStore: the counters, the cool-off and the tenant budget
// on each engine, and the budget under concurrency: never more SMS than
// the budget, from any number of writers.
func TestSMSGuardStore(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		db := open(t, e)
		ctx := context.Background()
		hour := epoch.Truncate(time.Hour)
		for i := range 5 {
			must(t, db.CountSMS(ctx, "+44781", hour, smsguard.CountSent))
			must(t, db.CountSMS(ctx, "+44781", hour.Add(-time.Duration(i+3)*time.Hour), smsguard.CountSent))
		}
		must(t, db.CountSMS(ctx, "+44781", hour, smsguard.CountHeld))
		must(t, db.CountSMS(ctx, "+44781", hour, smsguard.CountAccepted))
		must(t, db.CountSMS(ctx, "+44781", hour.Add(-100*time.Hour), smsguard.CountAccepted))
		must(t, db.CountSMS(ctx, "+44782", hour, smsguard.CountSent))
		w := smsguard.Windows{Recent: hour.Add(-time.Hour), Day: hour.Add(-23 * time.Hour), Baseline: hour.Add(-169 * time.Hour)}
		st, err := db.SMSPrefixStats(ctx, "+44781", w)
		want := smsguard.Stats{Recent: 6, Baseline: 5, BaselineAccepted: 1, Day: 11, DayAccepted: 1}
		if err != nil || st != want {
			t.Fatalf("stats %+v, %v; want %+v", st, err, want)
		}
		must(t, db.CoolOffPrefix(ctx, "+44781", epoch.Add(3*time.Hour), epoch))
		must(t, db.CoolOffPrefix(ctx, "+44781", epoch.Add(time.Hour), epoch)) // never shortened
		if st, _ := db.SMSPrefixStats(ctx, "+44781", w); !st.CoolUntil.Equal(epoch.Add(3 * time.Hour)) {
			t.Fatalf("cool-off until %v", st.CoolUntil)
		}
		must(t, db.PruneSMS(ctx, hour.Add(-4*time.Hour), "2026-11-22", epoch.Add(4*time.Hour)))
		if st, _ := db.SMSPrefixStats(ctx, "+44781", w); st.Baseline != 2 || !st.CoolUntil.IsZero() { // hours -3 and -4 stay
			t.Fatalf("after prune: %+v", st)
		}

		var wg sync.WaitGroup
		var mu sync.Mutex
		spent := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					ok, err := db.SpendSMS(ctx, "acme", "2026-11-23", 25)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						spent++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if spent != 25 {
			t.Fatalf("spent %d of a budget of 25", spent)
		}
		if ok, err := db.SpendSMS(ctx, "acme", "2026-11-24", 25); !ok || err != nil {
			t.Fatalf("a new day: %v %v", ok, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReputation reads the score of a heavy sender (500 refusals and
// acceptances, of which the newest 200 are read) and of a light one (5),
// among 20,000 decided invitations of others: the cost of the spam
// screen's history rule and of the shrink check, per message, without the
// cache.
func BenchmarkReputation(b *testing.B) {
	for _, e := range []func(testing.TB) testenv.Engine{testenv.SQLite, testenv.Postgres} {
		eng := e(b)
		b.Run(eng.Name, func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(ctx, eng.URL, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			driver, dsn, bind := "pgx", eng.DirectURL, func(q string) string { return sqlx.Rebind(sqlx.DOLLAR, q) }
			if eng.Name == "sqlite" {
				driver, dsn, bind = "sqlite", "file:"+strings.TrimPrefix(eng.URL, "sqlite://")+"?_pragma=busy_timeout(5000)", func(q string) string { return q }
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			tx, _ := raw.BeginTx(ctx, nil)
			at := ts(epoch.Add(-time.Hour))
			for _, id := range []string{"heavy", "light", "other"} {
				tx.ExecContext(ctx, bind(`INSERT INTO accounts (id, display_name, discoverable, created_at, updated_at) VALUES (?, ?, TRUE, ?, ?)`), id, id, at, at)
			}
			for i := range 20_505 {
				inviter, status := "other", "declined"
				switch {
				case i < 500:
					inviter = "heavy"
				case i < 505:
					inviter = "light"
				}
				if i%3 == 0 {
					status = "accepted"
				}
				if _, err := tx.ExecContext(ctx, bind(`INSERT INTO invites (id, inviter_id, recipient_kind, recipient_value, channel, chat_id, chat_kind, locale, status,
					delivery, suppressed, last_sent_at, created_at, expires_at, updated_at)
					VALUES (?, ?, 'email', ?, 'email', 'c', 'group', 'en', ?, 'sent', FALSE, ?, ?, ?, ?)`),
					fmt.Sprintf("inv_%d", i), inviter, fmt.Sprintf("r%d@example.com", i), status, at, at, at, at); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			if eng.Name != "sqlite" {
				raw.ExecContext(ctx, "ANALYZE")
			}
			svc := reputation.NewService(db, reputation.DefaultParams(), func() time.Time { return epoch }, 0)
			for _, sender := range []string{"heavy", "light"} {
				b.Run(sender, func(b *testing.B) {
					for b.Loop() {
						if _, err := svc.Score(ctx, sender); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
