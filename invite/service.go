package invite

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/templates"
)

// Limits are the abuse limits on invitations. PerInviterDay comes from
// the tenant policy (invites_per_user_per_day).
type Limits struct {
	PerInviterMinute ratelimit.Limit
	PerTenantDay     ratelimit.Limit
	// PerRecipientDay caps invitations to one address or number, whoever
	// sends them; the ones over it are created but not sent.
	PerRecipientDay ratelimit.Limit
	SMSPerCountry   ratelimit.Limit
}

// Accounts reads inviters.
type Accounts interface {
	Account(ctx context.Context, id string) (directory.Account, error)
}

// Config is what a Service needs.
type Config struct {
	Store     Store
	Accounts  Accounts
	Resolver  *resolver.Service
	Templates Renderer
	Limiter   ratelimit.Limiter
	Limits    Limits
	PublicURL string
	// ProductName is the product named in messages; default "Beckon".
	ProductName string
	TTL         time.Duration
	Now         func() time.Time
	// Reputation, when set, shrinks the limits of senders in bad standing,
	// silently (see Admit); OnShrunk counts a message held by it.
	Reputation Reputation
	OnShrunk   func()
	// SMSGuard, when set, may hold SMS invitations back (see Admit) and is
	// told of accepted ones.
	SMSGuard SMSGuard
}

// Reputation says by how much a sender's invitation limits shrink
// (reputation.Service).
type Reputation interface {
	Factor(ctx context.Context, senderID string) (float64, error)
}

// SMSGuard is the SMS cost guard (smsguard.Guard).
type SMSGuard interface {
	// Hold decides whether an SMS invitation about to be sent is held.
	Hold(ctx context.Context, tenantID, number string) (bool, error)
	// Accepted counts an accepted SMS invitation.
	Accepted(ctx context.Context, number string) error
}

// Renderer renders a message from the active version of a template and
// says which version it was (templates.Library; a templates.Set renders
// the embedded defaults).
type Renderer interface {
	Message(ctx context.Context, name, locale string, d templates.Data) (templates.Rendered, templates.Used, error)
}

// Service runs the invitation lifecycle.
type Service struct{ cfg Config }

// NewService returns an invitation service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.ProductName == "" {
		cfg.ProductName = "Beckon"
	}
	if cfg.OnShrunk == nil {
		cfg.OnShrunk = func() {}
	}
	return &Service{cfg: cfg}
}

// Resend limits of the contract.
const (
	MaxResends  = 3
	ResendEvery = time.Hour
)

// Errors of the lifecycle.
var (
	ErrNotFound          = fault.New(fault.NotFound, fault.CodeInviteNotFound, "", "no invite with that id")
	ErrNotPending        = fault.New(fault.Conflict, fault.CodeInviteNotPending, "", "the invite is no longer pending")
	ErrChannelNotAllowed = fault.New(fault.Unprocessable, fault.CodeChannelNotAllowed, "identifier", "invitations cannot be sent to this identifier under your organisation's policy")
	// ErrDuplicatePending is the store's answer when the inviter already
	// has a pending invite to the identifier for the chat (a race).
	ErrDuplicatePending = fault.New(fault.Conflict, fault.CodeInviteExists, "", "a pending invite already exists")
	// ErrInvitesDenied answers an inviter whose policy allows no
	// invitations (invites_per_user_per_day 0).
	ErrInvitesDenied = fault.New(fault.Forbidden, fault.CodePolicyDenied, "", "your organisation does not allow invitations")
)

// CreateInput is a request to invite someone.
type CreateInput struct {
	InviterID  string
	Identifier string
	Region     string
	Chat       Chat
	Locale     string
}

// Created is the answer to Create: an invite (new, or the existing pending
// one when Existing), or the account that already owns the identifier.
type Created struct {
	Invite   *Invite
	Account  *resolver.AccountView
	Existing bool
}

var localeRE = regexp.MustCompile(`^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})?$`)

