package invite

import (
	"context"
	"fmt"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/resolver"
)

var _ notify.Gate = (*Service)(nil)

// Admit decides, when the dispatcher is about to send them, which messages
// may go. Consent is read again at every send — first send, resend,
// reminder, a retry after a crash — so that a message queued before a STOP,
// an unsubscribe or a block is not sent after it. A message is held back
// when its invite is no longer pending, when its address asked for no
// invitations or blocked the inviter from the page, when the account that
// owns the address blocked the inviter or its policy refuses them, when the
// inviter's own policy no longer allows the address or the channel, and
// when the address is over its daily cap. The cap is charged once a
// message: Admit marks each message with its decision (CapDecided,
// Capped), which is recorded with its attempt and reused on its retries. A
// message claimed again after a crash, before anything was recorded, is
// charged again: never let through uncharged. The dispatcher makes a
// held-back message look sent to the inviter.
func (s *Service) Admit(ctx context.Context, msgs []notify.Message) ([]bool, error) {
	ok := make([]bool, len(msgs))
	for i := range msgs {
		admit, err := s.admit(ctx, &msgs[i])
		if err != nil {
			return nil, fmt.Errorf("admit message %d: %w", msgs[i].ID, err)
		}
		ok[i] = admit
	}
	return ok, nil
}

// admit does the same reads for every message whatever it finds, so that
// the time a held message takes does not tell why.
func (s *Service) admit(ctx context.Context, m *notify.Message) (bool, error) {
	inv, err := s.cfg.Store.Invite(ctx, m.InviteID)
	if fault.CodeOf(err) == ErrNotFound.Code {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	refused, err := s.refused(ctx, inv)
	if err != nil {
		return false, err
	}
	refused = refused || inv.Status != Pending || !s.cfg.Now().Before(inv.ExpiresAt)
	capped, err := s.capped(ctx, m, inv.Recipient, refused)
	if err != nil {
		return false, err
	}
	return !refused && !capped, nil
}

// refused reports whether inv may not be sent now: its address unsubscribed
// or blocked the inviter from the page, an owning account blocked the
// inviter or its policy refuses them, or the inviter is gone or its policy
// no longer allows the address, the channel or any invitation.
func (s *Service) refused(ctx context.Context, inv Invite) (bool, error) {
	refuses, err := s.cfg.Store.Refuses(ctx, inv.Recipient, inv.InviterID)
	if err != nil {
		return false, err
	}
	res, err := s.cfg.Resolver.InspectOwner(ctx, inv.InviterID, resolver.Query{Identifier: inv.Recipient.Value})
	if fault.As(err) != nil {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	policy := res.Requester.Policy.ChannelAllowed(res.Result.Identifier) && policyOf(res.Requester).InvitesPerUserPerDay > 0
	return refuses || !policy || (res.Owner.Found && !res.Owner.Admits(res.Requester)), nil
}

// capped applies the per-recipient daily cap to m once and marks m with the
// decision. A refused message is not charged, but the limiter is read all
// the same.
func (s *Service) capped(ctx context.Context, m *notify.Message, id resolver.Identifier, refused bool) (bool, error) {
	if m.CapDecided {
		return m.Capped, nil
	}
	n := 1
	if refused {
		n = 0
	}
	r, err := s.cfg.Limiter.AllowN(ctx, recipientKey(id), s.cfg.Limits.PerRecipientDay, n)
	if err != nil {
		return false, fmt.Errorf("invite limit: %w", err)
	}
	m.CapDecided, m.Capped = true, !refused && !r.OK()
	return m.Capped, nil
}

func recipientKey(id resolver.Identifier) string {
	return "invite-recipient-day:" + string(id.Kind) + ":" + id.Value
}
