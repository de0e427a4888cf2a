package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/jmoiron/sqlx"
)

var _ invite.Store = (*DB)(nil)

type inviteRow struct {
	ID             string         `db:"id"`
	InviterID      string         `db:"inviter_id"`
	TenantID       sql.NullString `db:"tenant_id"`
	RecipientKind  string         `db:"recipient_kind"`
	RecipientValue string         `db:"recipient_value"`
	Channel        string         `db:"channel"`
	ChatID         string         `db:"chat_id"`
	ChatKind       string         `db:"chat_kind"`
	ChatTitle      string         `db:"chat_title"`
	Locale         string         `db:"locale"`
	Status         string         `db:"status"`
	Delivery       string         `db:"delivery"`
	Suppressed     bool           `db:"suppressed"`
	Resends        int            `db:"resends"`
	AcceptedBy     sql.NullString `db:"accepted_by"`
	LastSentAt     dbTime         `db:"last_sent_at"`
	CreatedAt      dbTime         `db:"created_at"`
	ExpiresAt      dbTime         `db:"expires_at"`
}

func (r inviteRow) invite() invite.Invite {
	return invite.Invite{
		ID: r.ID, InviterID: r.InviterID, TenantID: r.TenantID.String,
		Recipient: resolver.Identifier{Kind: resolver.Kind(r.RecipientKind), Value: r.RecipientValue},
		Channel:   r.Channel, Chat: invite.Chat{ID: r.ChatID, Kind: r.ChatKind, Title: r.ChatTitle}, Locale: r.Locale,
		Status: invite.Status(r.Status), Delivery: invite.Delivery(r.Delivery), Suppressed: r.Suppressed,
		Resends: r.Resends, AcceptedBy: r.AcceptedBy.String, LastSentAt: r.LastSentAt.Time,
		CreatedAt: r.CreatedAt.Time, ExpiresAt: r.ExpiresAt.Time,
	}
}

// publish stores the event of data in tx.
func (d *DB) publish(ctx context.Context, tx *sqlx.Tx, data event.Data) error {
	typ := data.EventType()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	_, err = tx.ExecContext(ctx, d.query("insert-event"), "evt_"+hex.EncodeToString(b), string(typ), string(body), d.timeArg(d.now()))
	return err
}

func (d *DB) queueMessage(ctx context.Context, tx *sqlx.Tx, msg *invite.Message) error {
	if msg == nil {
		return nil
	}
	now := d.timeArg(d.now())
	_, err := tx.ExecContext(ctx, d.query("insert-outbox"), msg.InviteID, msg.Kind, msg.Channel, msg.To,
		msg.Subject, msg.Text, msg.HTML, msg.Unsubscribe, now, now, now, msg.TemplateLocale, msg.TemplateVersion)
	if err != nil {
		return fmt.Errorf("queue message: %w", err)
	}
	return nil
}

// CreateInvite stores an invite, its token hash, its message and the
// invite.created event in one transaction.
func (d *DB) CreateInvite(ctx context.Context, inv invite.Invite, tokenHash string, msg *invite.Message) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("insert-invite"), inv.ID, inv.InviterID, nullString(inv.TenantID),
			string(inv.Recipient.Kind), inv.Recipient.Value, inv.Channel, inv.Chat.ID, inv.Chat.Kind, inv.Chat.Title,
			inv.Locale, string(inv.Status), string(inv.Delivery), inv.Suppressed, inv.Resends,
			d.timeArg(inv.LastSentAt), d.timeArg(inv.CreatedAt), d.timeArg(inv.ExpiresAt), d.timeArg(inv.CreatedAt))
		if err != nil {
			return conflict(err, "insert invite", invite.ErrDuplicatePending, nil)
		}
		if _, err := tx.ExecContext(ctx, d.query("insert-token"), tokenHash, inv.ID, d.timeArg(inv.CreatedAt)); err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		if err := d.queueMessage(ctx, tx, msg); err != nil {
			return err
		}
		return d.publish(ctx, tx, event.InviteData{Type: event.InviteCreated, Invite: inv})
	})
}

// Invite returns an invite, or invite.ErrNotFound.
func (d *DB) Invite(ctx context.Context, id string) (invite.Invite, error) {
	return d.inviteIn(ctx, d.db, id)
}

