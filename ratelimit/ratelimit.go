// Package ratelimit limits how often a key may act, with the generic cell
// rate algorithm (GCRA) of github.com/go-redis/redis_rate: in Redis when it
// is configured, in process otherwise, and in process while Redis is away.
package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limit allows Rate events per Period with bursts of up to Burst.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// String formats the limit as ParseLimit reads it.
func (l Limit) String() string {
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h", 24 * time.Hour: "d"}[l.Period]
	if unit == "" {
		unit = l.Period.String()
	}
	return fmt.Sprintf("%d/%s", l.Rate, unit)
}

// ParseLimit reads "N/s", "N/m", "N/h" or "N/d"; the burst is N.
func ParseLimit(s string) (Limit, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	rate, err := strconv.Atoi(n)
	if !ok || err != nil || rate <= 0 {
		return Limit{}, fmt.Errorf("rate limit %q: want N/s, N/m, N/h or N/d with N > 0", s)
	}
	periods := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	p, ok := periods[unit]
	if !ok {
		return Limit{}, fmt.Errorf("rate limit %q: unit must be s, m, h or d", s)
	}
	return Limit{Rate: rate, Burst: rate, Period: p}, nil
}

// Result is the outcome of one request to act.
type Result struct {
	Limit Limit
	// Allowed is the number of events allowed: n or 0.
	Allowed int
	// Remaining is how many more events would be allowed now.
	Remaining int
	// RetryAfter is how long to wait before n events would be allowed; -1
	// when they were.
	RetryAfter time.Duration
	// ResetAfter is how long until the limiter is back to a full burst.
	ResetAfter time.Duration
}

// OK reports whether the events were allowed.
func (r Result) OK() bool { return r.Allowed > 0 }

// Limiter allows or refuses n events for key under limit.
type Limiter interface {
	AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error)
}

// gcra applies one request to a theoretical arrival time tat and returns
// the result and the new tat. It is the arithmetic of redis_rate's script.
func gcra(now, tat time.Time, limit Limit, n int) (Result, time.Time) {
	interval := limit.Period / time.Duration(limit.Rate)
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval * time.Duration(n))
	allowAt := newTAT.Add(-interval * time.Duration(limit.Burst))
	diff := now.Sub(allowAt)
	if diff < 0 {
		return Result{Limit: limit, RetryAfter: -diff, ResetAfter: tat.Sub(now)}, tat
	}
	return Result{
		Limit:      limit,
		Allowed:    n,
		Remaining:  int(math.Floor(float64(diff) / float64(interval))),
		RetryAfter: -1,
		ResetAfter: newTAT.Sub(now),
	}, newTAT
}

const shards = 64

// Memory is an in-process Limiter. It forgets keys that are back to a full
// burst, so memory follows the number of recently active keys.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shards]memShard
}

type memShard struct {
	mu        sync.Mutex
	tat       map[string]time.Time
	lastSweep time.Time
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter; now is the clock (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].tat = map[string]time.Time{}
	}
	return m
}

// AllowN implements Limiter.
func (m *Memory) AllowN(_ context.Context, key string, limit Limit, n int) (Result, error) {
	if limit.Rate <= 0 || limit.Period <= 0 {
		return Result{}, fmt.Errorf("invalid limit %+v", limit)
	}
	now := m.now()
	s := &m.shards[maphash.String(m.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	res, tat := gcra(now, s.tat[key], limit, n)
	if res.OK() {
		s.tat[key] = tat
	}
	if now.Sub(s.lastSweep) > time.Second {
		s.sweep(now)
	}
	return res, nil
}

// sweep forgets the keys that are back to a full burst. It copies the live
// ones into a new map, because a Go map never gives back the memory of
// deleted entries.
func (s *memShard) sweep(now time.Time) {
	live := make(map[string]time.Time, len(s.tat)/2)
	for k, t := range s.tat {
		if t.After(now) {
			live[k] = t
		}
	}
	s.tat, s.lastSweep = live, now
}
