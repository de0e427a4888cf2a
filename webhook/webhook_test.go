package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/webhook"
)

func TestSign(t *testing.T) {
	got := webhook.Sign("secret", time.Unix(1700000000, 0), []byte(`{"a":1}`))
	// The receiver's check is exercised end to end in cmd/beckon (TestWholeLoop).
	if !strings.HasPrefix(got, "t=1700000000,v1=") || len(got) != len("t=1700000000,v1=")+64 {
		t.Fatal(got)
	}
	if webhook.Sign("secret", time.Unix(1700000000, 0), []byte(`{"a":2}`)) == got {
		t.Fatal("the signature does not depend on the body")
	}
}

// withInvites returns a SQLite store whose feed holds the creation of
// three invites, inv_a, inv_b and inv_c.
func withInvites(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, testenv.SQLite(t).URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := directory.NewService(db).PutAccount(ctx, directory.AccountInput{ID: "a", DisplayName: "A"}); err != nil {
		t.Fatal(err)
	}
	for i, to := range []string{"x@example.com", "y@example.com", "z@example.com"} {
		id, _ := resolver.Normalize(to, "")
		inv := invite.Invite{ID: "inv_" + string(rune('a'+i)), InviterID: "a", Recipient: id, Channel: "email",
			Chat: invite.Chat{ID: "c", Kind: "group"}, Locale: "en", Status: invite.Pending, Delivery: invite.Queued,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), LastSentAt: time.Now()}
		if err := db.CreateInvite(ctx, inv, "hash"+to, nil); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// receiver records the invite ids of the events posted to it.
type receiver struct {
	mu  sync.Mutex
	got []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var e struct {
		Data struct{ Invite struct{ ID string } }
	}
	_ = json.Unmarshal(b, &e)
	rc.mu.Lock()
	rc.got = append(rc.got, e.Data.Invite.ID)
	rc.mu.Unlock()
}

func (rc *receiver) ids() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return strings.Join(rc.got, ",")
}

// TestLeaseTakenOver: a node that held the webhook and died gives it up
// within its lease; another node then delivers from where it stopped.
func TestLeaseTakenOver(t *testing.T) {
	db := withInvites(t)
	ctx := context.Background()
	if _, ok, err := db.WebhookLease(ctx, "dead-node", time.Second); err != nil || !ok {
		t.Fatalf("the first node's lease: %v %v", ok, err)
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := &webhook.Dispatcher{Store: db, URL: srv.URL, Secret: "s", Client: srv.Client(),
		Log: slog.New(slog.DiscardHandler), Idle: 20 * time.Millisecond, Lease: time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(500 * time.Millisecond)
	if got := rc.ids(); got != "" {
		t.Fatalf("delivered %q while another node held the lease", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rc.ids() != "inv_a,inv_b,inv_c" {
		if time.Now().After(deadline) {
			t.Fatalf("after the dead node's lease, delivered %q", rc.ids())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetriesInOrder: the receiver fails twice, then accepts; every event
// arrives once accepted, in order.
func TestRetriesInOrder(t *testing.T) {
	ctx := context.Background()
	db := withInvites(t)
	var (
		mu    sync.Mutex
		fails = 2
		got   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var e struct {
			Data struct{ Invite struct{ ID string } }
		}
		_ = json.Unmarshal(b, &e)
		got = append(got, e.Data.Invite.ID)
	}))
	defer srv.Close()
	d := &webhook.Dispatcher{Store: db, URL: srv.URL, Secret: "s", Client: srv.Client(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Idle: 10 * time.Millisecond,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if strings.Join(got, ",") != "inv_a,inv_b,inv_c" {
		t.Fatalf("order: %v", got)
	}
}
