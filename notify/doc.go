// Package notify will deliver invitations by email (go-mail) and SMS
// (twilio-go) from a transactional outbox. It is empty until the
// invitations work lands; nothing in Beckon sends messages yet.
package notify
