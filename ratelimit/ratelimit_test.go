package ratelimit_test

import (
	"context"
	"testing"
	"time"

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
