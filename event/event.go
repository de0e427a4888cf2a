// Package event describes the events Beckon emits on every state change
// (invite.created, invite.accepted, request.created, …): stored in order
// in the same transaction as the change, read from the feed and pushed to
// the webhook.
package event

import (
	"context"
	"encoding/json"
	"time"
)

// Event is one stored event. Seq orders events; ID is stable and opaque.
type Event struct {
	Seq       int64           `json:"-"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Store reads events.
type Store interface {
	// Events returns up to limit events after the one with id afterID
	// ("" for the start); fault Invalid invalid_cursor for an unknown id.
	Events(ctx context.Context, afterID string, limit int) ([]Event, error)
	// EventsAfter returns up to limit events after seq.
	EventsAfter(ctx context.Context, seq int64, limit int) ([]Event, error)
	// WebhookLease takes or extends the right to deliver the webhook for
	// node until the lease ends; ok is false while another node holds it.
	// It returns the last delivered seq.
	WebhookLease(ctx context.Context, node string, lease time.Duration) (lastSeq int64, ok bool, err error)
	// WebhookAdvance records that events up to seq were delivered.
	WebhookAdvance(ctx context.Context, node string, seq int64) error
}
