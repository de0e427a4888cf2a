package store

import (
	"context"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/reputation"
)

var _ reputation.Store = (*DB)(nil)

// SenderSignals reads what recipients did to senderID since a time: the
// newest of each source (invitations, requests, blocks by account, blocks
// from the invite page), at most limit each, so a recipient may appear
// more than once. One prepared query that reads the sender's own index
// entries in order (indexes of migration 0015), with no sort.
func (d *DB) SenderSignals(ctx context.Context, senderID string, since time.Time, limit int) ([]reputation.Signal, error) {
	var rows []struct {
		Kind string `db:"kind"`
		Who  string `db:"who"`
		At   dbTime `db:"at"`
	}
	st, err := d.prepared(ctx, d.query("sender-signals"))
	if err != nil {
		return nil, fmt.Errorf("sender signals: %w", err)
	}
	at := d.timeArg(since)
	if err := st.SelectContext(ctx, &rows, senderID, at, limit, senderID, at, limit, senderID, at, limit, senderID, at, limit); err != nil {
		return nil, fmt.Errorf("sender signals: %w", err)
	}
	out := make([]reputation.Signal, len(rows))
	for i, r := range rows {
		out[i] = reputation.Signal{Kind: reputation.Kind(r.Kind), Who: r.Who, At: r.At.Time}
	}
	return out, nil
}
