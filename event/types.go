package event

// Type names what happened; each is declared once, here. Consumers branch
// on it: a type never changes once published.
type Type string

// The event types.
const (
	InviteCreated        Type = "invite.created"
	InviteSent           Type = "invite.sent"
	InviteDelivered      Type = "invite.delivered"
	InviteDeliveryFailed Type = "invite.delivery_failed"
	InviteAccepted       Type = "invite.accepted"
	InviteDeclined       Type = "invite.declined"
	InviteRevoked        Type = "invite.revoked"
	InviteExpired        Type = "invite.expired"
	RequestCreated       Type = "request.created"
	RequestAccepted      Type = "request.accepted"
	RequestDeclined      Type = "request.declined"
	RequestBlocked       Type = "request.blocked"
	RequestReported      Type = "request.reported"
	AccountLinked        Type = "account.linked"
)

// Data is the data of one event, which knows its type. Writers store it
// as the event's JSON; the feed and the webhook pass that JSON on as is.
//
// The fields of each payload are declared in the order of their JSON keys,
// the order the events have always been written in.
type Data interface {
	EventType() Type
}

// InviteData is the data of the invite events that carry only the invite
// (created, sent, delivered, delivery_failed, declined, revoked, expired):
// Invite is an invite.Invite, written as the API shows it.
type InviteData struct {
	Type   Type `json:"-"`
	Invite any  `json:"invite"`
}

// EventType returns d.Type.
func (d InviteData) EventType() Type { return d.Type }

// AcceptedData is the data of invite.accepted: the invite (invite.Invite),
// the account that accepted it, and the chat (invite.Chat) to add it to.
type AcceptedData struct {
	AccountID string `json:"account_id"`
	Chat      any    `json:"chat"`
	Invite    any    `json:"invite"`
}

// EventType returns InviteAccepted.
func (AcceptedData) EventType() Type { return InviteAccepted }

// RequestData is the data of request.created: a pending invite
// (invite.Invite) that became a message request from Sender to Recipient
// (account ids) in Chat (invite.Chat) when Recipient linked its identifier,
// or — Invite nil, Chat {"id"} — the request the gate created on the first
// check of a message from Sender to Recipient.
type RequestData struct {
	Chat      any    `json:"chat"`
	Invite    any    `json:"invite"`
	Recipient string `json:"recipient"`
	RequestID string `json:"request_id"`
	Sender    string `json:"sender"`
}

// EventType returns RequestCreated.
func (RequestData) EventType() Type { return RequestCreated }

// RequestChangeData is the data of the events of a recipient's decision
// on a message request (request.accepted, declined, blocked, reported):
// Request is a request.Request, written as the API shows it.
type RequestChangeData struct {
	Type    Type `json:"-"`
	Request any  `json:"request"`
}

// EventType returns d.Type.
func (d RequestChangeData) EventType() Type { return d.Type }

// LinkedData is the data of account.linked: an identifier
// (resolver.Identifier) newly bound to an account.
type LinkedData struct {
	AccountID  string `json:"account_id"`
	Identifier any    `json:"identifier"`
}

// EventType returns AccountLinked.
func (LinkedData) EventType() Type { return AccountLinked }
