package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/jmoiron/sqlx"
)

type ticketRow struct {
	InviteID  string `db:"invite_id"`
	Kind      string `db:"kind"`
	Value     string `db:"value"`
	ExpiresAt dbTime `db:"expires_at"`
	UsedAt    dbTime `db:"used_at"`
}

// Ticket returns the sign-up ticket whose hash is hash, used or not, or
// invite.ErrInvalidTicket when there is none.
func (d *DB) Ticket(ctx context.Context, hash string) (invite.Ticket, error) {
	return d.ticket(ctx, d.db, hash)
}

func (d *DB) ticket(ctx context.Context, q sqlx.QueryerContext, hash string) (invite.Ticket, error) {
	var t ticketRow
	if err := sqlx.GetContext(ctx, q, &t, d.query("get-ticket"), hash); errors.Is(err, sql.ErrNoRows) {
		return invite.Ticket{}, invite.ErrInvalidTicket
	} else if err != nil {
		return invite.Ticket{}, fmt.Errorf("ticket: %w", err)
	}
	return invite.Ticket{InviteID: t.InviteID, Identifier: resolver.Identifier{Kind: resolver.Kind(t.Kind), Value: t.Value},
		ExpiresAt: t.ExpiresAt.Time, UsedAt: t.UsedAt.Time}, nil
}
