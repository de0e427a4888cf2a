package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"
)

// Replica is a fresh PostgreSQL database on the test server and the URL of
// the same database on the test server's streaming replica
// (BECKON_TEST_POSTGRES_REPLICA_URL), once the replica has it.
type Replica struct {
	Primary Engine
	URL     string
	// Admin is the replica's own maintenance connection, for pausing and
	// resuming its replay.
	Admin *sql.DB
}

// PostgresReplica creates a database on the test server, waits until the
// replica has replayed its creation and returns both. Without the replica
// the test skips, or fails under CI.
func PostgresReplica(t testing.TB) Replica {
	t.Helper()
	admin := need(t, "BECKON_TEST_POSTGRES_REPLICA_URL", "the PostgreSQL replica")
	e := Postgres(t)
	pu, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	ru.Path = pu.Path
	r := Replica{Primary: e, URL: ru.String()}
	if r.Admin, err = sql.Open("pgx", admin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Admin.Close() })
	db, err := sql.Open("pgx", r.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The replica replays the WAL of every package's tests (each creates
	// databases on the same server) in one process: on a loaded machine
	// it can be tens of seconds behind.
	for deadline := time.Now().Add(replicaWait); ; time.Sleep(20 * time.Millisecond) {
		var recovering bool
		err := db.QueryRowContext(context.Background(), "SELECT pg_is_in_recovery()").Scan(&recovering)
		if err == nil && !recovering {
			t.Fatalf("%s is not a replica", admin)
		}
		if err == nil {
			return r
		}
		if time.Now().After(deadline) {
			var lag string
			_ = r.Admin.QueryRow(`SELECT format('received %s, replayed %s, paused %s', pg_last_wal_receive_lsn(),
				pg_last_wal_replay_lsn(), pg_is_wal_replay_paused())`).Scan(&lag)
			t.Fatalf("the replica has not got the test database after %s (%s): %v", replicaWait, lag, err)
		}
	}
}

// replicaWait is how long PostgresReplica waits for the replica to have
// replayed the creation of the test database.
const replicaWait = 90 * time.Second

// DB returns a connection to the test database on the replica, closed at
// the end of the test.
func (r Replica) DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", r.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PauseReplay stops the replica replaying the primary's WAL (it still
// receives it) until ResumeReplay or the end of the test.
func (r Replica) PauseReplay(t testing.TB) {
	t.Helper()
	if _, err := r.Admin.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatalf("pause replay: %v", err)
	}
	t.Cleanup(func() { _, _ = r.Admin.Exec("SELECT pg_wal_replay_resume()") })
}

// ResumeReplay lets the replica replay again.
func (r Replica) ResumeReplay(t testing.TB) {
	t.Helper()
	if _, err := r.Admin.Exec("SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatalf("resume replay: %v", err)
	}
}
