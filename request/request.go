// Package request is the pre-acceptance gate of messages between accounts
// of different tenants: message requests, how many messages each lets
// through before the recipient accepts, and the recipient's decisions.
package request

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/fault"
)

// Status is where a request stands.
type Status string

// The statuses of a request. Pending is the only one that counts messages.
const (
	Pending  Status = "pending"
	Accepted Status = "accepted"
	Declined Status = "declined"
	Blocked  Status = "blocked"
	Reported Status = "reported"
)

// ParseStatus reads a status filter. Errors: Invalid invalid_parameter.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Pending, Accepted, Declined, Blocked, Reported:
		return st, nil
	}
	return "", fault.Invalidf(fault.CodeInvalidParameter, "status", "status is one of pending, accepted, declined, blocked, reported")
}

// Request is a message request from Sender to Recipient. InviteID is set
// for a request made from a pending invite when its recipient linked, and
// empty for one the gate created on the first check between the two.
type Request struct {
	ID          string `json:"id"`
	InviteID    string `json:"invite_id,omitempty"`
	SenderID    string `json:"sender"`
	RecipientID string `json:"recipient"`
	ChatID      string `json:"chat_id"`
	Status      Status `json:"status"`
	// Delivered counts the pre-acceptance messages delivered, Held those
	// held back over the limit.
	Delivered       int        `json:"delivered"`
	Held            int        `json:"held"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	LastDeliveredAt *time.Time `json:"last_delivered_at"` // nil until a message is delivered
}

// Listed is a request as its recipient sees it: of the sender only the
// display name and email, whether it is external to the recipient and
// whether it is a personal account.
type Listed struct {
	Request
	SenderName  string
	SenderEmail string
	External    bool
	Personal    bool
}

// Decision values of a check.
const (
	Deliver = "deliver"
	Reject  = "reject"
)

// Reasons of a check's decision.
const (
	ReasonSameTenant    = "same_tenant"
	ReasonAccepted      = "accepted"
	ReasonPreAcceptance = "pre_acceptance"
	ReasonLimitReached  = "limit_reached"
	ReasonDeclined      = "declined"
	ReasonBlocked       = "blocked"
	ReasonSpam          = "spam"
	ReasonPolicy        = "policy"
)

// Decision answers a check. Remaining is set for pre_acceptance and
// limit_reached: how many more messages the request lets through.
type Decision struct {
	Decision  string
	Reason    string
	Remaining *int
	RequestID string // the request counted on, "" when none
}

// Message is one message the chat backend is about to deliver.
type Message struct {
	Sender    string
	Recipient string
	ChatID    string
	Text      string
}

// MaxTextBytes is the largest text a check takes.
const MaxTextBytes = 32 << 10

// Screen judges a pre-acceptance message. It is the hook point of the
// spam screen: the gate asks it after the policy and before counting, and
// a message it calls spam is rejected without using the allowance.
type Screen interface {
	Spam(ctx context.Context, m Message) (bool, error)
}

// NoScreen calls nothing spam: a gate without a screen (tests, the
// bench's bare baseline).
type NoScreen struct{}

var _ Screen = NoScreen{}

// Spam returns false.
func (NoScreen) Spam(context.Context, Message) (bool, error) { return false, nil }

// Party is one account of a check as the gate's policies see it.
type Party struct {
	// Account is the account; of its identifiers it has only its first
	// email.
	Account directory.Account
	// Tenant is the account's tenant (its policy and region), nil for a
	// personal account.
	Tenant *directory.Tenant
}

// Pair is the gate's state between a sender and a recipient.
type Pair struct {
	// Sender and Recipient are nil when the account does not exist.
	Sender, Recipient *Party
	// Blocked: either account blocks the other.
	Blocked bool
	// Accepted: the two accepted each other — a request or an invitation
	// between them, either way, was accepted.
	Accepted bool
	// Refused: a request from the sender to the recipient was declined,
	// blocked or reported.
	Refused bool
	// Pending is the pair's oldest pending request, with the pair's count
	// of delivered messages; nil when none.
	Pending *Request
}

// Store persists requests. Each method is one transaction.
type Store interface {
	// Account reads an account, or directory.ErrAccountNotFound.
	Account(ctx context.Context, id string) (directory.Account, error)
	// Pair reads the state between sender and recipient.
	Pair(ctx context.Context, senderID, recipientID string) (Pair, error)
	// Count counts one message from r.SenderID to r.RecipientID, r being
	// the pair's pending request as Pair read it: the pair's count takes
	// one delivered message when fewer than limit were delivered — one
	// conditional update, so that no concurrency lets more through — or
	// else one held message. It returns r with the pair's counts and
	// whether the message was delivered.
	Count(ctx context.Context, r Request, limit int) (Request, bool, error)
	// Deliver stores r (pending) with request.created when the pair from
	// r.SenderID to r.RecipientID has no request, then counts one message
	// (as Count) and returns the pair's oldest pending request; when none
	// is pending (decided meanwhile) it returns the oldest, not counted.
	Deliver(ctx context.Context, r Request, limit int) (Request, bool, error)
	// Request reads a request, or ErrNotFound.
	Request(ctx context.Context, id string) (Request, error)
	// Decide moves the request to status `to` when its status is one of
	// from, blocks the sender for the recipient when block is set, and
	// publishes typ; it returns the request and whether it changed. With
	// block, a request already blocked or reported puts the block back.
	// Errors: ErrNotFound.
	Decide(ctx context.Context, id string, from []Status, to Status, block bool, typ event.Type) (Request, bool, error)
	// Requests lists up to limit requests to recipientID, newest first
	// (ids are time-ordered), with ids before after when it is not empty,
	// only those in status when it is not empty.
	Requests(ctx context.Context, recipientID string, status Status, after string, limit int) ([]Listed, error)
}

// Faults of the gate.
var (
	ErrNotFound = fault.New(fault.NotFound, fault.CodeRequestNotFound, "request_id", "no message request with that id")
	ErrDecided  = fault.New(fault.Conflict, fault.CodeRequestDecided, "", "the request was already decided otherwise")
)

// Service is the gate.
type Service struct {
	store  Store
	screen Screen
}

// NewService returns the gate on store, asking screen about
// pre-acceptance messages (NoScreen when nil).
func NewService(store Store, screen Screen) *Service {
	if screen == nil {
		screen = NoScreen{}
	}
	return &Service{store: store, screen: screen}
}

// Check decides whether a message from m.Sender to m.Recipient may be
// delivered, and counts it when it is a pre-acceptance message. The rules,
// first match wins: a block either way rejects (blocked); two accounts of
// one tenant deliver (same_tenant); an accepted request delivers
// (accepted); a declined, blocked or reported request rejects (declined);
// the sender's or the recipient's policy rejects (policy); the screen
// rejects (spam); otherwise the message is delivered while the pair has
// delivered fewer than the recipient's pre_acceptance_message_limit
// (pre_acceptance, with remaining) and rejected after (limit_reached) —
// without asking the screen, once the read shows the allowance spent.
// Rejected messages do not use up the allowance.
//
// Errors: Invalid missing_field / invalid_id / invalid_field, NotFound
// account_not_found with the field (sender or recipient).
func (s *Service) Check(ctx context.Context, m Message) (Decision, error) {
	if err := validate(m); err != nil {
		return Decision{}, err
	}
	for _, f := range []struct{ name, id string }{{"sender", m.Sender}, {"recipient", m.Recipient}} {
		if err := directory.ValidateID(f.name, f.id); err != nil {
			return Decision{}, err
		}
	}
	pair, err := s.store.Pair(ctx, m.Sender, m.Recipient)
	if err != nil {
		return Decision{}, err
	}
	if pair.Sender == nil {
		return Decision{}, directory.ErrAccountNotFound.WithField("sender")
	}
	if pair.Recipient == nil {
		return Decision{}, directory.ErrAccountNotFound.WithField("recipient")
	}
	sender, recipient := pair.Sender.Account, pair.Recipient.Account
	if pair.Blocked {
		return Decision{Decision: Reject, Reason: ReasonBlocked}, nil
	}
	if !sender.Personal() && sender.TenantID == recipient.TenantID {
		return Decision{Decision: Deliver, Reason: ReasonSameTenant}, nil
	}
	if d, ok := decided(pair.Accepted, pair.Refused); ok {
		return d, nil
	}
	recvPolicy := recipient.EffectivePolicy(pair.Recipient.Tenant)
	if !allowed(sender, sender.EffectivePolicy(pair.Sender.Tenant), recipient, recvPolicy) {
		return Decision{Decision: Reject, Reason: ReasonPolicy}, nil
	}
	limit := recvPolicy.PreAcceptanceMessageLimit
	// A message the allowance no longer lets through is not delivered
	// whatever the screen says: it is held without asking it (the count
	// only grows, so the read's count settles it).
	if pair.Pending == nil || pair.Pending.Delivered < limit {
		spam, err := s.screen.Spam(ctx, m)
		if err != nil {
			return Decision{}, fmt.Errorf("spam screen: %w", err)
		}
		if spam {
			return Decision{Decision: Reject, Reason: ReasonSpam}, nil
		}
	}
	var r Request
	var delivered bool
	if pair.Pending != nil {
		r, delivered, err = s.store.Count(ctx, *pair.Pending, limit)
	} else {
		var id string
		if id, err = directory.NewID("req_", time.Now()); err != nil {
			return Decision{}, err
		}
		r, delivered, err = s.store.Deliver(ctx, Request{ID: id, SenderID: sender.ID, RecipientID: recipient.ID, ChatID: m.ChatID}, limit)
	}
	if err != nil {
		return Decision{}, err
	}
	if r.Status != Pending { // decided between the read and the first count
		d, _ := decided(r.Status == Accepted, r.Status != Accepted)
		return d, nil
	}
	remaining := max(limit-r.Delivered, 0)
	if delivered {
		return Decision{Decision: Deliver, Reason: ReasonPreAcceptance, Remaining: &remaining, RequestID: r.ID}, nil
	}
	return Decision{Decision: Reject, Reason: ReasonLimitReached, Remaining: &remaining, RequestID: r.ID}, nil
}

// decided returns the decision an acceptance between the two or a
// refused request of the pair makes, if any: accepted wins.
func decided(accepted, refused bool) (Decision, bool) {
	if accepted {
		return Decision{Decision: Deliver, Reason: ReasonAccepted}, true
	}
	if refused {
		return Decision{Decision: Reject, Reason: ReasonDeclined}, true
	}
	return Decision{}, false
}

// allowed applies both policies: the sender's outbound_personal (to a
// personal recipient) and domain lists (to the recipient's email domain),
// and the recipient's inbound_personal (from a personal sender) and domain
// lists (to the sender's email domain).
func allowed(sender directory.Account, sp directory.Policy, recipient directory.Account, rp directory.Policy) bool {
	if recipient.Personal() && !sp.OutboundPersonal {
		return false
	}
	if sender.Personal() && !rp.InboundPersonal {
		return false
	}
	return sp.DomainAllowed(domain(recipient.FirstEmail())) && rp.DomainAllowed(domain(sender.FirstEmail()))
}

func domain(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i+1:]
	}
	return ""
}

func validate(m Message) error {
	for _, f := range []struct{ name, v string }{{"sender", m.Sender}, {"recipient", m.Recipient}, {"chat_id", m.ChatID}} {
		if strings.TrimSpace(f.v) == "" {
			return fault.Invalidf(fault.CodeMissingField, f.name, "%s is required", f.name)
		}
	}
	if m.Sender == m.Recipient {
		return fault.Invalidf(fault.CodeInvalidField, "recipient", "the recipient is the sender")
	}
	if err := directory.ValidateID("chat_id", m.ChatID); err != nil {
		return err
	}
	if len(m.Text) > MaxTextBytes || !utf8.ValidString(m.Text) {
		return fault.Invalidf(fault.CodeInvalidField, "text", "text is valid UTF-8 of at most %d bytes", MaxTextBytes)
	}
	return nil
}

// Action is what a recipient does with a request.
type Action string

// The actions on a request.
const (
	Accept  Action = "accept"
	Decline Action = "decline"
	Block   Action = "block"
	Report  Action = "report"
)

// act is what an action changes: from which statuses, to which, whether it
// blocks the sender, and its event.
var acts = map[Action]struct {
	from  []Status
	to    Status
	block bool
	typ   event.Type
}{
	Accept:  {[]Status{Pending, Declined, Blocked, Reported}, Accepted, false, event.RequestAccepted},
	Decline: {[]Status{Pending}, Declined, false, event.RequestDeclined},
	Block:   {[]Status{Pending, Accepted, Declined}, Blocked, true, event.RequestBlocked},
	Report:  {[]Status{Pending, Accepted, Declined, Blocked}, Reported, true, event.RequestReported},
}

// Act applies an action to a request and returns it. Acting again is a
// no-op that returns the request (no second event). Accept applies to any
// request not accepted — the recipient may change their mind about a
// request they declined, blocked or reported; a block of the directory,
// while it stands, still wins at the gate. Decline applies to a pending
// request. Block applies to any request not blocked already, and also
// blocks the sender for the recipient in the directory (resolve then
// answers none, invites send nothing, the gate rejects); report is a
// block that also publishes request.reported, the signal for the spam
// screen; block on a reported request is a no-op.
//
// Errors: Invalid invalid_id, NotFound request_not_found, Conflict
// request_decided (decline of a request decided otherwise).
func (s *Service) Act(ctx context.Context, id string, a Action) (Request, error) {
	act, ok := acts[a]
	if !ok {
		return Request{}, fmt.Errorf("unknown action %q", a)
	}
	if err := directory.ValidateID("request_id", id); err != nil {
		return Request{}, err
	}
	r, changed, err := s.store.Decide(ctx, id, act.from, act.to, act.block, act.typ)
	if err != nil || changed || r.Status == act.to || (a == Block && r.Status == Reported) {
		return r, err
	}
	return r, ErrDecided
}

// List returns a page of the requests to an account, newest first,
// filtered by status when it is not empty. The cursor is the last id of the previous
// page. Errors: Invalid invalid_id, NotFound account_not_found.
func (s *Service) List(ctx context.Context, accountID string, status Status, cursor string, limit int) (directory.Page[Listed], error) {
	if err := directory.ValidateID("account_id", accountID); err != nil {
		return directory.Page[Listed]{}, err
	}
	if _, err := s.store.Account(ctx, accountID); err != nil {
		return directory.Page[Listed]{}, err
	}
	items, err := s.store.Requests(ctx, accountID, status, cursor, limit+1)
	if err != nil {
		return directory.Page[Listed]{}, err
	}
	page := directory.Page[Listed]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = items[limit-1].ID
	}
	return page, nil
}
