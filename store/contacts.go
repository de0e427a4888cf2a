package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beckon-chat/beckon/contactsync"
	"github.com/jmoiron/sqlx"
)

var _ contactsync.Store = (*DB)(nil)

// RememberLookups implements contactsync.Store: in one transaction, it
// records that each of keys (distinct) was looked up at now and counts the
// fresh ones (absent, or last seen at or before expired), then calls
// charge with that count. When charge returns an error the transaction is
// rolled back, so that nothing is recorded, and the error is returned as it
// is. A recent row is rewritten only when last seen before refresh: when
// every key was seen since, one read and no transaction answer. The
// commit is synchronous: with read replicas, every resolve waits for a
// replica to replay all the primary has written, and an asynchronous
// commit's unflushed WAL would hold that back for up to three
// wal_writer_delay.
func (d *DB) RememberLookups(ctx context.Context, keys [][]byte, now, expired, refresh time.Time, charge func(fresh int) error) error {
	// A contact re-checked within a tenth of the window (what a daily sync
	// does) needs no write: one read, outside any transaction, says so.
	// Nothing can make such a row fresh again before the transaction
	// below would see it: a refused insert was never visible, and a prune
	// deletes only rows older than the window.
	if recent, err := d.recentLookups(ctx, keys, refresh); err == nil && recent == len(keys) {
		return charge(0)
	}
	var chargeErr error
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		fresh, err := d.rememberLookups(ctx, tx, keys, now, expired, refresh)
		if err != nil {
			return fmt.Errorf("remember lookups: %w", err)
		}
		chargeErr = charge(fresh)
		return chargeErr
	})
	if chargeErr != nil {
		return chargeErr
	}
	return err
}

func (d *DB) rememberLookups(ctx context.Context, tx *sqlx.Tx, keys [][]byte, now, expired, refresh time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if d.dialect == Postgres {
		var fresh int
		err := tx.GetContext(ctx, &fresh, d.query("remember-lookups.postgres"), d.timeArg(now), keys, d.timeArg(expired), d.timeArg(refresh))
		return fresh, err
	}
	at := d.timeArg(now)
	args := make([]any, 0, 3*len(keys)+3)
	for _, k := range keys {
		args = append(args, k, at, at)
	}
	args = append(args, d.timeArg(expired), d.timeArg(refresh), at)
	rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(keys)), ", ")
	query := strings.Replace(d.query("remember-lookups.sqlite"), "KEYS", rows, 1)
	var flags []bool
	if len(keys) == 1 {
		st, err := d.stmt(ctx, query)
		if err != nil {
			return 0, err
		}
		if err := tx.StmtxContext(ctx, st).SelectContext(ctx, &flags, args...); err != nil {
			return 0, err
		}
	} else if err := tx.SelectContext(ctx, &flags, query, args...); err != nil {
		return 0, err
	}
	fresh := 0
	for _, f := range flags {
		if f {
			fresh++
		}
	}
	return fresh, nil
}

// recentLookups counts the keys looked up at or after refresh.
func (d *DB) recentLookups(ctx context.Context, keys [][]byte, refresh time.Time) (int, error) {
	var n int
	if d.dialect == Postgres {
		err := d.get(ctx, &n, "recent-lookups.postgres", keys, d.timeArg(refresh))
		return n, err
	}
	args := make([]any, 0, len(keys)+1)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, d.timeArg(refresh))
	query := strings.Replace(d.query("recent-lookups.sqlite"), "KEYS", strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", "), 1)
	if len(keys) == 1 {
		st, err := d.prepared(ctx, query)
		if err != nil {
			return 0, err
		}
		err = st.GetContext(ctx, &n, args...)
		return n, err
	}
	err := d.db.GetContext(ctx, &n, query, args...)
	return n, err
}

// PruneLookups implements contactsync.Store: it deletes the lookups last
// seen before cutoff, at most batch rows a transaction, and returns how
// many it deleted.
func (d *DB) PruneLookups(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	total := 0
	for {
		var n int64
		err := d.tx(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, d.query("prune-lookups"), d.timeArg(cutoff), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune lookups: %w", err)
		}
		total += int(n)
		if n < int64(batch) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// GeneratedSecret returns the secret kept under name, keeping fresh as that
// secret when there is none yet: of several nodes starting at once, the
// first one's secret is the one all of them use.
func (d *DB) GeneratedSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var secret []byte
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, d.query("insert-generated-secret"), name, fresh, d.timeArg(d.now())); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &secret, d.query("generated-secret"), name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("secret %s vanished", name)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("generated secret: %w", err)
	}
	return secret, nil
}
