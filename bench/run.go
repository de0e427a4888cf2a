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
	engine   string
	pgURL    string
	accounts int
	conns    int
	duration time.Duration
	batches  int
	dbConns  int
	binary   string
	keep     bool
	runs     int
}

func runBench(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "sqlite", "sqlite or postgres")
	fs.StringVar(&o.pgURL, "pg-url", os.Getenv("BECKON_TEST_POSTGRES_URL"), "PostgreSQL server URL (a fresh database is created on it)")
	fs.IntVar(&o.accounts, "accounts", 1_000_000, "accounts to seed (half with a phone)")
	fs.IntVar(&o.conns, "conns", 50, "concurrent connections")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each resolve run")
	fs.IntVar(&o.batches, "batches", 30, "batch resolves of 1000 to time")
	fs.IntVar(&o.runs, "runs", 3, "resolve runs of each server, alternated; medians are reported")
	fs.IntVar(&o.dbConns, "db-conns", 4, "database pool size of both servers")
	fs.StringVar(&o.binary, "beckon", "", "beckon binary (default: build ./cmd/beckon)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "beckon-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	if o.binary == "" {
		o.binary = filepath.Join(dir, "beckon")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.binary, "./cmd/beckon")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build beckon: %w", err)
		}
	}
	dbURL, dropDB, err := freshDatabase(ctx, o, dir)
	if err != nil {
		return err
	}
	defer dropDB()

	fmt.Fprintf(out, "engine %s, %d accounts, %d connections, %s a run, pool %d, GOMAXPROCS of this machine\n",
		o.engine, o.accounts, o.conns, o.duration, o.dbConns)

	addr := freeAddr()
	env := append(os.Environ(),
		"BECKON_DATABASE_URL="+dbURL, "BECKON_ADDR="+addr, "BECKON_DB_MAX_CONNS="+strconv.Itoa(o.dbConns),
		"BECKON_LIMIT_PER_KEY=100000000/s", "BECKON_LIMIT_RESOLVE_PER_REQUESTER=100000000/s", "BECKON_LIMIT_PER_IP=100000000/s",
		"BECKON_REDIS_URL=")
	keyOut, err := command(ctx, env, o.binary, "keys", "create", "--name", "bench", "--scopes", "directory,resolve").Output()
	if err != nil {
		return fmt.Errorf("keys create: %w", err)
	}
	key := strings.TrimSpace(string(keyOut[bytes.LastIndexByte(bytes.TrimSpace(keyOut), '\n')+1:]))

	logFile, err := os.Create(filepath.Join(dir, "beckon.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv := command(ctx, env, o.binary, "serve")
	srv.Stderr = logFile
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }()
	base := "http://" + addr
	if err := waitFor(ctx, "beckon", healthy(base)); err != nil {
		return err
	}

	importTime, imported, err := seed(ctx, base, key, o.accounts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "import: %d accounts in %.1fs (%.0f accounts/s)\n", imported, importTime.Seconds(), float64(imported)/importTime.Seconds())

	batch, err := batches(ctx, base, key, o)
	if err != nil {
		return err
	}

	bareAddr := freeAddr()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare := command(ctx, os.Environ(), self, "bare", "-db", dbURL, "-addr", bareAddr, "-db-conns", strconv.Itoa(o.dbConns))
	bare.Stderr = os.Stderr
	if err := bare.Start(); err != nil {
		return err
	}
	defer func() { _ = bare.Process.Signal(os.Interrupt); _ = bare.Wait() }()
	if err := waitFor(ctx, "bare server", listening(bareAddr)); err != nil {
		return err
	}

	// Both servers stay up, idle in turn: the runs alternate so that the
	// machine's drift touches both alike.
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tserver\trequests/s\tp50 ms\tp99 ms\tmax RSS MB\terrors\t")
	var fulls, bares []stats
	for i := 1; i <= o.runs; i++ {
		full, err := load(ctx, base, key, o, srv.Process.Pid)
		if err != nil {
			return err
		}
		baseline, err := load(ctx, "http://"+bareAddr, "", o, bare.Process.Pid)
		if err != nil {
			return err
		}
		fulls, bares = append(fulls, full), append(bares, baseline)
		for _, r := range []struct {
			name string
			s    stats
		}{{"beckon", full}, {"bare net/http", baseline}} {
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%d\t\n", i, r.name, r.s.rps, ms(r.s.p50), ms(r.s.p99), r.s.maxRSS/1e6, r.s.errors)
		}
	}
	full, baseline := median(fulls), median(bares)
	for _, r := range []struct {
		name string
		s    stats
	}{{"beckon", full}, {"bare net/http", baseline}} {
		fmt.Fprintf(tw, "median\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t\t\n", r.name, r.s.rps, ms(r.s.p50), ms(r.s.p99), r.s.maxRSS/1e6)
	}
	tw.Flush()
	fmt.Fprintf(out, "ratio beckon/bare (medians): %.0f%%\n", 100*full.rps/baseline.rps)
	fmt.Fprintf(out, "batch resolve of 1000 (%d runs): p50 %.1f ms, p99 %.1f ms\n", o.batches, ms(batch.p50), ms(batch.p99))
	return nil
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
}

// load drives POST /v1/resolve over o.conns keep-alive connections for
// o.duration and samples the RSS of pid.
func load(ctx context.Context, base, key string, o options, pid int) (stats, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		all    []time.Duration
		errs   atomic.Int64
		maxRSS atomic.Int64
	)
	go func() {
		for ctx.Err() == nil {
			if rss := readRSS(pid); rss > maxRSS.Load() {
				maxRSS.Store(rss)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	for w := 0; w < o.conns; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(seed, 7))
			var lat []time.Duration
			for ctx.Err() == nil {
				req, _ := http.NewRequest("POST", base+"/v1/resolve", strings.NewReader(query(r, o.accounts)))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}(uint64(w))
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(all) == 0 {
		return stats{}, errors.New("no request completed")
	}
	slices.Sort(all)
	return stats{
		rps: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100],
		maxRSS: float64(maxRSS.Load()), errors: errs.Load(),
	}, nil
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
		rps:    pick(func(s stats) float64 { return s.rps }),
		p50:    time.Duration(pick(func(s stats) float64 { return float64(s.p50) })),
		p99:    time.Duration(pick(func(s stats) float64 { return float64(s.p99) })),
		maxRSS: slices.MaxFunc(runs, func(a, b stats) int { return int(a.maxRSS - b.maxRSS) }).maxRSS,
	}
}
