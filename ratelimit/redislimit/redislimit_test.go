package redislimit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/ratelimit/redislimit"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	redislimit.RouteLogs(slog.New(slog.DiscardHandler)) // failed dials are expected here
	os.Exit(m.Run())
}

// sequence runs the same calls on a limiter and reports what was allowed.
func sequence(t *testing.T, l ratelimit.Limiter, key string) string {
	t.Helper()
	lim := ratelimit.Limit{Rate: 5, Burst: 5, Period: time.Hour}
	out := ""
	for _, n := range []int{1, 2, 1, 3, 1, 1, 6} {
		res, err := l.AllowN(context.Background(), key, lim, n)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%d:%d ", res.Allowed, res.Remaining)
	}
	return out
}

// changes records what a limiter reports through OnChange.
type changes struct {
	mu  sync.Mutex
	got []bool
}

func (c *changes) add(d bool) { c.mu.Lock(); c.got = append(c.got, d); c.mu.Unlock() }

func (c *changes) String() string { c.mu.Lock(); defer c.mu.Unlock(); return fmt.Sprint(c.got) }

// TestMatchesMemory: on one server, over TLS and on a cluster, Redis
// allows what the in-process limiter allows.
func TestMatchesMemory(t *testing.T) {
	tlsURL, caFile := testenv.RedisTLS(t)
	for _, c := range []struct {
		name, url string
		opt       redislimit.Options
	}{
		{"server", testenv.Redis(t), redislimit.Options{}},
		{"tls", tlsURL, redislimit.Options{CAFile: caFile}},
		{"cluster", testenv.RedisCluster(t), redislimit.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ch changes
			c.opt.OnChange = ch.add
			r, err := redislimit.New(c.url, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Ping(context.Background()); err != nil {
				t.Fatalf("ping: %v", err)
			}
			// Several keys, so that a cluster's keys spread over its masters.
			for i := range 8 {
				key := fmt.Sprintf("test:%d:%d", time.Now().UnixNano(), i)
				got, want := sequence(t, r, key), sequence(t, ratelimit.NewMemory(nil), key)
				if got != want || r.Degraded() {
					t.Fatalf("key %s: redis %q, memory %q, degraded %v (%v)", key, got, want, r.Degraded(), ch.String())
				}
			}
		})
	}
}

// TestTLSChecked: a rediss:// URL really speaks TLS and checks the
// server's certificate; a CA file without rediss:// is refused.
func TestTLSChecked(t *testing.T) {
	tlsURL, caFile := testenv.RedisTLS(t)
	r, err := redislimit.New(tlsURL, redislimit.Options{}) // the system's CAs do not know the test CA
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ping with an unknown CA: %v", err)
	}
	plain, err := redislimit.New(strings.Replace(tlsURL, "rediss://", "redis://", 1), redislimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Ping(context.Background()); err == nil {
		t.Fatal("plain Redis protocol accepted on the TLS port")
	}
	if _, err := redislimit.New(testenv.Redis(t), redislimit.Options{CAFile: caFile}); err == nil {
		t.Fatal("a CA file with redis:// was accepted")
	}
}

func TestFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var ch changes
	r, err := redislimit.New("redis://"+addr+"/0", redislimit.Options{OnChange: ch.add})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, want := sequence(t, r, "k"), sequence(t, ratelimit.NewMemory(nil), "k")
	if got != want {
		t.Fatalf("fallback %q, memory %q", got, want)
	}
	if !r.Degraded() || ch.String() != "[true]" {
		t.Fatalf("degraded %v, changes %v", r.Degraded(), ch.String())
	}
}