func validateInput(in *CreateInput) error {
	if err := directory.ValidateID("chat.id", in.Chat.ID); err != nil {
		return err
	}
	if in.Chat.Kind != OneOnOne && in.Chat.Kind != Group {
		return fault.Invalidf(fault.CodeInvalidChat, "chat.kind", "chat.kind is %q or %q", OneOnOne, Group)
	}
	if utf8.RuneCountInString(in.Chat.Title) > 200 || !utf8.ValidString(in.Chat.Title) {
		return fault.Invalidf(fault.CodeInvalidChat, "chat.title", "chat.title is at most 200 characters")
	}
	if in.Locale == "" {
		in.Locale = templates.DefaultLocale
	}
	if !localeRE.MatchString(in.Locale) {
		return fault.Invalidf(fault.CodeInvalidLocale, "locale", "locale is a language tag such as en, fr or fr-CA")
	}
	in.Locale = strings.ReplaceAll(in.Locale, "_", "-")
	return nil
}

// Create invites the identifier to the chat. When a discoverable account
// the inviter may reach owns it, nothing is sent and the account is
// returned. Otherwise the invite, its rendered message and its outbox row
// are stored, whoever the recipient is: whether the message may go (an
// owner who blocked the inviter or refuses them, an address that asked for
// no invitations, one over its daily cap) is decided when it is sent (see
// Admit), and to the inviter every case looks the same, now and later.
//
// Errors: account_not_found (field inviter), identifier faults,
// policy_denied, channel_not_allowed, rate_limited, store errors.
func (s *Service) Create(ctx context.Context, in CreateInput) (Created, error) {
	if err := validateInput(&in); err != nil {
		return Created{}, err
	}
	res, err := s.cfg.Resolver.Inspect(ctx, in.InviterID, resolver.Query{Identifier: in.Identifier, Region: in.Region})
	if f := fault.As(err); f != nil && f.Field == "requester" {
		return Created{}, f.WithField("inviter")
	}
	if err != nil {
		return Created{}, err
	}
	if res.Result.Match == resolver.MatchAccount {
		return Created{Account: res.Result.Account}, nil
	}
	id, req := res.Result.Identifier, res.Requester
	if !req.Policy.ChannelAllowed(id) {
		return Created{}, ErrChannelNotAllowed
	}
	// Resolve already looked for the inviter's pending invites to this
	// identifier (any chat); only when it found one can one be for this chat.
	if res.Result.Match == resolver.MatchPendingInvite {
		if existing, err := s.cfg.Store.PendingInvite(ctx, in.InviterID, id, in.Chat.ID); err != nil || existing != nil {
			return Created{Invite: existing, Existing: existing != nil}, err
		}
	}
	if err := s.charge(ctx, req, id, true); err != nil {
		return Created{}, err
	}
	now := s.cfg.Now().UTC()
	inv := Invite{InviterID: in.InviterID, TenantID: req.TenantID, Recipient: id, Chat: in.Chat, Locale: in.Locale,
		Status: Pending, Delivery: Queued, Suppressed: true, CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), LastSentAt: now}
	inv.Channel = ChannelEmail
	if id.Kind == resolver.Phone {
		inv.Channel = ChannelSMS
	}
	if inv.ID, err = directory.NewID("inv_", now); err != nil {
		return Created{}, err
	}
	tok, msg, err := s.message(ctx, inv, KindInvite, req)
	if err != nil {
		return Created{}, err
	}
	if err := s.cfg.Store.CreateInvite(ctx, inv, tok.Hash, msg); errors.Is(err, ErrDuplicatePending) {
		// A concurrent request created it first: answer as if we came second.
		existing, err := s.cfg.Store.PendingInvite(ctx, in.InviterID, id, in.Chat.ID)
		return Created{Invite: existing, Existing: existing != nil}, err
	} else if err != nil {
		return Created{}, err
	}
	return Created{Invite: &inv}, nil
}

// charge applies the abuse limits that refuse: per inviter (a minute, when
// perMinute, and a day), per tenant (a day) and SMS per country (an hour).
// Every message an inviter causes is charged: first sends, resends and
// reminders.
func (s *Service) charge(ctx context.Context, req resolver.Requester, id resolver.Identifier, perMinute bool) error {
	quota := policyOf(req).InvitesPerUserPerDay
	if quota == 0 {
		return ErrInvitesDenied
	}
	perDay := ratelimit.Limit{Rate: quota, Burst: quota, Period: 24 * time.Hour}
	type check struct {
		key   string
		limit ratelimit.Limit
	}
	checks := []check{{"invite-inviter-day:" + req.ID, perDay}}
	if perMinute {
		checks = append(checks, check{"invite-inviter-minute:" + req.ID, s.cfg.Limits.PerInviterMinute})
	}
	if req.TenantID != "" {
		checks = append(checks, check{"invite-tenant-day:" + req.TenantID, s.cfg.Limits.PerTenantDay})
	}
	if id.Kind == resolver.Phone {
		checks = append(checks, check{"invite-sms-country:" + id.Region, s.cfg.Limits.SMSPerCountry})
	}
	for _, c := range checks {
		r, err := s.cfg.Limiter.AllowN(ctx, c.key, c.limit, 1)
		if err != nil {
			return fmt.Errorf("invite limit: %w", err)
		}
		if !r.OK() {
			return fault.Limited(r.RetryAfter, "too many invitations: retry after the number of seconds in Retry-After")
		}
	}
	return nil
}

