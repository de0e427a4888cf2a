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
// inviter's own policy now refuses the address, and when the address is
// over its daily cap (charged on a message's first attempt only). The
// dispatcher makes a held-back message look sent to the inviter.
func (s *Service) Admit(ctx context.Context, msgs []notify.Message) ([]bool, error) {
	ok := make([]bool, len(msgs))
	for i, m := range msgs {
		admit, err := s.admit(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("admit message %d: %w", m.ID, err)
		}
		ok[i] = admit
	}
	return ok, nil
}

func (s *Service) admit(ctx context.Context, m notify.Message) (bool, error) {
	inv, err := s.cfg.Store.Invite(ctx, m.InviteID)
	if fault.CodeOf(err) == ErrNotFound.Code {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if inv.Status != Pending || !s.cfg.Now().Before(inv.ExpiresAt) {
		return false, nil
	}
	if refused, err := s.refused(ctx, inv); err != nil || refused {
		return false, err
	}
	if m.Attempt > 1 {
		return true, nil // charged to the cap on its first attempt
	}
	r, err := s.cfg.Limiter.AllowN(ctx, recipientKey(inv.Recipient), s.cfg.Limits.PerRecipientDay, 1)
	if err != nil {
		return false, fmt.Errorf("invite limit: %w", err)
	}
	return r.OK(), nil
}

// refused reports whether the recipient of inv refuses its inviter now:
// unsubscribed or blocked from the page, or an owning account that blocked
// the inviter or whose policy refuses them, or the inviter's own policy.
func (s *Service) refused(ctx context.Context, inv Invite) (bool, error) {
	if refuses, err := s.cfg.Store.Refuses(ctx, inv.Recipient, inv.InviterID); err != nil || refuses {
		return refuses, err
	}
	res, err := s.cfg.Resolver.Inspect(ctx, inv.InviterID, resolver.Query{Identifier: inv.Recipient.Value})
	if fault.As(err) != nil {
		return true, nil // the inviter is gone, or its policy refuses the address now
	}
	if err != nil {
		return false, err
	}
	return res.Owner.Found && !res.Owner.Admits(res.Requester), nil
}

func recipientKey(id resolver.Identifier) string {
	return "invite-recipient-day:" + string(id.Kind) + ":" + id.Value
}
