package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/fault"
	"github.com/jmoiron/sqlx"
)

var _ auth.Store = (*DB)(nil)

var (
	errKeyNameTaken = fault.New(fault.Conflict, fault.CodeKeyNameTaken, "name", "an active key already has that name")
	errKeyNotFound  = fault.New(fault.NotFound, fault.CodeKeyNotFound, "name", "no active key with that name")
)

type keyRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Scopes    string `db:"scopes"`
	CreatedAt dbTime `db:"created_at"`
	RevokedAt dbTime `db:"revoked_at"`
}

func (r keyRow) key() auth.Key {
	k := auth.Key{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.Time}
	for _, s := range strings.Split(r.Scopes, ",") {
		k.Scopes = append(k.Scopes, auth.Scope(s))
	}
	if !r.RevokedAt.IsZero() {
		t := r.RevokedAt.Time
		k.RevokedAt = &t
	}
	return k
}

// CreateKey stores a key under its hash. Errors: Conflict key_name_taken
// when an active key has the name.
func (d *DB) CreateKey(ctx context.Context, k auth.Key, hash string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error { return d.insertKey(ctx, tx, k, hash) })
}

// ReplaceKey revokes the active key named k.Name, if there is one, and
// stores k under its hash, in one transaction. Errors: Conflict
// key_name_taken when another process gave the name a key meanwhile.
func (d *DB) ReplaceKey(ctx context.Context, k auth.Key, hash string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, d.query("revoke-key"), d.timeArg(d.now()), k.Name); err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		return d.insertKey(ctx, tx, k, hash)
	})
}

func (d *DB) insertKey(ctx context.Context, tx *sqlx.Tx, k auth.Key, hash string) error {
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	_, err := tx.ExecContext(ctx, d.query("create-key"), k.ID, k.Name, hash, strings.Join(scopes, ","), d.timeArg(k.CreatedAt))
	return conflict(err, "create key", errKeyNameTaken, nil)
}

// KeyByHash returns the active key with hash.
func (d *DB) KeyByHash(ctx context.Context, hash string) (auth.Key, error) {
	var r keyRow
	if err := d.get(ctx, &r, "key-by-hash", hash); errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, errKeyNotFound
	} else if err != nil {
		return auth.Key{}, fmt.Errorf("get key: %w", err)
	}
	return r.key(), nil
}

// Keys lists every key.
func (d *DB) Keys(ctx context.Context) ([]auth.Key, error) {
	var rows []keyRow
	if err := d.db.SelectContext(ctx, &rows, d.query("list-keys")); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]auth.Key, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// RevokeKey revokes the active key named name.
func (d *DB) RevokeKey(ctx context.Context, name string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, d.query("revoke-key"), d.timeArg(d.now()), name)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errKeyNotFound
		}
		return nil
	})
}
