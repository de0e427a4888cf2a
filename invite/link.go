package invite

import (
	"context"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/resolver"
)

// LinkTx is what a link reads and changes, all in one transaction that the
// store opens (Store.Link). Link decides; every change is guarded by the
// state it expects, so that of two concurrent links (on two nodes) one
// wins and the other fails without changing anything.
type LinkTx interface {
	// PutAccount creates or updates the account row. Errors:
	// directory.ErrTenantMissing.
	PutAccount(ctx context.Context, acct directory.Account) error
	// Owner returns the id of the account holding id, or "".
	Owner(ctx context.Context, id resolver.Identifier) (string, error)
	// Bind gives id to the account, after its other identifiers. Errors:
	// identifier_taken when another account holds it (a concurrent link).
	Bind(ctx context.Context, id resolver.Identifier, accountID string) error
	// Ticket returns the sign-up ticket with this hash, used or not, or
	// ErrInvalidTicket.
	Ticket(ctx context.Context, hash string) (Ticket, error)
	// Invite returns an invite, or ErrNotFound.
	Invite(ctx context.Context, id string) (Invite, error)
	// UseTicket marks an unused ticket used; false when it was used.
	UseTicket(ctx context.Context, hash string) (bool, error)
	// Accept accepts a pending, unexpired invite for the account, forgets
	// its tokens and returns it; false when it was not pending.
	Accept(ctx context.Context, inviteID, accountID string) (Invite, bool, error)
	// AdoptBlocks turns the blocks given to inviters from the invite page
	// for id into blocks of the account, and forgets them on id.
	AdoptBlocks(ctx context.Context, id resolver.Identifier, accountID string) error
	// Waiting returns the unexpired pending invites to id, oldest first,
	// with what decides whether each becomes a request to the account.
	Waiting(ctx context.Context, id resolver.Identifier, accountID string) ([]Waiting, error)
	// AddRequest stores a message request; false when its invite already
	// has one.
	AddRequest(ctx context.Context, r Request) (bool, error)
	// Publish stores an event.
	Publish(ctx context.Context, data event.Data) error
	// Account reads the account.
	Account(ctx context.Context, id string) (directory.Account, error)
}

// Waiting is a pending invite to an identifier being linked.
type Waiting struct {
	Invite Invite
	// InviterBlocked: the account blocks the inviter.
	InviterBlocked bool
	// Unsubscribed: the identifier asked for no invitations.
	Unsubscribed bool
}

// requestable reports whether the invite becomes a message request: some
// message of it reached the recipient (it is not suppressed), the account
// does not block the inviter, and the identifier did not ask for no
// invitations.
func (w Waiting) requestable() bool {
	return !w.Invite.Suppressed && !w.InviterBlocked && !w.Unsubscribed
}

// Request is a message request: a pending invite from Sender to an
// identifier that Recipient linked, which Recipient accepts explicitly.
type Request struct {
	ID          string
	InviteID    string
	SenderID    string
	RecipientID string
	ChatID      string
}

// Linked is the outcome of linking an identifier to an account.
type Linked struct {
	Account    directory.Account
	Identifier resolver.Identifier
	// Accepted holds the ticket's invite, now accepted.
	Accepted []Invite
	// Requests holds the other pending invites to the identifier, now
	// message requests the account must accept explicitly.
	Requests []Invite
}

// LinkInput is what the identity provider tells Beckon after a sign-up or
// sign-in: the account, the identifier it verified, and the ticket from
// the accept redirect, if any.
type LinkInput struct {
	Account    directory.AccountInput
	Identifier string
	Ticket     string
}

// Link binds a verified identifier to an account. With a ticket, the
// ticket's invite is accepted (the chat backend adds the account to the
// chat on invite.accepted); every other pending invite to the identifier
// becomes a message request. Errors: identifier faults, identifier_taken,
// invalid_ticket, tenant_not_found.
func (s *Service) Link(ctx context.Context, in LinkInput) (Linked, error) {
	region := in.Account.Region
	acct, err := in.Account.Prepare("")
	if err != nil {
		return Linked{}, err
	}
	id, err := resolver.Normalize(in.Identifier, region)
	if err != nil {
		return Linked{}, err
	}
	hash := ""
	if in.Ticket != "" {
		if len(in.Ticket) != 43 {
			return Linked{}, ErrInvalidTicket
		}
		hash = HashToken(in.Ticket)
	}
	return s.link(ctx, acct, id, hash)
}

// SignupWithTicket creates (or updates) an account and binds to it the
// identifier of a valid ticket — and only that one, since the ticket is
// the proof that its holder opened the link sent to it — then links as
// Link does: the ticket's invite is accepted, other pending invites to
// the identifier become message requests. It serves the development
// sign-up page, where nobody else verified an address. Errors:
// ErrInvalidTicket (unknown, used, expired, invite ended), account
// faults, identifier_taken.
func (s *Service) SignupWithTicket(ctx context.Context, account directory.AccountInput, ticket string) (Linked, error) {
	acct, err := account.Prepare("")
	if err != nil {
		return Linked{}, err
	}
	t, _, err := s.validTicket(ctx, ticket)
	if err != nil {
		return Linked{}, err
	}
	// link checks the ticket again in the transaction that uses it.
	return s.link(ctx, acct, t.Identifier, HashToken(ticket))
}

