package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/fault"
	"github.com/jmoiron/sqlx"
)

var _ event.Store = (*DB)(nil)

// position is an event.Position as stored.
type position struct {
	Tx  int64 `db:"tx"`
	Seq int64 `db:"seq"`
}

type eventRow struct {
	Tx        int64  `db:"tx"`
	Seq       int64  `db:"seq"`
	ID        string `db:"id"`
	Type      string `db:"type"`
	Data      string `db:"data"`
	CreatedAt dbTime `db:"created_at"`
	Held      bool   `db:"held"`
}

// EventsAfter returns up to limit events after pos, in order. On
// PostgreSQL it stops before the first event that an older transaction
// still running may yet precede (see list-events.postgres), waiting up to
// Options.FeedWait for such transactions to end: they are usually a few
// milliseconds long, and a consumer then sees what was just written.
func (d *DB) EventsAfter(ctx context.Context, pos event.Position, limit int) ([]event.Event, error) {
	deadline := time.Now().Add(d.feedWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var rows []eventRow
		if err := d.db.SelectContext(ctx, &rows, d.query("list-events."+string(d.dialect)), pos.Tx, pos.Seq, limit); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out := make([]event.Event, 0, len(rows))
		for _, r := range rows {
			if r.Held {
				break
			}
			out = append(out, event.Event{Pos: event.Position{Tx: r.Tx, Seq: r.Seq}, ID: r.ID, Type: event.Type(r.Type), CreatedAt: r.CreatedAt.Time, Data: []byte(r.Data)})
		}
		if len(out) == len(rows) || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Events returns up to limit events after the event afterID.
func (d *DB) Events(ctx context.Context, afterID string, limit int) ([]event.Event, error) {
	var pos position
	if afterID != "" {
		if err := d.db.GetContext(ctx, &pos, d.query("event-position"), afterID); errors.Is(err, sql.ErrNoRows) {
			return nil, fault.Invalidf(fault.CodeInvalidCursor, "after", "no event with that id")
		} else if err != nil {
			return nil, fmt.Errorf("event cursor: %w", err)
		}
	}
	return d.EventsAfter(ctx, event.Position(pos), limit)
}

// WebhookLease takes or extends the delivery lease for node.
func (d *DB) WebhookLease(ctx context.Context, node string, lease time.Duration) (event.Position, bool, error) {
	var last []position
	now := d.now()
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &last, d.query("webhook-lease"), node, d.timeArg(now.Add(lease)), node, d.timeArg(now))
	})
	if err != nil {
		return event.Position{}, false, fmt.Errorf("webhook lease: %w", err)
	}
	if len(last) == 0 {
		return event.Position{}, false, nil
	}
	return event.Position(last[0]), true, nil
}

// WebhookAdvance records delivery up to pos.
func (d *DB) WebhookAdvance(ctx context.Context, node string, pos event.Position) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("webhook-advance"), pos.Tx, pos.Seq, node)
		return err
	})
}
