package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// StaleClaim is how long a claim may stay "running" (status 0) before a
// retry takes it over: longer than any request runs, so that a claim whose
// node died, or whose outcome could not be kept because the database went
// away, does not answer idempotency_key_in_use for a whole ttl.
const StaleClaim = 2 * time.Minute

// IdempotencyClaim claims (keyID, idemKey) for a request with hash. It
// returns keptHash "" when the caller should run the request; otherwise
// what is kept: the first request's hash and its response, status 0 while
// it runs. A claim older than ttl, or still running after StaleClaim, is
// taken over.
func (d *DB) IdempotencyClaim(ctx context.Context, keyID, idemKey, hash string, ttl time.Duration) (keptHash string, status int, body string, err error) {
	err = d.tx(ctx, func(tx *sqlx.Tx) error {
		now := d.now()
		res, err := tx.ExecContext(ctx, d.query("idem-claim"), keyID, idemKey, hash, d.timeArg(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var row struct {
			Hash      string `db:"request_hash"`
			Status    int    `db:"status"`
			Body      string `db:"body"`
			CreatedAt dbTime `db:"created_at"`
		}
		if err := tx.GetContext(ctx, &row, d.query("idem-get"), keyID, idemKey); err != nil {
			return err
		}
		if age := now.Sub(row.CreatedAt.Time); age > ttl || row.Status == 0 && age > StaleClaim {
			_, err := tx.ExecContext(ctx, d.query("idem-reset"), hash, d.timeArg(now), keyID, idemKey)
			return err
		}
		keptHash, status, body = row.Hash, row.Status, row.Body
		return nil
	})
	if err != nil {
		return "", 0, "", fmt.Errorf("idempotency claim: %w", err)
	}
	return keptHash, status, body, nil
}

// IdempotencySave keeps the response of a claimed request.
func (d *DB) IdempotencySave(ctx context.Context, keyID, idemKey string, status int, body string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("idem-save"), status, body, keyID, idemKey)
		return err
	})
}

// IdempotencyForget drops a claim, so that the request may be retried.
func (d *DB) IdempotencyForget(ctx context.Context, keyID, idemKey string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, d.query("idem-forget"), keyID, idemKey)
		return err
	})
}
