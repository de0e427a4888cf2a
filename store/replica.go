package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
)

// Replicas is the read side of resolve: PostgreSQL streaming replicas of
// the primary, read only once they have replayed everything the primary had
// written when the resolve began, so that a resolve through any node sees
// every write acknowledged before it (read-your-writes across nodes). A
// replica that is down, not in recovery, or further behind than MaxLag
// serves nothing, and resolve reads the primary until it has caught up.
//
// Each resolve costs the primary one trivial query, shared by the resolves
// that arrive together (the "fence": pg_current_wal_insert_lsn()); the
// lookups themselves run on a replica.
type Replicas struct {
	primary *DB
	set     []*replica
	maxLag  time.Duration
	every   time.Duration
	fence   fencer
	log     *slog.Logger
	next    atomic.Uint32 // round robin over the replicas

	replicaReads atomic.Uint64
	primaryReads atomic.Uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ resolver.Store       = (*Replicas)(nil)
	_ resolver.Pinner      = (*Replicas)(nil)
	_ invite.PendingFinder = (*Replicas)(nil)
)

// ReplicaOptions tune the read replicas.
type ReplicaOptions struct {
	// MaxConns caps each replica's pool; 0 means 4.
	MaxConns int
	// MaxLag is how far a replica may be behind the primary and still
	// serve, and the longest a resolve waits for it to catch up; 0 means
	// 500ms.
	MaxLag time.Duration
	// Log receives the replicas' state changes; nil discards them.
	Log *slog.Logger
}

// ReplicaState says whether resolve may read a replica.
type ReplicaState string

// The states of a replica.
const (
	// ReplicaOK: caught up within MaxLag; resolve reads it.
	ReplicaOK ReplicaState = "ok"
	// ReplicaLagging: further behind than MaxLag; resolve reads the primary.
	ReplicaLagging ReplicaState = "lagging"
	// ReplicaDown: does not answer, or is not in recovery; resolve reads
	// the primary.
	ReplicaDown ReplicaState = "unavailable"
)

// ReplicaStatus is what a node last saw of one replica.
type ReplicaStatus struct {
	// Name is replica_1, replica_2, ... in the order of the URLs (never
	// the URL, which may hold a password).
	Name  string
	State ReplicaState
	// Lag is how long the replica has been behind a write it has not
	// replayed yet (0 when caught up), as this node measured it.
	Lag time.Duration
}

