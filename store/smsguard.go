package store

import (
	"context"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/smsguard"
	"github.com/jmoiron/sqlx"
)

var _ smsguard.Store = (*DB)(nil)

// SMSPrefixStats reads prefix's SMS counts in the windows w and its
// cool-off, in one query on the prefix's hours.
func (d *DB) SMSPrefixStats(ctx context.Context, prefix string, w smsguard.Windows) (smsguard.Stats, error) {
	var row struct {
		Recent      int64  `db:"recent"`
		Baseline    int64  `db:"baseline"`
		BaseAcc     int64  `db:"baseline_accepted"`
		Day         int64  `db:"day"`
		DayAccepted int64  `db:"day_accepted"`
		CoolUntil   dbTime `db:"cool_until"`
	}
	recent, day := d.timeArg(w.Recent), d.timeArg(w.Day)
	if err := d.db.GetContext(ctx, &row, d.query("sms-prefix-stats"),
		recent, recent, recent, day, day, prefix, prefix, d.timeArg(w.Baseline)); err != nil {
		return smsguard.Stats{}, fmt.Errorf("sms prefix stats: %w", err)
	}
	return smsguard.Stats{Recent: int(row.Recent), Baseline: int(row.Baseline), BaselineAccepted: int(row.BaseAcc), Day: int(row.Day),
		DayAccepted: int(row.DayAccepted), CoolUntil: row.CoolUntil.Time}, nil
}

// CountSMS adds one to counter c of prefix's hour.
func (d *DB) CountSMS(ctx context.Context, prefix string, hour time.Time, c smsguard.Count) error {
	name := map[smsguard.Count]string{smsguard.CountSent: "count-sms-sent", smsguard.CountHeld: "count-sms-held",
		smsguard.CountAccepted: "count-sms-accepted"}[c]
	if name == "" {
		return fmt.Errorf("unknown sms counter %q", c)
	}
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query(name), prefix, d.timeArg(hour))
		return err
	})
}

// CoolOffPrefix stops SMS to prefix until a time, unless a longer
// cool-off is already set.
func (d *DB) CoolOffPrefix(ctx context.Context, prefix string, until, now time.Time) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("cool-off-prefix"), prefix, d.timeArg(until), d.timeArg(now))
		return err
	})
}

// SpendSMS takes one SMS from tenantID's budget for day with one
// conditional upsert, and reports whether one was left.
func (d *DB) SpendSMS(ctx context.Context, tenantID, day string, budget int) (bool, error) {
	var ok bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ok, err = changed(tx.ExecContext(ctx, d.query("spend-sms"), tenantID, day, budget))
		return err
	})
	return ok, err
}

// PruneSMS deletes the prefix hours before hoursBefore, the tenant days
// before dayBefore and the cool-offs ended by now.
func (d *DB) PruneSMS(ctx context.Context, hoursBefore time.Time, dayBefore string, now time.Time) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		for _, q := range []struct {
			name string
			arg  any
		}{{"prune-sms-hours", d.timeArg(hoursBefore)}, {"prune-sms-days", dayBefore}, {"prune-sms-cooloffs", d.timeArg(now)}} {
			if _, err := tx.ExecContext(ctx, d.query(q.name), q.arg); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
		}
		return nil
	})
}
