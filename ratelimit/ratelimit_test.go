package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/ratelimit"
)

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]ratelimit.Limit{
		"120/m": {Rate: 120, Burst: 120, Period: time.Minute},
		"5/s":   {Rate: 5, Burst: 5, Period: time.Second},
		"50/d":  {Rate: 50, Burst: 50, Period: 24 * time.Hour},
	} {
		got, err := ratelimit.ParseLimit(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseLimit(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "10", "0/m", "-1/s", "x/m", "10/w", "10/"} {
		if _, err := ratelimit.ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) accepted", bad)
		}
	}
}

func TestMemory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := ratelimit.NewMemory(func() time.Time { return now })
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}
	for i, wantRemaining := range []int{2, 1, 0} {
		res, _ := m.AllowN(ctx, "k", lim, 1)
		if !res.OK() || res.Remaining != wantRemaining {
			t.Fatalf("call %d: %+v", i, res)
		}
	}
	res, _ := m.AllowN(ctx, "k", lim, 1)
	if res.OK() || res.RetryAfter != 20*time.Second {
		t.Fatalf("4th call: %+v; want refused, retry after 20s", res)
	}
	if other, _ := m.AllowN(ctx, "other", lim, 1); !other.OK() {
		t.Fatal("keys are not independent")
	}
	if big, _ := m.AllowN(ctx, "fresh", lim, 4); big.OK() {
		t.Fatal("n larger than the burst was allowed")
	}
	now = now.Add(20 * time.Second)
	if res, _ := m.AllowN(ctx, "k", lim, 1); !res.OK() {
		t.Fatalf("after 20s: %+v", res)
	}
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

func TestRedisMatchesMemory(t *testing.T) {
	url := testenv.Redis(t)
	r, err := ratelimit.NewRedis(url, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("redis: %v", err)
	}
	key := fmt.Sprintf("test:%d", time.Now().UnixNano())
	got, want := sequence(t, r, key), sequence(t, ratelimit.NewMemory(nil), key)
	if got != want || r.Degraded() {
		t.Fatalf("redis %q, memory %q, degraded %v", got, want, r.Degraded())
	}
}

func TestRedisFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var changes []bool
	r, err := ratelimit.NewRedis("redis://"+addr+"/0", slog.New(slog.NewTextHandler(io.Discard, nil)), func(d bool) { changes = append(changes, d) })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, want := sequence(t, r, "k"), sequence(t, ratelimit.NewMemory(nil), "k")
	if got != want {
		t.Fatalf("fallback %q, memory %q", got, want)
	}
	if !r.Degraded() || len(changes) != 1 || !changes[0] {
		t.Fatalf("degraded %v, changes %v", r.Degraded(), changes)
	}
}
