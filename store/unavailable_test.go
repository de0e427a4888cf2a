package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/store"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"AdminShutdown", fmt.Errorf("lookup: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, true},
		{"TooManyConnections", &pgconn.PgError{Code: "53300"}, true},
		{"ConnectionException", &pgconn.PgError{Code: "08006"}, true},
		{"Refused", fmt.Errorf("begin: %w", refused), true},
		{"Reset", fmt.Errorf("claim: %w", syscall.ECONNRESET), true},
		{"ConnClosed", pgconn.ErrConnClosed, true},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, false},
		{"SyntaxError", &pgconn.PgError{Code: "42601"}, false},
		{"Other", errors.New("something else"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := store.Classify(c.err)
			f := fault.As(got)
			if c.unavailable != (f != nil && f.Kind == fault.Unavailable && f.Code == "unavailable" && f.RetryAfter > 0) {
				t.Fatalf("Classify(%v) = %v", c.err, got)
			}
			if !errors.Is(got, c.err) {
				t.Fatalf("Classify lost the cause: %v", got)
			}
		})
	}
	notFound := fault.New(fault.NotFound, "x_not_found", "", "no x")
	if got := store.Classify(notFound); got != notFound {
		t.Fatalf("a fault changed: %v", got)
	}
	if store.Classify(nil) != nil {
		t.Fatal("nil classified")
	}
}

// TestIdempotencyStaleClaim: a claim left running (its node died, or the
// database went away before its outcome was kept) is taken over after
// StaleClaim, not after the whole ttl; a kept response is not.
func TestIdempotencyStaleClaim(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		now := epoch
		db, err := store.Open(ctx, e.URL, store.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// claim returns the kept status, or -1 when the caller may run.
		claim := func(key string) int {
			t.Helper()
			kept, status, _, err := db.IdempotencyClaim(ctx, "k1", key, "h", 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if kept == "" {
				return -1
			}
			return status
		}
		if claim("left") != -1 || claim("kept") != -1 {
			t.Fatal("first claims refused")
		}
		if err := db.IdempotencySave(ctx, "k1", "kept", 201, "{}"); err != nil {
			t.Fatal(err)
		}
		if s := claim("left"); s != 0 {
			t.Fatalf("a running claim was taken over at once: %d", s)
		}
		now = now.Add(store.StaleClaim + time.Second)
		if s := claim("left"); s != -1 {
			t.Fatalf("a stale running claim was not taken over: %d", s)
		}
		if s := claim("kept"); s != 201 {
			t.Fatalf("a kept response was dropped: %d", s)
		}
	})
}
