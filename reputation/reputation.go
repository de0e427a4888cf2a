// Package reputation scores a sender from what their recipients did: the
// invitations and message requests they accepted, declined, blocked or
// reported, and the blocks against the sender. Old signals fade (a
// half-life), so a sender recovers with time. The score shrinks the
// sender's invitation limits, silently (package invite), and is one rule
// of the spam screen (Bad). It is read from the database on every use, so
// every node sees the same score; it imports neither net/http nor
// database/sql.
package reputation

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Kind is what a recipient did.
type Kind string

// The kinds of signal. A report is a block with a complaint.
const (
	Accepted Kind = "accepted"
	Declined Kind = "declined"
	Blocked  Kind = "blocked"
	Reported Kind = "reported"
)

// Signal is the latest time one recipient did one kind of thing to the
// sender. Who names the recipient (an account id, or an address for an
// invitation to someone without an account).
type Signal struct {
	Kind Kind
	Who  string
	At   time.Time
}

// Store reads a sender's signals since a time: the newest of each source
// (invitations, requests, blocks), at most limit from each, in any order
// and with repeats (store.DB implements it in one indexed query).
type Store interface {
	SenderSignals(ctx context.Context, senderID string, since time.Time, limit int) ([]Signal, error)
}

// Params are the numbers of the score; docs/design.md explains each.
type Params struct {
	// HalfLife is how long a signal takes to count half as much.
	HalfLife time.Duration
	// Window is how far back signals are read (older ones count for
	// almost nothing).
	Window time.Duration
	// MaxSignals caps the signals read for one sender from each source
	// (the newest).
	MaxSignals int
	// Weights of the bad kinds; a recipient counts once, at its worst.
	DeclineWeight, BlockWeight, ReportWeight float64
	// GoodCap caps what acceptances can offset: accomplices who accept
	// cannot wash a sender's score beyond it.
	GoodCap float64
	// Prior is the evidence a newcomer starts with: a decline or two
	// among no acceptances is not yet a bad sender.
	Prior float64
	// Limits shrink from full at ShrinkFrom to MinFactor at ShrinkTo.
	ShrinkFrom, ShrinkTo, MinFactor float64
	// BadAt is the ratio from which Bad answers true.
	BadAt float64
}

// DefaultParams are the numbers Beckon runs with.
func DefaultParams() Params {
	return Params{
		HalfLife:      14 * 24 * time.Hour,
		Window:        84 * 24 * time.Hour, // six half-lives: what is older counts less than 2%
		MaxSignals:    200,
		DeclineWeight: 1, BlockWeight: 2, ReportWeight: 3,
		GoodCap:    10,
		Prior:      5,
		ShrinkFrom: 0.3, ShrinkTo: 0.8, MinFactor: 0.1,
		BadAt: 0.5,
	}
}

// Score is a sender's standing now.
type Score struct {
	// Bad and Good are the decayed, weighted counts of distinct
	// recipients who refused the sender and who accepted them (Good
	// capped at GoodCap).
	Bad, Good float64
	// Ratio is Bad / (Bad + Good + Prior), in [0, 1).
	Ratio float64
	// Factor multiplies the sender's invitation limits: 1 for a sender in
	// good standing, down to MinFactor.
	Factor float64
}

// Compute scores signals at now. Per recipient, only their worst signal
// counts (a report over a block over a decline over an acceptance), at its
// time, decayed by the half-life; signals from the future count as now.
func Compute(signals []Signal, now time.Time, p Params) Score {
	type worst struct {
		w  float64 // 0 for an acceptance
		at time.Time
		ok bool
	}
	per := make(map[string]worst, len(signals))
	for _, s := range signals {
		w := p.weight(s.Kind)
		if w < 0 {
			continue
		}
		cur := per[s.Who]
		if !cur.ok || w > cur.w || (w == cur.w && s.At.After(cur.at)) {
			per[s.Who] = worst{w: w, at: s.At, ok: true}
		}
	}
	var sc Score
	for _, v := range per {
		d := p.decay(now.Sub(v.at))
		if v.w > 0 {
			sc.Bad += v.w * d
		} else {
			sc.Good += d
		}
	}
	sc.Good = math.Min(sc.Good, p.GoodCap)
	sc.Ratio = sc.Bad / (sc.Bad + sc.Good + p.Prior)
	sc.Factor = p.factor(sc.Ratio)
	return sc
}

