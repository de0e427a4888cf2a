package resolver

import (
	"context"
	"slices"
	"strings"

	"github.com/beckon-chat/beckon/fault"
)

// Match is the outcome of a resolve.
type Match string

// The outcomes of a resolve.
const (
	MatchAccount       Match = "account"
	MatchPendingInvite Match = "pending_invite"
	MatchNone          Match = "none"
)

// Policy is the part of a tenant's (or a user's effective) policy that
// resolve applies.
type Policy interface {
	DomainAllowed(domain string) bool
	ChannelAllowed(id Identifier) bool
}

// Requester is the account asking, with its effective policy.
type Requester struct {
	ID       string
	TenantID string
	// DisplayName and Email (the first) are for messages sent on the
	// requester's behalf; resolve judges Email by the owner's tenant's
	// domain lists.
	DisplayName string
	Email       string
	// Region is the requester's region, else its tenant's, else "".
	Region string
	// TenantDomains are the domains of the requester's tenant.
	TenantDomains    []string
	OutboundPersonal bool
	Policy           Policy
}

// Owner is the account that owns an identifier, as seen by one requester.
// Found is false when nobody owns it.
type Owner struct {
	Found       bool
	AccountID   string
	TenantID    string
	DisplayName string
	// Email is the matched email, or the account's first email.
	Email string
	// FirstEmail is the account's first email, which the domain lists
	// judge (as the gate does), "" when it has none.
	FirstEmail   string
	Discoverable bool
	// BlockedRequester says the owner blocked the requester.
	BlockedRequester bool
	// InboundPersonal is the owner's effective inbound_personal policy.
	InboundPersonal bool
	// Inbound is the policy of the owner's tenant, nil for a personal
	// account: its domain lists judge the requester's email.
	Inbound Policy
	// PendingInvite says that the requester has an unexpired pending
	// invite to the identifier (owned or not): read with the owner, so
	// that the invite itself is fetched only when there is one.
	PendingInvite bool
}

// Admits reports whether the owner lets the requester reach it: it has not
// blocked the requester, and, unless they are colleagues, its inbound
// policy admits the requester: inbound_personal for a personal requester,
// and its tenant's domain lists for the requester's email (as the gate
// applies them to a message).
func (o Owner) Admits(req Requester) bool {
	switch {
	case o.BlockedRequester:
		return false
	case req.colleague(o):
		return true
	case !o.InboundPersonal && req.TenantID == "":
		return false
	}
	return o.Inbound == nil || o.Inbound.DomainAllowed(domainOf(req.Email))
}

// Store reads what resolve needs. Each call is one indexed query.
type Store interface {
	// Requester returns the requester with its effective policy, or a fault
	// NotFound account_not_found.
	Requester(ctx context.Context, id string) (Requester, error)
	// Owners returns the owners of ids as requesterID sees them, in order,
	// in one query whatever they are, each with PendingInvite set.
	Owners(ctx context.Context, requesterID string, ids []Identifier) ([]Owner, error)
	// Lookup is Requester and Owners in one query.
	Lookup(ctx context.Context, requesterID string, ids []Identifier) (Requester, []Owner, error)
}

// Pinner is a Store that decides once per resolve where all of that
// resolve's reads go (a read replica that has caught up with the primary,
// or the primary), so that they see one state. Service calls Pin at the
// start of each resolve when its Store has it; the PendingInvites of the
// same Service read where the returned context says.
type Pinner interface {
	Pin(ctx context.Context) context.Context
}

// PendingInvites finds the requester's own pending invites to identifiers.
// It is the seam for the invites package; a nil PendingInvites finds none.
type PendingInvites interface {
	// Pending returns, in the order of ids, the newest pending invite of
	// the inviter to each (an API-ready value) or nil, in one query.
	Pending(ctx context.Context, inviterID string, ids []Identifier) ([]any, error)
}

// AccountView is all that leaves Beckon about a matched account.
type AccountView struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
	External    bool   `json:"external"`
	Personal    bool   `json:"personal"`
}

