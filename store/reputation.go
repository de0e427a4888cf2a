package store

import (
	"context"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/reputation"
)

var _ reputation.Store = (*DB)(nil)

// SenderSignals reads what recipients did to senderID since a time: per
// recipient and kind the latest, newest first, at most limit. One query on
// the sender's own rows (indexes of migration 0015).
func (d *DB) SenderSignals(ctx context.Context, senderID string, since time.Time, limit int) ([]reputation.Signal, error) {
	var rows []struct {
		Kind string `db:"kind"`
		Who  string `db:"who"`
		At   dbTime `db:"at"`
	}
	at := d.timeArg(since)
	if err := d.db.SelectContext(ctx, &rows, d.query("sender-signals"),
		senderID, at, senderID, at, senderID, at, senderID, at, limit); err != nil {
		return nil, fmt.Errorf("sender signals: %w", err)
	}
	out := make([]reputation.Signal, len(rows))
	for i, r := range rows {
		out[i] = reputation.Signal{Kind: reputation.Kind(r.Kind), Who: r.Who, At: r.At.Time}
	}
	return out, nil
}
