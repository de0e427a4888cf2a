package reputation

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// many returns n signals of kind from distinct recipients, at.
func many(n int, kind Kind, prefix string, at time.Time) []Signal {
	out := make([]Signal, n)
	for i := range out {
		out[i] = Signal{Kind: kind, Who: fmt.Sprintf("%s%d", prefix, i), At: at}
	}
	return out
}

func join(parts ...[]Signal) []Signal {
	var out []Signal
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCompute(t *testing.T) {
	p := DefaultParams()
	for _, c := range []struct {
		name      string
		signals   []Signal
		bad, good float64
		factor    float64
		isBad     bool
	}{
		{"Newcomer", nil, 0, 0, 1, false},
		{"OneDecline", many(1, Declined, "r", t0), 1, 0, 1, false},
		{"OneBlock", many(1, Blocked, "r", t0), 2, 0, 1, false},
		// 3 / (3 + 5) = 0.375: the limits begin to shrink.
		{"OneReport", many(1, Reported, "r", t0), 3, 0, 1 - (0.375-0.3)/0.5*0.9, false},
		// 20 / 25 = 0.8: at the floor, and bad.
		{"TwentyDeclines", many(20, Declined, "r", t0), 20, 0, 0.1, true},
		{"TenBlocks", many(10, Blocked, "r", t0), 20, 0, 0.1, true},
		// A sender most recipients accept: declines are offset.
		{"MostlyAccepted", join(many(30, Accepted, "a", t0), many(5, Declined, "d", t0)), 5, 10, 1, false},
		// A recipient counts once, at their worst: the same person
		// declining, blocking and reporting counts as one report.
		{"OneRecipientAllKinds", []Signal{{Declined, "r", t0}, {Blocked, "r", t0}, {Reported, "r", t0}, {Accepted, "r", t0}}, 3, 0, 1 - (0.375-0.3)/0.5*0.9, false},
		// The same recipient declining twenty times is one decline.
		{"OneRecipientTwentyTimes", func() []Signal {
			var s []Signal
			for i := range 20 {
				s = append(s, Signal{Declined, "same", t0.Add(-time.Duration(i) * time.Hour)})
			}
			return s
		}(), 1, 0, 1, false},
		// Half-life: a decline of 14 days ago counts half.
		{"HalfLife", many(2, Declined, "r", t0.Add(-14*day)), 1, 0, 1, false},
		{"Future", many(1, Declined, "r", t0.Add(time.Hour)), 1, 0, 1, false},
		{"UnknownKind", many(5, Kind("liked"), "r", t0), 0, 0, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := Compute(c.signals, t0, p)
			if !near(sc.Bad, c.bad) || !near(sc.Good, c.good) || !near(sc.Factor, c.factor) {
				t.Fatalf("bad %.3f good %.3f factor %.3f; want %.3f %.3f %.3f", sc.Bad, sc.Good, sc.Factor, c.bad, c.good, c.factor)
			}
			if got := sc.Ratio >= p.BadAt; got != c.isBad {
				t.Fatalf("bad sender = %v (ratio %.3f); want %v", got, sc.Ratio, c.isBad)
			}
		})
	}
}

// TestWashing: accomplices who accept cannot bring a heavy decliner back
// to full limits or out of Bad.
func TestWashing(t *testing.T) {
	p := DefaultParams()
	refusals := many(30, Declined, "victim", t0)
	for _, accomplices := range []int{0, 20, 100, 1000} {
		sc := Compute(join(refusals, many(accomplices, Accepted, "friend", t0)), t0, p)
		if sc.Good > p.GoodCap || sc.Factor >= 0.5 || sc.Ratio < p.BadAt {
			t.Fatalf("%d accomplices: good %.1f ratio %.2f factor %.2f; want the cap to hold", accomplices, sc.Good, sc.Ratio, sc.Factor)
		}
	}
}

// TestRecovery: a sender refused by twenty recipients, who then stops,
// comes back to full limits with time and to nothing else.
func TestRecovery(t *testing.T) {
	p := DefaultParams()
	signals := many(20, Declined, "r", t0)
	prev := 0.0
	for _, c := range []struct {
		after  time.Duration
		factor float64 // at least
		bad    bool
	}{
		{0, 0.1, true},
		{14 * day, 0.25, true},  // 10 / 15
		{28 * day, 0.55, true},  // 5 / 10
		{42 * day, 0.85, false}, // 2.5 / 7.5
		{56 * day, 1, false},    // 1.25 / 6.25
		{120 * day, 1, false},
	} {
		sc := Compute(signals, t0.Add(c.after), p)
		if sc.Factor < c.factor-1e-9 || sc.Factor < prev || (sc.Ratio >= p.BadAt) != c.bad {
			t.Fatalf("after %v: factor %.3f ratio %.3f; want factor ≥ %.2f, not below the previous %.3f, bad=%v",
				c.after, sc.Factor, sc.Ratio, c.factor, prev, c.bad)
		}
		prev = sc.Factor
	}
}

func TestShrink(t *testing.T) {
	for _, c := range []struct {
		n      int
		factor float64
		want   int
	}{
		{50, 1, 50}, {50, 1.5, 50}, {50, 0.5, 25}, {50, 0.1, 5}, {10, 0.1, 1}, {3, 0.1, 1}, {1, 0.1, 1},
	} {
		if got := Shrink(c.n, c.factor); got != c.want {
			t.Errorf("Shrink(%d, %v) = %d; want %d", c.n, c.factor, got, c.want)
		}
	}
}

// countingStore serves fixed signals and counts its reads.
type countingStore struct {
	signals []Signal
	reads   int
}

func (c *countingStore) SenderSignals(context.Context, string, time.Time, int) ([]Signal, error) {
	c.reads++
	return c.signals, nil
}

// TestCache: with a ttl the database is read once per sender and ttl.
func TestCache(t *testing.T) {
	now := t0
	st := &countingStore{signals: many(20, Declined, "r", t0)}
	svc := NewService(st, DefaultParams(), func() time.Time { return now }, 30*time.Second)
	for range 3 {
		if bad, err := svc.Bad(context.Background(), "s"); !bad || err != nil {
			t.Fatalf("Bad = %v, %v", bad, err)
		}
	}
	svc.Bad(context.Background(), "other")
	if st.reads != 2 {
		t.Fatalf("%d reads; want 2", st.reads)
	}
	now = now.Add(31 * time.Second)
	svc.Bad(context.Background(), "s")
	if st.reads != 3 {
		t.Fatalf("%d reads after the ttl; want 3", st.reads)
	}
	uncached := NewService(st, DefaultParams(), func() time.Time { return now }, 0)
	uncached.Bad(context.Background(), "s")
	uncached.Bad(context.Background(), "s")
	if st.reads != 5 {
		t.Fatalf("%d reads without a cache; want 5", st.reads)
	}
}