func (d *DB) inviteIn(ctx context.Context, q sqlx.QueryerContext, id string) (invite.Invite, error) {
	var r inviteRow
	if err := sqlx.GetContext(ctx, q, &r, d.query("get-invite"), id); errors.Is(err, sql.ErrNoRows) {
		return invite.Invite{}, invite.ErrNotFound
	} else if err != nil {
		return invite.Invite{}, fmt.Errorf("get invite: %w", err)
	}
	return r.invite(), nil
}

// PendingInvite returns the inviter's unexpired pending invite to id for
// chatID ("" for any chat), or nil.
func (d *DB) PendingInvite(ctx context.Context, inviterID string, id resolver.Identifier, chatID string) (*invite.Invite, error) {
	var r inviteRow
	err := d.get(ctx, &r, "pending-invite", inviterID, string(id.Kind), id.Value, chatID, chatID, d.timeArg(d.now()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending invite: %w", err)
	}
	inv := r.invite()
	return &inv, nil
}

// PendingInvitesTo returns, in the order of ids, the inviter's newest
// unexpired pending invite to each, or nil, in one query.
func (d *DB) PendingInvitesTo(ctx context.Context, inviterID string, ids []resolver.Identifier) ([]*invite.Invite, error) {
	out := make([]*invite.Invite, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	st, args, err := d.wantedStmt(ctx, "pending-invites-to", []any{inviterID, d.timeArg(d.now())}, ids)
	if err != nil {
		return nil, err
	}
	var rows []inviteRow
	if err := st.SelectContext(ctx, &rows, args...); err != nil {
		return nil, fmt.Errorf("pending invites: %w", err)
	}
	newest := make(map[string]*invite.Invite, len(rows))
	for _, r := range rows {
		inv := r.invite()
		newest[r.RecipientKind+":"+r.RecipientValue] = &inv
	}
	for i, id := range ids {
		out[i] = newest[string(id.Kind)+":"+id.Value]
	}
	return out, nil
}

// Invites lists invites newest first.
func (d *DB) Invites(ctx context.Context, f invite.Filter) ([]invite.Invite, error) {
	var rows []inviteRow
	st := string(f.Status)
	if err := d.db.SelectContext(ctx, &rows, d.query("list-invites"), f.InviterID, f.InviterID, st, st,
		f.ChatID, f.ChatID, f.After, f.After, f.Limit); err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	out := make([]invite.Invite, len(rows))
	for i, r := range rows {
		out[i] = r.invite()
	}
	return out, nil
}

// Revoke ends a pending invite and forgets its tokens.
func (d *DB) Revoke(ctx context.Context, id string) (invite.Invite, error) {
	var out invite.Invite
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, d.query("revoke-invite"), d.timeArg(d.now()), id)
		if err != nil {
			return fmt.Errorf("revoke: %w", err)
		}
		if out, err = d.inviteIn(ctx, tx, id); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return invite.ErrNotPending
		}
		if _, err := tx.ExecContext(ctx, d.query("delete-tokens"), id); err != nil {
			return fmt.Errorf("delete tokens: %w", err)
		}
		return d.publish(ctx, tx, event.InviteData{Type: event.InviteRevoked, Invite: out})
	})
	return out, err
}

// Resend stores the new token and message of a resent invite.
func (d *DB) Resend(ctx context.Context, inv invite.Invite, tokenHash string, msg *invite.Message) (invite.Invite, error) {
	var out invite.Invite
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		res, err := tx.ExecContext(ctx, d.query("resend-invite"), inv.Resends, d.timeArg(inv.LastSentAt), string(inv.Delivery), now, inv.ID, inv.Resends-1)
		if err != nil {
			return fmt.Errorf("resend: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return invite.ErrNotPending
		}
		if _, err := tx.ExecContext(ctx, d.query("insert-token"), tokenHash, inv.ID, now); err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		if err := d.queueMessage(ctx, tx, msg); err != nil {
			return err
		}
		out, err = d.inviteIn(ctx, tx, inv.ID)
		return err
	})
	return out, err
}

// Refuses reports whether the identifier asked for no invitations, or
// blocked the inviter from the invite page.
func (d *DB) Refuses(ctx context.Context, id resolver.Identifier, inviterID string) (bool, error) {
	var n int
	if err := d.get(ctx, &n, "refuses", string(id.Kind), id.Value, string(id.Kind), id.Value, inviterID); err != nil {
		return false, fmt.Errorf("refuses: %w", err)
	}
	return n > 0, nil
}

