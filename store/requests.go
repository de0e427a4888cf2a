package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/resolver"
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

// partyCols are the columns of one account of gate-pair.
type partyCols struct {
	ID               sql.NullString `db:"id"`
	TenantID         sql.NullString `db:"tenant_id"`
	Region           sql.NullString `db:"region"`
	OutboundPersonal sql.NullBool   `db:"outbound_personal"`
	InboundPersonal  sql.NullBool   `db:"inbound_personal"`
	TenantRegion     sql.NullString `db:"tenant_region"`
	TenantPolicy     sql.NullString `db:"tenant_policy"`
	TenantDomains    sql.NullString `db:"tenant_domains"`
	Email            sql.NullString `db:"email"`
}

type gateRow struct {
	Sender    partyCols      `db:"s"`
	Recipient partyCols      `db:"r"`
	Blocked   bool           `db:"blocked"`
	Accepted  bool           `db:"accepted"`
	Refused   bool           `db:"refused"`
	PendingID sql.NullString `db:"pending_id"`
	Delivered int            `db:"delivered"`
}

// party returns the account of c, nil when it does not exist.
func (d *DB) party(c partyCols) (*request.Party, error) {
	if !c.ID.Valid {
		return nil, nil
	}
	p := &request.Party{Account: directory.Account{ID: c.ID.String, TenantID: c.TenantID.String, Region: c.Region.String,
		Overrides: directory.Overrides{OutboundPersonal: nullBool(c.OutboundPersonal), InboundPersonal: nullBool(c.InboundPersonal)}}}
	if c.Email.Valid {
		p.Account.Identifiers = []resolver.Identifier{{Kind: resolver.Email, Value: c.Email.String}}
	}
	if c.TenantID.Valid {
		policy, err := d.decoded.policy(c.TenantPolicy.String)
		if err != nil {
			return nil, fmt.Errorf("tenant policy: %w", err)
		}
		domains, err := d.decoded.domains(c.TenantDomains.String)
		if err != nil {
			return nil, fmt.Errorf("tenant domains: %w", err)
		}
		p.Tenant = &directory.Tenant{ID: c.TenantID.String, Region: c.TenantRegion.String, Policy: policy, Domains: domains}
	}
	return p, nil
}

// Pair reads the gate's state between sender and recipient in one
// prepared query (gate-pair).
func (d *DB) Pair(ctx context.Context, senderID, recipientID string) (request.Pair, error) {
	var p request.Pair
	var row gateRow
	if err := d.get(ctx, &row, "gate-pair", senderID, recipientID); err != nil {
		return p, fmt.Errorf("gate pair: %w", err)
	}
	var err error
	if p.Sender, err = d.party(row.Sender); err != nil {
		return p, err
	}
	if p.Recipient, err = d.party(row.Recipient); err != nil {
		return p, err
	}
	p.Blocked, p.Accepted, p.Refused = row.Blocked, row.Accepted, row.Refused
	if row.PendingID.Valid {
		p.Pending = &request.Request{ID: row.PendingID.String, SenderID: senderID, RecipientID: recipientID,
			Status: request.Pending, Delivered: row.Delivered}
	}
	return p, nil
}

func (d *DB) pairRequests(ctx context.Context, q sqlx.QueryerContext, senderID, recipientID string) ([]requestRow, error) {
	var rows []requestRow
	if err := sqlx.SelectContext(ctx, q, &rows, d.query("pair-requests"), senderID, recipientID); err != nil {
		return nil, fmt.Errorf("pair requests: %w", err)
	}
	return rows, nil
}

// Count counts one message from r.SenderID to r.RecipientID on the pair's
// count (r is the pair's pending request as read): one guarded upsert,
// delivered when fewer than limit were (atomic on one node or many), else
// held — straight to held when r showed the limit reached already, since
// the count only grows. It returns r with the pair's counts and whether
// the message was delivered.
func (d *DB) Count(ctx context.Context, r request.Request, limit int) (request.Request, bool, error) {
	if d.dialect == SQLite {
		d.writeMu.Lock()
		defer d.writeMu.Unlock()
	}
	return d.count(ctx, func(dest any, name string, args ...any) error { return d.get(ctx, dest, name, args...) }, r, limit)
}

// count runs Count's statements with get: prepared on the pool, or in a
// transaction.
func (d *DB) count(ctx context.Context, get func(dest any, name string, args ...any) error, r request.Request, limit int) (request.Request, bool, error) {
	now := d.timeArg(d.now())
	var c struct {
		Delivered       int    `db:"delivered"`
		Held            int    `db:"held"`
		LastDeliveredAt dbTime `db:"last_delivered_at"`
	}
	delivered := false
	if r.Delivered < limit {
		err := get(&c, "count-delivered", r.SenderID, r.RecipientID, now, now, limit)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return r, false, fmt.Errorf("count delivered: %w", err)
		}
		delivered = err == nil
	}
	if !delivered {
		if err := get(&c, "count-held", r.SenderID, r.RecipientID, now); err != nil {
			return r, false, fmt.Errorf("count held: %w", err)
		}
	}
	r.Delivered, r.Held, r.LastDeliveredAt = c.Delivered, c.Held, nil
	if !c.LastDeliveredAt.IsZero() {
		t := c.LastDeliveredAt.Time
		r.LastDeliveredAt = &t
	}
	return r, delivered, nil
}

// Deliver stores r, the pair's first request, with request.created when
// the pair still has no request, and counts one message on the pair's oldest
// pending request (Count), in one transaction.
func (d *DB) Deliver(ctx context.Context, r request.Request, limit int) (request.Request, bool, error) {
	var out request.Request
	var delivered bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		rows, err := d.pairRequests(ctx, tx, r.SenderID, r.RecipientID)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			now := d.timeArg(d.now())
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
		get := func(dest any, name string, args ...any) error {
			return tx.GetContext(ctx, dest, d.query(name), args...)
		}
		out, delivered, err = d.count(ctx, get, target.request(), limit)
		return err
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

// Decide moves a request from one of from to `to`, guarded by its status
// (read under the row's lock on PostgreSQL, so that the move and the
// answer agree whatever commits meanwhile);
// with block it also blocks the sender for the recipient (also when the
// request was blocked or reported already: the block may have been lifted
// since); a change publishes typ with the request.
func (d *DB) Decide(ctx context.Context, id string, from []request.Status, to request.Status, block bool, typ event.Type) (request.Request, bool, error) {
	var out request.Request
	var moved bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		if d.dialect == Postgres {
			var locked []string
			if err := tx.SelectContext(ctx, &locked, d.query("lock-request"), id); err != nil {
				return fmt.Errorf("lock request: %w", err)
			}
		}
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

// Requests lists up to limit requests to recipientID, newest first, with
// ids before after when it is not empty, in status when it is not empty.
func (d *DB) Requests(ctx context.Context, recipientID string, status request.Status, after string, limit int) ([]request.Listed, error) {
	var rows []listedRow
	if err := d.db.SelectContext(ctx, &rows, d.query("list-requests"), recipientID, string(status), string(status), after, after, limit); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	out := make([]request.Listed, len(rows))
	for i, r := range rows {
		out[i] = request.Listed{Request: r.request(), SenderName: r.SenderName, SenderEmail: r.SenderEmail,
			External: r.SenderTenant != r.RecipientTenant, Personal: r.SenderTenant == ""}
	}
	return out, nil
}
