package api

import (
	"log/slog"
	"net/http"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
)

type resolveRequest struct {
	Requester  string `json:"requester"`
	Identifier string `json:"identifier"`
	Region     string `json:"region"`
}

type batchRequest struct {
	Requester   string   `json:"requester"`
	Region      string   `json:"region"`
	Identifiers []string `json:"identifiers"`
}

type batchResponse struct {
	Results []any `json:"results"`
}

// chargeRequester charges n resolves to the requester's limit, before
// anything is looked up, so that probing for account ids costs the same.
func (s *Server) chargeRequester(w http.ResponseWriter, r *http.Request, id string, n int) bool {
	if err := required("requester", id); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return s.allow(w, r, "requester", id, s.limits.PerRequester, n)
}

// countResolve counts an outcome and, at debug level, logs it with the
// identifier redacted.
func (s *Server) countResolve(r *http.Request, requester string, res resolver.Result, err error) {
	label, outcome := string(res.Match), string(res.Match)
	if err != nil {
		label, outcome = "error", fault.CodeOf(err)
	}
	s.metrics.resolved.WithLabelValues(label).Inc()
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "resolve", slog.String("requester", requester),
			slog.String("identifier", resolver.Redact(res.Identifier.Value)), slog.String("outcome", outcome))
	}
}

func (s *Server) handleResolve() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[resolveRequest](w, r, maxBody, nil)
		if err == nil {
			err = required("identifier", body.Identifier)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !s.chargeRequester(w, r, body.Requester, 1) {
			return
		}
		res, err := s.resolver.Resolve(r.Context(), body.Requester, resolver.Query{Identifier: body.Identifier, Region: body.Region})
		s.countResolve(r, body.Requester, res, err)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, res)
	})
}

func (s *Server) handleResolveBatch() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[batchRequest](w, r, maxBatchBody, nil)
		switch {
		case err != nil:
		case len(body.Identifiers) == 0:
			err = fault.Invalidf(fault.CodeMissingField, "identifiers", "give between 1 and %d identifiers", resolver.MaxBatch)
		case len(body.Identifiers) > resolver.MaxBatch:
			err = fault.Invalidf(fault.CodeTooManyIdentifiers, "identifiers", "at most %d identifiers a batch", resolver.MaxBatch)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !s.chargeRequester(w, r, body.Requester, len(body.Identifiers)) {
			return
		}
		qs := make([]resolver.Query, len(body.Identifiers))
		for i, id := range body.Identifiers {
			qs[i] = resolver.Query{Identifier: id, Region: body.Region}
		}
		items, err := s.resolver.ResolveBatch(r.Context(), body.Requester, qs)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := batchResponse{Results: make([]any, len(items))}
		for i, it := range items {
			s.countResolve(r, body.Requester, it.Result, it.Err)
			if it.Err != nil {
				out.Results[i] = errorItem(it.Err)
			} else {
				out.Results[i] = it.Result
			}
		}
		encode(w, http.StatusOK, out)
	})
}
