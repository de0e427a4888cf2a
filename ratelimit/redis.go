package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter backed by Redis through redis_rate, shared by every
// Beckon node. While Redis fails it answers from an in-process limiter,
// logs the change once, and tries Redis again every RetryEvery.
type Redis struct {
	client     *redis.Client
	limiter    *redis_rate.Limiter
	fallback   *Memory
	log        *slog.Logger
	now        func() time.Time
	onChange   func(degraded bool)
	retryEvery time.Duration

	mu        sync.Mutex
	degraded  bool
	nextProbe time.Time
}

var _ Limiter = (*Redis)(nil)

// NewRedis connects to a redis:// URL. onChange, if not nil, is told when
// the limiter falls back to memory and when it recovers.
func NewRedis(url string, log *slog.Logger, onChange func(degraded bool)) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	opt.DialTimeout = 250 * time.Millisecond
	opt.ReadTimeout = 250 * time.Millisecond
	opt.WriteTimeout = 250 * time.Millisecond
	opt.MaxRetries = 0
	opt.PoolSize = 8
	client := redis.NewClient(opt)
	if onChange == nil {
		onChange = func(bool) {}
	}
	return &Redis{
		client: client, limiter: redis_rate.NewLimiter(client), fallback: NewMemory(nil),
		log: log, now: time.Now, onChange: onChange, retryEvery: 5 * time.Second,
	}, nil
}

// Close closes the Redis connections.
func (r *Redis) Close() error { return r.client.Close() }

// Ping checks Redis itself, whatever the limiter is doing.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Degraded reports whether the limiter is answering from memory.
func (r *Redis) Degraded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.degraded
}

// AllowN implements Limiter.
func (r *Redis) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	r.mu.Lock()
	skip := r.degraded && r.now().Before(r.nextProbe)
	r.mu.Unlock()
	if skip {
		return r.fallback.AllowN(ctx, key, limit, n)
	}
	res, err := r.limiter.AllowN(ctx, key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period}, n)
	r.setDegraded(err)
	if err != nil {
		return r.fallback.AllowN(ctx, key, limit, n)
	}
	return Result{Limit: limit, Allowed: res.Allowed, Remaining: res.Remaining, RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}, nil
}

func (r *Redis) setDegraded(err error) {
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

// RouteRedisLogs sends the go-redis library's process-wide log to log.
// The program calls it once at start-up.
func RouteRedisLogs(log *slog.Logger) { redis.SetLogger(redisLog{log: log}) }