// link binds id to acct, accepts the invite of the ticket (ticketHash may
// be empty), makes the blocks given from the invite page to id the
// account's own (once: they are then forgotten on id), turns the other
// pending invites to id that may reach the account into message requests,
// and emits the events, in one transaction. Linking again changes nothing
// and answers the same.
func (s *Service) link(ctx context.Context, acct directory.Account, id resolver.Identifier, ticketHash string) (Linked, error) {
	var out Linked
	var accepted bool
	err := s.cfg.Store.Link(ctx, func(tx LinkTx) error {
		out, accepted = Linked{Identifier: id}, false
		if err := tx.PutAccount(ctx, acct); err != nil {
			return err
		}
		switch owner, err := tx.Owner(ctx, id); {
		case err != nil:
			return err
		case owner == "":
			if err := tx.Bind(ctx, id, acct.ID); err != nil {
				return err
			}
			if err := tx.Publish(ctx, event.LinkedData{AccountID: acct.ID, Identifier: id}); err != nil {
				return err
			}
		case owner != acct.ID:
			return directory.IdentifierTaken("identifier")
		}
		if ticketHash != "" {
			inv, fresh, err := s.redeem(ctx, tx, ticketHash, acct.ID, id)
			if err != nil {
				return err
			}
			accepted = fresh
			out.Accepted = append(out.Accepted, inv)
		}
		if err := tx.AdoptBlocks(ctx, id, acct.ID); err != nil {
			return err
		}
		waiting, err := tx.Waiting(ctx, id, acct.ID)
		if err != nil {
			return err
		}
		for _, w := range waiting {
			if !w.requestable() {
				continue
			}
			if err := request(ctx, tx, w.Invite, acct.ID, s.cfg.Now()); err != nil {
				return err
			}
			out.Requests = append(out.Requests, w.Invite)
		}
		out.Account, err = tx.Account(ctx, acct.ID)
		return err
	})
	if err == nil && accepted && out.Accepted[0].Channel == ChannelSMS && s.cfg.SMSGuard != nil {
		// Counted after the link commits, at most once; the guard logs a
		// failure. A lost count only makes the guard a little stricter for
		// a day: not a reason to fail a link that is done.
		_ = s.cfg.SMSGuard.Accepted(ctx, out.Accepted[0].Recipient.Value)
	}
	return out, err
}

// redeem uses the ticket for id to accept its invite for the account, and
// returns the invite and whether it accepted it now. The same link again
// finds the ticket used and the invite accepted by the account, and
// changes nothing. Errors:
// ErrInvalidTicket when the ticket is unknown, for another identifier,
// used (by another link), expired, or its invite ended.
func (s *Service) redeem(ctx context.Context, tx LinkTx, hash, accountID string, id resolver.Identifier) (Invite, bool, error) {
	t, err := tx.Ticket(ctx, hash)
	if err != nil {
		return Invite{}, false, err
	}
	if t.Identifier.Kind != id.Kind || t.Identifier.Value != id.Value {
		return Invite{}, false, ErrInvalidTicket
	}
	inv, err := tx.Invite(ctx, t.InviteID)
	if err != nil {
		return Invite{}, false, err
	}
	switch {
	case !t.UsedAt.IsZero() && inv.AcceptedBy == accountID:
		return inv, false, nil // the same link again
	case !t.UsedAt.IsZero() || !s.cfg.Now().Before(t.ExpiresAt):
		return Invite{}, false, ErrInvalidTicket
	}
	if ok, err := tx.UseTicket(ctx, hash); err != nil || !ok {
		return Invite{}, false, orInvalidTicket(err)
	}
	inv, ok, err := tx.Accept(ctx, inv.ID, accountID)
	if err != nil || !ok {
		return Invite{}, false, orInvalidTicket(err) // revoked, declined or expired meanwhile
	}
	return inv, true, tx.Publish(ctx, event.AcceptedData{AccountID: accountID, Chat: inv.Chat, Invite: inv})
}

// orInvalidTicket returns err, or ErrInvalidTicket when it is nil (a
// guarded change found the ticket or its invite in another state).
func orInvalidTicket(err error) error {
	if err != nil {
		return err
	}
	return ErrInvalidTicket
}

// request makes the pending invite inv a message request to the account,
// once: a request the invite already has is left as it is.
func request(ctx context.Context, tx LinkTx, inv Invite, accountID string, now time.Time) error {
	id, err := directory.NewID("req_", now)
	if err != nil {
		return err
	}
	r := Request{ID: id, InviteID: inv.ID, SenderID: inv.InviterID, RecipientID: accountID, ChatID: inv.Chat.ID}
	if added, err := tx.AddRequest(ctx, r); err != nil || !added {
		return err
	}
	return tx.Publish(ctx, event.RequestData{Chat: inv.Chat, Invite: inv, Recipient: accountID, RequestID: r.ID, Sender: inv.InviterID})
}
