package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/resolver"
)

var _ resolver.Store = (*DB)(nil)

type requesterRow struct {
	ID               string         `db:"id"`
	TenantID         sql.NullString `db:"tenant_id"`
	DisplayName      string         `db:"display_name"`
	FirstEmail       sql.NullString `db:"first_email"`
	Region           string         `db:"region"`
	OutboundPersonal sql.NullBool   `db:"outbound_personal"`
	InboundPersonal  sql.NullBool   `db:"inbound_personal"`
	TenantRegion     sql.NullString `db:"tenant_region"`
	TenantDomains    sql.NullString `db:"tenant_domains"`
	TenantPolicy     sql.NullString `db:"tenant_policy"`
}

// Requester loads an account with its effective policy in one query.
func (d *DB) Requester(ctx context.Context, id string) (resolver.Requester, error) {
	var r requesterRow
	if err := d.get(ctx, &r, "requester", id); errors.Is(err, sql.ErrNoRows) {
		return resolver.Requester{}, directory.ErrAccountNotFound
	} else if err != nil {
		return resolver.Requester{}, fmt.Errorf("get requester: %w", err)
	}
	return d.requesterOf(r)
}

func (d *DB) requesterOf(r requesterRow) (resolver.Requester, error) {
	acct := directory.Account{ID: r.ID, TenantID: r.TenantID.String, Region: r.Region, Overrides: directory.Overrides{
		OutboundPersonal: nullBool(r.OutboundPersonal), InboundPersonal: nullBool(r.InboundPersonal)}}
	var tenant *directory.Tenant
	if r.TenantID.Valid {
		p, err := d.decoded.policy(r.TenantPolicy.String)
		if err != nil {
			return resolver.Requester{}, err
		}
		domains, err := d.decoded.domains(r.TenantDomains.String)
		if err != nil {
			return resolver.Requester{}, err
		}
		tenant = &directory.Tenant{ID: r.TenantID.String, Region: r.TenantRegion.String, Policy: p, Domains: domains}
	}
	pol := acct.EffectivePolicy(tenant)
	req := resolver.Requester{ID: r.ID, TenantID: acct.TenantID, DisplayName: r.DisplayName, Email: r.FirstEmail.String,
		Region: r.Region, OutboundPersonal: pol.OutboundPersonal, Policy: pol}
	if tenant != nil {
		req.TenantDomains = tenant.Domains
		if req.Region == "" {
			req.Region = tenant.Region
		}
	}
	return req, nil
}

// ownerRow is one identifier asked and its owner; the owner's columns are
// NULL when nobody owns it.
type ownerRow struct {
	Kind            string         `db:"kind"`
	Value           string         `db:"value"`
	ID              sql.NullString `db:"id"`
	TenantID        sql.NullString `db:"tenant_id"`
	DisplayName     sql.NullString `db:"display_name"`
	Discoverable    sql.NullBool   `db:"discoverable"`
	InboundPersonal sql.NullBool   `db:"inbound_personal"`
	TenantPolicy    sql.NullString `db:"tenant_policy"`
	TenantDomains   sql.NullString `db:"tenant_domains"`
	Blocked         bool           `db:"blocked"`
	Pending         bool           `db:"pending"`
	Email           sql.NullString `db:"email"`
}

// paddedSize is the next of a few list sizes, so that expanded lists make
// few statement texts.
func paddedSize(n int) int {
	for _, size := range []int{1, 10, 100, 1000} {
		if n <= size {
			return size
		}
	}
	return n
}

