package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
)

// Ticket returns the sign-up ticket whose hash is hash, used or not, or
// invite.ErrInvalidTicket when there is none.
func (d *DB) Ticket(ctx context.Context, hash string) (invite.Ticket, error) {
	var t ticketRow
	if err := d.get(ctx, &t, "get-ticket", hash); errors.Is(err, sql.ErrNoRows) {
		return invite.Ticket{}, invite.ErrInvalidTicket
	} else if err != nil {
		return invite.Ticket{}, fmt.Errorf("ticket: %w", err)
	}
	return invite.Ticket{InviteID: t.InviteID, Identifier: resolver.Identifier{Kind: resolver.Kind(t.Kind), Value: t.Value},
		ExpiresAt: t.ExpiresAt.Time, UsedAt: t.UsedAt.Time}, nil
}
