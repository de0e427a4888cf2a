package store_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/beckon-chat/beckon/fault"
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
