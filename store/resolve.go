package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/resolver"
)

var _ resolver.Store = (*DB)(nil)

type requesterRow struct {
	ID               string         `db:"id"`
	TenantID         sql.NullString `db:"tenant_id"`
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
	acct := directory.Account{ID: r.ID, TenantID: r.TenantID.String, Overrides: directory.Overrides{
		OutboundPersonal: nullBool(r.OutboundPersonal), InboundPersonal: nullBool(r.InboundPersonal)}}
	var tenant *directory.Tenant
	if r.TenantID.Valid {
		p, err := decodePolicy(r.TenantPolicy.String)
		if err != nil {
			return resolver.Requester{}, err
		}
		tenant = &directory.Tenant{ID: r.TenantID.String, Region: r.TenantRegion.String, Policy: p}
		if err := json.Unmarshal([]byte(r.TenantDomains.String), &tenant.Domains); err != nil {
			return resolver.Requester{}, fmt.Errorf("tenant domains: %w", err)
		}
	}
	pol := acct.EffectivePolicy(tenant)
	req := resolver.Requester{ID: r.ID, TenantID: acct.TenantID, Region: r.Region, OutboundPersonal: pol.OutboundPersonal, Policy: pol}
	if tenant != nil {
		req.TenantDomains = tenant.Domains
		if req.Region == "" {
			req.Region = tenant.Region
		}
	}
	return req, nil
}

type ownerRow struct {
	ID              string         `db:"id"`
	TenantID        sql.NullString `db:"tenant_id"`
	DisplayName     string         `db:"display_name"`
	Discoverable    bool           `db:"discoverable"`
	InboundPersonal sql.NullBool   `db:"inbound_personal"`
	TenantPolicy    sql.NullString `db:"tenant_policy"`
	Blocked         bool           `db:"blocked"`
	Email           sql.NullString `db:"email"`
}

// Owner returns the owner of id as requesterID sees it, in one query.
func (d *DB) Owner(ctx context.Context, id resolver.Identifier, requesterID string) (resolver.Owner, bool, error) {
	var r ownerRow
	err := d.get(ctx, &r, "owner", requesterID, string(id.Kind), id.Value)
	if errors.Is(err, sql.ErrNoRows) {
		return resolver.Owner{}, false, nil
	}
	if err != nil {
		return resolver.Owner{}, false, fmt.Errorf("get owner: %w", err)
	}
	inbound := true
	if r.TenantPolicy.Valid {
		p, err := decodePolicy(r.TenantPolicy.String)
		if err != nil {
			return resolver.Owner{}, false, err
		}
		inbound = p.InboundPersonal
	}
	if r.InboundPersonal.Valid {
		inbound = r.InboundPersonal.Bool
	}
	return resolver.Owner{
		AccountID: r.ID, TenantID: r.TenantID.String, DisplayName: r.DisplayName, Email: r.Email.String,
		Discoverable: r.Discoverable, BlockedRequester: r.Blocked, InboundPersonal: inbound,
	}, true, nil
}