// Result is the answer to one resolve.
type Result struct {
	Identifier Identifier   `json:"identifier"`
	Match      Match        `json:"match"`
	Account    *AccountView `json:"account,omitempty"`
	Invite     any          `json:"invite,omitempty"`
	Invitable  bool         `json:"invitable"`
}

// Query is one identifier to resolve.
type Query struct {
	Identifier string
	Region     string
}

// Service resolves identifiers for requesters.
type Service struct {
	store   Store
	pending PendingInvites
}

// NewService returns a resolver over store; pending may be nil.
func NewService(store Store, pending PendingInvites) *Service {
	return &Service{store: store, pending: pending}
}

// ErrPolicyDenied is returned when the requester's own policy forbids
// reaching the identifier.
var ErrPolicyDenied = fault.New(fault.Forbidden, fault.CodePolicyDenied, "identifier", "your organisation's policy does not allow reaching this identifier")

// errRequesterNotFound answers a requester that is no account.
var errRequesterNotFound = fault.New(fault.NotFound, fault.CodeAccountNotFound, "requester", "no account with that id")

func requesterNotFound(err error) error {
	if f := fault.As(err); f != nil && f.Kind == fault.NotFound {
		return errRequesterNotFound
	}
	return err
}

// Resolve answers what requesterID may learn about q. It is a batch of one.
// Errors: fault NotFound account_not_found (field requester), identifier
// faults from Normalize, ErrPolicyDenied, store errors.
func (s *Service) Resolve(ctx context.Context, requesterID string, q Query) (Result, error) {
	items, err := s.ResolveBatch(ctx, requesterID, []Query{q})
	if err != nil {
		return Result{}, err
	}
	return items[0].Result, items[0].Err
}

// Meter is told, once per resolve, after the identifiers are normalised
// (with the requester's region when a number needs it) and before any
// owner is looked up, what the requester asks about: ids, the valid
// identifiers in the order asked (duplicates kept), and invalid, how many
// entries did not normalise. An error it returns ends the resolve, and is
// returned as it is.
type Meter func(ctx context.Context, ids []Identifier, invalid int) error

// ResolveMetered is Resolve with meter told before the lookup.
func (s *Service) ResolveMetered(ctx context.Context, requesterID string, q Query, meter Meter) (Result, error) {
	items, _, _, err := s.resolve(ctx, requesterID, []Query{q}, true, meter)
	if err != nil {
		return Result{}, err
	}
	return items[0].Result, items[0].Err
}

// ResolveBatchMetered is ResolveBatch with meter told before the lookup.
func (s *Service) ResolveBatchMetered(ctx context.Context, requesterID string, qs []Query, meter Meter) ([]BatchItem, error) {
	items, _, _, err := s.resolve(ctx, requesterID, qs, true, meter)
	return items, err
}

// Resolution is a resolve with what the service saw behind the answer, for
// callers inside Beckon (invitations); it never leaves the service.
type Resolution struct {
	Result    Result
	Requester Requester
	Owner     Owner
}

// Inspect resolves one query like Resolve and also returns the requester
// and the owner behind the answer.
func (s *Service) Inspect(ctx context.Context, requesterID string, q Query) (Resolution, error) {
	return s.inspect(ctx, requesterID, q, true)
}

// InspectOwner is Inspect without looking for the requester's pending
// invite: a none stays none (for checks that need only the owner and the
// requester's policy, such as consent at send).
func (s *Service) InspectOwner(ctx context.Context, requesterID string, q Query) (Resolution, error) {
	return s.inspect(ctx, requesterID, q, false)
}

func (s *Service) inspect(ctx context.Context, requesterID string, q Query, pending bool) (Resolution, error) {
	items, req, owners, err := s.resolve(ctx, requesterID, []Query{q}, pending, nil)
	if err != nil {
		return Resolution{}, err
	}
	return Resolution{Result: items[0].Result, Requester: req, Owner: owners[0]}, items[0].Err
}

