// Package webhook pushes Beckon's events to BECKON_WEBHOOK_URL, in order
// and at least once, signed with Beckon-Signature: t=<unix>,v1=<hex
// HMAC-SHA256 of "t.body">. A failing delivery is retried with exponential
// backoff for 24 hours, then skipped (and logged). One node delivers at a
// time, under a lease in the database.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/notify"
)

// RetryFor is how long an event is retried before it is skipped.
const RetryFor = 24 * time.Hour

// Sign returns the Beckon-Signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Dispatcher delivers events to one URL.
type Dispatcher struct {
	Store  event.Store
	URL    string
	Secret string
	Client *http.Client
	Log    *slog.Logger
	// Idle is how often an idle dispatcher looks for new events.
	Idle time.Duration
	// Backoff is the wait after the n-th failure; nil: notify.Backoff,
	// capped at 10 minutes.
	Backoff func(n int) time.Duration
	// Lease is how long a node holds the right to deliver: renewed after
	// every event and before every wait, so a node that dies gives it up
	// this soon (default 15 s; longer than a post may take, 10 s).
	Lease time.Duration
	node  string
}

// Run delivers events until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	d.node = hex.EncodeToString(b)
	if d.Idle <= 0 {
		d.Idle = time.Second
	}
	if d.Lease <= 0 {
		d.Lease = 15 * time.Second
	}
	if d.Backoff == nil {
		d.Backoff = func(n int) time.Duration { return min(notify.Backoff(n), 10*time.Minute) }
	}
	failures := &notify.FailureLog{Log: d.Log, What: "webhook round"} // once per run of failures
	for ctx.Err() == nil {
		if err := d.round(ctx); ctx.Err() == nil {
			failures.Note(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.Idle):
		}
	}
}

// round delivers what is waiting, in order, while it holds the lease.
func (d *Dispatcher) round(ctx context.Context) error {
	for {
		last, ok, err := d.Store.WebhookLease(ctx, d.node, d.Lease)
		if err != nil || !ok {
			return err
		}
		events, err := d.Store.EventsAfter(ctx, last, 100)
		if err != nil || len(events) == 0 {
			return err
		}
		for _, e := range events {
			if err := d.deliver(ctx, e); err != nil {
				return err
			}
			if err := d.Store.WebhookAdvance(ctx, d.node, e.Pos); err != nil {
				return err
			}
			if _, ok, err := d.Store.WebhookLease(ctx, d.node, d.Lease); err != nil || !ok {
				return err
			}
		}
	}
}

// deliver posts one event until the receiver answers 2xx, the event is
// older than RetryFor (it is then skipped), or ctx ends.
func (d *Dispatcher) deliver(ctx context.Context, e event.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := d.post(ctx, body)
		if err == nil {
			return nil
		}
		if time.Since(e.CreatedAt) > RetryFor {
			d.Log.Error("webhook gave up on an event after 24 h", "event_id", e.ID, "type", e.Type, "err", err)
			return nil
		}
		wait := d.Backoff(attempt)
		d.Log.Warn("webhook delivery failed; will retry", "event_id", e.ID, "attempt", attempt, "in", wait.Round(time.Millisecond).String(), "err", err)
		// Held through the wait, or another node would take over and post
		// the same events meanwhile.
		if _, ok, err := d.Store.WebhookLease(ctx, d.node, d.Lease+wait); err != nil || !ok {
			return fmt.Errorf("lost the webhook lease: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (d *Dispatcher) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Beckon-Webhook/1")
	req.Header.Set("Beckon-Signature", Sign(d.Secret, time.Now(), body))
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}
