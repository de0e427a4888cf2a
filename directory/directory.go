// Package directory holds Beckon's view of the chat product's directory:
// tenants with their policies, accounts with their verified identifiers, and
// blocks between accounts. The chat backend feeds it; resolve reads it.
package directory

import (
	"context"
	"slices"
	"time"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
)

// Channels an invitation can travel on.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Policy is a tenant's policy. The zero value is not the default: use
// DefaultPolicy.
type Policy struct {
	OutboundPersonal          bool     `json:"outbound_personal"`
	InboundPersonal           bool     `json:"inbound_personal"`
	AllowedDomains            []string `json:"allowed_domains"`
	BlockedDomains            []string `json:"blocked_domains"`
	InviteChannels            []string `json:"invite_channels"`
	SMSCountries              []string `json:"sms_countries"`
	InvitesPerUserPerDay      int      `json:"invites_per_user_per_day"`
	PreAcceptanceMessageLimit int      `json:"pre_acceptance_message_limit"`

	// HomeRegion is the region an empty SMSCountries stands for: the
	// tenant's region, or a personal account's own. It is not part of the
	// stored policy; EffectivePolicy sets it. Empty: no country.
	HomeRegion string `json:"-"`
	// OwnDomains are the tenant's own domains, which an allowed list
	// never shuts out (a blocked list still applies). EffectivePolicy
	// sets them.
	OwnDomains []string `json:"-"`
}

// AllCountries, alone in SMSCountries, lets SMS go to every country.
const AllCountries = "*"

// DefaultPolicy returns the policy of the contract's defaults, which also
// applies to personal accounts.
func DefaultPolicy() Policy {
	return Policy{
		OutboundPersonal:          true,
		InboundPersonal:           true,
		AllowedDomains:            []string{},
		BlockedDomains:            []string{},
		InviteChannels:            []string{ChannelEmail, ChannelSMS},
		SMSCountries:              []string{},
		InvitesPerUserPerDay:      50,
		PreAcceptanceMessageLimit: 10,
	}
}

// DomainAllowed reports whether the policy lets members reach domain: it is
// not on the blocked list (nor a subdomain of one) and, when the allowed
// list is not empty, it is on it or is one of the tenant's own domains (or
// a subdomain of one). An address without a domain ("": a phone number, an
// account without an email) is allowed only when the allowed list is
// empty: an allowed list names whom members may reach, and nothing shows
// that such an address is on it.
func (p Policy) DomainAllowed(domain string) bool {
	in := func(list []string) bool {
		return slices.ContainsFunc(list, func(d string) bool { return resolver.DomainMatches(domain, d) })
	}
	switch {
	case domain == "":
		return len(p.AllowedDomains) == 0
	case in(p.BlockedDomains):
		return false
	}
	return len(p.AllowedDomains) == 0 || in(p.AllowedDomains) || in(p.OwnDomains)
}

// ChannelAllowed reports whether an invitation may be sent to id under the
// policy: the channel is enabled and, for SMS, the number is a mobile in an
// allowed country (see SMSCountryAllowed).
func (p Policy) ChannelAllowed(id resolver.Identifier) bool {
	switch id.Kind {
	case resolver.Email:
		return slices.Contains(p.InviteChannels, ChannelEmail)
	case resolver.Phone:
		return slices.Contains(p.InviteChannels, ChannelSMS) && id.Mobile() && p.SMSCountryAllowed(id.Region)
	}
	return false
}

// SMSCountryAllowed reports whether SMS may go to numbers of region: every
// region when SMSCountries is ["*"], the listed ones when it lists some,
// and only HomeRegion when it is empty (no region at all when HomeRegion
// is empty too: a personal account without a region sends no SMS).
func (p Policy) SMSCountryAllowed(region string) bool {
	switch {
	case region == "":
		return false
	case len(p.SMSCountries) == 0:
		return region == p.HomeRegion
	case slices.Equal(p.SMSCountries, []string{AllCountries}):
		return true
	}
	return slices.Contains(p.SMSCountries, region)
}

