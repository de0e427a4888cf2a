package invite

import (
	"context"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/reputation"
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
// when the address is over its daily cap, the inviter over their limits
// as their reputation shrinks them, or an SMS stopped by the SMS cost
// guard. These are charged once a message: Admit marks each message with
// its decision (CapDecided, Capped), which is recorded with its attempt
// and reused on its retries. A
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
	refused, policy, err := s.refused(ctx, inv)
	if err != nil {
		return false, err
	}
	refused = refused || inv.Status != Pending || !s.cfg.Now().Before(inv.ExpiresAt)
	capped, err := s.capped(ctx, m, inv, policy, refused)
	if err != nil {
		return false, err
	}
	return !refused && !capped, nil
}

// refused reports whether inv may not be sent now: its address unsubscribed
// or blocked the inviter from the page, an owning account blocked the
// inviter, its policy refuses them or theirs refuses it (ReachableBy: the
// gate would refuse the pair), or the inviter is gone or its policy no
// longer allows the address, the channel or any invitation.
func (s *Service) refused(ctx context.Context, inv Invite) (bool, directory.Policy, error) {
	refuses, err := s.cfg.Store.Refuses(ctx, inv.Recipient, inv.InviterID)
	if err != nil {
		return false, directory.Policy{}, err
	}
	res, err := s.cfg.Resolver.InspectOwner(ctx, inv.InviterID, resolver.Query{Identifier: inv.Recipient.Value})
	if fault.As(err) != nil {
		return true, directory.Policy{}, nil
	}
	if err != nil {
		return false, directory.Policy{}, err
	}
	p := policyOf(res.Requester)
	allowed := res.Requester.Policy.ChannelAllowed(res.Result.Identifier) && p.InvitesPerUserPerDay > 0
	return refuses || !allowed || (res.Owner.Found && !res.Owner.ReachableBy(res.Requester)), p, nil
}

// capped applies the limits that hold a message back rather than refuse
// it, once per message, and marks m with the decision: the per-recipient
// daily cap, then the inviter's limits as their reputation shrinks them,
// then, for an SMS, the SMS cost guard. A refused message is not charged,
// but the recipient cap is read all the same.
func (s *Service) capped(ctx context.Context, m *notify.Message, inv Invite, p directory.Policy, refused bool) (bool, error) {
	if m.CapDecided {
		return m.Capped, nil
	}
	n := 1
	if refused {
		n = 0
	}
	r, err := s.cfg.Limiter.AllowN(ctx, recipientKey(inv.Recipient), s.cfg.Limits.PerRecipientDay, n)
	if err != nil {
		return false, fmt.Errorf("invite limit: %w", err)
	}
	capped := !refused && !r.OK()
	if !refused && !capped {
		if capped, err = s.shrunk(ctx, m, inv, p); err != nil {
			return false, err
		}
	}
	if !refused && !capped && inv.Channel == ChannelSMS && s.cfg.SMSGuard != nil {
		if capped, err = s.cfg.SMSGuard.Hold(ctx, inv.TenantID, inv.Recipient.Value); err != nil {
			return false, fmt.Errorf("sms guard: %w", err)
		}
	}
	m.CapDecided, m.Capped = true, capped
	return m.Capped, nil
}

// shrunk reports whether m is over its inviter's limits as their
// reputation shrinks them. The inviter's own requests were charged to the
// full limits when they were made, and only those refuse: the shrunk ones
// are charged here, when the message is about to be sent, and a message
// over them is held back, so that to the inviter a shrunk limit looks
// exactly like a full one (same answers, same times; the held message
// looks sent). A sender in good standing is not charged here.
func (s *Service) shrunk(ctx context.Context, m *notify.Message, inv Invite, p directory.Policy) (bool, error) {
	if s.cfg.Reputation == nil {
		return false, nil
	}
	factor, err := s.cfg.Reputation.Factor(ctx, inv.InviterID)
	if err != nil {
		return false, fmt.Errorf("reputation: %w", err)
	}
	if factor >= 1 {
		return false, nil
	}
	type check struct {
		key   string
		limit ratelimit.Limit
	}
	day := reputation.Shrink(p.InvitesPerUserPerDay, factor)
	limits := []check{{"invite-shrunk-day:" + inv.InviterID, ratelimit.Limit{Rate: day, Burst: day, Period: 24 * time.Hour}}}
	if m.Kind == KindInvite { // reminders are not charged per minute at their charge either
		l := s.cfg.Limits.PerInviterMinute
		l.Rate, l.Burst = reputation.Shrink(l.Rate, factor), reputation.Shrink(l.Burst, factor)
		limits = append(limits, check{"invite-shrunk-minute:" + inv.InviterID, l})
	}
	for _, c := range limits {
		r, err := s.cfg.Limiter.AllowN(ctx, c.key, c.limit, 1)
		if err != nil {
			return false, fmt.Errorf("invite limit: %w", err)
		}
		if !r.OK() {
			s.cfg.OnShrunk()
			return true, nil
		}
	}
	return false, nil
}

func recipientKey(id resolver.Identifier) string {
	return "invite-recipient-day:" + string(id.Kind) + ":" + id.Value
}