// InviteByToken returns the invite a token opens, or invite.ErrGone.
func (d *DB) InviteByToken(ctx context.Context, hash string) (invite.Invite, error) {
	var r inviteRow
	if err := d.get(ctx, &r, "invite-by-token", hash); errors.Is(err, sql.ErrNoRows) {
		return invite.Invite{}, invite.ErrGone
	} else if err != nil {
		return invite.Invite{}, fmt.Errorf("invite by token: %w", err)
	}
	return r.invite(), nil
}

// End ends a pending invite with status, forgets its tokens and emits an
// event of type typ. With blockInviter, the recipient's identifier also
// blocks the inviter from now on.
func (d *DB) End(ctx context.Context, id string, status invite.Status, typ event.Type, blockInviter bool) (invite.Invite, error) {
	var out invite.Invite
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		res, err := tx.ExecContext(ctx, d.query("end-invite"), string(status), now, id)
		if err != nil {
			return fmt.Errorf("end invite: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return invite.ErrGone
		}
		if _, err := tx.ExecContext(ctx, d.query("delete-tokens"), id); err != nil {
			return err
		}
		if out, err = d.inviteIn(ctx, tx, id); err != nil {
			return err
		}
		if blockInviter {
			if _, err := tx.ExecContext(ctx, d.query("block-identifier"), string(out.Recipient.Kind), out.Recipient.Value, out.InviterID, now); err != nil {
				return fmt.Errorf("block: %w", err)
			}
		}
		return d.publish(ctx, tx, event.InviteData{Type: typ, Invite: out})
	})
	return out, err
}

// IssueTicket stores a sign-up ticket for the invite's identifier.
func (d *DB) IssueTicket(ctx context.Context, inv invite.Invite, hash string, expires time.Time) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("insert-ticket"), hash, inv.ID, string(inv.Recipient.Kind), inv.Recipient.Value, d.timeArg(expires))
		return err
	})
}

// Unsubscribe records that the identifier wants no invitations.
func (d *DB) Unsubscribe(ctx context.Context, id resolver.Identifier) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("unsubscribe"), string(id.Kind), id.Value, d.timeArg(d.now()))
		return err
	})
}

// Resubscribe forgets that the identifier wanted no invitations.
func (d *DB) Resubscribe(ctx context.Context, id resolver.Identifier) error {
	if _, err := d.db.ExecContext(ctx, d.query("resubscribe"), string(id.Kind), id.Value); err != nil {
		return fmt.Errorf("resubscribe: %w", err)
	}
	return nil
}

// ExpireDue marks up to limit overdue pending invites expired, forgets
// their tokens and emits invite.expired; it returns how many.
func (d *DB) ExpireDue(ctx context.Context, limit int) (int, error) {
	n := 0
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		var ids []string
		if err := tx.SelectContext(ctx, &ids, d.query("due-expiry"), now, limit); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, d.query("expire-invite"), now, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, d.query("delete-tokens"), id); err != nil {
				return err
			}
			inv, err := d.inviteIn(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := d.publish(ctx, tx, event.InviteData{Type: event.InviteExpired, Invite: inv}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// DueReminders returns up to limit pending email invites,
// and not yet reminded, that expire within `within`.
func (d *DB) DueReminders(ctx context.Context, within time.Duration, limit int) ([]invite.Invite, error) {
	now := d.now()
	var ids []string
	if err := d.db.SelectContext(ctx, &ids, d.query("due-reminders"), d.timeArg(now.Add(within)), d.timeArg(now), limit); err != nil {
		return nil, fmt.Errorf("due reminders: %w", err)
	}
	out := make([]invite.Invite, 0, len(ids))
	for _, id := range ids {
		inv, err := d.Invite(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

// QueueReminder stores the reminder's token and message, once.
func (d *DB) QueueReminder(ctx context.Context, inv invite.Invite, tokenHash string, msg *invite.Message) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, d.query("insert-token"), tokenHash, inv.ID, d.timeArg(d.now())); err != nil {
			return err
		}
		return d.queueMessage(ctx, tx, msg)
	})
}

// MarkReminded claims an invite's one reminder; false when it was taken
// (by another node) or the invite ended.
func (d *DB) MarkReminded(ctx context.Context, id string) (bool, error) {
	res, err := d.db.ExecContext(ctx, d.query("mark-reminded"), d.timeArg(d.now()), id)
	if err != nil {
		return false, fmt.Errorf("mark reminded: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