// Tenant is an organisation of the chat product.
type Tenant struct {
	ID        string
	Name      string
	Domains   []string
	Region    string
	Policy    Policy
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Overrides are per-user exceptions to the tenant's policy; nil inherits.
type Overrides struct {
	OutboundPersonal *bool `json:"outbound_personal"`
	InboundPersonal  *bool `json:"inbound_personal"`
}

// Account is a user of the chat product. TenantID is empty for a personal
// account. Identifiers are verified by the caller and in the caller's order.
type Account struct {
	ID           string
	TenantID     string
	DisplayName  string
	Discoverable bool
	Region       string
	Identifiers  []resolver.Identifier
	Overrides    Overrides
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Personal reports whether the account belongs to no tenant.
func (a Account) Personal() bool { return a.TenantID == "" }

// FirstEmail returns the account's first email identifier, or "".
func (a Account) FirstEmail() string {
	for _, id := range a.Identifiers {
		if id.Kind == resolver.Email {
			return id.Value
		}
	}
	return ""
}

// EffectivePolicy returns the policy that applies to the account: its
// tenant's (the default for a personal account, tenant nil) with the
// account's overrides applied. Its HomeRegion is the tenant's region, or
// for a personal account the account's own.
func (a Account) EffectivePolicy(tenant *Tenant) Policy {
	p := DefaultPolicy()
	p.HomeRegion = a.Region
	if tenant != nil {
		p = tenant.Policy
		p.HomeRegion, p.OwnDomains = tenant.Region, tenant.Domains
	}
	if a.Overrides.OutboundPersonal != nil {
		p.OutboundPersonal = *a.Overrides.OutboundPersonal
	}
	if a.Overrides.InboundPersonal != nil {
		p.InboundPersonal = *a.Overrides.InboundPersonal
	}
	return p
}

// Block records that AccountID blocked BlockedID.
type Block struct {
	AccountID string
	BlockedID string
	CreatedAt time.Time
}

// Page is one page of a list and the cursor of the next, "" at the end.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Store persists the directory. Every method is one transaction.
//
// Errors: fault NotFound account_not_found / tenant_not_found, Conflict
// identifier_taken, Unprocessable tenant_not_found for an account naming a
// missing tenant.
type Store interface {
	PutTenant(ctx context.Context, t Tenant) (Tenant, error)
	Tenant(ctx context.Context, id string) (Tenant, error)
	PutAccount(ctx context.Context, a Account) (Account, error)
	Account(ctx context.Context, id string) (Account, error)
	SetDiscoverable(ctx context.Context, id string, discoverable bool) (Account, error)
	SetOverrides(ctx context.Context, id string, o Overrides) (Account, error)
	DeleteAccount(ctx context.Context, id string) error
	PutBlock(ctx context.Context, accountID, blockedID string) (Block, error)
	DeleteBlock(ctx context.Context, accountID, blockedID string) error
	Blocks(ctx context.Context, accountID, after string, limit int) ([]Block, error)
	// ImportAccounts writes a batch of validated accounts and returns one
	// error (or nil) per account, in order. A failing account leaves no
	// trace; the others are written.
	ImportAccounts(ctx context.Context, accounts []Account) ([]error, error)
}

// Faults shared by the store and the services.
var (
	ErrAccountNotFound = fault.New(fault.NotFound, fault.CodeAccountNotFound, "", "no account with that id")
	ErrTenantNotFound  = fault.New(fault.NotFound, fault.CodeTenantNotFound, "", "no tenant with that id")
	ErrBlockNotFound   = fault.New(fault.NotFound, fault.CodeBlockNotFound, "", "that account has not blocked the other")
	// ErrTenantMissing answers an account that names a tenant not put yet.
	ErrTenantMissing = fault.New(fault.Unprocessable, fault.CodeTenantNotFound, "tenant_id", "no tenant with that id: put the tenant first")
	// ErrIdentifiersTaken answers an account one of whose identifiers
	// another account holds, when which one is not known (a concurrent
	// writer won); IdentifierTaken names it when it is.
	ErrIdentifiersTaken = fault.New(fault.Conflict, fault.CodeIdentifierTaken, "identifiers", "an identifier belongs to another account")
)

// IdentifierTaken returns the Conflict identifier_taken for the identifier
// given in field, which another account holds.
func IdentifierTaken(field string) *fault.Error {
	return fault.New(fault.Conflict, fault.CodeIdentifierTaken, field, "the identifier belongs to another account")
}
