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
}

// Dispatcher runs workers that deliver the outbox.
type Dispatcher struct {
	cfg  DispatcherConfig
	wake chan struct{}
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
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1)}
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
	byChannel := map[string][]Message{}
	for _, m := range msgs {
		byChannel[m.Channel] = append(byChannel[m.Channel], m)
	}
	// Record outcomes even if the server is shutting down meanwhile.
	rec := context.WithoutCancel(ctx)
	var attempts []Attempt
	for channel, batch := range byChannel {
		s, ok := senders[channel]
		if !ok {
			if s, err = d.cfg.Senders(channel); err != nil {
				for _, m := range batch {
					attempts = append(attempts, d.attempt(m, Outcome{Err: err}))
				}
				continue
			}
			senders[channel] = s
		}
		for i, out := range s.Send(ctx, batch) {
			attempts = append(attempts, d.attempt(batch[i], out))
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
	return len(msgs), nil
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
