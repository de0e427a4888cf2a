package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handleReadyz runs every check: 503 when one fails; 200 with status
// "degraded" when one reports a degraded state (such as the in-process
// rate limiter standing in for Redis) but the service can serve.
func handleReadyz(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		resp := readyResponse{Status: "ok", Checks: map[string]string{}}
		status := http.StatusOK
		for _, c := range checks {
			word, err := c.Probe(ctx)
			switch {
			case err != nil:
				resp.Checks[c.Name] = "unavailable"
				resp.Status, status = "unavailable", http.StatusServiceUnavailable
			case word != "ok":
				resp.Checks[c.Name] = word
				if status == http.StatusOK {
					resp.Status = "degraded"
				}
			default:
				resp.Checks[c.Name] = "ok"
			}
		}
		encode(w, status, resp)
	})
}

func (s *Server) handleMetrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
