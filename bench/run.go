package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

type options struct {
	engine      string
	pgURL       string
	bouncerURL  string
	redisURL    string
	accounts    int
	conns       int
	duration    time.Duration
	batches     int
	dbConns     int
	binary      string
	keep        bool
	runs        int
	nodes       int
	inviteConns int
	// backends lists the PostgreSQL processes serving the bench's
	// database (nil on SQLite).
	backends func() []int
}

// route is one way the nodes reach the database: directly or through
// PgBouncer.
type route struct {
	name  string
	dbURL string
}

func runBench(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "sqlite", "sqlite or postgres")
	fs.StringVar(&o.pgURL, "pg-url", os.Getenv("BECKON_TEST_POSTGRES_URL"), "PostgreSQL server URL (a fresh database is created on it)")
	fs.StringVar(&o.bouncerURL, "pgbouncer-url", "", "PgBouncer in front of that server (transaction pooling): PostgreSQL runs are repeated through it")
	fs.StringVar(&o.redisURL, "redis-url", "", "Redis for the rate limits of the multi-node runs (empty: in process)")
	fs.IntVar(&o.accounts, "accounts", 1_000_000, "accounts to seed (half with a phone)")
	fs.IntVar(&o.conns, "conns", 50, "wrk connections for resolve")
	fs.IntVar(&o.inviteConns, "invite-conns", 20, "wrk connections for invites")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each run")
	fs.IntVar(&o.batches, "batches", 30, "batch resolves of 1000 to time")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement, alternated; medians are reported")
	fs.IntVar(&o.dbConns, "db-conns", 4, "database pool size of every server")
	fs.IntVar(&o.nodes, "nodes", 3, "on PostgreSQL, measure 1 to this many nodes (1: single node only)")
	fs.StringVar(&o.binary, "beckon", "", "beckon binary (default: build ./cmd/beckon)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not on PATH (Debian: apt-get install wrk; scripts/bench installs it)")
	}
	dir, dbURL, cleanup, err := workspace(ctx, &o)
	if err != nil {
		return err
	}
	defer cleanup()
	routes := []route{{"direct", dbURL}}
	if o.engine == "postgres" && o.bouncerURL != "" {
		via, err := throughBouncer(dbURL, o.bouncerURL)
		if err != nil {
			return err
		}
		routes = append(routes, route{"pgbouncer", via})
	}
	sink, err := startSinks()
	if err != nil {
		return err
	}
	defer sink.closer()

	fmt.Fprintf(out, "engine %s, %d accounts, wrk: %d connections for resolve, %d for invites, %s a run, %d runs, pool %d, %d cores\n",
		o.engine, o.accounts, o.conns, o.inviteConns, o.duration, o.runs, o.dbConns, runtime.NumCPU())

	envFor := func(r route, redis string) []string {
		env := append(os.Environ(), "BECKON_DATABASE_URL="+r.dbURL, "BECKON_DB_MAX_CONNS="+strconv.Itoa(o.dbConns),
			"BECKON_AUTO_MIGRATE=false", "BECKON_REDIS_URL="+redis)
		return append(append(env, unlimited...), sink.env...)
	}
	if out, err := command(ctx, append(os.Environ(), "BECKON_DATABASE_URL="+dbURL), o.binary, "migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %w: %s", err, out)
	}
	key, err := createKey(ctx, o.binary, envFor(routes[0], ""), "directory,resolve,invite,link")
	if err != nil {
		return err
	}
	first, err := startNode(ctx, o.binary, envFor(routes[0], ""), dir, "seed")
	if err != nil {
		return err
	}
	importTime, imported, err := seed(ctx, first.base(), key, o.accounts)
	if err == nil {
		err = inviters(ctx, first.base(), key)
	}
	first.stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "import: %d accounts in %.1fs (%.0f accounts/s)\n", imported, importTime.Seconds(), float64(imported)/importTime.Seconds())

	for _, r := range routes {
		if err := benchRoute(ctx, o, r, envFor, key, dir, out); err != nil {
			if b, perr := url.Parse(o.bouncerURL); r.name == "pgbouncer" && perr == nil && !listening(b.Host)() {
				err = fmt.Errorf("%w; PgBouncer no longer answers (1.18 exits on a cancel request that races a client's disconnect, as when wrk stops mid-request; see its log)", err)
			}
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	return nil
}

// pgBackends returns a function listing the PostgreSQL processes serving
// the database of dbURL (whose CPU time runWrk reads), and a closer.
func pgBackends(ctx context.Context, dbURL string) (func() []int, func(), error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, nil, err
	}
	return func() []int {
		var pids []int
		rows, err := db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		if err != nil {
			return nil
		}
		defer rows.Close()
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}, func() { db.Close() }, nil
}

