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
}

// Dispatcher runs workers that deliver the outbox.
type Dispatcher struct {
	cfg  DispatcherConfig
	wake chan struct{}
	// pace is how long one message of each channel took to send lately:
	// a held message takes as long, so that a batch takes the same time.
	mu   sync.Mutex
	pace map[string]time.Duration
	// reports are the pending delivered reports of held messages.
	reports sync.WaitGroup
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
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), pace: map[string]time.Duration{}}
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
	d.reports.Wait()
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
		if err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("outbox round failed", "err", err)
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

// round claims one batch and delivers it; it returns how many it claimed.
func (d *Dispatcher) round(ctx context.Context, senders map[string]Sender) (int, error) {
	msgs, err := d.cfg.Outbox.Claim(ctx, d.cfg.Batch, d.cfg.Lease)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	admitted := make([]bool, len(msgs))
	for i := range admitted {
		admitted[i] = true
	}
	if d.cfg.Gate != nil {
		if admitted, err = d.cfg.Gate.Admit(ctx, msgs); err != nil {
			// Nothing is sent unchecked: the leases run out and the
			// messages are claimed again.
			return len(msgs), fmt.Errorf("check consent: %w", err)
		}
	}
	byChannel := map[string][]Message{}
	held := map[string][]Message{}
	for i, m := range msgs {
		if admitted[i] {
			byChannel[m.Channel] = append(byChannel[m.Channel], m)
		} else {
			held[m.Channel] = append(held[m.Channel], m)
		}
	}
	// Record outcomes even if the server is shutting down meanwhile.
	rec := context.WithoutCancel(ctx)
	var attempts []Attempt
	for channel, batch := range byChannel {
		s, err := d.sender(channel, senders)
		if err != nil {
			for _, m := range batch {
				attempts = append(attempts, d.attempt(m, Outcome{Err: err}))
			}
			continue
		}
		start := time.Now()
		outcomes := s.Send(ctx, batch)
		d.learn(channel, time.Since(start)/time.Duration(len(batch)))
		for i, out := range outcomes {
			attempts = append(attempts, d.attempt(batch[i], out))
		}
	}
	var report []Message
	for channel, batch := range held {
		// As long as sending them would have taken.
		select {
		case <-ctx.Done():
		case <-time.After(d.paceOf(channel) * time.Duration(len(batch))):
		}
		s, err := d.sender(channel, senders)
		reports := err == nil && reportsDelivery(s)
		for _, m := range batch {
			attempts = append(attempts, Attempt{Message: m, State: StateHeld})
			if reports && m.Kind == "invite" {
				report = append(report, m)
			}
		}
	}
	if d.cfg.Observe != nil {
		for _, a := range attempts {
			d.cfg.Observe(a)
		}
	}
	if err := d.cfg.Outbox.Record(rec, attempts); err != nil {
		// The leases run out and the messages are sent again: at least once.
		return len(msgs), fmt.Errorf("record attempts: %w", err)
	}
	for _, m := range report {
		d.reportLater(ctx, m)
	}
	return len(msgs), nil
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

// learn folds the time one message of channel took into its pace.
func (d *Dispatcher) learn(channel string, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pace[channel]; ok {
		took = (7*p + took) / 8
	}
	d.pace[channel] = took
}

func (d *Dispatcher) paceOf(channel string) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pace[channel]
}

// reportLater reports a held message delivered after a random delay in
// DeliveredAfter, as the provider's report of a real one would arrive. A
// node that stops first drops the report: the invite then stays "sent", as
// a real one does when its provider's report never comes.
func (d *Dispatcher) reportLater(ctx context.Context, m Message) {
	lo, hi := d.cfg.DeliveredAfter[0], d.cfg.DeliveredAfter[1]
	wait := lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
	d.reports.Add(1)
	go func() {
		defer d.reports.Done()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := d.cfg.Outbox.ReportHeldDelivered(ctx, m.ID); err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("report held message delivered", "outbox_id", m.ID, "err", err)
		}
	}()
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
