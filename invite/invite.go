// Package invite is the invitation lifecycle: create (with dedupe and abuse
// limits), read, list, revoke and resend; the consent gate the dispatcher
// asks at every send (Admit); the recipient's actions and linking. An
// invite and its outbox message are handed to the store together, to be
// written in one transaction; delivery happens later (package notify). It
// imports neither net/http nor database/sql.
package invite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/resolver"
)

// Status is where an invite is in its life.
type Status string

// The statuses of an invite.
const (
	Pending  Status = "pending"
	Accepted Status = "accepted"
	Declined Status = "declined"
	Revoked  Status = "revoked"
	Expired  Status = "expired"
)

// Delivery is how far the invitation message got.
type Delivery string

// The delivery states.
const (
	Queued    Delivery = "queued"
	Sent      Delivery = "sent"
	Delivered Delivery = "delivered"
	Failed    Delivery = "failed"
)

// Chat kinds.
const (
	OneOnOne = "one_on_one"
	Group    = "group"
)

// Channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Message kinds: the invitation, and the reminder before it expires.
const (
	KindInvite   = "invite"
	KindReminder = "reminder"
)

// Chat is the chat that waits for the recipient.
type Chat struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Title string `json:"title,omitempty"`
}

// Invite is an invitation. Suppressed is true until one of its messages
// really goes out (none has yet, or all were held back); the inviter never
// sees it: a held message shows exactly as a sent one.
type Invite struct {
	ID         string
	InviterID  string
	TenantID   string
	Recipient  resolver.Identifier
	Channel    string
	Chat       Chat
	Locale     string
	Status     Status
	Delivery   Delivery
	Suppressed bool
	Resends    int
	LastSentAt time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedBy string
}

type inviteJSON struct {
	ID         string              `json:"id"`
	Status     Status              `json:"status"`
	Delivery   Delivery            `json:"delivery"`
	Channel    string              `json:"channel"`
	Inviter    string              `json:"inviter"`
	Recipient  resolver.Identifier `json:"recipient"`
	Chat       Chat                `json:"chat"`
	Locale     string              `json:"locale"`
	CreatedAt  time.Time           `json:"created_at"`
	ExpiresAt  time.Time           `json:"expires_at"`
	AcceptedBy *string             `json:"accepted_by"`
}

// MarshalJSON writes the invite object of the API contract (never the
// Suppressed flag).
func (i Invite) MarshalJSON() ([]byte, error) {
	out := inviteJSON{ID: i.ID, Status: i.Status, Delivery: i.Delivery, Channel: i.Channel, Inviter: i.InviterID,
		Recipient: i.Recipient, Chat: i.Chat, Locale: i.Locale, CreatedAt: i.CreatedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC()}
	if i.AcceptedBy != "" {
		out.AcceptedBy = &i.AcceptedBy
	}
	return json.Marshal(out)
}

// Message is an outbox message, rendered when it is queued: it holds the
// link (and so the token) until it is sent, and nothing afterwards.
type Message struct {
	InviteID string
	Kind     string // KindInvite or KindReminder
	Channel  string
	To       string
	Subject  string
	Text     string
	HTML     string
	// Unsubscribe is the one-click unsubscribe URL (RFC 8058), for email.
	Unsubscribe string
	// TemplateLocale and TemplateVersion say which template version the
	// message was rendered from.
	TemplateLocale  string
	TemplateVersion int
}

// Token is a new random invite token and its stored hash.
type Token struct {
	Secret string
	Hash   string
}

// NewToken returns 256 random bits, URL-safe, and their SHA-256.
func NewToken() (Token, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	return Token{Secret: secret, Hash: HashToken(secret)}, nil
}

// HashToken returns the stored form of a token.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Filter selects invites to list, newest first, after the cursor.
type Filter struct {
	InviterID string
	Status    Status
	ChatID    string
	After     string
	Limit     int
}

// Store keeps invites. Every method is one transaction.
type Store interface {
	// CreateInvite stores inv with its token hash, its message and the
	// invite.created event.
	CreateInvite(ctx context.Context, inv Invite, tokenHash string, msg *Message) error
	// Invite returns an invite, or a fault NotFound invite_not_found.
	Invite(ctx context.Context, id string) (Invite, error)
	// PendingInvite returns the inviter's pending invite to id for chatID
	// ("" for any chat), or nil.
	PendingInvite(ctx context.Context, inviterID string, id resolver.Identifier, chatID string) (*Invite, error)
	// PendingInvitesTo returns, in the order of ids, the inviter's newest
	// pending invite to each (any chat) or nil, in one query.
	PendingInvitesTo(ctx context.Context, inviterID string, ids []resolver.Identifier) ([]*Invite, error)
	Invites(ctx context.Context, f Filter) ([]Invite, error)
	// Revoke ends a pending invite, forgets its tokens and emits
	// invite.revoked; Conflict invite_not_pending otherwise.
	Revoke(ctx context.Context, id string) (Invite, error)
	// Resend stores a new token and a new message.
	Resend(ctx context.Context, inv Invite, tokenHash string, msg *Message) (Invite, error)
	// Refuses reports whether the identifier asked for no invitations or
	// blocked the inviter.
	Refuses(ctx context.Context, id resolver.Identifier, inviterID string) (bool, error)
	// InviteByToken returns the invite a token hash opens, or ErrGone.
	InviteByToken(ctx context.Context, hash string) (Invite, error)
	// End ends a pending invite with status (declined), forgets its tokens
	// and emits an event of type typ; blockInviter also blocks the inviter
	// from the recipient's identifier. ErrGone when it is not pending.
	End(ctx context.Context, id string, status Status, typ event.Type, blockInviter bool) (Invite, error)
	// Unsubscribe records that the identifier wants no invitations.
	Unsubscribe(ctx context.Context, id resolver.Identifier) error
	// Resubscribe forgets that the identifier wanted no invitations.
	Resubscribe(ctx context.Context, id resolver.Identifier) error
	// IssueTicket stores a sign-up ticket hash for the invite.
	IssueTicket(ctx context.Context, inv Invite, hash string, expires time.Time) error
	// Ticket returns the sign-up ticket with this hash, used or not, or
	// ErrInvalidTicket when there is none.
	Ticket(ctx context.Context, hash string) (Ticket, error)
	// ExpireDue expires up to limit overdue invites, with their events.
	ExpireDue(ctx context.Context, limit int) (int, error)
	// DueReminders lists email invites to remind: pending, not reminded,
	// expiring within `within`.
	DueReminders(ctx context.Context, within time.Duration, limit int) ([]Invite, error)
	// MarkReminded claims the invite's one reminder: false when another
	// node took it or the invite ended.
	MarkReminded(ctx context.Context, id string) (bool, error)
	// QueueReminder stores a claimed reminder's token and message.
	QueueReminder(ctx context.Context, inv Invite, tokenHash string, msg *Message) error
	// ReportDelivery records a provider's delivery report.
	ReportDelivery(ctx context.Context, providerID string, delivery Delivery) error
	// Link runs fn in one transaction, committed when fn returns nil.
	Link(ctx context.Context, fn func(LinkTx) error) error
}
