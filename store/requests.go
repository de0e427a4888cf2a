package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/request"
	"github.com/jmoiron/sqlx"
)

var _ request.Store = (*DB)(nil)

type requestRow struct {
	ID              string         `db:"id"`
	InviteID        sql.NullString `db:"invite_id"`
	SenderID        string         `db:"sender_id"`
	RecipientID     string         `db:"recipient_id"`
	ChatID          string         `db:"chat_id"`
	Status          string         `db:"status"`
	Delivered       int            `db:"delivered"`
	Held            int            `db:"held"`
	CreatedAt       dbTime         `db:"created_at"`
	UpdatedAt       dbTime         `db:"updated_at"`
	LastDeliveredAt dbTime         `db:"last_delivered_at"`
}

func (r requestRow) request() request.Request {
	out := request.Request{ID: r.ID, InviteID: r.InviteID.String, SenderID: r.SenderID, RecipientID: r.RecipientID,
		ChatID: r.ChatID, Status: request.Status(r.Status), Delivered: r.Delivered, Held: r.Held,
		CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
	if !r.LastDeliveredAt.IsZero() {
		t := r.LastDeliveredAt.Time
		out.LastDeliveredAt = &t
	}
	return out
}

// Pair reads whether either account blocks the other, and the requests
// from sender to recipient, oldest first.
func (d *DB) Pair(ctx context.Context, senderID, recipientID string) (request.Pair, error) {
	var p request.Pair
	if err := d.db.GetContext(ctx, &p.Blocked, d.query("pair-blocked"), senderID, recipientID, recipientID, senderID); err != nil {
		return p, fmt.Errorf("pair blocked: %w", err)
	}
	rows, err := d.pairRequests(ctx, d.db, senderID, recipientID)
	for _, r := range rows {
		p.Requests = append(p.Requests, r.request())
	}
	return p, err
}

func (d *DB) pairRequests(ctx context.Context, q sqlx.QueryerContext, senderID, recipientID string) ([]requestRow, error) {
	var rows []requestRow
	if err := sqlx.SelectContext(ctx, q, &rows, d.query("pair-requests"), senderID, recipientID); err != nil {
		return nil, fmt.Errorf("pair requests: %w", err)
	}
	return rows, nil
}

// Deliver counts one message on the pair's oldest pending request,
// creating the pair's request first (with request.created) when it has
// none. The count is one conditional update (delivered < limit), atomic on
// one node or many.
func (d *DB) Deliver(ctx context.Context, r request.Request, limit int) (request.Request, bool, error) {
	var out request.Request
	var delivered bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		rows, err := d.pairRequests(ctx, tx, r.SenderID, r.RecipientID)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			added, err := changed(tx.ExecContext(ctx, d.query("insert-gate-request"), r.ID, r.SenderID, r.RecipientID, r.ChatID, now, now))
			if err != nil {
				return fmt.Errorf("insert request: %w", err)
			}
			if added {
				err := d.publish(ctx, tx, event.RequestData{Chat: map[string]string{"id": r.ChatID}, Recipient: r.RecipientID,
					RequestID: r.ID, Sender: r.SenderID})
				if err != nil {
					return err
				}
			}
			if rows, err = d.pairRequests(ctx, tx, r.SenderID, r.RecipientID); err != nil {
				return err
			}
			if len(rows) == 0 {
				return errors.New("deliver: the pair's request vanished")
			}
		}
		target := rows[0]
		for _, row := range rows {
			if row.Status == string(request.Pending) {
				target = row
				break
			}
		}
		if delivered, err = changed(tx.ExecContext(ctx, d.query("count-delivered"), now, now, target.ID, limit)); err != nil {
			return fmt.Errorf("count delivered: %w", err)
		}
		if !delivered {
			if _, err := tx.ExecContext(ctx, d.query("count-held"), now, target.ID); err != nil {
				return fmt.Errorf("count held: %w", err)
			}
		}
		var row requestRow
		if err := tx.GetContext(ctx, &row, d.query("get-request"), target.ID); err != nil {
			return fmt.Errorf("get request: %w", err)
		}
		out = row.request()
		return nil
	})
	return out, delivered, err
}

// Request reads a request, or request.ErrNotFound.
func (d *DB) Request(ctx context.Context, id string) (request.Request, error) {
	var row requestRow
	err := d.db.GetContext(ctx, &row, d.query("get-request"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return request.Request{}, request.ErrNotFound
	}
	if err != nil {
		return request.Request{}, fmt.Errorf("get request: %w", err)
	}
	return row.request(), nil
}

// Decide moves a request from one of from to `to`, guarded by its status;
// with block it also blocks the sender for the recipient (also when the
// request was blocked or reported already: the block may have been lifted
// since); a change publishes typ with the request.
func (d *DB) Decide(ctx context.Context, id string, from []request.Status, to request.Status, block bool, typ event.Type) (request.Request, bool, error) {
	var out request.Request
	var moved bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		args := []any{string(to), now, id}
		for i := range 4 {
			args = append(args, string(from[min(i, len(from)-1)]))
		}
		var err error
		if moved, err = changed(tx.ExecContext(ctx, d.query("decide-request"), args...)); err != nil {
			return fmt.Errorf("decide request: %w", err)
		}
		var row requestRow
		err = tx.GetContext(ctx, &row, d.query("get-request"), id)
		if errors.Is(err, sql.ErrNoRows) {
			return request.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("get request: %w", err)
		}
		out = row.request()
		// A block again puts back the directory's block if it was lifted.
		if block && (moved || out.Status == request.Blocked || out.Status == request.Reported) {
			if _, err := tx.ExecContext(ctx, d.query("put-block"), out.RecipientID, out.SenderID, now); err != nil {
				return fmt.Errorf("put block: %w", err)
			}
		}
		if !moved {
			return nil
		}
		return d.publish(ctx, tx, event.RequestChangeData{Type: typ, Request: out})
	})
	return out, moved, err
}

type listedRow struct {
	requestRow
	SenderName      string `db:"sender_name"`
	SenderTenant    string `db:"sender_tenant"`
	RecipientTenant string `db:"recipient_tenant"`
	SenderEmail     string `db:"sender_email"`
}

// Requests lists up to limit requests to recipientID with ids after
// after, in status when it is not empty.
func (d *DB) Requests(ctx context.Context, recipientID string, status request.Status, after string, limit int) ([]request.Listed, error) {
	var rows []listedRow
	if err := d.db.SelectContext(ctx, &rows, d.query("list-requests"), recipientID, string(status), string(status), after, limit); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	out := make([]request.Listed, len(rows))
	for i, r := range rows {
		out[i] = request.Listed{Request: r.request(), SenderName: r.SenderName, SenderEmail: r.SenderEmail,
			External: r.SenderTenant != r.RecipientTenant, Personal: r.SenderTenant == ""}
	}
	return out, nil
}