// throughBouncer returns dbURL with the host and port of the PgBouncer URL,
// and pooler=transaction (no named prepared statements).
func throughBouncer(dbURL, bouncerURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	b, err := url.Parse(bouncerURL)
	if err != nil {
		return "", err
	}
	u.Host = b.Host
	q := u.Query()
	q.Set("pooler", "transaction")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// benchRoute measures one route: beckon against the bare server, batches,
// then (PostgreSQL) 1 to o.nodes nodes for resolve and invites, and
// invites with and without a consumer tailing the feed.
func benchRoute(ctx context.Context, o options, r route, envFor func(route, string) []string, key, dir string, out io.Writer) error {
	fmt.Fprintf(out, "\n== %s (%s)\n", o.engine, r.name)
	first, err := startNode(ctx, o.binary, envFor(r, ""), dir, r.name+"-1")
	if err != nil {
		return err
	}
	stopFirst := sync.OnceFunc(first.stop)
	defer stopFirst()

	batch, err := batches(ctx, first.base(), key, o)
	if err != nil {
		return err
	}
	bare, err := startBare(ctx, r.dbURL, o.dbConns)
	if err != nil {
		return err
	}
	defer bare.stop()
	resolveEnv := []string{"BENCH_ACCOUNTS=" + strconv.Itoa(o.accounts)}
	resolve := func(nodes []string, key string, pids []int) wrkLoad {
		return wrkLoad{script: "resolve", nodes: nodes, key: key, conns: o.conns, d: o.duration, env: resolveEnv, pids: pids, backends: o.backends}
	}

	// Both servers stay up, idle in turn: the runs alternate so that the
	// machine's drift touches both alike.
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tserver\trequests/s\tp50 ms\tp99 ms\tmax RSS MB\tCPU µs/req\tDB CPU µs/req\terrors\t")
	fulls, bares, err := alternate(ctx, o.runs, dir,
		resolve([]string{first.addr}, key, []int{first.pid()}),
		resolve([]string{bare.addr}, "", []int{bare.pid()}))
	if err != nil {
		return err
	}
	for i := range fulls {
		row(tw, strconv.Itoa(i+1), "beckon", fulls[i])
		row(tw, strconv.Itoa(i+1), "bare net/http", bares[i])
	}
	full, baseline := median(fulls), median(bares)
	row(tw, "median", "beckon", full)
	row(tw, "median", "bare net/http", baseline)
	tw.Flush()
	fmt.Fprintf(out, "ratio beckon/bare (medians): %.0f%% of the requests/s; bare's CPU per request is %.0f%% of beckon's\n",
		100*full.rps/baseline.rps, 100*float64(baseline.cpuPerReq)/float64(full.cpuPerReq))
	fmt.Fprintf(out, "batch resolve of 1000 (%d runs): p50 %.1f ms, p99 %.1f ms\n", o.batches, ms(batch.p50), ms(batch.p99))
	bare.stop()
	if o.engine != "postgres" || o.nodes < 2 {
		return nil
	}

	// Several nodes on one database, sharing Redis when given.
	stopFirst()
	nodes := make([]*node, 0, o.nodes)
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := 0; i < o.nodes; i++ {
		n, err := startNode(ctx, o.binary, envFor(r, o.redisURL), dir, fmt.Sprintf("%s-%d", r.name, i+1))
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	limits := "in process"
	if o.redisURL != "" {
		limits = "Redis"
	}
	fmt.Fprintf(out, "\n%d nodes on one %s database (rate limits: %s; each node runs its 2 delivery workers)\n", o.nodes, r.name, limits)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\tnodes\trequests/s\tp50 ms\tp99 ms\tmax RSS MB\tCPU µs/req\tDB CPU µs/req\terrors\t")
	tag := 0
	invites := func(k int) wrkLoad {
		tag++
		return wrkLoad{script: "invites", nodes: addrs(nodes[:k]), key: key, conns: o.inviteConns, d: o.duration, pids: pids(nodes[:k]), backends: o.backends,
			env: []string{fmt.Sprintf("BENCH_TAG=%s%d", r.name, tag), "BENCH_INVITERS=" + strconv.Itoa(benchInviters)}}
	}
	for k := 1; k <= o.nodes; k++ {
		var runs []stats
		for i := 0; i < o.runs; i++ {
			s, err := runWrk(ctx, dir, resolve(addrs(nodes[:k]), key, pids(nodes[:k])))
			if err != nil {
				return err
			}
			runs = append(runs, s)
		}
		row(tw, "resolve", strconv.Itoa(k), median(runs))
	}
	for k := 1; k <= o.nodes; k++ {
		var runs []stats
		for i := 0; i < o.runs; i++ {
			s, err := runWrk(ctx, dir, invites(k))
			if err != nil {
				return err
			}
			runs = append(runs, s)
		}
		row(tw, "invites", strconv.Itoa(k), median(runs))
	}
	// The gap-free feed: the same invite load with and without a consumer
	// tailing GET /v1/events, alternated.
	var with, without []stats
	var consumed int64
	for i := 0; i < o.runs; i++ {
		s, err := runWrk(ctx, dir, invites(o.nodes))
		if err != nil {
			return err
		}
		without = append(without, s)
		stopFeed, err := tailFeed(ctx, nodes[0].base(), key)
		if err != nil {
			return err
		}
		s, err = runWrk(ctx, dir, invites(o.nodes))
		consumed += stopFeed()
		if err != nil {
			return err
		}
		with = append(with, s)
	}
	row(tw, "invites, no feed reader", strconv.Itoa(o.nodes), median(without))
	row(tw, "invites, feed tailed", strconv.Itoa(o.nodes), median(with))
	tw.Flush()
	fmt.Fprintf(out, "the feed reader saw %d events in %d runs; invites with it / without: %.0f%%\n",
		consumed, o.runs, 100*median(with).rps/median(without).rps)
	return nil
}

// alternate runs a and b in turn, runs times each.
func alternate(ctx context.Context, runs int, dir string, a, b wrkLoad) ([]stats, []stats, error) {
	var as, bs []stats
	for i := 0; i < runs; i++ {
		sa, err := runWrk(ctx, dir, a)
		if err != nil {
			return nil, nil, err
		}
		sb, err := runWrk(ctx, dir, b)
		if err != nil {
			return nil, nil, err
		}
		as, bs = append(as, sa), append(bs, sb)
	}
	return as, bs, nil
}

func row(tw io.Writer, run, name string, s stats) {
	fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f\t%.0f\t%d\t\n", run, name, s.rps, ms(s.p50), ms(s.p99), s.maxRSS/1e6,
		float64(s.cpuPerReq.Nanoseconds())/1e3, float64(s.dbCPUPerReq.Nanoseconds())/1e3, s.errors)
}

func addrs(nodes []*node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.addr
	}
	return out
}

