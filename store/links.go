package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
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

// Link binds id to the account (creating or updating the account row),
// accepts the ticket's invite, makes the blocks given from the invite page
// to id the account's own (once: they are then forgotten on id), turns the
// other pending invites to id into message requests (except those from
// blocked inviters, suppressed ones, and all when id asked for no
// invitations), and emits the events, in one transaction. Calling it again
// changes nothing and answers the same.
func (d *DB) Link(ctx context.Context, acct directory.Account, id resolver.Identifier, ticketHash string) (invite.Linked, error) {
	var out invite.Linked
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		nowT := d.now()
		now := d.timeArg(nowT)
		if _, err := tx.ExecContext(ctx, d.query("put-account"), acct.ID, nullString(acct.TenantID), acct.DisplayName,
			acct.Discoverable, acct.Region, now, now); err != nil {
			return conflict(err, "put account", nil, directory.ErrTenantMissing)
		}
		var owner string
		err := tx.GetContext(ctx, &owner, d.query("identifier-owner"), string(id.Kind), id.Value)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var pos int
			if err := tx.GetContext(ctx, &pos, d.query("next-position"), acct.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, d.query("insert-identifier"), string(id.Kind), id.Value, acct.ID, pos); err != nil {
				return conflict(err, "bind identifier", directory.IdentifierTaken("identifier"), nil)
			}
			if err := d.publish(ctx, tx, event.LinkedData{AccountID: acct.ID, Identifier: id}); err != nil {
				return err
			}
		case err != nil:
			return err
		case owner != acct.ID:
			return directory.IdentifierTaken("identifier")
		}

		accepted := ""
		if ticketHash != "" {
			var t ticketRow
			if err := tx.GetContext(ctx, &t, d.query("get-ticket"), ticketHash); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return invite.ErrInvalidTicket
				}
				return err
			}
			if t.Kind != string(id.Kind) || t.Value != id.Value {
				return invite.ErrInvalidTicket
			}
			inv, err := d.inviteIn(ctx, tx, t.InviteID)
			if err != nil {
				return err
			}
			switch {
			case !t.UsedAt.IsZero() && inv.AcceptedBy == acct.ID:
				// the same link again
			case !t.UsedAt.IsZero() || !nowT.Before(t.ExpiresAt.Time):
				return invite.ErrInvalidTicket
			default:
				if _, err := tx.ExecContext(ctx, d.query("use-ticket"), now, ticketHash); err != nil {
					return err
				}
				res, err := tx.ExecContext(ctx, d.query("accept-invite"), acct.ID, now, inv.ID, now)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return invite.ErrInvalidTicket // revoked, declined or expired meanwhile
				}
				if _, err := tx.ExecContext(ctx, d.query("delete-tokens"), inv.ID); err != nil {
					return err
				}
				if inv, err = d.inviteIn(ctx, tx, inv.ID); err != nil {
					return err
				}
				if err := d.publish(ctx, tx, event.AcceptedData{AccountID: acct.ID, Chat: inv.Chat, Invite: inv}); err != nil {
					return err
				}
			}
			accepted = inv.ID
			out.Accepted = append(out.Accepted, inv)
		}

		var blocked []string
		if err := tx.SelectContext(ctx, &blocked, d.query("identifier-blocked"), string(id.Kind), id.Value); err != nil {
			return fmt.Errorf("identifier blocks: %w", err)
		}
		for _, b := range blocked {
			if _, err := tx.ExecContext(ctx, d.query("put-block"), acct.ID, b, now); err != nil {
				return fmt.Errorf("adopt block: %w", err)
			}
		}
		// Adopted once: an unblock the account makes later is not undone by
		// the next link.
		if _, err := tx.ExecContext(ctx, d.query("forget-identifier-blocks"), string(id.Kind), id.Value); err != nil {
			return fmt.Errorf("forget page blocks: %w", err)
		}
		var pending []string
		if err := tx.SelectContext(ctx, &pending, d.query("pending-to"), string(id.Kind), id.Value, now, acct.ID); err != nil {
			return err
		}
		for _, invID := range pending {
			if invID == accepted {
				continue
			}
			inv, err := d.inviteIn(ctx, tx, invID)
			if err != nil {
				return err
			}
			b := make([]byte, 10)
			_, _ = rand.Read(b)
			reqID := "req_" + hex.EncodeToString(b)
			res, err := tx.ExecContext(ctx, d.query("insert-request"), reqID, inv.ID, inv.InviterID, acct.ID, inv.Chat.ID, now, now)
			if err != nil {
				return fmt.Errorf("request: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := d.publish(ctx, tx, event.RequestData{Chat: inv.Chat, Invite: inv,
					Recipient: acct.ID, RequestID: reqID, Sender: inv.InviterID}); err != nil {
					return err
				}
			}
			out.Requests = append(out.Requests, inv)
		}
		out.Account, err = d.account(ctx, tx, acct.ID)
		out.Identifier = id
		return err
	})
	return out, err
}
