package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/jmoiron/sqlx"
)

// Link runs fn with the link transaction invite.Service decides in, and
// commits when fn returns nil.
func (d *DB) Link(ctx context.Context, fn func(invite.LinkTx) error) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		return fn(linkTx{d: d, tx: tx, now: d.now()})
	})
}

// linkTx is invite.LinkTx on one transaction. Its changes are guarded by
// the state they expect; on PostgreSQL a concurrent change waits for the
// row lock and then finds the state changed.
type linkTx struct {
	d   *DB
	tx  *sqlx.Tx
	now time.Time
}

var _ invite.LinkTx = linkTx{}

func (l linkTx) exec(ctx context.Context, name string, args ...any) (sql.Result, error) {
	return l.tx.ExecContext(ctx, l.d.query(name), args...)
}

// changed reports whether a guarded statement changed a row.
func changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// PutAccount creates or updates the account row.
func (l linkTx) PutAccount(ctx context.Context, acct directory.Account) error {
	now := l.d.timeArg(l.now)
	if _, err := l.exec(ctx, "put-account", acct.ID, nullString(acct.TenantID), acct.DisplayName,
		acct.Discoverable, acct.Region, now, now); err != nil {
		return conflict(err, "put account", nil, directory.ErrTenantMissing)
	}
	return nil
}

// Owner returns the account holding id, or "".
func (l linkTx) Owner(ctx context.Context, id resolver.Identifier) (string, error) {
	var owner string
	err := l.tx.GetContext(ctx, &owner, l.d.query("identifier-owner"), string(id.Kind), id.Value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

// Bind gives id to the account after its other identifiers; a concurrent
// link that bound it first makes it identifier_taken.
func (l linkTx) Bind(ctx context.Context, id resolver.Identifier, accountID string) error {
	var pos int
	if err := l.tx.GetContext(ctx, &pos, l.d.query("next-position"), accountID); err != nil {
		return err
	}
	if _, err := l.exec(ctx, "insert-identifier", string(id.Kind), id.Value, accountID, pos); err != nil {
		return conflict(err, "bind identifier", directory.IdentifierTaken("identifier"), nil)
	}
	return nil
}

// Ticket returns a sign-up ticket, or invite.ErrInvalidTicket.
func (l linkTx) Ticket(ctx context.Context, hash string) (invite.Ticket, error) {
	return l.d.ticket(ctx, l.tx, hash)
}

// Invite returns an invite, or invite.ErrNotFound.
func (l linkTx) Invite(ctx context.Context, id string) (invite.Invite, error) {
	return l.d.inviteIn(ctx, l.tx, id)
}

// UseTicket marks the ticket used, unless it was.
func (l linkTx) UseTicket(ctx context.Context, hash string) (bool, error) {
	return changed(l.exec(ctx, "use-ticket", l.d.timeArg(l.now), hash))
}

// Accept accepts a pending, unexpired invite and forgets its tokens.
func (l linkTx) Accept(ctx context.Context, inviteID, accountID string) (invite.Invite, bool, error) {
	now := l.d.timeArg(l.now)
	if ok, err := changed(l.exec(ctx, "accept-invite", accountID, now, inviteID, now)); err != nil || !ok {
		return invite.Invite{}, false, err
	}
	if _, err := l.exec(ctx, "delete-tokens", inviteID); err != nil {
		return invite.Invite{}, false, err
	}
	inv, err := l.Invite(ctx, inviteID)
	return inv, err == nil, err
}

// AdoptBlocks makes the blocks given from the invite page to id the
// account's, and forgets them on id.
func (l linkTx) AdoptBlocks(ctx context.Context, id resolver.Identifier, accountID string) error {
	var blocked []string
	if err := l.tx.SelectContext(ctx, &blocked, l.d.query("identifier-blocked"), string(id.Kind), id.Value); err != nil {
		return fmt.Errorf("identifier blocks: %w", err)
	}
	for _, b := range blocked {
		if _, err := l.exec(ctx, "put-block", accountID, b, l.d.timeArg(l.now)); err != nil {
			return fmt.Errorf("adopt block: %w", err)
		}
	}
	if _, err := l.exec(ctx, "forget-identifier-blocks", string(id.Kind), id.Value); err != nil {
		return fmt.Errorf("forget page blocks: %w", err)
	}
	return nil
}

// Waiting returns the unexpired pending invites to id in one query.
func (l linkTx) Waiting(ctx context.Context, id resolver.Identifier, accountID string) ([]invite.Waiting, error) {
	var rows []struct {
		inviteRow
		InviterBlocked bool `db:"inviter_blocked"`
		Unsubscribed   bool `db:"unsubscribed"`
	}
	if err := l.tx.SelectContext(ctx, &rows, l.d.query("pending-to"), accountID, string(id.Kind), id.Value, l.d.timeArg(l.now)); err != nil {
		return nil, fmt.Errorf("pending invites: %w", err)
	}
	out := make([]invite.Waiting, len(rows))
	for i, r := range rows {
		out[i] = invite.Waiting{Invite: r.invite(), InviterBlocked: r.InviterBlocked, Unsubscribed: r.Unsubscribed}
	}
	return out, nil
}

// AddRequest stores a message request unless its invite has one.
func (l linkTx) AddRequest(ctx context.Context, r invite.Request) (bool, error) {
	now := l.d.timeArg(l.now)
	ok, err := changed(l.exec(ctx, "insert-request", r.ID, r.InviteID, r.SenderID, r.RecipientID, r.ChatID, now, now))
	if err != nil {
		return false, fmt.Errorf("request: %w", err)
	}
	return ok, nil
}

// Publish stores an event.
func (l linkTx) Publish(ctx context.Context, data event.Data) error {
	return l.d.publish(ctx, l.tx, data)
}

// Account reads an account with its identifiers.
func (l linkTx) Account(ctx context.Context, id string) (directory.Account, error) {
	return l.d.account(ctx, l.tx, id)
}