// Owners returns the owners of ids as requesterID sees them, in order, in
// one query (ids beyond resolver.MaxBatch take more).
func (d *DB) Owners(ctx context.Context, requesterID string, ids []resolver.Identifier) ([]resolver.Owner, error) {
	out := make([]resolver.Owner, len(ids))
	for start := 0; start < len(ids); start += resolver.MaxBatch {
		chunk := ids[start:min(start+resolver.MaxBatch, len(ids))]
		if err := d.owners(ctx, requesterID, chunk, out[start:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *DB) owners(ctx context.Context, requesterID string, ids []resolver.Identifier, out []resolver.Owner) error {
	st, args, err := d.ownersStmt(ctx, "owners", requesterID, ids)
	if err != nil {
		return err
	}
	var rows []ownerRow
	if err := st.SelectContext(ctx, &rows, args...); err != nil {
		return fmt.Errorf("get owners: %w", err)
	}
	return d.placeOwners(rows, ids, out)
}

// ownersStmt expands the WANTED list of a query built on "owners" for ids
// and returns it with its arguments: requesterID (blocks), then
// requesterID and now (pending invites), the pairs, then extra.
func (d *DB) ownersStmt(ctx context.Context, name, requesterID string, ids []resolver.Identifier, extra ...any) (queryer, []any, error) {
	return d.wantedStmt(ctx, name, []any{requesterID, requesterID, d.timeArg(d.now())}, ids, extra...)
}

// wantedStmt expands the WANTED list of the named query to one (kind,
// value) pair an identifier, padded with empty pairs (which no identifier
// has) to a few sizes so that there are few statement texts, and returns it
// prepared with its arguments: lead, the pairs, then extra.
func (d *DB) wantedStmt(ctx context.Context, name string, lead []any, ids []resolver.Identifier, extra ...any) (queryer, []any, error) {
	size := paddedSize(len(ids))
	args := make([]any, 0, len(lead)+2*size+len(extra))
	args = append(args, lead...)
	for i := 0; i < size; i++ {
		if i < len(ids) {
			args = append(args, string(ids[i].Kind), ids[i].Value)
		} else {
			args = append(args, "", "")
		}
	}
	args = append(args, extra...)
	pairs := strings.TrimSuffix(strings.Repeat("(?, ?), ", size), ", ")
	st, err := d.prepared(ctx, d.db.Rebind(strings.Replace(d.raw[name], "WANTED", pairs, 1)))
	return st, args, err
}

// placeOwners decodes every row the same way, owner or not, and puts the
// owners in the order of ids.
func (d *DB) placeOwners(rows []ownerRow, ids []resolver.Identifier, out []resolver.Owner) error {
	byID := make(map[string]resolver.Owner, len(rows))
	for _, r := range rows {
		o, err := d.ownerOf(r)
		if err != nil {
			return err
		}
		byID[r.Kind+":"+r.Value] = o
	}
	for i, id := range ids {
		out[i] = byID[string(id.Kind)+":"+id.Value]
	}
	return nil
}

type lookupRow struct {
	requesterRow
	Kind            sql.NullString `db:"o_kind"`
	Value           sql.NullString `db:"o_value"`
	ID              sql.NullString `db:"o_id"`
	TenantID        sql.NullString `db:"o_tenant_id"`
	DisplayName     sql.NullString `db:"o_display_name"`
	Discoverable    sql.NullBool   `db:"o_discoverable"`
	InboundPersonal sql.NullBool   `db:"o_inbound_personal"`
	TenantPolicy    sql.NullString `db:"o_tenant_policy"`
	TenantDomains   sql.NullString `db:"o_tenant_domains"`
	Blocked         sql.NullBool   `db:"o_blocked"`
	Pending         sql.NullBool   `db:"o_pending"`
	Email           sql.NullString `db:"o_email"`
}

// Lookup returns the requester and the owners of ids as it sees them, in
// one query for up to resolver.MaxBatch identifiers. It returns
// directory.ErrAccountNotFound when the requester does not exist.
func (d *DB) Lookup(ctx context.Context, requesterID string, ids []resolver.Identifier) (resolver.Requester, []resolver.Owner, error) {
	if len(ids) > resolver.MaxBatch {
		req, err := d.Requester(ctx, requesterID)
		if err != nil {
			return req, nil, err
		}
		owners, err := d.Owners(ctx, requesterID, ids)
		return req, owners, err
	}
	st, args, err := d.wantedStmt(ctx, "lookup", []any{requesterID, requesterID, requesterID, d.timeArg(d.now())}, ids)
	if err != nil {
		return resolver.Requester{}, nil, err
	}
	var rows []lookupRow
	if err := st.SelectContext(ctx, &rows, args...); err != nil {
		return resolver.Requester{}, nil, fmt.Errorf("lookup: %w", err)
	}
	if len(rows) == 0 {
		return resolver.Requester{}, nil, directory.ErrAccountNotFound
	}
	req, err := d.requesterOf(rows[0].requesterRow)
	if err != nil {
		return req, nil, err
	}
	found := make([]ownerRow, len(rows))
	for i, r := range rows {
		found[i] = ownerRow{
			Kind: r.Kind.String, Value: r.Value.String, ID: r.ID, TenantID: r.TenantID, DisplayName: r.DisplayName,
			Discoverable: r.Discoverable, InboundPersonal: r.InboundPersonal, TenantPolicy: r.TenantPolicy, TenantDomains: r.TenantDomains,
			Blocked: r.Blocked.Bool, Pending: r.Pending.Bool, Email: r.Email,
		}
	}
	owners := make([]resolver.Owner, len(ids))
	return req, owners, d.placeOwners(found, ids, owners)
}

// ownerOf decodes a row; a row without an owner goes through the same
// steps and gives the zero Owner.
func (d *DB) ownerOf(r ownerRow) (resolver.Owner, error) {
	inbound := true
	p, err := d.decoded.policy(r.TenantPolicy.String)
	if err != nil {
		return resolver.Owner{}, err
	}
	var tenant resolver.Policy
	if r.TenantPolicy.Valid {
		if p.OwnDomains, err = d.decoded.domains(r.TenantDomains.String); err != nil {
			return resolver.Owner{}, err
		}
		inbound, tenant = p.InboundPersonal, p
	}
	if r.InboundPersonal.Valid {
		inbound = r.InboundPersonal.Bool
	}
	email := r.Email.String
	if r.Kind == string(resolver.Email) {
		email = r.Value // the matched email
	}
	o := resolver.Owner{
		Found: r.ID.Valid, AccountID: r.ID.String, TenantID: r.TenantID.String, DisplayName: r.DisplayName.String, Email: email, FirstEmail: r.Email.String,
		Discoverable: r.Discoverable.Bool, BlockedRequester: r.Blocked, InboundPersonal: inbound, Inbound: tenant,
	}
	if !o.Found {
		o = resolver.Owner{}
	}
	o.PendingInvite = r.Pending
	return o, nil
}
