// Package testenv gives tests the real servers they need: a fresh SQLite
// file, a fresh PostgreSQL database, reached directly or through PgBouncer,
// and Redis. The test command (scripts/test) starts private servers and
// names them in BECKON_TEST_POSTGRES_URL, BECKON_TEST_PGBOUNCER_URL and
// BECKON_TEST_REDIS_URL. Without them a test skips on a developer's machine
// and fails under CI.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Engine is one database a test runs against.
type Engine struct {
	Name string
	// URL is what Beckon is given (BECKON_DATABASE_URL).
	URL string
	// DirectURL reaches the same database without a pooler and without
	// Beckon's own URL options, for tests that look into it with
	// database/sql.
	DirectURL string
}

// need returns the value of key, or ends the test: skipped on a
// developer's machine, failed under CI where a missing server is an error.
func need(t testing.TB, key, what string) string {
	t.Helper()
	v := os.Getenv(key)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: under CI the %s server must be there (run ./scripts/test)", key, what)
	}
	t.Skipf("%s is not set; run ./scripts/test to start %s", key, what)
	return ""
}

// SQLite returns the URL of a new SQLite file.
func SQLite(t testing.TB) Engine {
	u := "sqlite://" + filepath.Join(t.TempDir(), "beckon.db")
	return Engine{Name: "sqlite", URL: u, DirectURL: u}
}

// Postgres creates a new database on the test server and drops it at the
// end of the test.
func Postgres(t testing.TB) Engine {
	t.Helper()
	admin := need(t, "BECKON_TEST_POSTGRES_URL", "PostgreSQL")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "beckon_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return Engine{Name: "postgres", URL: u.String(), DirectURL: u.String()}
}

// PgBouncer creates a new database on the test PostgreSQL server, as
// Postgres does, and returns it reached through the test PgBouncer in
// transaction pooling mode, with Beckon's option pooler=transaction.
func PgBouncer(t testing.TB) Engine {
	t.Helper()
	bouncer := need(t, "BECKON_TEST_PGBOUNCER_URL", "PgBouncer")
	e := Postgres(t)
	direct, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(bouncer)
	if err != nil {
		t.Fatalf("parse BECKON_TEST_PGBOUNCER_URL: %v", err)
	}
	u.Path = direct.Path
	q := u.Query()
	q.Set("pooler", "transaction")
	u.RawQuery = q.Encode()
	return Engine{Name: "pgbouncer", URL: u.String(), DirectURL: e.URL}
}

// Each runs fn as a subtest on a fresh SQLite file, on a fresh PostgreSQL
// database and on one reached through PgBouncer.
func Each(t *testing.T, fn func(t *testing.T, e Engine)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	t.Run("pgbouncer", func(t *testing.T) { fn(t, PgBouncer(t)) })
}

// Redis returns the URL of the test Redis server.
func Redis(t testing.TB) string {
	t.Helper()
	return need(t, "BECKON_TEST_REDIS_URL", "Redis")
}

// Prism returns the URL of Prism serving Twilio's OpenAPI document.
func Prism(t testing.TB) string {
	t.Helper()
	return need(t, "BECKON_TEST_PRISM_URL", "Prism (Twilio API mock)")
}