// TestClusterMasterKilled: a cluster master SIGKILLed while requests run
// → the limiter answers from memory (one log line); the master started
// again on its port with its nodes.conf → the limiter is back on the
// cluster (one log line), without a restart.
func TestClusterMasterKilled(t *testing.T) {
	url := testenv.RedisCluster(t)
	var logs bytes.Buffer
	var ch changes
	r, err := redislimit.New(url, redislimit.Options{OnChange: ch.add, RetryEvery: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	key := fmt.Sprintf("killed:%d", time.Now().UnixNano())
	node := masterOf(t, url, key)

	// Load: goroutines asking for keys all over the cluster throughout.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs sync.Map
	lim := ratelimit.Limit{Rate: 1000, Burst: 1000, Period: time.Second}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.AllowN(ctx, fmt.Sprintf("load:%d:%d", g, i%50), lim, 1); err != nil {
					errs.Store(err.Error(), true)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(200 * time.Millisecond)
	if r.Degraded() {
		t.Fatalf("degraded before the kill: %v", ch.String())
	}
	restart := node.kill(t)
	waitFor(t, "the fallback", func() bool {
		_, _ = r.AllowN(ctx, key, lim, 1)
		return r.Degraded()
	})
	// From memory: a fresh key behaves as in process.
	fresh := key + ":down"
	if got, want := sequence(t, r, fresh), sequence(t, ratelimit.NewMemory(nil), fresh); got != want {
		t.Fatalf("while down: %q, memory %q", got, want)
	}
	time.Sleep(300 * time.Millisecond) // several probes fail meanwhile
	if !r.Degraded() {
		t.Fatal("back on the cluster while a master is down")
	}
	restart()
	waitFor(t, "the cluster", func() bool {
		_, _ = r.AllowN(ctx, key, lim, 1)
		return !r.Degraded()
	})
	back := key + ":back"
	if got, want := sequence(t, r, back), sequence(t, ratelimit.NewMemory(nil), back); got != want || r.Degraded() {
		t.Fatalf("after the restart: %q, memory %q, degraded %v", got, want, r.Degraded())
	}
	if ch.String() != "[true false]" {
		t.Fatalf("changes %v, want one fallback and one recovery", ch.String())
	}
	if n := strings.Count(logs.String(), "redis rate limiter unavailable"); n != 1 {
		t.Fatalf("%d fallback log lines:\n%s", n, logs.String())
	}
	errs.Range(func(k, _ any) bool { t.Errorf("AllowN failed: %v", k); return true })
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterNode is a master of the test cluster, as its own configuration
// describes it.
type clusterNode struct {
	addr string
	conf map[string]string
}

// masterOf finds the master that holds key's rate limit (redis_rate keeps
// it under "rate:"+key).
func masterOf(t *testing.T, url, key string) clusterNode {
	t.Helper()
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClusterClient(opt)
	defer c.Close()
	ctx := context.Background()
	m, err := c.MasterForKey(ctx, "rate:"+key)
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{}
	for _, name := range []string{"bind", "port", "dir", "cluster-config-file", "pidfile", "logfile"} {
		v, err := m.ConfigGet(ctx, name).Result()
		if err != nil || v[name] == "" {
			t.Fatalf("CONFIG GET %s on %s: %v %v", name, m.Options().Addr, v, err)
		}
		conf[name] = v[name]
	}
	return clusterNode{addr: m.Options().Addr, conf: conf}
}

// kill SIGKILLs the node and returns the function that starts it again
// with the same options and nodes.conf; the node is started again at the
// end of the test if the test did not.
func (n clusterNode) kill(t *testing.T) (restart func()) {
	t.Helper()
	raw, err := os.ReadFile(n.conf["pidfile"])
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		t.Fatalf("pidfile %s: %q", n.conf["pidfile"], raw)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("killed the master %s (pid %d)", n.addr, pid)
	var once sync.Once
	restart = func() {
		once.Do(func() {
			out, err := exec.Command("redis-server", "--bind", n.conf["bind"], "--port", n.conf["port"],
				"--cluster-enabled", "yes", "--cluster-config-file", n.conf["cluster-config-file"],
				"--dir", n.conf["dir"], "--save", "", "--appendonly", "no", "--daemonize", "yes",
				"--pidfile", n.conf["pidfile"], "--logfile", n.conf["logfile"]).CombinedOutput()
			if err != nil {
				t.Errorf("restart %s: %v %s", n.addr, err, out)
			}
			t.Logf("started the master %s again", n.addr)
		})
	}
	t.Cleanup(restart)
	return restart
}

// TestCancelledRequest: a request whose client hung up is still limited by
// Redis, and does not send the limiter to memory.
func TestCancelledRequest(t *testing.T) {
	c := &changes{}
	l, err := redislimit.New(testenv.Redis(t), redislimit.Options{OnChange: c.add})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key := fmt.Sprintf("cancel:%d", time.Now().UnixNano())
	lim := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	if res, err := l.AllowN(context.Background(), key, lim, 1); err != nil || res.Allowed != 1 {
		t.Fatalf("first: %+v %v", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := l.AllowN(ctx, key, lim, 1)
	if err != nil || res.Allowed != 0 {
		t.Fatalf("a cancelled request over the limit: %+v %v", res, err)
	}
	if l.Degraded() || c.String() != "[]" {
		t.Fatalf("a cancelled request degraded the limiter (changes %s)", c)
	}
	if res, _ := l.AllowN(context.Background(), key, lim, 1); res.Allowed != 0 {
		t.Fatalf("the spent limit was allowed again: %+v", res)
	}
}