// OpenReplicas returns the read side over the replicas named by urls
// (postgres://...) of the PostgreSQL primary. A replica that does not
// answer yet is not an error: it is reported unavailable and tried again
// every second. Close stops it. Errors: a primary that is not PostgreSQL, a
// URL that is not postgres://.
func OpenReplicas(primary *DB, urls []string, opt ReplicaOptions) (*Replicas, error) {
	if primary.dialect != Postgres {
		return nil, errors.New("read replicas need a PostgreSQL primary")
	}
	if opt.MaxLag <= 0 {
		opt.MaxLag = 500 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	r := &Replicas{primary: primary, maxLag: opt.MaxLag, log: opt.Log, fence: fencer{db: primary}}
	// A probe every quarter of MaxLag measures the lag finely enough to
	// stop using a replica soon after it passes the bound.
	r.every = min(max(opt.MaxLag/4, 10*time.Millisecond), time.Second)
	for i, u := range urls {
		if d, _, _, _, err := parseURL(u); err != nil || d != Postgres {
			return nil, fmt.Errorf("read replica %d: the URL must start with postgres://", i+1)
		}
		r.set = append(r.set, &replica{name: fmt.Sprintf("replica_%d", i+1), url: u, state: ReplicaDown,
			changed: make(chan struct{}), poke: make(chan struct{}, 1)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, p := range r.set {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.watch(ctx, p, opt.MaxConns) }()
	}
	return r, nil
}

// Close stops watching the replicas and closes their pools.
func (r *Replicas) Close() error {
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, p := range r.set {
		if db := p.pool(); db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Status returns what this node last saw of each replica, in URL order.
func (r *Replicas) Status() []ReplicaStatus {
	out := make([]ReplicaStatus, len(r.set))
	for i, p := range r.set {
		p.mu.Lock()
		out[i] = ReplicaStatus{Name: p.name, State: p.state, Lag: p.lag}
		p.mu.Unlock()
	}
	return out
}

// Reads returns how many resolve queries went to a replica and how many to
// the primary since the node started.
func (r *Replicas) Reads() (replica, primary uint64) {
	return r.replicaReads.Load(), r.primaryReads.Load()
}

type pinKey struct{}

// Pin picks where the reads of one resolve go and returns ctx carrying the
// choice: a replica that has replayed everything the primary had written
// when Pin was called (waiting up to MaxLag for it), else the primary.
func (r *Replicas) Pin(ctx context.Context) context.Context {
	return context.WithValue(ctx, pinKey{}, r.choose(ctx))
}

func (r *Replicas) choose(ctx context.Context) *replica {
	f, err := r.fence.get(ctx)
	if err != nil {
		return nil // the primary answers (or fails) for itself
	}
	start := int(r.next.Add(1))
	var wait *replica
	for i := range r.set {
		p := r.set[(start+i)%len(r.set)]
		switch caughtUp, usable := p.check(f.lsn); {
		case caughtUp:
			return p
		case usable && wait == nil:
			wait = p
		}
	}
	if wait != nil && wait.await(ctx, f, r.maxLag, r.log) {
		return wait
	}
	return nil
}

// read runs fn on the replica pinned in ctx (choosing one when ctx has
// none), or on the primary. A replica that fails is marked unavailable and
// fn runs again on the primary; domain answers (faults) are kept.
func (r *Replicas) read(ctx context.Context, fn func(*DB) error) error {
	p, pinned := ctx.Value(pinKey{}).(*replica)
	if !pinned {
		p = r.choose(ctx)
	}
	if p != nil {
		err := fn(p.pool())
		if err == nil || fault.As(err) != nil || ctx.Err() != nil {
			r.replicaReads.Add(1)
			return err
		}
		p.fail(err, r.log)
	}
	r.primaryReads.Add(1)
	return fn(r.primary)
}

// Requester is DB.Requester on a caught-up replica, else on the primary.
func (r *Replicas) Requester(ctx context.Context, id string) (req resolver.Requester, err error) {
	err = r.read(ctx, func(d *DB) error { req, err = d.Requester(ctx, id); return err })
	return req, err
}

// Owners is DB.Owners on a caught-up replica, else on the primary.
func (r *Replicas) Owners(ctx context.Context, requesterID string, ids []resolver.Identifier) (owners []resolver.Owner, err error) {
	err = r.read(ctx, func(d *DB) error { owners, err = d.Owners(ctx, requesterID, ids); return err })
	return owners, err
}

// Lookup is DB.Lookup on a caught-up replica, else on the primary.
func (r *Replicas) Lookup(ctx context.Context, requesterID string, ids []resolver.Identifier) (req resolver.Requester, owners []resolver.Owner, err error) {
	err = r.read(ctx, func(d *DB) error { req, owners, err = d.Lookup(ctx, requesterID, ids); return err })
	return req, owners, err
}

// PendingInvitesTo is DB.PendingInvitesTo on a caught-up replica, else on
// the primary.
func (r *Replicas) PendingInvitesTo(ctx context.Context, inviterID string, ids []resolver.Identifier) (invs []*invite.Invite, err error) {
	err = r.read(ctx, func(d *DB) error { invs, err = d.PendingInvitesTo(ctx, inviterID, ids); return err })
	return invs, err
}

// lsnSample is a position of the primary's WAL and when it was read.
type lsnSample struct {
	lsn int64
	at  time.Time
}

// fencer reads the primary's WAL insert position for many callers at once:
// a caller gets the answer of a query that started after it asked, so the
// position covers every commit acknowledged before the call; callers that
// ask while a query runs share the next one.
type fencer struct {
	db   *DB
	mu   sync.Mutex
	busy bool
	next *fenceCall
}

// fenceQuery reads the primary's WAL insert position: the insert, not the
// flush position, since with synchronous_commit off a commit is
// acknowledged before its WAL is flushed (and sent to replicas). When
// nothing follows a page header yet, the position is taken before the
// header, where a replica's replay of the last record ends (else an idle
// primary would leave every replica looking one header behind).
const fenceQuery = `SELECT (l - '0/0'::pg_lsn)::bigint - CASE
    WHEN w.file_offset = 40 THEN 40
    WHEN w.file_offset % current_setting('wal_block_size')::int = 24 THEN 24
    ELSE 0 END
  FROM pg_current_wal_insert_lsn() AS l, pg_walfile_name_offset(l) AS w`

type fenceCall struct {
	done chan struct{}
	s    lsnSample
	err  error
}

func (f *fencer) get(ctx context.Context) (lsnSample, error) {
	f.mu.Lock()
	c := f.next
	if c == nil {
		c = &fenceCall{done: make(chan struct{})}
		f.next = c
	}
	if !f.busy {
		f.busy = true
		go f.run()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.s, c.err
	case <-ctx.Done():
		return lsnSample{}, ctx.Err()
	}
}

func (f *fencer) run() {
	for {
		f.mu.Lock()
		c := f.next
		f.next = nil
		if c == nil {
			f.busy = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.s.at = time.Now()
		if err := f.db.db.QueryRowContext(ctx, fenceQuery).Scan(&c.s.lsn); err != nil {
			c.err = fmt.Errorf("read the primary's WAL position: %w", err)
		}
		cancel()
		close(c.done)
	}
}

// replica is one replica and what this node knows of it.
type replica struct {
	name, url string
	poke      chan struct{} // asks the watcher for a probe now

	mu      sync.Mutex
	db      *DB // nil until first connected
	state   ReplicaState
	replay  int64         // the replay position last read
	lag     time.Duration // as of the last probe
	pending []lsnSample   // primary positions not replayed yet, oldest first
	waiters int
	changed chan struct{} // closed when replay or state changes
}

// maxPending bounds the samples kept: the oldest ones measure the lag.
const maxPending = 64

func (p *replica) pool() *DB {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.db
}

// check reports whether the replica has replayed lsn, and whether it may
// serve at all.
func (p *replica) check(lsn int64) (caughtUp, usable bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	usable = p.state == ReplicaOK
	return usable && p.replay >= lsn, usable
}

// note records a primary position the replica has not replayed yet; p.mu
// is held.
func (p *replica) note(s lsnSample) {
	if s.lsn <= p.replay || len(p.pending) >= maxPending {
		return
	}
	if n := len(p.pending); n > 0 && p.pending[n-1].lsn >= s.lsn {
		return
	}
	p.pending = append(p.pending, s)
}

// setState changes the state and wakes the waiters; p.mu is held.
func (p *replica) setState(s ReplicaState, log *slog.Logger, why string) {
	if s != p.state {
		lvl := slog.LevelWarn
		if s == ReplicaOK {
			lvl = slog.LevelInfo
		}
		log.Log(context.Background(), lvl, "read replica "+string(s), "replica", p.name, "reason", why)
		p.state = s
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// await waits until the replica has replayed f, for at most maxLag after f
// was read. A replica that does not catch up in time is marked lagging, so
// that the next resolves read the primary without waiting.
func (p *replica) await(ctx context.Context, f lsnSample, maxLag time.Duration, log *slog.Logger) bool {
	timer := time.NewTimer(time.Until(f.at.Add(maxLag)))
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.note(f)
	p.waiters++
	defer func() { p.waiters-- }()
	for p.state == ReplicaOK && p.replay < f.lsn {
		ch := p.changed
		p.mu.Unlock()
		select {
		case p.poke <- struct{}{}:
		default:
		}
		select {
		case <-ch:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			return false
		case <-timer.C:
			p.mu.Lock()
			if p.state == ReplicaOK && p.replay < f.lsn {
				p.lag = maxLag
				if len(p.pending) > 0 {
					p.lag = time.Since(p.pending[0].at)
				}
				p.setState(ReplicaLagging, log, fmt.Sprintf("not caught up within %s", maxLag))
			}
			return p.state == ReplicaOK
		}
	}
	return p.state == ReplicaOK
}

// fail marks the replica unavailable after a failed read; the watcher
// brings it back when it answers again.
func (p *replica) fail(err error, log *slog.Logger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setState(ReplicaDown, log, err.Error())
}

// watch connects to the replica and probes it until ctx ends: every
// r.every, and at once while resolves wait for it.
func (r *Replicas) watch(ctx context.Context, p *replica, maxConns int) {
	var sampled time.Time
	for ctx.Err() == nil {
		if p.pool() == nil {
			octx, cancel := context.WithTimeout(ctx, 5*time.Second)
			db, err := Open(octx, p.url, Options{MaxConns: maxConns})
			cancel()
			if err != nil {
				p.mu.Lock()
				p.setState(ReplicaDown, r.log, err.Error())
				p.mu.Unlock()
				sleep(ctx, time.Second, nil)
				continue
			}
			p.mu.Lock()
			p.db = db
			p.mu.Unlock()
		}
		var f *lsnSample
		if time.Since(sampled) >= r.every {
			if s, err := r.fence.get(ctx); err == nil {
				f, sampled = &s, s.at
			}
		}
		r.probe(ctx, p, f)
		p.mu.Lock()
		wait := r.every
		if p.waiters > 0 {
			wait = time.Millisecond
		}
		p.mu.Unlock()
		sleep(ctx, wait, p.poke)
	}
}

// probe reads the replica's replay position and updates its lag and state;
// f, if not nil, is a primary position read just before.
func (r *Replicas) probe(ctx context.Context, p *replica, f *lsnSample) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var recovering bool
	var replay int64
	err := p.pool().db.QueryRowContext(qctx,
		`SELECT pg_is_in_recovery(), COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0)`).Scan(&recovering, &replay)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	switch {
	case err != nil:
		p.setState(ReplicaDown, r.log, err.Error())
		return
	case !recovering:
		p.setState(ReplicaDown, r.log, "not in recovery: not a replica (or promoted)")
		return
	}
	p.replay = replay
	if f != nil {
		p.note(*f)
	}
	n := 0
	for n < len(p.pending) && p.pending[n].lsn <= replay {
		n++
	}
	p.pending = append(p.pending[:0], p.pending[n:]...)
	p.lag = 0
	if len(p.pending) > 0 {
		p.lag = time.Since(p.pending[0].at)
	}
	// Back in use only well within the bound, so that a replica hovering
	// at the bound does not flap.
	switch {
	case p.lag > r.maxLag:
		p.setState(ReplicaLagging, r.log, fmt.Sprintf("%s behind, more than %s", p.lag.Round(time.Millisecond), r.maxLag))
	case p.state == ReplicaLagging && p.lag > r.maxLag/2:
		p.setState(ReplicaLagging, r.log, "")
	default:
		p.setState(ReplicaOK, r.log, "caught up")
	}
}

// sleep waits for d, ctx's end or a poke.
func sleep(ctx context.Context, d time.Duration, poke <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-poke:
	}
}

// SplitURLs splits a list of database URLs separated by commas. A comma
// starts a new URL only when a scheme (postgres://) follows it, so that a
// URL naming several hosts (postgres://h1,h2/db) stays whole.
func SplitURLs(list string) []string {
	var out []string
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case len(out) > 0 && !strings.Contains(part, "://"):
			out[len(out)-1] += "," + part
		default:
			out = append(out, part)
		}
	}
	return out
}
