package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/jmoiron/sqlx"
)

var _ directory.Store = (*DB)(nil)

var ()

type tenantRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	Region    string `db:"region"`
	Domains   string `db:"domains"`
	Policy    string `db:"policy"`
	CreatedAt dbTime `db:"created_at"`
	UpdatedAt dbTime `db:"updated_at"`
}

// PutTenant creates or replaces a tenant.
func (d *DB) PutTenant(ctx context.Context, t directory.Tenant) (directory.Tenant, error) {
	domains, _ := json.Marshal(t.Domains)
	policy, _ := json.Marshal(t.Policy)
	now := d.timeArg(d.now())
	var out directory.Tenant
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, d.query("put-tenant"), t.ID, t.Name, t.Region, string(domains), string(policy), now, now); err != nil {
			return fmt.Errorf("put tenant: %w", err)
		}
		var err error
		out, err = d.tenant(ctx, tx, t.ID)
		return err
	})
	return out, err
}

// Tenant returns a tenant, or directory.ErrTenantNotFound.
func (d *DB) Tenant(ctx context.Context, id string) (directory.Tenant, error) {
	return d.tenant(ctx, d.db, id)
}

func (d *DB) tenant(ctx context.Context, q sqlx.QueryerContext, id string) (directory.Tenant, error) {
	var r tenantRow
	if err := sqlx.GetContext(ctx, q, &r, d.query("get-tenant"), id); errors.Is(err, sql.ErrNoRows) {
		return directory.Tenant{}, directory.ErrTenantNotFound
	} else if err != nil {
		return directory.Tenant{}, fmt.Errorf("get tenant: %w", err)
	}
	t := directory.Tenant{ID: r.ID, Name: r.Name, Region: r.Region, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
	if err := json.Unmarshal([]byte(r.Domains), &t.Domains); err != nil {
		return t, fmt.Errorf("tenant domains: %w", err)
	}
	p, err := decodePolicy(r.Policy)
	t.Policy = p
	return t, err
}

// decodePolicy reads a stored policy over the defaults, so that fields
// added later keep their default for old rows.
func decodePolicy(s string) (directory.Policy, error) {
	p := directory.DefaultPolicy()
	if s == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return p, fmt.Errorf("tenant policy: %w", err)
	}
	return p, nil
}

type accountRow struct {
	ID               string         `db:"id"`
	TenantID         sql.NullString `db:"tenant_id"`
	DisplayName      string         `db:"display_name"`
	Discoverable     bool           `db:"discoverable"`
	Region           string         `db:"region"`
	OutboundPersonal sql.NullBool   `db:"outbound_personal"`
	InboundPersonal  sql.NullBool   `db:"inbound_personal"`
	CreatedAt        dbTime         `db:"created_at"`
	UpdatedAt        dbTime         `db:"updated_at"`
}

func nullBool(b sql.NullBool) *bool {
	if !b.Valid {
		return nil
	}
	return &b.Bool
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Account returns an account with its identifiers, or
// directory.ErrAccountNotFound.
func (d *DB) Account(ctx context.Context, id string) (directory.Account, error) {
	return d.account(ctx, d.db, id)
}

func (d *DB) account(ctx context.Context, q sqlx.QueryerContext, id string) (directory.Account, error) {
	var r accountRow
	if err := sqlx.GetContext(ctx, q, &r, d.query("get-account"), id); errors.Is(err, sql.ErrNoRows) {
		return directory.Account{}, directory.ErrAccountNotFound
	} else if err != nil {
		return directory.Account{}, fmt.Errorf("get account: %w", err)
	}
	a := directory.Account{
		ID: r.ID, TenantID: r.TenantID.String, DisplayName: r.DisplayName, Discoverable: r.Discoverable,
		Region: r.Region, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time,
		Overrides: directory.Overrides{OutboundPersonal: nullBool(r.OutboundPersonal), InboundPersonal: nullBool(r.InboundPersonal)},
	}
	var ids []struct {
		Kind  string `db:"kind"`
		Value string `db:"value"`
	}
	if err := sqlx.SelectContext(ctx, q, &ids, d.query("account-identifiers"), id); err != nil {
		return a, fmt.Errorf("account identifiers: %w", err)
	}
	for _, x := range ids {
		a.Identifiers = append(a.Identifiers, resolver.Identifier{Kind: resolver.Kind(x.Kind), Value: x.Value})
	}
	return a, nil
}

// PutAccount creates or replaces an account and its identifiers: an
// import batch of one, so that both check ownership and write the same way.
func (d *DB) PutAccount(ctx context.Context, a directory.Account) (directory.Account, error) {
	var out directory.Account
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		batch := []directory.Account{a}
		owners, held, err := d.importState(ctx, tx, batch)
		if err != nil {
			return err
		}
		if err := claim(a, owners, held); err != nil {
			return err
		}
		if err := d.writeAccounts(ctx, tx, batch); err != nil {
			return conflict(err, "put account", directory.ErrIdentifiersTaken, directory.ErrTenantMissing)
		}
		out, err = d.account(ctx, tx, a.ID)
		return err
	})
	return out, err
}

