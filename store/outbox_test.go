package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/store"
)

// slowSender takes a while per message and notes the order it was given.
type slowSender struct {
	mu   *sync.Mutex
	sent *[]int64
}

func (s slowSender) Send(_ context.Context, msgs []notify.Message) []notify.Outcome {
	time.Sleep(150 * time.Millisecond)
	s.mu.Lock()
	*s.sent = append(*s.sent, msgs[0].ID)
	s.mu.Unlock()
	return []notify.Outcome{{ProviderID: "p"}}
}

func (slowSender) Close() error { return nil }

// TestSlowBatchReleased: a batch that cannot be sent within half its lease
// gives the rest back untried: every message goes out once, in order, with
// one attempt counted, and none waits for a lease to run out.
func TestSlowBatchReleased(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	db, err := store.Open(ctx, "sqlite://"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	due := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000000000Z07:00")
	var want []int64
	for range 12 {
		res, err := raw.Exec(`INSERT INTO outbox (invite_id, kind, channel, recipient, state, next_attempt_at, created_at, updated_at)
			VALUES ('inv_x', 'reminder', 'email', 'a@example.com', 'pending', ?, ?, ?)`, due, due, due)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		want = append(want, id)
	}
	var mu sync.Mutex
	var sent []int64
	d := notify.NewDispatcher(notify.DispatcherConfig{Outbox: db, Workers: 1, Batch: 6, Lease: time.Second,
		Idle: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		Senders: func(string) (notify.Sender, error) { return slowSender{&mu, &sent}, nil }})
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go d.Run(rctx)
	for {
		mu.Lock()
		n := len(sent)
		mu.Unlock()
		if n >= len(want) || rctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sent, want) {
		t.Fatalf("sent %v; want each once, in order %v", sent, want)
	}
	var most int
	if err := raw.QueryRow(`SELECT MAX(attempts) FROM outbox`).Scan(&most); err != nil || most != 1 {
		t.Fatalf("a message counts %d attempts (%v); want 1: what was given back was not tried", most, err)
	}
}
