package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
	"golang.org/x/net/idna"
)

// Limits on directory input.
const (
	MaxIDLength          = 128
	MaxNameLength        = 200
	MaxIdentifiers       = 20
	MaxDomains           = 1000
	MaxInvitesPerDay     = 100000
	MaxPreAcceptanceMsgs = 1000
)

// Service validates and normalises directory changes and hands them to the
// store.
type Service struct {
	store Store
}

// NewService returns a directory service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// ValidateID checks an id taken from a path or a body: 1 to 128 characters
// from [A-Za-z0-9_.:-]. It returns a fault Invalid invalid_id for field.
func ValidateID(field, id string) error {
	if id == "" || len(id) > MaxIDLength || strings.IndexFunc(id, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_.:-", r)))
	}) >= 0 {
		return fault.Invalidf(fault.CodeInvalidID, field, "ids are 1 to %d characters of letters, digits, '_', '.', ':' and '-'", MaxIDLength)
	}
	return nil
}

// NewID returns a new id: prefix, the time in milliseconds (12 hex
// digits) and 64 random bits (16 hex digits), so that ids sort by the time
// they were made (lists page on them, newest first).
func NewID(prefix string, now time.Time) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return fmt.Sprintf("%s%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b)), nil
}

func validateName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLength || !utf8.ValidString(name) ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fault.Invalidf(fault.CodeInvalidName, field, "a name is 1 to %d printable characters", MaxNameLength)
	}
	return name, nil
}

// NormalizeDomain returns a domain in lower-case IDNA ASCII form.
func NormalizeDomain(field, d string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(strings.TrimSpace(d))
	if err != nil || !strings.Contains(ascii, ".") || strings.HasPrefix(ascii, ".") {
		return "", fault.Invalidf(fault.CodeInvalidDomain, field, "%q is not a domain name", d)
	}
	return strings.ToLower(ascii), nil
}