// ImportAccounts writes a batch in one transaction with a fixed number of
// set-based statements, whatever its size. Ownership is worked out in Go
// line by line, exactly as writing the lines one after the other would:
// a line whose identifier another account holds at that point fails alone.
// If the batch still fails on a constraint (a concurrent writer), each
// account is retried in its own transaction.
func (d *DB) ImportAccounts(ctx context.Context, accounts []directory.Account) ([]error, error) {
	errs := make([]error, len(accounts))
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		owners, held, err := d.importState(ctx, tx, accounts)
		if err != nil {
			return err
		}
		final := map[string]int{} // account id -> index of its last good line
		for i, a := range accounts {
			if errs[i] = claim(a, owners, held); errs[i] == nil {
				final[a.ID] = i
			}
		}
		var write []directory.Account
		for i, a := range accounts {
			if errs[i] == nil && final[a.ID] == i {
				write = append(write, a)
			}
		}
		return d.writeAccounts(ctx, tx, write)
	})
	if err == nil {
		return errs, nil
	}
	if !isUnique(err) && !isForeignKey(err) {
		return nil, err
	}
	for i, a := range accounts {
		if errs[i] != nil {
			continue
		}
		if _, err := d.PutAccount(ctx, a); err != nil {
			if fault.As(err) == nil {
				return nil, err
			}
			errs[i] = err
		}
	}
	return errs, nil
}

func identKey(kind, value string) string { return kind + ":" + value }

// importState reads who owns the batch's identifiers and what its accounts
// hold now.
func (d *DB) importState(ctx context.Context, tx *sqlx.Tx, accounts []directory.Account) (map[string]string, map[string][]string, error) {
	var emails, phones, ids []string
	for _, a := range accounts {
		ids = append(ids, a.ID)
		for _, id := range a.Identifiers {
			if id.Kind == resolver.Email {
				emails = append(emails, id.Value)
			} else {
				phones = append(phones, id.Value)
			}
		}
	}
	type row struct {
		Kind      string `db:"kind"`
		Value     string `db:"value"`
		AccountID string `db:"account_id"`
	}
	var rows []row
	for _, q := range []struct {
		name string
		args []any
	}{{"import-owners", []any{append(emails, ""), append(phones, "")}}, {"import-held", []any{ids}}} {
		query, args, err := sqlx.In(d.raw[q.name], q.args...)
		if err != nil {
			return nil, nil, fmt.Errorf("expand %s: %w", q.name, err)
		}
		var part []row
		if err := tx.SelectContext(ctx, &part, tx.Rebind(query), args...); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", q.name, err)
		}
		rows = append(rows, part...)
	}
	owners, held := map[string]string{}, map[string][]string{}
	for _, r := range rows {
		k := identKey(r.Kind, r.Value)
		if _, seen := owners[k]; !seen {
			owners[k] = r.AccountID
			held[r.AccountID] = append(held[r.AccountID], k)
		}
	}
	return owners, held, nil
}

// claim checks a's identifiers against the current owners and, when none
// belongs to another account, moves ownership as writing a would.
func claim(a directory.Account, owners map[string]string, held map[string][]string) error {
	keys := make([]string, len(a.Identifiers))
	for j, id := range a.Identifiers {
		keys[j] = identKey(string(id.Kind), id.Value)
		if o, ok := owners[keys[j]]; ok && o != a.ID {
			return directory.IdentifierTaken(fmt.Sprintf("identifiers[%d]", j))
		}
	}
	for _, k := range held[a.ID] {
		if owners[k] == a.ID {
			delete(owners, k)
		}
	}
	for _, k := range keys {
		owners[k] = a.ID
	}
	held[a.ID] = keys
	return nil
}

// maxParams keeps each statement under SQLite's and PostgreSQL's limits on
// bound parameters.
const maxParams = 30000

// writeAccounts upserts accounts and replaces their identifiers.
func (d *DB) writeAccounts(ctx context.Context, tx *sqlx.Tx, accounts []directory.Account) error {
	if len(accounts) == 0 {
		return nil
	}
	now := d.timeArg(d.now())
	var acctRows, idRows [][]any
	ids := make([]string, len(accounts))
	for i, a := range accounts {
		ids[i] = a.ID
		acctRows = append(acctRows, []any{a.ID, nullString(a.TenantID), a.DisplayName, a.Discoverable, a.Region, now, now})
		for j, id := range a.Identifiers {
			idRows = append(idRows, []any{string(id.Kind), id.Value, a.ID, j})
		}
	}
	if err := d.insertRows(ctx, tx, "import-accounts", acctRows); err != nil {
		return err
	}
	query, args, err := sqlx.In(d.raw["import-clear"], ids)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(query), args...); err != nil {
		return fmt.Errorf("clear identifiers: %w", err)
	}
	return d.insertRows(ctx, tx, "import-identifiers", idRows)
}