func policyOf(req resolver.Requester) directory.Policy {
	if p, ok := req.Policy.(directory.Policy); ok {
		return p
	}
	return directory.DefaultPolicy()
}

// message makes a new token and renders the message that carries it,
// whoever the recipient is (the same work for every outcome). The
// inviter's name and email come from req when it has them, else from the
// directory.
func (s *Service) message(ctx context.Context, inv Invite, kind string, req resolver.Requester) (Token, *Message, error) {
	tok, err := NewToken()
	if err != nil {
		return tok, nil, err
	}
	name, email := req.DisplayName, req.Email
	if req.ID != inv.InviterID {
		inviter, err := s.cfg.Accounts.Account(ctx, inv.InviterID)
		if err != nil {
			return tok, nil, err
		}
		name, email = inviter.DisplayName, inviter.FirstEmail()
	}
	link := s.cfg.PublicURL + "/i/" + tok.Secret
	data := templates.Data{
		Product:         s.cfg.ProductName,
		InviterName:     templates.Sanitize(name),
		InviterEmail:    email,
		ChatTitle:       "",
		ChatKind:        inv.Chat.Kind,
		External:        true, // the recipient has no account, so no tenant in common
		Link:            link,
		UnsubscribeLink: link + "?stop=1",
		ExpiresAt:       templates.FormatDate(inv.ExpiresAt, inv.Locale),
	}
	if data.InviterName == "" {
		data.InviterName = "Someone"
	}
	if inv.Chat.Kind == Group {
		data.ChatTitle = templates.Sanitize(inv.Chat.Title)
	}
	tmpl := templates.InviteEmail
	switch {
	case inv.Channel == ChannelSMS:
		tmpl = templates.InviteSMS
	case kind == KindReminder:
		tmpl = templates.ReminderEmail
	}
	r, used, err := s.cfg.Templates.Message(ctx, tmpl, inv.Locale, data)
	if err != nil {
		return tok, nil, err
	}
	msg := &Message{InviteID: inv.ID, Kind: kind, Channel: inv.Channel, To: inv.Recipient.Value,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML, TemplateLocale: used.Locale, TemplateVersion: used.Version}
	if inv.Channel == ChannelEmail {
		msg.Unsubscribe = link + "/unsubscribe"
	}
	return tok, msg, nil
}

// Get returns an invite.
func (s *Service) Get(ctx context.Context, id string) (Invite, error) {
	if err := directory.ValidateID("id", id); err != nil {
		return Invite{}, ErrNotFound
	}
	return s.cfg.Store.Invite(ctx, id)
}

// List returns invites matching f, newest first, and the next cursor.
func (s *Service) List(ctx context.Context, f Filter) (directory.Page[Invite], error) {
	switch f.Status {
	case "", Pending, Accepted, Declined, Revoked, Expired:
	default:
		return directory.Page[Invite]{}, fault.Invalidf(fault.CodeInvalidParameter, "status", "unknown status %q", f.Status)
	}
	limit := f.Limit
	f.Limit++
	items, err := s.cfg.Store.Invites(ctx, f)
	if err != nil {
		return directory.Page[Invite]{}, err
	}
	page := directory.Page[Invite]{Items: items}
	if len(items) > limit {
		page.Items, page.NextCursor = items[:limit], items[limit-1].ID
	}
	return page, nil
}

// Revoke ends a pending invite; its link stops working.
func (s *Service) Revoke(ctx context.Context, id string) (Invite, error) {
	if err := directory.ValidateID("id", id); err != nil {
		return Invite{}, ErrNotFound
	}
	return s.cfg.Store.Revoke(ctx, id)
}