func pids(nodes []*node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = n.pid()
	}
	return out
}

// tailFeed reads the whole feed, then follows it with after= from a
// goroutine (pages of 100, a 20 ms pause after a short page) until stop,
// which returns how many events it read while following.
func tailFeed(ctx context.Context, base, key string) (stop func() int64, err error) {
	seen := &atomic.Int64{}
	after := ""
	page := func() (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events?limit=100&after="+url.QueryEscape(after), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var body struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("events: %d %v", resp.StatusCode, err)
		}
		if n := len(body.Items); n > 0 {
			after = body.Items[n-1].ID
		}
		return len(body.Items), nil
	}
	for {
		n, err := page()
		if err != nil {
			return nil, err
		}
		if n < 100 {
			break
		}
	}
	tail, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tail.Err() == nil {
			n, err := page()
			seen.Add(int64(n))
			if err != nil || n < 100 {
				select {
				case <-tail.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}()
	return func() int64 { cancel(); <-done; return seen.Load() }, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = env
	return c
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls up until it succeeds, for at most 30 s.
func waitFor(ctx context.Context, what string, up func() bool) error {
	for i := 0; i < 600; i++ {
		if up() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not start", what)
}

func healthy(base string) func() bool {
	return func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

func listening(addr string) func() bool {
	return func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

// freshDatabase returns a new SQLite file or a new PostgreSQL database.
// workspace makes what a measurement needs: a temporary folder (kept with
// o.keep), the beckon binary (built there unless o.binary names one) and a
// fresh database, whose PostgreSQL backends it puts in o.backends. cleanup
// undoes it all.
func workspace(ctx context.Context, o *options) (dir, dbURL string, cleanup func(), err error) {
	if dir, err = os.MkdirTemp("", "beckon-bench-"); err != nil {
		return "", "", nil, err
	}
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if !o.keep {
		undo = append(undo, func() { os.RemoveAll(dir) })
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if o.binary == "" {
		o.binary = filepath.Join(dir, "beckon")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.binary, "./cmd/beckon")
		build.Stderr = os.Stderr
		if err = build.Run(); err != nil {
			return "", "", nil, fmt.Errorf("build beckon: %w", err)
		}
	}
	dbURL, drop, err := freshDatabase(ctx, *o, dir)
	if err != nil {
		return "", "", nil, err
	}
	undo = append(undo, drop)
	if o.engine == "postgres" {
		backends, closeDB, err := pgBackends(ctx, dbURL)
		if err != nil {
			return "", "", nil, err
		}
		undo = append(undo, closeDB)
		o.backends = backends
	}
	return dir, dbURL, cleanup, nil
}

func freshDatabase(ctx context.Context, o options, dir string) (string, func(), error) {
	if o.engine == "sqlite" {
		return "sqlite://" + filepath.Join(dir, "bench.db"), func() {}, nil
	}
	if o.engine != "postgres" || o.pgURL == "" {
		return "", nil, errors.New("-engine postgres needs -pg-url (or BECKON_TEST_POSTGRES_URL)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "beckon_bench_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", o.pgURL)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(o.pgURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
		admin.Close()
	}, nil
}

func email(i int) string { return fmt.Sprintf("user%d@example.com", i) }

// phone returns a valid French mobile number for account i.
func phone(i int) string { return fmt.Sprintf("+336%08d", i) }

// seed creates a tenant and streams n accounts through the import endpoint.
func seed(ctx context.Context, base, key string, n int) (time.Duration, int, error) {
	req, _ := http.NewRequestWithContext(ctx, "PUT", base+"/v1/tenants/bench", strings.NewReader(`{"name":"Bench","region":"FR"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		return 0, 0, err
	} else {
		resp.Body.Close()
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<16)
		for i := 0; i < n; i++ {
			ids := `"` + email(i) + `"`
			if i%2 == 0 {
				ids += `,"` + phone(i) + `"`
			}
			tenant := `null`
			if i%3 == 0 {
				tenant = `"bench"`
			}
			fmt.Fprintf(w, `{"id":"u%d","tenant_id":%s,"display_name":"User %d","discoverable":%t,"identifiers":[%s]}`+"\n",
				i, tenant, i, i%10 != 0, ids)
		}
		pw.CloseWithError(w.Flush())
	}()
	req, _ = http.NewRequestWithContext(ctx, "POST", base+"/v1/accounts/import", pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Imported int
		Errors   []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("import: %d %v", resp.StatusCode, err)
	}
	if len(res.Errors) > 0 {
		return 0, 0, fmt.Errorf("import reported %d errors, first %s", len(res.Errors), res.Errors[0])
	}
	return time.Since(start), res.Imported, nil
}

// query picks one resolve: 40% hits by email, 20% hits by national phone,
// 25% misses, 15% un-normalised hits.
func query(r *mrand.Rand, n int) string {
	i := r.IntN(n)
	requester := r.IntN(n)
	var id string
	switch p := r.IntN(100); {
	case p < 40:
		id = email(i)
	case p < 60:
		i &^= 1
		d := fmt.Sprintf("%08d", i)
		id = "06 " + d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + d[6:8]
	case p < 85:
		id = fmt.Sprintf("nobody%d@example.org", i)
	default:
		id = fmt.Sprintf("  User%d <USER%d@Example.COM> ", i, i)
	}
	return fmt.Sprintf(`{"requester":"u%d","identifier":%q,"region":"FR"}`, requester, id)
}

type stats struct {
	rps      float64
	p50, p99 time.Duration
	maxRSS   float64
	errors   int64
	requests int64
	// cpuPerReq is the server processes' CPU time per request: steadier
	// than requests/s on a busy machine.
	cpuPerReq time.Duration
	// dbCPUPerReq is the same for PostgreSQL's processes serving the
	// database (connections opened during the run are not counted).
	dbCPUPerReq time.Duration
}

// readRSS returns the resident set of pid in bytes, from /proc.
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// batches times o.batches batch resolves of 1000 mixed identifiers.
func batches(ctx context.Context, base, key string, o options) (stats, error) {
	r := mrand.New(mrand.NewPCG(1, 2))
	var lat []time.Duration
	for b := 0; b < o.batches; b++ {
		ids := make([]string, 1000)
		for i := range ids {
			var q struct{ Identifier string }
			_ = json.Unmarshal([]byte(query(r, o.accounts)), &q)
			ids[i] = q.Identifier
		}
		body, _ := json.Marshal(map[string]any{"requester": "u1", "region": "FR", "identifiers": ids})
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/resolve/batch", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return stats{}, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return stats{}, fmt.Errorf("batch: %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return stats{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}, nil
}

// median returns, field by field, the median of runs; max RSS is the
// largest seen in any run.
func median(runs []stats) stats {
	pick := func(f func(stats) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return stats{
		rps:         pick(func(s stats) float64 { return s.rps }),
		p50:         time.Duration(pick(func(s stats) float64 { return float64(s.p50) })),
		p99:         time.Duration(pick(func(s stats) float64 { return float64(s.p99) })),
		maxRSS:      slices.MaxFunc(runs, func(a, b stats) int { return int(a.maxRSS - b.maxRSS) }).maxRSS,
		errors:      slices.MaxFunc(runs, func(a, b stats) int { return int(a.errors - b.errors) }).errors,
		cpuPerReq:   time.Duration(pick(func(s stats) float64 { return float64(s.cpuPerReq) })),
		dbCPUPerReq: time.Duration(pick(func(s stats) float64 { return float64(s.dbCPUPerReq) })),
	}
}
