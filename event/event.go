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

// Position is where an event stands in the feed: events are ordered by
// Tx, the transaction that wrote them (0 where the engine has one writer
// at a time), then by Seq, taken at insert.
type Position struct {
	Tx, Seq int64
}

// Event is one stored event. Pos orders events; ID is stable and opaque.
type Event struct {
	Pos       Position        `json:"-"`
	ID        string          `json:"id"`
	Type      Type            `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Store reads events.
type Store interface {
	// Events returns up to limit events after the one with id afterID
	// ("" for the start); fault Invalid invalid_cursor for an unknown id.
	Events(ctx context.Context, afterID string, limit int) ([]Event, error)
	// EventsAfter returns up to limit events after pos, in order. Under
	// concurrent writers it returns only events that no later commit can
	// precede: a reader that moves past an event never misses one that
	// lands behind it.
	EventsAfter(ctx context.Context, pos Position, limit int) ([]Event, error)
	// WebhookLease takes or extends the right to deliver the webhook for
	// node until the lease ends; ok is false while another node holds it.
	// It returns the position of the last delivered event.
	WebhookLease(ctx context.Context, node string, lease time.Duration) (last Position, ok bool, err error)
	// WebhookAdvance records that events up to pos were delivered.
	WebhookAdvance(ctx context.Context, node string, pos Position) error
}