// Resend sends a pending invite again with a new link (the older links keep
// working): at most MaxResends times, at least ResendEvery apart, charged
// to the inviter's and tenant's limits like a new invite. Whether it goes
// out is decided when it is sent, as for a first send.
func (s *Service) Resend(ctx context.Context, id string) (Invite, error) {
	inv, err := s.Get(ctx, id)
	if err != nil {
		return inv, err
	}
	now := s.cfg.Now().UTC()
	if inv.Status != Pending || !now.Before(inv.ExpiresAt) {
		return inv, ErrNotPending
	}
	if inv.Resends >= MaxResends {
		return inv, fault.Limited(0, fmt.Sprintf("an invite is sent again at most %d times", MaxResends))
	}
	if wait := inv.LastSentAt.Add(ResendEvery).Sub(now); wait > 0 {
		return inv, fault.Limited(wait, "an invite is sent again at most once an hour")
	}
	req, to, err := s.inviter(ctx, inv)
	if err != nil {
		return inv, err
	}
	if err := s.charge(ctx, req, to, true); err != nil {
		return inv, err
	}
	tok, msg, err := s.message(ctx, inv, KindInvite, req)
	if err != nil {
		return inv, err
	}
	inv.Resends++
	inv.LastSentAt = now
	inv.Delivery = Queued
	return s.cfg.Store.Resend(ctx, inv, tok.Hash, msg)
}

// inviter reads the inviter of inv with its effective policy, and the
// recipient as normalised for it (a number with its region and line type);
// it checks that the policy still lets it send there on this channel.
func (s *Service) inviter(ctx context.Context, inv Invite) (resolver.Requester, resolver.Identifier, error) {
	res, err := s.cfg.Resolver.InspectOwner(ctx, inv.InviterID, resolver.Query{Identifier: inv.Recipient.Value})
	if err != nil {
		return res.Requester, inv.Recipient, err
	}
	id := res.Result.Identifier
	if !res.Requester.Policy.ChannelAllowed(id) {
		return res.Requester, id, ErrChannelNotAllowed
	}
	return res.Requester, id, nil
}

// remind claims inv's one reminder and, when the inviter may still send it
// and is within its and its tenant's daily limits, queues it; otherwise it
// is skipped, silently.
func (s *Service) remind(ctx context.Context, inv Invite) (bool, error) {
	if ok, err := s.cfg.Store.MarkReminded(ctx, inv.ID); err != nil || !ok {
		return false, err
	}
	req, id, err := s.inviter(ctx, inv)
	if err == nil {
		err = s.charge(ctx, req, id, false)
	}
	if fault.As(err) != nil {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	tok, msg, err := s.message(ctx, inv, KindReminder, req)
	if err != nil {
		return false, err
	}
	return true, s.cfg.Store.QueueReminder(ctx, inv, tok.Hash, msg)
}

// PendingFinder is the one read Finder needs (a Store has it; so does a
// store that reads replicas).
type PendingFinder interface {
	PendingInvitesTo(ctx context.Context, inviterID string, ids []resolver.Identifier) ([]*Invite, error)
}

// Finder finds a requester's own pending invites for resolve; it
// implements resolver.PendingInvites.
type Finder struct{ Store PendingFinder }

// Pending returns, in the order of ids, the inviter's newest pending invite
// to each (for any chat), or nil.
func (f Finder) Pending(ctx context.Context, inviterID string, ids []resolver.Identifier) ([]any, error) {
	invites, err := f.Store.PendingInvitesTo(ctx, inviterID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(ids))
	for i, inv := range invites {
		if inv != nil {
			out[i] = inv
		}
	}
	return out, nil
}

// RemindBefore is how long before expiry the one reminder email goes out.
const RemindBefore = 72 * time.Hour

// Sweep expires overdue invites and queues the reminders that are due. Run
// it periodically; several nodes may run it at once.
func (s *Service) Sweep(ctx context.Context) (expired, reminded int, err error) {
	for {
		n, err := s.cfg.Store.ExpireDue(ctx, 100)
		expired += n
		if err != nil || n < 100 {
			if err != nil {
				return expired, reminded, err
			}
			break
		}
	}
	due, err := s.cfg.Store.DueReminders(ctx, RemindBefore, 100)
	if err != nil {
		return expired, reminded, err
	}
	for _, inv := range due {
		if ok, err := s.remind(ctx, inv); err != nil {
			return expired, reminded, err
		} else if ok {
			reminded++
		}
	}
	return expired, reminded, nil
}
