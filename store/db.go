// Package store keeps Beckon's data in SQLite or PostgreSQL through sqlx.
// It implements the storage interfaces of the domain packages with the
// hand-written SQL of package sqlfiles; each exported method is one
// transaction.
package store

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/fault"
	sqlfiles "github.com/beckon-chat/beckon/sql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a Beckon database.
type DB struct {
	db      *sqlx.DB
	dialect Dialect
	q       map[string]string // rebound for the driver
	raw     map[string]string // with '?' placeholders, for sqlx.In
	now     func() time.Time

	// prepare says whether hot queries are prepared once per connection
	// (stmt). Not behind a transaction pooler: a named prepared statement
	// lives on one server connection, which the next transaction may not
	// get.
	prepare bool
	mu      sync.RWMutex
	stmts   map[string]*sqlx.Stmt

	// writeMu serialises this process's SQLite write transactions, so
	// that they queue in Go instead of colliding on SQLite's lock and
	// sleeping in its busy handler. Other processes still meet the
	// busy_timeout.
	writeMu sync.Mutex

	decoded decodedJSON

	feedWait time.Duration

	// stopCheckpoints stops the SQLite checkpointer and waits for it.
	stopCheckpoints func()
}

// Options tune a connection.
type Options struct {
	// MaxConns caps the pool; 0 means 4 (about twice the cores of the
	// machines Beckon was measured on: larger pools were slower).
	MaxConns int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FeedWait is how long a feed read waits for older transactions to
	// end when they hold back events already committed (PostgreSQL); 0
	// means 250 ms, a negative value not at all.
	FeedWait time.Duration
}

// Open connects to a database named by a URL: sqlite://./file.db,
// sqlite:///abs/file.db or postgres://user:pass@host:port/db. A PostgreSQL
// URL with pooler=transaction is reached through a pooler in transaction
// pooling mode, such as PgBouncer: no statement is prepared by name and no
// session state is kept (see docs/design.md). A missing
// SQLite file is created, but not its folder: a folder that does not exist
// is an error naming it. Connection errors name the SQLite file (never a
// PostgreSQL URL, which may hold a password).
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	dialect, driver, dsn, pooled, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	target := string(dialect)
	if dialect == SQLite {
		path := strings.TrimPrefix(rawURL, "sqlite://")
		target = "sqlite database " + path
		if dir := filepath.Dir(path); dir != "" {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("%s: the folder %s does not exist (Beckon creates the database file, not its folder)", target, dir)
			}
		}
	}
	x, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.FeedWait == 0 {
		opt.FeedWait = 250 * time.Millisecond
	}
	x.SetMaxOpenConns(opt.MaxConns)
	x.SetMaxIdleConns(opt.MaxConns)
	x.SetConnMaxIdleTime(5 * time.Minute)
	if err := x.PingContext(ctx); err != nil {
		x.Close()
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	raw, err := loadQueries()
	if err != nil {
		x.Close()
		return nil, err
	}
	q := make(map[string]string, len(raw))
	for name, text := range raw {
		q[name] = x.Rebind(text)
	}
	d := &DB{db: x, dialect: dialect, q: q, raw: raw, now: opt.Now, prepare: !pooled, stmts: map[string]*sqlx.Stmt{}, feedWait: opt.FeedWait}
	if dialect == SQLite {
		d.stopCheckpoints = d.checkpoints(checkpointEvery)
	}
	return d, nil
}

// parseURL returns the engine, the driver and its data source name for a
// database URL, and whether a transaction pooler stands between Beckon and
// PostgreSQL.
func parseURL(raw string) (dialect Dialect, driver, dsn string, pooled bool, err error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		if path == "" {
			return "", "", "", false, fmt.Errorf("database URL %q names no file", raw)
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "wal_autocheckpoint(0)") // DB.checkpoints does it, off the writers' path
		q.Set("_txlock", "immediate")
		return SQLite, "sqlite", "file:" + path + "?" + q.Encode(), false, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		dsn, pooled, err := postgresDSN(raw)
		return Postgres, "pgx", dsn, pooled, err
	}
	return "", "", "", false, fmt.Errorf("database URL must start with sqlite:// or postgres://")
}

