package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/spam"
	"github.com/jmoiron/sqlx"
)

var (
	_ spam.Store       = (*DB)(nil)
	_ spam.DomainStore = (*DB)(nil)
)

// SpamKey returns the database's key of text fingerprints, made at random
// by the migration that created it.
func (d *DB) SpamKey(ctx context.Context) ([]byte, error) {
	var k string
	if err := d.db.GetContext(ctx, &k, d.query("spam-key")); err != nil {
		return nil, fmt.Errorf("spam key: %w", err)
	}
	b, err := hex.DecodeString(k)
	if err != nil || len(b) < 16 {
		return nil, errors.New("spam key: not 16 or more bytes of hex")
	}
	return b, nil
}

// SenderAccepted reports whether a request from sender or an invitation
// of theirs was ever accepted.
func (d *DB) SenderAccepted(ctx context.Context, sender string) (bool, error) {
	var ok bool
	if err := d.get(ctx, &ok, "spam-sender-accepted", sender, sender); err != nil {
		return false, fmt.Errorf("sender accepted: %w", err)
	}
	return ok, nil
}

// ClaimRecipient reports whether sender may write to recipient as far as
// the rate of new recipients goes: yes when sender has a request with
// recipient or claimed it since a time (one read); otherwise, in one
// transaction under the sender's lock (see RecordFingerprint), yes and
// claimed at now when sender claimed fewer than upTo others since, and no
// when upTo or more. Under any concurrency exactly upTo new recipients
// pass within a window.
func (d *DB) ClaimRecipient(ctx context.Context, sender, recipient string, now, since time.Time, upTo int) (bool, error) {
	var known bool
	if err := d.get(ctx, &known, "spam-recipient-known", sender, recipient, sender, recipient, d.timeArg(since)); err != nil {
		return false, fmt.Errorf("recipient known: %w", err)
	}
	if known {
		return true, nil
	}
	stmts, err := d.txStmts(ctx, "spam-count-recipients", "spam-claim-recipient")
	if err != nil {
		return false, err
	}
	ok := false
	err = d.tx(ctx, func(tx *sqlx.Tx) error {
		if err := d.lockSender(ctx, tx, sender); err != nil {
			return err
		}
		var row struct {
			N       int  `db:"n"`
			Claimed bool `db:"claimed"`
		}
		if err := d.inTx(ctx, tx, stmts, "spam-count-recipients").GetContext(ctx, &row, sender, d.timeArg(since), recipient, upTo, sender, recipient, d.timeArg(since)); err != nil {
			return fmt.Errorf("count recipients: %w", err)
		}
		if ok = row.Claimed; ok || row.N >= upTo {
			return nil
		}
		ok = true
		if _, err := d.inTx(ctx, tx, stmts, "spam-claim-recipient").ExecContext(ctx, sender, recipient, d.timeArg(now)); err != nil {
			return fmt.Errorf("claim recipient: %w", err)
		}
		return nil
	})
	return ok, err
}

// lockSender makes the transactions of one sender that call it run one at
// a time, on every node: a transaction-scoped advisory lock on PostgreSQL
// (it works through a pooler); SQLite serialises write transactions.
func (d *DB) lockSender(ctx context.Context, tx *sqlx.Tx, sender string) error {
	if d.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.query("spam-lock-sender"), sender); err != nil {
		return fmt.Errorf("lock sender: %w", err)
	}
	return nil
}

// RecordFingerprint upserts the bands of fp for (sender, recipient) at now
// and counts the distinct recipients of sender with a band of fp seen
// since, up to upTo, in one transaction. The transactions of one sender
// run one at a time, on every node (a transaction-scoped advisory lock on
// PostgreSQL; SQLite serialises writes), so that each count includes every
// earlier message: under any concurrency exactly the threshold passes.
func (d *DB) RecordFingerprint(ctx context.Context, sender, recipient string, fp spam.Fingerprint, now, since time.Time, upTo int) (int, error) {
	bands := fp.Sorted()
	args := make([]any, 0, 4*len(bands))
	similar := make([]any, 0, len(bands)+2)
	similar = append(similar, sender)
	at := d.timeArg(now)
	for _, b := range bands {
		args = append(args, sender, b, recipient, at)
		similar = append(similar, b)
	}
	similar = append(similar, d.timeArg(since), upTo)
	stmts, err := d.txStmts(ctx, "spam-put-fingerprint", "spam-similar-recipients")
	if err != nil {
		return 0, err
	}
	var n int
	err = d.tx(ctx, func(tx *sqlx.Tx) error {
		if err := d.lockSender(ctx, tx, sender); err != nil {
			return err
		}
		if _, err := d.inTx(ctx, tx, stmts, "spam-put-fingerprint").ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("put fingerprint: %w", err)
		}
		if err := d.inTx(ctx, tx, stmts, "spam-similar-recipients").GetContext(ctx, &n, similar...); err != nil {
			return fmt.Errorf("similar recipients: %w", err)
		}
		return nil
	})
	return n, err
}

// PruneSpam deletes the fingerprints and the new-recipient claims seen
// before before, and returns how many rows.
func (d *DB) PruneSpam(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		for _, q := range []string{"spam-prune-fingerprints", "spam-prune-recipients"} {
			res, err := tx.ExecContext(ctx, d.query(q), d.timeArg(before))
			if err != nil {
				return fmt.Errorf("prune spam: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	return n, err
}

type spamDomainRow struct {
	Domain  string `db:"domain"`
	AddedAt dbTime `db:"added_at"`
}

// SpamDomains lists the bad link domains by name.
func (d *DB) SpamDomains(ctx context.Context) ([]spam.Domain, error) {
	var rows []spamDomainRow
	if err := d.db.SelectContext(ctx, &rows, d.query("spam-domains")); err != nil {
		return nil, fmt.Errorf("spam domains: %w", err)
	}
	out := make([]spam.Domain, len(rows))
	for i, r := range rows {
		out[i] = spam.Domain{Name: r.Domain, AddedAt: r.AddedAt.Time}
	}
	return out, nil
}

// PutSpamDomain lists dom unless its name is listed, and returns the
// listed domain and whether it was added.
func (d *DB) PutSpamDomain(ctx context.Context, dom spam.Domain) (spam.Domain, bool, error) {
	var out spam.Domain
	var added bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if added, err = changed(tx.ExecContext(ctx, d.query("spam-put-domain"), dom.Name, d.timeArg(dom.AddedAt))); err != nil {
			return fmt.Errorf("put spam domain: %w", err)
		}
		var row spamDomainRow
		if err := tx.GetContext(ctx, &row, d.query("spam-domain"), dom.Name); err != nil {
			return fmt.Errorf("get spam domain: %w", err)
		}
		out = spam.Domain{Name: row.Domain, AddedAt: row.AddedAt.Time}
		return nil
	})
	return out, added, err
}

// DeleteSpamDomain takes a domain off the list and reports whether it was
// on it.
func (d *DB) DeleteSpamDomain(ctx context.Context, name string) (bool, error) {
	var removed bool
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		removed, err = changed(tx.ExecContext(ctx, d.query("spam-delete-domain"), name))
		return err
	})
	return removed, err
}