// ResolveBatch resolves each query in order for one requester. Opted-out,
// blocked and unregistered owners give the same result through the same
// code path and the same single query: the requester and every owner are
// read together, unless a number needs the requester's region to be
// understood, when the requester is read first. An invalid or refused entry
// gets its error in place of a result; an unknown requester or a store
// failure fails the batch.
func (s *Service) ResolveBatch(ctx context.Context, requesterID string, qs []Query) ([]BatchItem, error) {
	items, _, _, err := s.resolve(ctx, requesterID, qs, true, nil)
	return items, err
}

// resolve does ResolveBatch and also returns the requester and, for each
// query, the owner found (the zero Owner for an invalid entry). meter, if
// not nil, is told before the owners are looked up.
func (s *Service) resolve(ctx context.Context, requesterID string, qs []Query, pending bool, meter Meter) ([]BatchItem, Requester, []Owner, error) {
	if p, ok := s.store.(Pinner); ok {
		ctx = p.Pin(ctx)
	}
	out := make([]BatchItem, len(qs))
	needRegion := false
	for i, q := range qs {
		id, err := Normalize(q.Identifier, q.Region)
		out[i] = BatchItem{Result: Result{Identifier: id}, Err: err}
		needRegion = needRegion || fault.CodeOf(err) == fault.CodeRegionRequired
	}
	var (
		req    Requester
		owners []Owner
		err    error
	)
	if needRegion {
		if req, err = s.store.Requester(ctx, requesterID); err != nil {
			// Metered all the same, so that probing for account ids
			// costs what a resolve does, with or without a region.
			if merr := metered(ctx, meter, out); merr != nil {
				return nil, req, nil, merr
			}
			return nil, req, nil, requesterNotFound(err)
		}
		for i, q := range qs {
			if fault.CodeOf(out[i].Err) == fault.CodeRegionRequired && req.Region != "" {
				out[i].Result.Identifier, out[i].Err = Normalize(q.Identifier, req.Region)
			}
		}
		if err = metered(ctx, meter, out); err != nil {
			return nil, req, nil, err
		}
		owners, err = s.store.Owners(ctx, requesterID, valid(out))
	} else {
		if err = metered(ctx, meter, out); err != nil {
			return nil, req, nil, err
		}
		req, owners, err = s.store.Lookup(ctx, requesterID, valid(out))
	}
	if err != nil {
		return nil, req, nil, requesterNotFound(err)
	}
	perQuery := make([]Owner, len(out))
	next := 0
	var none []int // the entries that answer none and have a pending invite to fetch
	for i := range out {
		if out[i].Err != nil {
			continue
		}
		id := out[i].Result.Identifier
		perQuery[i] = owners[next]
		out[i].Result, out[i].Err = decide(req, id, owners[next])
		next++
		if out[i].Err == nil && out[i].Result.Match == MatchNone && owners[next-1].PendingInvite {
			none = append(none, i)
		}
	}
	if len(none) == 0 || s.pending == nil || !pending {
		return out, req, perQuery, nil
	}
	ids := make([]Identifier, len(none))
	for j, i := range none {
		ids[j] = out[i].Result.Identifier
	}
	invites, err := s.pending.Pending(ctx, req.ID, ids)
	if err != nil {
		return nil, req, nil, err
	}
	for j, i := range none {
		if invites[j] != nil {
			out[i].Result.Match, out[i].Result.Invite = MatchPendingInvite, invites[j]
		}
	}
	return out, req, perQuery, nil
}

// metered tells meter, if any, what items ask for.
func metered(ctx context.Context, meter Meter, items []BatchItem) error {
	if meter == nil {
		return nil
	}
	ids := valid(items)
	return meter(ctx, ids, len(items)-len(ids))
}

// valid returns the identifiers of the entries without an error.
func valid(items []BatchItem) []Identifier {
	ids := make([]Identifier, 0, len(items))
	for _, it := range items {
		if it.Err == nil {
			ids = append(ids, it.Result.Identifier)
		}
	}
	return ids
}