// postgresDSN reads and removes Beckon's own option pooler from a
// PostgreSQL URL. With pooler=transaction, pgx runs every query as an
// unnamed statement whose parameter and result types it asked the server
// for once per connection (default_query_exec_mode=cache_describe): each
// query is one round trip, self-contained, with typed parameters. Errors
// never quote the URL, which may hold a password.
func postgresDSN(raw string) (string, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, errors.New("the PostgreSQL URL does not parse as a URL")
	}
	q := u.Query()
	if !q.Has("pooler") {
		return raw, false, nil
	}
	pooler := q.Get("pooler")
	q.Del("pooler")
	switch pooler {
	case "none":
	case "transaction":
		switch mode := q.Get("default_query_exec_mode"); mode {
		case "":
			q.Set("default_query_exec_mode", "cache_describe")
		case "cache_statement":
			return "", false, errors.New("the PostgreSQL URL asks for pooler=transaction and default_query_exec_mode=cache_statement: named statements do not work through a transaction pooler")
		}
	default:
		return "", false, fmt.Errorf("the PostgreSQL URL's pooler option must be none or transaction, not %q", pooler)
	}
	u.RawQuery = q.Encode()
	return u.String(), pooler == "transaction", nil
}

// loadQueries parses queries.sql into named statements.
func loadQueries() (map[string]string, error) {
	f, err := sqlfiles.FS.Open("queries.sql")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	q := map[string]string{}
	var name string
	var body strings.Builder
	save := func() {
		if name != "" {
			q[name] = strings.TrimSuffix(strings.TrimSpace(body.String()), ";")
		}
		body.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "-- name: "); ok {
			save()
			name = strings.TrimSpace(n)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		body.WriteString(line + "\n")
	}
	save()
	q["lookup"] = strings.Replace(q["lookup"], "OWNERS", q["owners"], 1)
	return q, sc.Err()
}

func (d *DB) query(name string) string {
	s, ok := d.q[name]
	if !ok {
		panic("store: no query named " + name) // a programming error, caught by any test
	}
	return s
}

// queryer runs one query with arguments: a prepared *sqlx.Stmt, or a
// plainQuery.
type queryer interface {
	GetContext(ctx context.Context, dest any, args ...any) error
	SelectContext(ctx context.Context, dest any, args ...any) error
}

// plainQuery runs its query on the pool without naming a statement.
type plainQuery struct {
	db    *sqlx.DB
	query string
}

func (p plainQuery) GetContext(ctx context.Context, dest any, args ...any) error {
	return p.db.GetContext(ctx, dest, p.query, args...)
}

func (p plainQuery) SelectContext(ctx context.Context, dest any, args ...any) error {
	return p.db.SelectContext(ctx, dest, p.query, args...)
}

// prepared returns query ready to run: prepared on the pool (stmt), or as
// it is behind a transaction pooler, where pgx's own cache of statement
// descriptions saves the parse round trip.
func (d *DB) prepared(ctx context.Context, query string) (queryer, error) {
	if !d.prepare {
		return plainQuery{d.db, query}, nil
	}
	return d.stmt(ctx, query)
}

// stmt returns query prepared on the pool (callers keep the set of texts
// small: IN lists are padded to a few sizes), preparing it on first use
// (after migrations, when its tables exist). Hot read paths use it so that
// a query is parsed once per connection, not once per call.
func (d *DB) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	d.mu.RLock()
	st, ok := d.stmts[query]
	d.mu.RUnlock()
	if ok {
		return st, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.stmts[query]; ok {
		return st, nil
	}
	st, err := d.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	d.stmts[query] = st
	return st, nil
}