func normalizeDomains(field string, in []string) ([]string, error) {
	if len(in) > MaxDomains {
		return nil, fault.Invalidf(fault.CodeInvalidDomain, field, "at most %d domains", MaxDomains)
	}
	out := make([]string, 0, len(in))
	for _, d := range in {
		n, err := NormalizeDomain(field, d)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func normalizeRegion(field, r string) (string, error) {
	n, err := resolver.NormalizeRegion(r)
	if err != nil {
		return "", fault.Invalidf(fault.CodeInvalidRegion, field, "%q is not a known ISO 3166 alpha-2 region", r)
	}
	return n, nil
}

// NormalizePolicy checks a policy and puts its lists in canonical form.
func NormalizePolicy(p Policy) (Policy, error) {
	var err error
	if p.AllowedDomains, err = normalizeDomains("policy.allowed_domains", p.AllowedDomains); err != nil {
		return p, err
	}
	if p.BlockedDomains, err = normalizeDomains("policy.blocked_domains", p.BlockedDomains); err != nil {
		return p, err
	}
	channels := []string{}
	for _, c := range p.InviteChannels {
		if c != ChannelEmail && c != ChannelSMS {
			return p, fault.Invalidf(fault.CodeInvalidChannel, "policy.invite_channels", "channels are %q and %q", ChannelEmail, ChannelSMS)
		}
		if !slices.Contains(channels, c) {
			channels = append(channels, c)
		}
	}
	p.InviteChannels = channels
	countries := []string{}
	for _, c := range p.SMSCountries {
		if strings.TrimSpace(c) == AllCountries {
			if len(p.SMSCountries) > 1 {
				return p, fault.Invalidf(fault.CodeInvalidPolicy, "policy.sms_countries", "%q (every country) stands alone in the list", AllCountries)
			}
			countries = append(countries, AllCountries)
			continue
		}
		n, err := normalizeRegion("policy.sms_countries", c)
		if err != nil || n == "" {
			return p, fault.Invalidf(fault.CodeInvalidRegion, "policy.sms_countries", "%q is not a known ISO 3166 alpha-2 region", c)
		}
		if !slices.Contains(countries, n) {
			countries = append(countries, n)
		}
	}
	p.SMSCountries = countries
	if p.InvitesPerUserPerDay < 0 || p.InvitesPerUserPerDay > MaxInvitesPerDay {
		return p, fault.Invalidf(fault.CodeInvalidPolicy, "policy.invites_per_user_per_day", "must be between 0 and %d", MaxInvitesPerDay)
	}
	if p.PreAcceptanceMessageLimit < 0 || p.PreAcceptanceMessageLimit > MaxPreAcceptanceMsgs {
		return p, fault.Invalidf(fault.CodeInvalidPolicy, "policy.pre_acceptance_message_limit", "must be between 0 and %d", MaxPreAcceptanceMsgs)
	}
	return p, nil
}

// PutTenant validates t and creates or replaces it.
func (s *Service) PutTenant(ctx context.Context, t Tenant) (Tenant, error) {
	var err error
	if err = ValidateID("tenant_id", t.ID); err != nil {
		return Tenant{}, err
	}
	if t.Name, err = validateName("name", t.Name); err != nil {
		return Tenant{}, err
	}
	if t.Domains, err = normalizeDomains("domains", t.Domains); err != nil {
		return Tenant{}, err
	}
	if t.Region, err = normalizeRegion("region", t.Region); err != nil {
		return Tenant{}, err
	}
	if t.Policy, err = NormalizePolicy(t.Policy); err != nil {
		return Tenant{}, err
	}
	return s.store.PutTenant(ctx, t)
}

// Tenant returns the tenant with id.
func (s *Service) Tenant(ctx context.Context, id string) (Tenant, error) {
	if err := ValidateID("tenant_id", id); err != nil {
		return Tenant{}, err
	}
	return s.store.Tenant(ctx, id)
}

// AccountInput is an account as the chat backend describes it, with raw
// identifiers.
type AccountInput struct {
	ID           string
	TenantID     string
	DisplayName  string
	Discoverable bool
	Region       string
	Identifiers  []string
}

// Prepare validates in and normalises its identifiers. tenantRegion is the
// region hint used after the account's own region.
func (in AccountInput) Prepare(tenantRegion string) (Account, error) {
	a := Account{ID: in.ID, TenantID: in.TenantID, Discoverable: in.Discoverable}
	var err error
	if err = ValidateID("id", in.ID); err != nil {
		return a, err
	}
	if in.TenantID != "" {
		if err = ValidateID("tenant_id", in.TenantID); err != nil {
			return a, err
		}
	}
	if a.DisplayName, err = validateName("display_name", in.DisplayName); err != nil {
		return a, err
	}
	if a.Region, err = normalizeRegion("region", in.Region); err != nil {
		return a, err
	}
	if len(in.Identifiers) > MaxIdentifiers {
		return a, fault.Invalidf(fault.CodeTooManyIdentifiers, "identifiers", "at most %d identifiers", MaxIdentifiers)
	}
	hint := a.Region
	if hint == "" {
		hint = tenantRegion
	}
	for i, raw := range in.Identifiers {
		id, err := resolver.Normalize(raw, hint)
		if err != nil {
			return a, fault.As(err).WithField(fmt.Sprintf("identifiers[%d]", i))
		}
		if !slices.ContainsFunc(a.Identifiers, func(x resolver.Identifier) bool { return x.Kind == id.Kind && x.Value == id.Value }) {
			a.Identifiers = append(a.Identifiers, id)
		}
	}
	return a, nil
}

func (s *Service) tenantRegion(ctx context.Context, tenantID string) (string, error) {
	if tenantID == "" {
		return "", nil
	}
	t, err := s.store.Tenant(ctx, tenantID)
	if fault.CodeOf(err) == ErrTenantNotFound.Code {
		return "", ErrTenantMissing
	}
	return t.Region, err
}

// PutAccount creates or replaces an account; its identifiers replace the
// ones it had. It returns Conflict identifier_taken when an identifier
// belongs to another account.
func (s *Service) PutAccount(ctx context.Context, in AccountInput) (Account, error) {
	if err := ValidateID("tenant_id", in.TenantID); in.TenantID != "" && err != nil {
		return Account{}, err
	}
	region, err := s.tenantRegion(ctx, in.TenantID)
	if err != nil {
		return Account{}, err
	}
	a, err := in.Prepare(region)
	if err != nil {
		return Account{}, err
	}
	return s.store.PutAccount(ctx, a)
}

// Account returns the account with id.
func (s *Service) Account(ctx context.Context, id string) (Account, error) {
	if err := ValidateID("account_id", id); err != nil {
		return Account{}, err
	}
	return s.store.Account(ctx, id)
}

// SetDiscoverable records the user's own discoverability setting.
func (s *Service) SetDiscoverable(ctx context.Context, id string, discoverable bool) (Account, error) {
	if err := ValidateID("account_id", id); err != nil {
		return Account{}, err
	}
	return s.store.SetDiscoverable(ctx, id, discoverable)
}

// SetOverrides sets the account's per-user policy overrides.
func (s *Service) SetOverrides(ctx context.Context, id string, o Overrides) (Account, error) {
	if err := ValidateID("account_id", id); err != nil {
		return Account{}, err
	}
	return s.store.SetOverrides(ctx, id, o)
}

// DeleteAccount erases the account, its identifiers and its blocks.
func (s *Service) DeleteAccount(ctx context.Context, id string) error {
	if err := ValidateID("account_id", id); err != nil {
		return err
	}
	return s.store.DeleteAccount(ctx, id)
}

func validatePair(accountID, otherID string) error {
	if err := ValidateID("account_id", accountID); err != nil {
		return err
	}
	if err := ValidateID("other_account_id", otherID); err != nil {
		return err
	}
	if accountID == otherID {
		return fault.Invalidf(fault.CodeInvalidBlock, "other_account_id", "an account cannot block itself")
	}
	return nil
}

// Block records that accountID blocks otherID; blocking twice is a no-op.
func (s *Service) Block(ctx context.Context, accountID, otherID string) (Block, error) {
	if err := validatePair(accountID, otherID); err != nil {
		return Block{}, err
	}
	return s.store.PutBlock(ctx, accountID, otherID)
}

// Unblock removes a block; it returns NotFound block_not_found when there
// was none.
func (s *Service) Unblock(ctx context.Context, accountID, otherID string) error {
	if err := validatePair(accountID, otherID); err != nil {
		return err
	}
	return s.store.DeleteBlock(ctx, accountID, otherID)
}

// Blocks lists the accounts that accountID blocked, in id order, after the
// cursor.
func (s *Service) Blocks(ctx context.Context, accountID, cursor string, limit int) (Page[Block], error) {
	if err := ValidateID("account_id", accountID); err != nil {
		return Page[Block]{}, err
	}
	if _, err := s.store.Account(ctx, accountID); err != nil {
		return Page[Block]{}, err
	}
	items, err := s.store.Blocks(ctx, accountID, cursor, limit+1)
	if err != nil {
		return Page[Block]{}, err
	}
	page := Page[Block]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = items[limit-1].BlockedID
	}
	return page, nil
}
