package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is the fault of a request that needs the database while
// it does not answer (down, restarting, refusing connections): 503 with
// Retry-After.
var ErrUnavailable = &fault.Error{Kind: fault.Unavailable, Code: fault.CodeUnavailable, RetryAfter: 2 * time.Second,
	Message: "the service cannot reach its database right now: retry after the number of seconds in Retry-After"}

// Classify returns err wrapped in ErrUnavailable when it says that the
// database cannot be reached, and err unchanged otherwise (a fault stays
// what it is). The HTTP adapter calls it on every error that is not a
// fault, so that a database restart answers 503, not 500.
func Classify(err error) error {
	if err == nil || fault.As(err) != nil || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unavailable reports whether err means that the database cannot be
// reached, as opposed to a query that failed: no connection (refused,
// reset, closed, timed out while connecting), the server shutting down
// (57P01 admin_shutdown, 57P02 crash_shutdown), starting or recovering
// (57P03 cannot_connect_now), out of connections (53300), or any
// connection exception (class 08).
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr *net.OpError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
