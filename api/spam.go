package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/spam"
	"github.com/prometheus/client_golang/prometheus"
)

// SpamMetrics count the spam screen's verdicts by rule and the calls of
// its external classifier by outcome.
type SpamMetrics struct {
	verdicts *prometheus.CounterVec
	hook     *prometheus.CounterVec
}

// NewSpamMetrics registers the spam screen's counters on m, each label
// value of verdicts and outcomes shown at zero from the start. Errors: a
// clash with metrics registered already.
func NewSpamMetrics(m *Metrics, verdicts, outcomes []string) (*SpamMetrics, error) {
	s := &SpamMetrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_spam_verdicts_total",
			Help: "Pre-acceptance messages by the spam screen's verdict: the rule that called them spam, hook, hook_failed, or none.",
		}, []string{"rule"}),
		hook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_spam_hook_calls_total",
			Help: "Calls of the external spam classifier by outcome: spam, ham, timeout, unreachable, bad_status, bad_answer.",
		}, []string{"outcome"}),
	}
	for _, v := range verdicts {
		s.verdicts.WithLabelValues(v)
	}
	for _, o := range outcomes {
		s.hook.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{s.verdicts, s.hook} {
		if err := m.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Verdict counts a verdict of the screen.
func (s *SpamMetrics) Verdict(rule string) { s.verdicts.WithLabelValues(rule).Inc() }

// HookCall counts a call of the external classifier.
func (s *SpamMetrics) HookCall(outcome string) { s.hook.WithLabelValues(outcome).Inc() }

func (s *Server) handleSpamDomainList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := s.spamDomains.List(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if list == nil {
			list = []spam.Domain{}
		}
		encode(w, http.StatusOK, listJSON[spam.Domain]{Items: list})
	})
}

func (s *Server) handleSpamDomainPut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.spamDomains.Put(r.Context(), r.PathValue("domain"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, d)
	})
}

func (s *Server) handleSpamDomainDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.spamDomains.Delete(r.Context(), r.PathValue("domain")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
