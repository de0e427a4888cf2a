package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PGServer is a PostgreSQL server of the test's own, which it may stop and
// start (the shared test server must stay up for the other tests). It
// keeps its port across Stop and Start.
type PGServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// URL names the server's postgres database.
	URL string
}

// StartPostgres makes a small PostgreSQL cluster with initdb (the binaries
// in BECKON_TEST_PG_BIN, which scripts/test exports) in a temporary folder
// and starts it on a free port; it is stopped and removed at the end of
// the test. As root, the server runs as the postgres user, as PostgreSQL
// requires.
func StartPostgres(t testing.TB) *PGServer {
	t.Helper()
	bin := need(t, "BECKON_TEST_PG_BIN", "PostgreSQL binaries")
	dir, err := os.MkdirTemp("", "beckon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &PGServer{t: t, bin: bin, dir: dir, port: port,
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(func() { _, _ = s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop") })
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRowContext(context.Background(), "SHOW data_directory").Scan(&got); err != nil || got != s.data() {
		t.Fatalf("port %d answers from %q (%v), not our server", port, got, err)
	}
	return s
}

func (s *PGServer) data() string { return filepath.Join(s.dir, "data") }

// run runs a PostgreSQL program, as the postgres user when root.
func (s *PGServer) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// Start starts the server (again) and waits until it accepts connections.
func (s *PGServer) Start() {
	s.t.Helper()
	start := time.Now()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=60", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "pg.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "pg.log"))
		s.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	s.t.Logf("PostgreSQL started on port %d in %v", s.port, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server with pg_ctl stop -m fast: sessions are ended
// (57P01), open transactions rolled back, what was committed is kept.
func (s *PGServer) Stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		s.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}