// weight is a kind's weight: 0 for an acceptance, -1 for an unknown kind.
func (p Params) weight(k Kind) float64 {
	switch k {
	case Accepted:
		return 0
	case Declined:
		return p.DeclineWeight
	case Blocked:
		return p.BlockWeight
	case Reported:
		return p.ReportWeight
	}
	return -1
}

func (p Params) decay(age time.Duration) float64 {
	if age < 0 {
		age = 0
	}
	return math.Exp2(-float64(age) / float64(p.HalfLife))
}

func (p Params) factor(ratio float64) float64 {
	switch {
	case ratio <= p.ShrinkFrom:
		return 1
	case ratio >= p.ShrinkTo:
		return p.MinFactor
	}
	return 1 - (ratio-p.ShrinkFrom)/(p.ShrinkTo-p.ShrinkFrom)*(1-p.MinFactor)
}

// Service scores senders from the database.
type Service struct {
	store  Store
	params Params
	now    func() time.Time
	ttl    time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	score Score
	at    time.Time
}

// maxCached bounds the cache: past it, the cache starts again empty.
const maxCached = 100_000

// NewService returns a Service; now is the clock (nil: time.Now). A
// positive ttl keeps each sender's score that long in this process, so
// that a hot path (the spam screen asks at every pre-acceptance message)
// reads the database at most once per sender and ttl; a new signal then
// reaches every node within ttl. 0 reads the database every time.
func NewService(store Store, params Params, now func() time.Time, ttl time.Duration) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, params: params, now: now, ttl: ttl, cache: map[string]cached{}}
}

// Score reads senderID's signals and scores them. Errors: store errors.
func (s *Service) Score(ctx context.Context, senderID string) (Score, error) {
	now := s.now()
	if s.ttl > 0 {
		s.mu.Lock()
		c, ok := s.cache[senderID]
		s.mu.Unlock()
		if ok && now.Sub(c.at) < s.ttl && !now.Before(c.at) {
			return c.score, nil
		}
	}
	signals, err := s.store.SenderSignals(ctx, senderID, now.Add(-s.params.Window), s.params.MaxSignals)
	if err != nil {
		return Score{}, fmt.Errorf("sender signals: %w", err)
	}
	sc := Compute(signals, now, s.params)
	if s.ttl > 0 {
		s.mu.Lock()
		if len(s.cache) >= maxCached {
			s.cache = map[string]cached{}
		}
		s.cache[senderID] = cached{sc, now}
		s.mu.Unlock()
	}
	return sc, nil
}

// Factor is what senderID's invitation limits are multiplied by (package
// invite's Reputation). Errors: store errors.
func (s *Service) Factor(ctx context.Context, senderID string) (float64, error) {
	sc, err := s.Score(ctx, senderID)
	return sc.Factor, err
}

// Bad reports whether senderID is a bad sender: its ratio is at least
// BadAt. The spam screen's history rule. Errors: store errors.
func (s *Service) Bad(ctx context.Context, senderID string) (bool, error) {
	sc, err := s.Score(ctx, senderID)
	return err == nil && sc.Ratio >= s.params.BadAt, err
}

// Shrink applies factor to a limit of n events, never below 1 (a limit of
// 0 means something else: no invitations at all).
func Shrink(n int, factor float64) int {
	if factor >= 1 {
		return n
	}
	return max(1, int(math.Floor(float64(n)*factor)))
}