// get runs the named single-row query, prepared, into dest.
func (d *DB) get(ctx context.Context, dest any, name string, args ...any) error {
	st, err := d.prepared(ctx, d.query(name))
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// Dialect returns the engine in use.
func (d *DB) Dialect() Dialect { return d.dialect }

// Close closes the prepared statements and the pool.
func (d *DB) Close() error {
	if d.stopCheckpoints != nil {
		d.stopCheckpoints()
	}
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.mu.Unlock()
	return d.db.Close()
}

// checkpointEvery is how often the SQLite checkpointer copies the WAL
// into the database.
const checkpointEvery = 250 * time.Millisecond

// checkpoints copies SQLite's write-ahead log into the database every
// interval (a passive checkpoint: writers and readers go on meanwhile)
// until the returned stop is called. SQLite's own automatic checkpoint is
// off: it ran in whichever write committed past 1000 pages, holding up
// every writer queued behind it (writeMu) for the copy and its fsync.
func (d *DB) checkpoints(interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A failed checkpoint (the database busy, closing) is
				// retried at the next tick; the log only grows meanwhile.
				_, _ = d.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Migrate applies the migrations of the dialect that are not yet applied,
// in name order, each in its own transaction. On PostgreSQL an advisory lock
// keeps concurrent starts from racing.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	// Under the lock: nodes migrating an empty database at once would
	// collide creating the table.
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		if err := d.migrationLock(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	dir := "migrations/" + string(d.dialect)
	entries, err := fs.ReadDir(sqlfiles.FS, dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var applied []string
	for _, name := range names {
		body, err := fs.ReadFile(sqlfiles.FS, dir+"/"+name)
		if err != nil {
			return applied, err
		}
		done, err := d.applyMigration(ctx, name, string(body))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		if done {
			applied = append(applied, name)
		}
	}
	if d.dialect == Postgres {
		err := d.tx(ctx, func(tx *sqlx.Tx) error {
			if err := d.migrationLock(ctx, tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, d.query("raise-feed-shift"))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("feed positions: %w", err)
		}
	}
	return applied, nil
}

// migrationLock keeps concurrent migrations apart on PostgreSQL, for the
// rest of tx (never a session lock: it works through a pooler).
func (d *DB) migrationLock(ctx context.Context, tx *sqlx.Tx) error {
	if d.dialect != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243019)`)
	return err
}

func (d *DB) applyMigration(ctx context.Context, name, body string) (bool, error) {
	var done bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		if err := d.migrationLock(ctx, tx); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), name); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, body); err != nil {
			return err
		}
		done = true
		_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
			name, d.now().UTC().Format(time.RFC3339))
		return err
	})
	return done, err
}

// tx runs fn in a (write) transaction, committing when it returns nil.
func (d *DB) tx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	if d.dialect == SQLite {
		d.writeMu.Lock()
		defer d.writeMu.Unlock()
	}
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sqliteTime is how SQLite stores times: fixed-width UTC RFC 3339, so that
// text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000000Z07:00"

// timeArg is how a time is written: a timestamp for PostgreSQL, fixed-width
// RFC 3339 text for SQLite.
func (d *DB) timeArg(t time.Time) any {
	t = t.UTC()
	if d.dialect == SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// dbTime scans a time written by timeArg from either engine.
type dbTime struct{ time.Time }

func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

func (t *dbTime) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parse time %q: %w", s, err)
	}
	t.Time = p.UTC()
	return nil
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKey reports whether err is a foreign-key violation.
func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// conflict turns constraint violations into domain faults; other errors
// pass through wrapped with what was being done.
func conflict(err error, what string, onUnique, onForeignKey *fault.Error) error {
	switch {
	case err == nil:
		return nil
	case onUnique != nil && isUnique(err):
		return onUnique
	case onForeignKey != nil && isForeignKey(err):
		return onForeignKey
	case errors.Is(err, sql.ErrNoRows):
		return err
	}
	if fault.As(err) != nil {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// txStmts returns the named queries for use in a transaction: statements
// prepared once on the pool, or nil behind a pooler. Call it before the
// transaction begins, never inside one: preparing on the pool may need a
// second connection, which a pool full of transactions waiting on this
// one's locks would never give.
func (d *DB) txStmts(ctx context.Context, names ...string) (map[string]*sqlx.Stmt, error) {
	if !d.prepare {
		return nil, nil
	}
	out := make(map[string]*sqlx.Stmt, len(names))
	for _, n := range names {
		st, err := d.stmt(ctx, d.query(n))
		if err != nil {
			return nil, err
		}
		out[n] = st
	}
	return out, nil
}

// inTx returns the named query of stmts bound to tx (prepared on tx's
// own connection if it is not yet), or its plain text behind a pooler.
func (d *DB) inTx(ctx context.Context, tx *sqlx.Tx, stmts map[string]*sqlx.Stmt, name string) txQuery {
	if st, ok := stmts[name]; ok {
		return tx.StmtxContext(ctx, st)
	}
	return plainTx{tx, d.query(name)}
}

// txQuery runs one query with arguments in a transaction.
type txQuery interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	GetContext(ctx context.Context, dest any, args ...any) error
}

// plainTx runs its query in tx without naming a statement.
type plainTx struct {
	tx    *sqlx.Tx
	query string
}

func (p plainTx) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return p.tx.ExecContext(ctx, p.query, args...)
}

func (p plainTx) GetContext(ctx context.Context, dest any, args ...any) error {
	return p.tx.GetContext(ctx, dest, p.query, args...)
}
