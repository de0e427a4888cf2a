package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/jmoiron/sqlx"
)

var _ notify.Outbox = (*DB)(nil)

type outboxRow struct {
	ID          int64        `db:"id"`
	InviteID    string       `db:"invite_id"`
	Kind        string       `db:"kind"`
	Channel     string       `db:"channel"`
	Recipient   string       `db:"recipient"`
	Subject     string       `db:"subject"`
	Text        string       `db:"body_text"`
	HTML        string       `db:"body_html"`
	Unsubscribe string       `db:"unsubscribe"`
	Attempts    int          `db:"attempts"`
	Capped      sql.NullBool `db:"capped"`
}

// Claim leases up to n due messages. On PostgreSQL concurrent claimers skip
// each other's rows (FOR UPDATE SKIP LOCKED); SQLite serialises writers.
func (d *DB) Claim(ctx context.Context, n int, lease time.Duration) ([]notify.Message, error) {
	now := d.now()
	var rows []outboxRow
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &rows, d.query("claim-outbox."+string(d.dialect)),
			d.timeArg(now.Add(lease)), d.timeArg(now), d.timeArg(now), d.timeArg(now), n)
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	out := make([]notify.Message, len(rows))
	for i, r := range rows {
		out[i] = notify.Message{ID: r.ID, InviteID: r.InviteID, Kind: r.Kind, Channel: r.Channel, To: r.Recipient,
			Subject: r.Subject, Text: r.Text, HTML: r.HTML, Unsubscribe: r.Unsubscribe, Attempt: r.Attempts,
			CapDecided: r.Capped.Valid, Capped: r.Capped.Bool}
	}
	return out, nil
}

// Record records a batch of attempts in one transaction.
func (d *DB) Record(ctx context.Context, attempts []notify.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		for _, a := range attempts {
			if err := d.record(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (d *DB) record(ctx context.Context, tx *sqlx.Tx, a notify.Attempt) error {
	nowT := d.now()
	now := d.timeArg(nowT)
	m := a.Message
	var res sql.Result
	var err error
	capped := sql.NullBool{Bool: m.Capped, Valid: m.CapDecided}
	switch {
	case a.State == notify.StateRetry:
		res, err = tx.ExecContext(ctx, d.query("outbox-retry"), d.timeArg(a.RetryAt), a.Reason, now, capped, m.ID, m.Attempt)
	case a.State == notify.StateHeld && !a.ReportAt.IsZero():
		res, err = tx.ExecContext(ctx, d.query("outbox-done"), "held_report", "", "", d.timeArg(a.ReportAt), now, capped, m.ID, m.Attempt)
	default:
		res, err = tx.ExecContext(ctx, d.query("outbox-done"), a.State, a.ProviderID, a.Reason, now, now, capped, m.ID, m.Attempt)
	}
	if err != nil {
		return fmt.Errorf("outbox %s: %w", a.State, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // another worker took it over after our lease ran out
	}
	outcome := map[string]string{notify.StateSent: "sent", notify.StateFailed: "permanent", notify.StateRetry: "transient",
		notify.StateHeld: "held"}[a.State]
	if _, err := tx.ExecContext(ctx, d.query("insert-attempt"), m.ID, m.Attempt, now, outcome, a.Reason); err != nil {
		return err
	}
	return d.apply(ctx, tx, m.InviteID, invite.EffectOf(a), now)
}

// apply makes the changes invite decided for an attempt of inviteID's
// message, each guarded by the state it expects.
func (d *DB) apply(ctx context.Context, tx *sqlx.Tx, inviteID string, e invite.Effect, now any) error {
	if e.Unsubscribe != nil {
		if _, err := tx.ExecContext(ctx, d.query("unsubscribe"), string(e.Unsubscribe.Kind), e.Unsubscribe.Value, now); err != nil {
			return fmt.Errorf("provider opt-out: %w", err)
		}
	}
	if e.Reached {
		if _, err := tx.ExecContext(ctx, d.query("mark-reached"), inviteID); err != nil {
			return err
		}
	}
	if e.Delivery == "" {
		return nil
	}
	// Once the invite ended, its delivery no longer moves.
	return d.moveDelivery(ctx, tx, "set-delivery", inviteID, e.Delivery)
}

// moveDelivery sets inviteID's delivery by the named guarded query and,
// when it moved, announces it.
func (d *DB) moveDelivery(ctx context.Context, tx *sqlx.Tx, query, inviteID string, delivery invite.Delivery) error {
	res, err := tx.ExecContext(ctx, d.query(query), string(delivery), d.timeArg(d.now()), inviteID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	inv, err := d.inviteIn(ctx, tx, inviteID)
	if err != nil {
		return err
	}
	return d.publish(ctx, tx, event.InviteData{Type: invite.DeliveryEvent(delivery), Invite: inv})
}

// ReportHeld reports up to n held messages whose report is due delivered,
// as ReportDelivery does a provider's report of a real one, in one
// transaction. Concurrent nodes skip each other's rows on PostgreSQL.
func (d *DB) ReportHeld(ctx context.Context, n int) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.timeArg(d.now())
		var ids []string
		if err := tx.SelectContext(ctx, &ids, d.query("held-reports."+string(d.dialect)), now, now, n); err != nil {
			return fmt.Errorf("held reports: %w", err)
		}
		for _, id := range ids {
			if err := d.reportDelivery(ctx, tx, id, invite.Delivered); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReportDelivery records a provider's delivery report for the message it
// knows as providerID, and emits invite.delivered or
// invite.delivery_failed. An unknown id or a report that changes nothing is
// not an error (reports repeat).
func (d *DB) ReportDelivery(ctx context.Context, providerID string, delivery invite.Delivery) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		var inviteID string
		if err := tx.GetContext(ctx, &inviteID, d.query("invite-by-provider"), providerID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		return d.reportDelivery(ctx, tx, inviteID, delivery)
	})
}

func (d *DB) reportDelivery(ctx context.Context, tx *sqlx.Tx, inviteID string, delivery invite.Delivery) error {
	// A report only moves delivery forward from queued or sent.
	return d.moveDelivery(ctx, tx, "report-delivery", inviteID, delivery)
}
