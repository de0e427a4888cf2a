// Package fault defines the errors that Beckon's domain packages return.
//
// A fault carries a Kind (what went wrong, in terms the transport maps to a
// status), a stable snake_case Code that is part of the API contract (every
// code is declared once, in codes.go), a human message and, when one input
// field is at fault, its name. Exactly one place (the HTTP adapter) turns a
// Kind into a status code.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a fault for the transport layer.
type Kind int

// The kinds of fault. Internal is the zero value so that an unclassified
// error is never reported as the caller's fault.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	Forbidden
	Unauthorized
	RateLimited
	TooLarge
	Unprocessable
	UnsupportedMedia
	MethodNotAllowed
	Gone
	// Unavailable: a service the request needs (the database) does not
	// answer; the caller may retry after RetryAfter.
	Unavailable
)

// Error is a domain error with a stable code.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
	// RetryAfter, for RateLimited and Unavailable, says when to try again.
	RetryAfter time.Duration
	// Problems, for a refused template, say each place and reason.
	Problems []Problem
}

// Problem is one reason a template is refused: its part, line and column
// (1-based; 0 when not known) and the reason.
type Problem struct {
	Part   string `json:"part"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// New returns a fault of the given kind.
func New(kind Kind, code, field, message string) *Error {
	return &Error{Kind: kind, Code: code, Field: field, Message: message}
}

// Limited returns a RateLimited rate_limited fault that says when to try
// again (zero: not known).
func Limited(retryAfter time.Duration, message string) *Error {
	return &Error{Kind: RateLimited, Code: CodeRateLimited, Message: message, RetryAfter: retryAfter}
}

// WithField returns a copy of e about another input field.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// Invalidf returns an Invalid fault for field with a formatted message.
func Invalidf(code, field, format string, args ...any) *Error {
	return New(Invalid, code, field, fmt.Sprintf(format, args...))
}

// As returns the *Error in err's chain, or nil when there is none.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of the fault in err's chain, or "" for none.
func CodeOf(err error) string {
	if e := As(err); e != nil {
		return e.Code
	}
	return ""
}
