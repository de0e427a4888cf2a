package testenv

import (
	"net/url"
	"testing"
)

// PgBouncer creates a new database on the test PostgreSQL server, as
// Postgres does, and returns its URL through the PgBouncer in front of
// that server (BECKON_TEST_PGBOUNCER_URL, in transaction pooling mode,
// passing every database name through). Direct is the same database
// reached without PgBouncer, for a test's own checks.
func PgBouncer(t testing.TB) (through, direct Engine) {
	t.Helper()
	bouncer := need(t, "BECKON_TEST_PGBOUNCER_URL", "PgBouncer")
	direct = Postgres(t)
	d, err := url.Parse(direct.URL)
	if err != nil {
		t.Fatalf("parse %s: %v", direct.URL, err)
	}
	u, err := url.Parse(bouncer)
	if err != nil {
		t.Fatalf("parse BECKON_TEST_PGBOUNCER_URL: %v", err)
	}
	u.Path = d.Path
	return Engine{Name: "pgbouncer", URL: u.String()}, direct
}
