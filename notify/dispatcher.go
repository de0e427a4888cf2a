package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/resolver"
)

// Retry policy.
const (
	// MaxAttempts is how many times a message is tried before it fails:
	// with Backoff, the retries span about a day (5 s doubling to a 4 h cap).
	MaxAttempts = 18
	baseBackoff = 5 * time.Second
	maxBackoff  = 4 * time.Hour
)

// Backoff returns how long to wait after the attempt-th failure:
// exponential from 5 s, capped at 4 h, with ±20% jitter.
func Backoff(attempt int) time.Duration {
	d := baseBackoff << min(attempt-1, 20)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	Outbox Outbox
	// Gate, if not nil, is asked at every send whether a message may go.
	Gate Gate
	// Senders makes a sender per channel for each worker, so that each
	// worker keeps its own connection.
	Senders func(channel string) (Sender, error)
	Workers int
	Batch   int
	Lease   time.Duration
	// Idle is how long a worker waits when the outbox is empty.
	Idle time.Duration
	Log  *slog.Logger
	// Observe, if not nil, is told of every attempt (for metrics).
	Observe func(Attempt)
	// DeliveredAfter is the range of delays after which a held message of a
	// channel that reports delivery is reported delivered (default 2–20 s,
	// how long SMS delivery reports typically take).
	DeliveredAfter [2]time.Duration
	// Pace is how long a held message takes before a real one of its
	// channel was sent on this node (default 200 ms); then the time real
	// ones take.
	Pace time.Duration
}

// Dispatcher runs workers that deliver the outbox.
type Dispatcher struct {
	cfg  DispatcherConfig
	wake chan struct{}
	mu   sync.Mutex
	// pace is how long one message of each channel took to send lately:
	// a held message takes as long, so that a batch takes the same time.
	pace map[string]time.Duration
	// lastErr is the error of each channel's latest real attempt (nil when
	// it was sent): while a provider fails, held messages fail alike.
	lastErr map[string]error
	// lastReport is when the workers last made the due held reports.
	lastReport time.Time
	// rounds and reports log failures once per run of them (a database
	// restart), not once per round per worker.
	rounds, reports *FailureLog
}

// NewDispatcher returns a dispatcher; defaults: 2 workers, batches of 50,
// 2 minute leases, 500 ms idle polls.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 500 * time.Millisecond
	}
	if cfg.DeliveredAfter[1] <= 0 {
		cfg.DeliveredAfter = [2]time.Duration{2 * time.Second, 20 * time.Second}
	}
	if cfg.Pace <= 0 {
		cfg.Pace = 200 * time.Millisecond
	}
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), pace: map[string]time.Duration{}, lastErr: map[string]error{},
		rounds:  &FailureLog{Log: cfg.Log, What: "outbox round"},
		reports: &FailureLog{Log: cfg.Log, What: "held-message report"}}
}

// Wake tells an idle worker that a message was queued.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run runs the workers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < d.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx)
		}()
	}
	wg.Wait()
}

// RunOnce claims and delivers one batch with senders of its own, and
// returns how many messages it claimed.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	senders := map[string]Sender{}
	defer func() {
		for _, s := range senders {
			s.Close()
		}
	}()
	return d.round(ctx, senders)
}

func (d *Dispatcher) work(ctx context.Context) {
	senders := map[string]Sender{}
	defer func() {
		for _, s := range senders {
			s.Close()
		}
	}()
	for ctx.Err() == nil {
		n, err := d.round(ctx, senders)
		if ctx.Err() == nil {
			d.rounds.Note(err)
		}
		if n == d.cfg.Batch && err == nil {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-time.After(d.cfg.Idle):
		}
	}
}

// round claims one batch and delivers it one message at a time, recording
// each outcome before the next message goes (in claim order): a worker
// that dies mid-batch leaves at most the message it had on the wire to be
// sent again, not the whole batch. It returns how many messages it
// claimed. Held SMS whose delivery report is due are reported delivered
// first (at most once a second). If consent cannot be read for a message,
// it and the rest of the batch wait for their lease to run out.
func (d *Dispatcher) round(ctx context.Context, senders map[string]Sender) (int, error) {
	if d.reportDue() {
		if err := d.cfg.Outbox.ReportHeld(ctx, d.cfg.Batch); ctx.Err() == nil {
			d.reports.Note(err)
		}
	}
	msgs, err := d.cfg.Outbox.Claim(ctx, d.cfg.Batch, d.cfg.Lease)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	// Nothing is sent past half the lease: by the end of the lease another
	// worker may claim the rest of the batch and send it too. What is left
	// then waits for its lease to run out, unsent and uncharged.
	deadline := time.Now().Add(d.cfg.Lease / 2)
	for _, m := range msgs {
		if time.Now().After(deadline) {
			return len(msgs), nil
		}
		a, err := d.deliver(ctx, senders, m, deadline)
		if err != nil {
			return len(msgs), err
		}
		if d.cfg.Observe != nil {
			d.cfg.Observe(a)
		}
		// Record the outcome even if the server is shutting down meanwhile.
		if err := d.cfg.Outbox.Record(context.WithoutCancel(ctx), []Attempt{a}); err != nil {
			// The lease runs out and the message is sent again: at least once.
			return len(msgs), fmt.Errorf("record attempt: %w", err)
		}
	}
	return len(msgs), nil
}

