package invite

import (
	"context"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/templates"
)

// ErrGone answers any token that does not open a pending invite: unknown,
// expired, revoked or used all look the same.
var ErrGone = fault.New(fault.Gone, fault.CodeInviteGone, "", "this invitation link is no longer valid")

// ErrInvalidTicket answers a sign-up ticket that is unknown, used,
// expired, for another identifier, or whose invite ended.
var ErrInvalidTicket = fault.New(fault.Unprocessable, fault.CodeInvalidTicket, "invite_ticket", "the invite ticket is unknown, used, expired or for another identifier")

// TicketTTL is how long a sign-up ticket is valid.
const TicketTTL = 15 * time.Minute

// Ticket is a sign-up ticket, issued when the recipient accepts: the proof
// that its holder opened the link sent to Identifier.
type Ticket struct {
	InviteID   string
	Identifier resolver.Identifier
	ExpiresAt  time.Time
	UsedAt     time.Time // zero while unused
}

// Landing is what the recipient's page shows: only the inviter's name
// (sanitised, and escaped by the page) and email, never anything else.
type Landing struct {
	Invite       Invite
	InviterName  string
	InviterEmail string
	ChatTitle    string
}

// open returns the pending, unexpired invite a token opens, or ErrGone.
func (s *Service) open(ctx context.Context, token string) (Invite, error) {
	if len(token) != 43 {
		return Invite{}, ErrGone
	}
	inv, err := s.cfg.Store.InviteByToken(ctx, HashToken(token))
	if err != nil {
		return inv, err
	}
	if inv.Status != Pending || !s.cfg.Now().Before(inv.ExpiresAt) {
		return inv, ErrGone
	}
	return inv, nil
}

// Land reads what the page shows for a token. It changes nothing: mail
// scanners fetch links.
func (s *Service) Land(ctx context.Context, token string) (Landing, error) {
	inv, err := s.open(ctx, token)
	if err != nil {
		return Landing{}, err
	}
	inviter, err := s.cfg.Accounts.Account(ctx, inv.InviterID)
	if err != nil {
		return Landing{}, ErrGone // the inviter was erased
	}
	l := Landing{Invite: inv, InviterName: templates.Sanitize(inviter.DisplayName), InviterEmail: inviter.FirstEmail()}
	if inv.Chat.Kind == Group {
		l.ChatTitle = templates.Sanitize(inv.Chat.Title)
	}
	return l, nil
}

// Accept issues a single-use sign-up ticket, valid for TicketTTL, bound to
// the invite and its identifier. The invite stays pending until the
// recipient's account is linked with the ticket.
func (s *Service) Accept(ctx context.Context, token string) (ticket string, inv Invite, err error) {
	if inv, err = s.open(ctx, token); err != nil {
		return "", inv, err
	}
	t, err := NewToken()
	if err != nil {
		return "", inv, err
	}
	if err := s.cfg.Store.IssueTicket(ctx, inv, t.Hash, s.cfg.Now().Add(TicketTTL)); err != nil {
		return "", inv, err
	}
	return t.Secret, inv, nil
}

// Decline declines the invite; its links stop working.
func (s *Service) Decline(ctx context.Context, token string) (Invite, error) {
	inv, err := s.open(ctx, token)
	if err != nil {
		return inv, err
	}
	return s.cfg.Store.End(ctx, inv.ID, Declined, event.InviteDeclined, false)
}

// BlockInviter declines the invite and keeps the inviter from inviting the
// recipient's address again (they are not told).
func (s *Service) BlockInviter(ctx context.Context, token string) (Invite, error) {
	inv, err := s.open(ctx, token)
	if err != nil {
		return inv, err
	}
	return s.cfg.Store.End(ctx, inv.ID, Declined, event.InviteDeclined, true)
}

// Unsubscribe stops all invitations to the address of the invite, from
// anyone, and returns the invite. It needs a token that still opens the
// invite (pending or not, until its tokens are forgotten).
func (s *Service) Unsubscribe(ctx context.Context, token string) (Invite, error) {
	if len(token) != 43 {
		return Invite{}, ErrGone
	}
	inv, err := s.cfg.Store.InviteByToken(ctx, HashToken(token))
	if err != nil {
		return Invite{}, err
	}
	return inv, s.cfg.Store.Unsubscribe(ctx, inv.Recipient)
}

// Signup is what a sign-up page may show for a valid ticket: the
// identifier the account will get, and the invite's locale.
type Signup struct {
	Identifier resolver.Identifier
	Locale     string
}

// OpenTicket reads a sign-up ticket without using it. Errors:
// ErrInvalidTicket when it is unknown, used or expired, or its invite is
// no longer pending.
func (s *Service) OpenTicket(ctx context.Context, ticket string) (Signup, error) {
	t, inv, err := s.validTicket(ctx, ticket)
	if err != nil {
		return Signup{}, err
	}
	return Signup{Identifier: t.Identifier, Locale: inv.Locale}, nil
}

// validTicket returns an unused, unexpired ticket and its pending invite,
// or ErrInvalidTicket.
func (s *Service) validTicket(ctx context.Context, ticket string) (Ticket, Invite, error) {
	if len(ticket) != 43 {
		return Ticket{}, Invite{}, ErrInvalidTicket
	}
	t, err := s.cfg.Store.Ticket(ctx, HashToken(ticket))
	if err != nil {
		return Ticket{}, Invite{}, err
	}
	if !t.UsedAt.IsZero() || !s.cfg.Now().Before(t.ExpiresAt) {
		return Ticket{}, Invite{}, ErrInvalidTicket
	}
	inv, err := s.cfg.Store.Invite(ctx, t.InviteID)
	if err != nil {
		return Ticket{}, Invite{}, err
	}
	if inv.Status != Pending {
		return Ticket{}, Invite{}, ErrInvalidTicket
	}
	return t, inv, nil
}