// insertRows runs the named multi-row statement, putting one placeholder
// group per row in place of ROWS, in chunks under maxParams.
func (d *DB) insertRows(ctx context.Context, tx *sqlx.Tx, name string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	per := maxParams / len(rows[0])
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		args := make([]any, 0, len(chunk)*len(rows[0]))
		for _, r := range chunk {
			args = append(args, r...)
		}
		groups := strings.TrimSuffix(strings.Repeat(group+", ", len(chunk)), ", ")
		query := tx.Rebind(strings.Replace(d.raw[name], "ROWS", groups, 1))
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// update runs one UPDATE that must touch the account, then returns the
// account as it is after it.
func (d *DB) update(ctx context.Context, id string, query string, args ...any) (directory.Account, error) {
	var out directory.Account
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return directory.ErrAccountNotFound
		}
		out, err = d.account(ctx, tx, id)
		return err
	})
	return out, err
}

// SetDiscoverable sets the account's discoverability.
func (d *DB) SetDiscoverable(ctx context.Context, id string, discoverable bool) (directory.Account, error) {
	return d.update(ctx, id, d.query("set-discoverable"), discoverable, d.timeArg(d.now()), id)
}

// SetOverrides sets the account's per-user policy overrides.
func (d *DB) SetOverrides(ctx context.Context, id string, o directory.Overrides) (directory.Account, error) {
	return d.update(ctx, id, d.query("set-overrides"), o.OutboundPersonal, o.InboundPersonal, d.timeArg(d.now()), id)
}

// DeleteAccount deletes the account; its identifiers, blocks, the invites
// it sent (with their messages and tokens) and its message requests go
// with it, and the invites it accepted lose its address.
func (d *DB) DeleteAccount(ctx context.Context, id string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, d.query("erase-received"), id); err != nil {
			return fmt.Errorf("erase invites: %w", err)
		}
		res, err := tx.ExecContext(ctx, d.query("delete-account"), id)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return directory.ErrAccountNotFound
		}
		return nil
	})
}

type blockRow struct {
	AccountID string `db:"account_id"`
	BlockedID string `db:"blocked_id"`
	CreatedAt dbTime `db:"created_at"`
}

func (r blockRow) block() directory.Block {
	return directory.Block{AccountID: r.AccountID, BlockedID: r.BlockedID, CreatedAt: r.CreatedAt.Time}
}

// PutBlock records a block; both accounts must exist.
func (d *DB) PutBlock(ctx context.Context, accountID, blockedID string) (directory.Block, error) {
	var out blockRow
	err := d.tx(ctx, func(tx *sqlx.Tx) error {
		for _, p := range []struct{ id, field string }{{accountID, "account_id"}, {blockedID, "other_account_id"}} {
			var n int
			if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM accounts WHERE id = ?`), p.id); err != nil {
				return fmt.Errorf("check account: %w", err)
			}
			if n == 0 {
				return directory.ErrAccountNotFound.WithField(p.field)
			}
		}
		if _, err := tx.ExecContext(ctx, d.query("put-block"), accountID, blockedID, d.timeArg(d.now())); err != nil {
			return fmt.Errorf("put block: %w", err)
		}
		return tx.GetContext(ctx, &out, d.query("get-block"), accountID, blockedID)
	})
	return out.block(), err
}

// DeleteBlock removes a block, or returns directory.ErrBlockNotFound.
func (d *DB) DeleteBlock(ctx context.Context, accountID, blockedID string) error {
	return d.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, d.query("delete-block"), accountID, blockedID)
		if err != nil {
			return fmt.Errorf("delete block: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return directory.ErrBlockNotFound
		}
		return nil
	})
}

// Blocks lists up to limit blocks of accountID with blocked ids after after.
func (d *DB) Blocks(ctx context.Context, accountID, after string, limit int) ([]directory.Block, error) {
	var rows []blockRow
	if err := d.db.SelectContext(ctx, &rows, d.query("list-blocks"), accountID, after, limit); err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	out := make([]directory.Block, len(rows))
	for i, r := range rows {
		out[i] = r.block()
	}
	return out, nil
}

// decodedJSON memoises the JSON columns that many rows share — tenant
// policies and domain lists — keyed by their text, so an entry is never
// stale. Callers must not modify what it returns.
type decodedJSON struct {
	mu       sync.RWMutex
	policies map[string]directory.Policy
	domainsM map[string][]string
}

const maxDecoded = 1024

func (c *decodedJSON) policy(s string) (directory.Policy, error) {
	c.mu.RLock()
	p, ok := c.policies[s]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := decodePolicy(s)
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	if c.policies == nil || len(c.policies) >= maxDecoded {
		c.policies = map[string]directory.Policy{}
	}
	c.policies[s] = p
	c.mu.Unlock()
	return p, nil
}

func (c *decodedJSON) domains(s string) ([]string, error) {
	c.mu.RLock()
	d, ok := c.domainsM[s]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("tenant domains: %w", err)
	}
	c.mu.Lock()
	if c.domainsM == nil || len(c.domainsM) >= maxDecoded {
		c.domainsM = map[string][]string{}
	}
	c.domainsM[s] = d
	c.mu.Unlock()
	return d, nil
}
