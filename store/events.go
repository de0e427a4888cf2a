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

type eventRow struct {
	Seq       int64  `db:"seq"`
	ID        string `db:"id"`
	Type      string `db:"type"`
	Data      string `db:"data"`
	CreatedAt dbTime `db:"created_at"`
}

// EventsAfter returns up to limit events after seq, in order.
func (d *DB) EventsAfter(ctx context.Context, seq int64, limit int) ([]event.Event, error) {
	var rows []eventRow
	if err := d.db.SelectContext(ctx, &rows, d.query("list-events"), seq, limit); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]event.Event, len(rows))
	for i, r := range rows {
		out[i] = event.Event{Seq: r.Seq, ID: r.ID, Type: r.Type, CreatedAt: r.CreatedAt.Time, Data: []byte(r.Data)}
	}
	return out, nil
}

// Events returns up to limit events after the event afterID.
func (d *DB) Events(ctx context.Context, afterID string, limit int) ([]event.Event, error) {
	var seq int64
	if afterID != "" {
		if err := d.db.GetContext(ctx, &seq, d.query("event-seq"), afterID); errors.Is(err, sql.ErrNoRows) {
			return nil, fault.Invalidf("invalid_cursor", "after", "no event with that id")
		} else if err != nil {
			return nil, fmt.Errorf("event cursor: %w", err)
		}
	}
	return d.EventsAfter(ctx, seq, limit)
}

// WebhookLease takes or extends the delivery lease for node.
func (d *DB) WebhookLease(ctx context.Context, node string, lease time.Duration) (int64, bool, error) {
	var seq []int64
	now := d.now()
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &seq, d.query("webhook-lease"), node, d.timeArg(now.Add(lease)), node, d.timeArg(now))
	})
	if err != nil {
		return 0, false, fmt.Errorf("webhook lease: %w", err)
	}
	if len(seq) == 0 {
		return 0, false, nil
	}
	return seq[0], true, nil
}

// WebhookAdvance records delivery up to seq.
func (d *DB) WebhookAdvance(ctx context.Context, node string, seq int64) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("webhook-advance"), seq, node)
		return err
	})
}
