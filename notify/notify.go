// Package notify delivers queued messages: dispatcher workers claim them
// from the outbox, hand them to a Sender (SMTP, Twilio, or the development
// sink), and record each attempt. Transient failures are retried with
// exponential backoff and jitter; permanent ones are not. Nothing is sent
// inside a database transaction.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is a claimed outbox message.
type Message struct {
	ID          int64
	InviteID    string
	Kind        string
	Channel     string
	To          string
	Subject     string
	Text        string
	HTML        string
	Unsubscribe string
	// Attempt is 1 for the first try.
	Attempt int
	// CapDecided says the per-recipient cap was applied to this message
	// (by the gate, or on an earlier attempt: it is recorded with the
	// attempt); Capped is what it decided.
	CapDecided bool
	Capped     bool
}

// Outcome is what happened to one message.
type Outcome struct {
	// ProviderID is the provider's id for the message (Message-ID, SMS sid).
	ProviderID string
	Err        error
}

// Sender sends messages of one channel. It returns one outcome a message,
// in order. A Sender is used by one worker at a time.
type Sender interface {
	Send(ctx context.Context, msgs []Message) []Outcome
	Close() error
}

// States of a recorded attempt.
const (
	StateSent   = "sent"
	StateRetry  = "retry"
	StateFailed = "failed"
	// StateHeld is a message the Gate held back: not sent, but recorded
	// so that, to the inviter, it looks exactly like a sent one.
	StateHeld = "held"
)

// Gate decides at the moment of sending whether each message may go
// (consent and caps are checked at every send, not only when queued).
type Gate interface {
	// Admit returns, in order, whether each message may be sent.
	Admit(ctx context.Context, msgs []Message) ([]bool, error)
}

// DeliveryReporter is implemented by senders whose provider later reports
// delivery (Twilio's status callbacks): a held message of their channel is
// then also reported delivered, as a real one would be.
type DeliveryReporter interface {
	ReportsDelivery() bool
}

// Attempt is the outcome of one delivery attempt, to record.
type Attempt struct {
	Message    Message
	State      string
	ProviderID string
	Reason     string
	// RetryAt is when to try again, for StateRetry.
	RetryAt time.Time
	// ReportAt, for a held message on a channel that reports delivery, is
	// when to report it delivered, as the provider would a real one.
	ReportAt time.Time
	// OptedOut says the provider refused the message because the
	// recipient opted out with it: the address is unsubscribed.
	OptedOut bool
}

// Outbox is where messages wait. Each method is one transaction.
type Outbox interface {
	// Claim leases up to n due messages (pending and due, or sending with
	// an expired lease: a worker died) until lease from now.
	Claim(ctx context.Context, n int, lease time.Duration) ([]Message, error)
	// Record records attempts: a sent, held or failed message's body is
	// wiped and its invite's delivery updated, with the event (a held
	// message exactly as a sent one); a retried one waits until RetryAt.
	Record(ctx context.Context, attempts []Attempt) error
	// Release gives claimed messages that were not tried back, as they
	// were before the claim (not counted as an attempt), for any worker to
	// claim at once.
	Release(ctx context.Context, msgs []Message) error
	// ReportHeld reports up to n held messages whose ReportAt has come
	// delivered, as a provider's report does a real one; any node may run
	// it, and each report is made once.
	ReportHeld(ctx context.Context, n int) error
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return "permanent: " + p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return permanent{err} }

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error { return permanent{fmt.Errorf(format, args...)} }

// optedOut marks a provider's refusal because the recipient opted out with
// the provider (Twilio's 21610).
type optedOut struct{ err error }

func (o optedOut) Error() string { return "recipient opted out: " + o.err.Error() }
func (o optedOut) Unwrap() error { return o.err }

// OptedOut wraps err as a provider's "the recipient opted out" refusal.
func OptedOut(err error) error { return optedOut{err} }

// IsOptedOut reports whether err is a provider's opt-out refusal.
func IsOptedOut(err error) bool {
	var o optedOut
	return errors.As(err, &o)
}

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
