package invite

import (
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/resolver"
)

// Effect is what one delivery attempt changes beyond its own outbox
// record: invite decides it, and the store applies it in the transaction
// that records the attempt, each change guarded by the state it expects.
type Effect struct {
	// Unsubscribe is the address the provider says asked to stop, if any.
	Unsubscribe *resolver.Identifier
	// Reached says that something of the invite reached the recipient: at
	// link, only such invites become message requests.
	Reached bool
	// Delivery is the invite's new delivery state ("" for no change),
	// applied only while the invite is pending, and announced by the
	// event DeliveryEvent names.
	Delivery Delivery
}

// EffectOf decides what attempt a changes. A retry changes nothing yet; a
// held message changes the invite exactly as a sent one does; a reminder
// does not move the invite's delivery.
func EffectOf(a notify.Attempt) Effect {
	var e Effect
	if a.State == notify.StateRetry {
		return e
	}
	m := a.Message
	if a.OptedOut {
		kind := resolver.Email
		if m.Channel == ChannelSMS {
			kind = resolver.Phone
		}
		e.Unsubscribe = &resolver.Identifier{Kind: kind, Value: m.To}
	}
	e.Reached = a.State == notify.StateSent
	if m.Kind == KindReminder {
		return e
	}
	e.Delivery = Sent
	if a.State == notify.StateFailed {
		e.Delivery = Failed
	}
	return e
}

// DeliveryEvent is the event that announces an invite's new delivery
// state.
func DeliveryEvent(d Delivery) event.Type {
	switch d {
	case Sent:
		return event.InviteSent
	case Delivered:
		return event.InviteDelivered
	case Failed:
		return event.InviteDeliveryFailed
	}
	return ""
}
