package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/jmoiron/sqlx"
)

var _ notify.Outbox = (*DB)(nil)

type outboxRow struct {
	ID          int64  `db:"id"`
	InviteID    string `db:"invite_id"`
	Kind        string `db:"kind"`
	Channel     string `db:"channel"`
	Recipient   string `db:"recipient"`
	Subject     string `db:"subject"`
	Text        string `db:"body_text"`
	HTML        string `db:"body_html"`
	Unsubscribe string `db:"unsubscribe"`
	Attempts    int    `db:"attempts"`
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
			Subject: r.Subject, Text: r.Text, HTML: r.HTML, Unsubscribe: r.Unsubscribe, Attempt: r.Attempts}
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
	now := d.timeArg(d.now())
	m := a.Message
	var res sql.Result
	var err error
	if a.State == notify.StateRetry {
		res, err = tx.ExecContext(ctx, d.query("outbox-retry"), d.timeArg(a.RetryAt), a.Reason, now, m.ID)
	} else {
		res, err = tx.ExecContext(ctx, d.query("outbox-done"), a.State, a.ProviderID, a.Reason, now, m.ID)
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
	if a.State == notify.StateRetry {
		return nil
	}
	// Whether anything of the invite reached the recipient: link turns
	// only those invites into message requests.
	if _, err := tx.ExecContext(ctx, d.query("refresh-suppressed"), m.InviteID); err != nil {
		return err
	}
	if m.Kind == "reminder" {
		return nil // a reminder does not change the invite's delivery
	}
	// A held message shows exactly as a sent one.
	delivery, event := invite.Sent, "invite.sent"
	if a.State == notify.StateFailed {
		delivery, event = invite.Failed, "invite.delivery_failed"
	}
	if _, err := tx.ExecContext(ctx, d.query("set-delivery"), string(delivery), now, m.InviteID); err != nil {
		return err
	}
	inv, err := d.inviteIn(ctx, tx, m.InviteID)
	if err != nil {
		return err
	}
	return d.emit(ctx, tx, event, map[string]any{"invite": inv})
}

// ReportHeldDelivered reports a held message delivered, exactly as
// ReportDelivery does a provider's report of a real one.
func (d *DB) ReportHeldDelivered(ctx context.Context, outboxID int64) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		var inviteID string
		if err := tx.GetContext(ctx, &inviteID, d.query("invite-by-held"), outboxID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		return d.reportDelivery(ctx, tx, inviteID, invite.Delivered)
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
	res, err := tx.ExecContext(ctx, d.query("report-delivery"), string(delivery), d.timeArg(d.now()), inviteID)
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
	typ := "invite.delivered"
	if delivery == invite.Failed {
		typ = "invite.delivery_failed"
	}
	return d.emit(ctx, tx, typ, map[string]any{"invite": inv})
}
