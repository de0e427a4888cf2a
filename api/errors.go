package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/fault"
)

// statusOf is the one mapping from a fault kind to an HTTP status.
var statusOf = map[fault.Kind]int{
	fault.Invalid:          http.StatusBadRequest,
	fault.Unauthorized:     http.StatusUnauthorized,
	fault.Forbidden:        http.StatusForbidden,
	fault.NotFound:         http.StatusNotFound,
	fault.Conflict:         http.StatusConflict,
	fault.TooLarge:         http.StatusRequestEntityTooLarge,
	fault.UnsupportedMedia: http.StatusUnsupportedMediaType,
	fault.Unprocessable:    http.StatusUnprocessableEntity,
	fault.RateLimited:      http.StatusTooManyRequests,
	fault.MethodNotAllowed: http.StatusMethodNotAllowed,
	fault.Gone:             http.StatusGone,
	fault.Unavailable:      http.StatusServiceUnavailable,
}

// unavailableLogEvery spaces the log lines of 503 answers: a database
// restart under load is a few lines, not one per request.
const unavailableLogEvery = 10 * time.Second

// faultOf returns the fault err is, after the classifier of the Config
// (the store's: "database unavailable") had its say; nil for an internal
// error.
func (s *Server) faultOf(err error) *fault.Error {
	if f := fault.As(err); f != nil {
		return f
	}
	f := fault.As(s.classify(err))
	if f != nil && f.Kind == fault.Unavailable {
		now := time.Now().UnixNano()
		if last := s.unavailableLogged.Load(); now-last > int64(unavailableLogEvery) && s.unavailableLogged.CompareAndSwap(last, now) {
			s.log.Warn("answering 503: a service the request needs is unavailable (logged at most every 10 s)", "code", f.Code, "err", err)
		}
	}
	return f
}

// setRetryAfter sets Retry-After (whole seconds, at least 1) for a fault
// that says when to try again.
func setRetryAfter(w http.ResponseWriter, f *fault.Error) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(f.RetryAfter))))
	}
}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Problems, for template_invalid, say each place and reason.
	Problems []fault.Problem `json:"problems,omitempty"`
}

// errorItem is an error in place of a result in a batch answer.
func errorItem(err error) errorBody {
	f := fault.As(err)
	return errorBody{Error: errorJSON{Code: f.Code, Message: f.Message, Field: f.Field}}
}

// writeError is the one place that turns an error into an HTTP answer. A
// fault is the caller's; an error the Config's classifier makes a fault
// (the database unavailable: 503 with Retry-After) is answered as one;
// anything else is logged and answered with 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.faultOf(err)
	status, known := 0, false
	if f != nil {
		status, known = statusOf[f.Kind]
	}
	if !known {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the client went away; nobody reads the answer
		}
		s.log.ErrorContext(r.Context(), "internal error", "route", routeOf(r), "err", err)
		encode(w, http.StatusInternalServerError, errorBody{Error: errorJSON{Code: fault.CodeInternal, Message: "something went wrong on our side"}})
		return
	}
	setRetryAfter(w, f)
	encode(w, status, errorBody{Error: errorJSON{Code: f.Code, Message: f.Message, Field: f.Field, Problems: f.Problems}})
}

// Faults of the transport itself.
var (
	errNotFound         = fault.New(fault.NotFound, fault.CodeNotFound, "", "no such endpoint")
	errMethodNotAllowed = fault.New(fault.MethodNotAllowed, fault.CodeMethodNotAllowed, "", "this endpoint does not take that method")
	errRateLimited      = fault.Limited(0, "too many requests: retry after the number of seconds in Retry-After")
	errForm             = fault.Invalidf(fault.CodeInvalidForm, "", "the form could not be read")
)

// errInsufficientScope names the scope an endpoint needs (any one of
// scopes): "this key lacks the directory or requests scope".
func errInsufficientScope(scopes []auth.Scope) error {
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	return fault.New(fault.Forbidden, fault.CodeInsufficientScope, "", fmt.Sprintf("this key lacks the %s scope", strings.Join(names, " or ")))
}
