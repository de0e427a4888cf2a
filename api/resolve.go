package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/prometheus/client_golang/prometheus"
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

// meter returns what charges requester's resolve to its limit, after the
// identifiers are normalised and before anything is looked up, so that
// probing for account ids costs the same: with contact sync, only the
// identifiers new to the requester and the invalid entries are charged;
// without, every entry.
func (s *Server) meter(w http.ResponseWriter, r *http.Request, requester string) resolver.Meter {
	charge := func(n int) error {
		return s.charge(w, r, "requester", requester, s.limits.PerRequester, n)
	}
	return func(ctx context.Context, ids []resolver.Identifier, invalid int) error {
		if s.contacts == nil {
			return charge(len(ids) + invalid)
		}
		bill, err := s.contacts.Charge(ctx, requester, ids, invalid, charge)
		s.lookups.WithLabelValues("new").Add(float64(bill.Fresh))
		s.lookups.WithLabelValues("known").Add(float64(bill.Known))
		s.lookups.WithLabelValues("invalid").Add(float64(bill.Invalid))
		if bill.Degraded {
			s.lookups.WithLabelValues("unremembered").Add(float64(bill.Fresh))
		}
		return err
	}
}

// newLookupCounter registers the counter of resolved entries by what they
// cost the requester.
func newLookupCounter(m *Metrics) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "beckon_resolve_lookups_total",
		Help: "Resolved entries by their charge to the requester's limit: new (charged), known (looked up within the contact sync window: free), invalid (charged), unremembered (charged because the contact sync store failed; also counted as new).",
	}, []string{"charge"})
	if err := m.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			return are.ExistingCollector.(*prometheus.CounterVec), nil
		}
		return nil, err
	}
	return c, nil
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
		if err = required("requester", body.Requester); err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := s.resolver.ResolveMetered(r.Context(), body.Requester,
			resolver.Query{Identifier: body.Identifier, Region: body.Region}, s.meter(w, r, body.Requester))
		if err != errRateLimited {
			s.countResolve(r, body.Requester, res, err)
		}
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
		if err = required("requester", body.Requester); err != nil {
			s.writeError(w, r, err)
			return
		}
		qs := make([]resolver.Query, len(body.Identifiers))
		for i, id := range body.Identifiers {
			qs[i] = resolver.Query{Identifier: id, Region: body.Region}
		}
		items, err := s.resolver.ResolveBatchMetered(r.Context(), body.Requester, qs, s.meter(w, r, body.Requester))
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
