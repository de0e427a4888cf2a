// Package redislimit is the Redis adapter of package ratelimit: a
// ratelimit.Limiter kept in Redis through github.com/go-redis/redis_rate and
// shared by every Beckon node, on one Redis server (redis:// or rediss://)
// or a Redis Cluster (several addr= in the URL). It lives apart from
// ratelimit so that the domain packages that take a ratelimit.Limiter do
// not link the Redis client.
package redislimit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Options tune a Limiter. The zero value is usable.
type Options struct {
	// CAFile is a PEM file of the certificate authorities trusted for a
	// rediss:// URL; empty means the system's.
	CAFile string
	// Log receives one line when the limiter falls back to memory and one
	// when Redis is back; nil discards them.
	Log *slog.Logger
	// OnChange, if not nil, is told the same changes.
	OnChange func(degraded bool)
	// RetryEvery is how long the limiter answers from memory after a Redis
	// failure before it tries Redis again; 0 means 5 seconds.
	RetryEvery time.Duration
}

// Limiter is a ratelimit.Limiter backed by Redis. While Redis fails (a
// server, or in a cluster any master a key lives on) it answers from an
// in-process limiter, logs the change once, and tries Redis again every
// RetryEvery.
type Limiter struct {
	client     redis.UniversalClient
	limiter    *redis_rate.Limiter
	fallback   *ratelimit.Memory
	log        *slog.Logger
	now        func() time.Time
	onChange   func(degraded bool)
	retryEvery time.Duration

	mu        sync.Mutex
	degraded  bool
	nextProbe time.Time
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New connects to Redis named by rawURL: redis://host:port/db or
// rediss://host:port/db for one server; a cluster when the URL names
// further nodes with addr= (redis://host1:port?addr=host2:port&addr=...),
// as go-redis's ParseClusterURL reads it. Timeouts left out of the URL are
// short (250 ms) and failed commands are not retried, so that a Redis in
// trouble costs a request little before the fallback answers. Errors: an
// unreadable URL or CA file.
func New(rawURL string, opt Options) (*Limiter, error) {
	client, err := newClient(rawURL, opt.CAFile)
	if err != nil {
		return nil, err
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.OnChange == nil {
		opt.OnChange = func(bool) {}
	}
	if opt.RetryEvery <= 0 {
		opt.RetryEvery = 5 * time.Second
	}
	return &Limiter{
		client: client, limiter: redis_rate.NewLimiter(client), fallback: ratelimit.NewMemory(nil),
		log: opt.Log, now: time.Now, onChange: opt.OnChange, retryEvery: opt.RetryEvery,
	}, nil
}

// newClient builds a client for one server or for a cluster.
func newClient(rawURL, caFile string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis URL: cannot parse it") // the URL may hold a password
	}
	if u.Query().Has("addr") {
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis cluster URL: %w", err)
		}
		tune(u.Query(), &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.PoolSize)
		if opt.TLSConfig, err = withCA(opt.TLSConfig, caFile); err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	tune(u.Query(), &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.PoolSize)
	if opt.TLSConfig, err = withCA(opt.TLSConfig, caFile); err != nil {
		return nil, err
	}
	return redis.NewClient(opt), nil
}

// tune sets what the URL leaves out: 250 ms timeouts, one dial attempt, no
// retries, a pool of 8 connections (per node in a cluster).
func tune(q url.Values, dial, read, write *time.Duration, retries, dials, pool *int) {
	for key, d := range map[string]*time.Duration{"dial_timeout": dial, "read_timeout": read, "write_timeout": write} {
		if !q.Has(key) {
			*d = 250 * time.Millisecond
		}
	}
	if !q.Has("max_retries") {
		*retries = -1 // go-redis: 0 means its default of 3
	}
	if !q.Has("dialer_retries") {
		*dials = 1 // go-redis: 0 means 5 attempts
	}
	if !q.Has("pool_size") {
		*pool = 8
	}
}

// withCA makes the TLS configuration of a rediss:// URL trust the CAs in
// caFile. A CA file with a plain redis:// URL is a configuration error.
func withCA(cfg *tls.Config, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return cfg, nil
	}
	if cfg == nil {
		return nil, errors.New("a Redis CA file is set but the Redis URL is not rediss://")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("redis CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("redis CA file %s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	cfg.MinVersion = tls.VersionTLS12
	return cfg, nil
}

// Close closes the Redis connections.
func (r *Limiter) Close() error { return r.client.Close() }

// Ping checks Redis itself, whatever the limiter is doing: the server, or
// that every master of a cluster answers and sees the cluster as ok.
func (r *Limiter) Ping(ctx context.Context) error {
	c, ok := r.client.(*redis.ClusterClient)
	if !ok {
		return r.client.Ping(ctx).Err()
	}
	return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("redis cluster node %s: cluster state is not ok", m.Options().Addr)
		}
		return nil
	})
}

// Degraded reports whether the limiter is answering from memory.
func (r *Limiter) Degraded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.degraded
}

// AllowN implements ratelimit.Limiter. It never fails because of Redis:
// while Redis does, the in-process limiter answers. Once degraded, one
// request every RetryEvery checks Redis with Ping (every master of a
// cluster) before the limiter goes back to it, so that a cluster with one
// master down does not flap between the two.
func (r *Limiter) AllowN(ctx context.Context, key string, limit ratelimit.Limit, n int) (ratelimit.Result, error) {
	r.mu.Lock()
	degraded := r.degraded
	probe := degraded && !r.now().Before(r.nextProbe)
	if probe {
		r.nextProbe = r.now().Add(r.retryEvery) // one request probes at a time
	}
	r.mu.Unlock()
	// Redis is asked whatever becomes of the request (its own timeouts
	// bound the call): a client that hangs up must not send the limiter to
	// memory, where each node would allow the whole limit again.
	rctx := context.WithoutCancel(ctx)
	if degraded && (!probe || r.Ping(rctx) != nil) {
		return r.fallback.AllowN(ctx, key, limit, n)
	}
	res, err := r.limiter.AllowN(rctx, key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period}, n)
	r.setDegraded(err)
	if err != nil {
		return r.fallback.AllowN(ctx, key, limit, n)
	}
	return ratelimit.Result{Limit: limit, Allowed: res.Allowed, Remaining: res.Remaining, RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}, nil
}

func (r *Limiter) setDegraded(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.nextProbe = r.now().Add(r.retryEvery)
	}
	if (err != nil) == r.degraded {
		return
	}
	r.degraded = err != nil
	if r.degraded {
		r.log.Warn("redis rate limiter unavailable; using the in-process limiter", "err", err)
	} else {
		r.log.Info("redis rate limiter back")
	}
	r.onChange(r.degraded)
}

// redisLog sends go-redis's own messages (failed dials and the like) to
// the structured log at debug level: the limiter logs the state changes
// that matter.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}

// RouteLogs sends the go-redis library's process-wide log to log. The
// program calls it once at start-up.
func RouteLogs(log *slog.Logger) { redis.SetLogger(redisLog{log: log}) }