// deliver asks the gate about one message just before sending it, and
// sends it, or holds it: a held message takes as long and ends as a real
// one would — sent (and reported delivered later on a channel that reports
// delivery), or retried and failed alike while the provider fails.
func (d *Dispatcher) deliver(ctx context.Context, senders map[string]Sender, m Message, deadline time.Time) (Attempt, error) {
	if d.cfg.Gate != nil {
		one := []Message{m}
		ok, err := d.cfg.Gate.Admit(ctx, one)
		if err != nil {
			// Nothing is sent unchecked: the lease runs out and the
			// message is claimed again.
			return Attempt{}, fmt.Errorf("check consent: %w", err)
		}
		m = one[0] // with the gate's cap decision, recorded with the attempt
		if !ok[0] {
			return d.hold(ctx, senders, m, deadline), nil
		}
	}
	s, err := d.sender(m.Channel, senders)
	if err != nil {
		return d.attempt(m, Outcome{Err: err}), nil
	}
	start := time.Now()
	out := s.Send(ctx, []Message{m})[0]
	if IsOptedOut(out.Err) {
		d.learn(m.Channel, time.Since(start), nil) // the channel works
		// The provider knows the recipient said stop: the address is
		// unsubscribed, and the message looks sent like a held one.
		a := Attempt{Message: m, State: StateHeld, OptedOut: true}
		a.ReportAt = d.reportAt(s, m)
		return a, nil
	}
	d.learn(m.Channel, time.Since(start), out.Err)
	return d.attempt(m, out), nil
}

// hold makes a held message look like a real one of its channel.
func (d *Dispatcher) hold(ctx context.Context, senders map[string]Sender, m Message, deadline time.Time) Attempt {
	pace, lastErr := d.state(m.Channel)
	select {
	case <-ctx.Done():
	case <-time.After(min(pace, time.Until(deadline))):
	}
	if lastErr != nil && !IsPermanent(lastErr) {
		return d.attempt(m, Outcome{Err: lastErr})
	}
	a := Attempt{Message: m, State: StateHeld}
	if s, err := d.sender(m.Channel, senders); err == nil {
		a.ReportAt = d.reportAt(s, m)
	}
	return a
}

// reportAt is when a held message of s's channel is to be reported
// delivered: 2–20 s on, when the channel reports delivery; else never.
func (d *Dispatcher) reportAt(s Sender, m Message) time.Time {
	if !reportsDelivery(s) || m.Kind != "invite" {
		return time.Time{}
	}
	lo, hi := d.cfg.DeliveredAfter[0], d.cfg.DeliveredAfter[1]
	return time.Now().Add(lo + time.Duration(rand.Int64N(int64(hi-lo)+1)))
}

func (d *Dispatcher) sender(channel string, senders map[string]Sender) (Sender, error) {
	if s, ok := senders[channel]; ok {
		return s, nil
	}
	s, err := d.cfg.Senders(channel)
	if err == nil {
		senders[channel] = s
	}
	return s, err
}

func reportsDelivery(s Sender) bool {
	r, ok := s.(DeliveryReporter)
	return ok && r.ReportsDelivery()
}

// reportDue says whether the due held reports are to be made now: once a
// second for all of this node's workers, not in every round (on SQLite
// each is a write transaction, idle or not).
func (d *Dispatcher) reportDue() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.lastReport) < time.Second {
		return false
	}
	d.lastReport = time.Now()
	return true
}

// learn remembers the outcome of a channel's latest real attempt and, when
// it was sent, folds the time it took into the channel's pace (a timeout
// says nothing of how long a send takes).
func (d *Dispatcher) learn(channel string, took time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastErr[channel] = err
	if err != nil {
		return
	}
	if p, ok := d.pace[channel]; ok {
		took = (7*p + took) / 8
	}
	d.pace[channel] = took
}

// state returns the pace of channel and the error of its latest real
// attempt.
func (d *Dispatcher) state(channel string) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.pace[channel]
	if !ok {
		p = d.cfg.Pace
	}
	return p, d.lastErr[channel]
}

// attempt decides what an outcome means: sent, retried with backoff, or
// failed for good (permanent, or out of attempts).
func (d *Dispatcher) attempt(m Message, out Outcome) Attempt {
	if out.Err == nil {
		return Attempt{Message: m, State: StateSent, ProviderID: out.ProviderID}
	}
	err := scrubbed{out.Err}
	if IsPermanent(out.Err) || m.Attempt >= MaxAttempts {
		d.cfg.Log.Warn("delivery failed for good", "outbox_id", m.ID, "channel", m.Channel, "attempt", m.Attempt, "err", err)
		return Attempt{Message: m, State: StateFailed, Reason: err.Error()}
	}
	wait := Backoff(m.Attempt)
	d.cfg.Log.Info("delivery will be retried", "outbox_id", m.ID, "channel", m.Channel, "attempt", m.Attempt, "in", wait.Round(time.Second).String(), "err", err)
	return Attempt{Message: m, State: StateRetry, Reason: err.Error(), RetryAt: time.Now().Add(wait)}
}

var addressLike = regexp.MustCompile(`[^\s<>"'(),;:]+@[^\s<>"'(),;:]+|\+?\d[\d .-]{6,}\d`)

// scrubbed is an error whose text has every address or number redacted,
// for logs and the outbox's last_error (providers echo recipients).
type scrubbed struct{ err error }

func (s scrubbed) Error() string {
	return addressLike.ReplaceAllStringFunc(s.err.Error(), resolver.Redact)
}
func (s scrubbed) Unwrap() error { return s.err }