// decide applies the privacy and policy rules to what the store found.
// A visible colleague is always reachable (the gate delivers within a
// tenant whatever the lists say). Otherwise the domain lists judge an email
// address by its domain, and a visible account by its first email as the
// gate does. A phone number has no domain: under an allowed list only a
// visible account whose first email is allowed may be reached by it. Every
// refusal of an owner that is not visible is the refusal an unregistered
// identifier gets, so that it reveals nothing.
func decide(req Requester, id Identifier, owner Owner) (Result, error) {
	visible := owner.Found && owner.Discoverable && owner.Admits(req)
	if visible && req.colleague(owner) {
		return matched(req, id, owner), nil
	}
	d := id.Domain()
	if d != "" && !req.Policy.DomainAllowed(d) {
		return Result{}, ErrPolicyDenied
	}
	if !req.OutboundPersonal && !outboundAllowed(req, id, visible, owner) {
		return Result{}, ErrPolicyDenied
	}
	if !visible {
		if d == "" && !req.Policy.DomainAllowed("") {
			return Result{}, ErrPolicyDenied
		}
		return Result{Identifier: id, Match: MatchNone, Invitable: req.Policy.ChannelAllowed(id)}, nil
	}
	if !req.Policy.DomainAllowed(domainOf(owner.FirstEmail)) {
		return Result{}, ErrPolicyDenied
	}
	return matched(req, id, owner), nil
}

// matched is the result of a visible account.
func matched(req Requester, id Identifier, owner Owner) Result {
	return Result{Identifier: id, Match: MatchAccount, Account: &AccountView{
		ID:          owner.AccountID,
		DisplayName: owner.DisplayName,
		Email:       owner.Email,
		External:    owner.TenantID != req.TenantID,
		Personal:    owner.TenantID == "",
	}}
}

// ReachableBy reports whether the requester may reach the owner at all,
// whether or not resolve shows it: the owner admits the requester
// (Admits) and, unless they are colleagues, the requester's own policy
// lets it reach the owner — outbound_personal and the domain lists on the
// owner's first email, as the gate applies them. Consent at send asks it,
// so that an invitation to a hidden account (answered as to an
// unregistered one) is held when the gate would refuse the pair.
func (o Owner) ReachableBy(req Requester) bool {
	switch {
	case !o.Admits(req):
		return false
	case req.colleague(o):
		return true
	}
	return (req.OutboundPersonal || o.TenantID != "") && req.Policy.DomainAllowed(domainOf(o.FirstEmail))
}

// colleague reports whether owner belongs to the requester's tenant.
func (req Requester) colleague(owner Owner) bool {
	return req.TenantID != "" && owner.TenantID == req.TenantID
}

// outboundAllowed applies outbound_personal = false: only accounts of a
// tenant may be reached, and addresses at the requester's own tenant
// domains. Whatever is not visible is treated like an unregistered
// identifier, so that this rule reveals nothing either.
func outboundAllowed(req Requester, id Identifier, visible bool, owner Owner) bool {
	if visible {
		return owner.TenantID != ""
	}
	d := id.Domain()
	return d != "" && req.ownDomain(d)
}

// ownDomain reports whether domain is one of the requester's tenant's
// domains or a subdomain of one.
func (req Requester) ownDomain(domain string) bool {
	return slices.ContainsFunc(req.TenantDomains, func(td string) bool { return DomainMatches(domain, td) })
}

// DomainMatches reports whether domain is pattern or a subdomain of it.
func DomainMatches(domain, pattern string) bool {
	return domain == pattern || strings.HasSuffix(domain, "."+pattern)
}

func domainOf(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

// MaxBatch is the largest batch resolve.
const MaxBatch = 1000

// BatchItem is one entry of a batch answer: a result or an error.
type BatchItem struct {
	Result Result
	Err    error
}
