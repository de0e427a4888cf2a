package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/ratelimit"
)

type infoCtx struct{}

// requestInfo is what the handlers learn about a request that the
// request log wants too.
type requestInfo struct {
	key auth.Key
}

// infoFrom returns the request's info; a request outside observe gets a
// throwaway one.
func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoCtx{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeOf returns the route pattern that served r, never the raw path.
func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	return r.Pattern
}

// observe wraps the mux: JSON 404 and 405 answers, panic recovery, one log
// line and metrics per request. It logs the route pattern, not the path,
// and no body, so neither addresses nor tokens reach the log.
func (s *Server) observe(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoCtx{}, info))
		_, pattern := mux.Handler(r)
		r.Pattern = pattern
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(r.Context(), "panic", "route", routeOf(r), "panic", fmt.Sprint(p))
				if sw.status == 0 {
					s.writeError(sw, r, fmt.Errorf("panic: %v", p))
				}
			}
			route := routeOf(r)
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", sw.status), slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("key", info.key.Name))
		}()
		if pattern == "" {
			s.unrouted(sw, r, mux)
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// unrouted answers a request no route took: 405 with Allow when the path
// exists with other methods, else 404. Both count against the client IP.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	if !s.allowIP(w, r) {
		return
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, errMethodNotAllowed)
		return
	}
	s.writeError(w, r, errNotFound)
}

// ClientIP returns the client's address: the TCP peer, unless the peer is
// one of the trusted proxies; then the rightmost X-Forwarded-For address
// that is not a trusted proxy (the left part of the header is whatever the
// client wrote, and cannot be believed).
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		return err == nil && slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
	if !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // garbage: stop believing the header here
		}
		if !isTrusted(hop) {
			return hop
		}
	}
	return host
}

func (s *Server) clientIP(r *http.Request) string { return ClientIP(r, s.trustedProxies) }

// allow charges n events to key under limit, sets the RateLimit-* headers
// and, when refused, answers 429 and returns false.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, name, key string, limit ratelimit.Limit, n int) bool {
	if err := s.charge(w, r, name, key, limit, n); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// charge charges n events to key under limit and sets the RateLimit-*
// headers; when refused, it also sets Retry-After and returns
// errRateLimited for the caller to answer. n may be 0: nothing is charged,
// and the headers still say where the limit stands.
func (s *Server) charge(w http.ResponseWriter, r *http.Request, name, key string, limit ratelimit.Limit, n int) error {
	res, err := s.limiter.AllowN(r.Context(), name+":"+key, limit, n)
	if err != nil {
		s.log.ErrorContext(r.Context(), "rate limiter failed; allowing", "limit", name, "err", err)
		return nil
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(limit.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, res.Remaining)))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(res.ResetAfter)))
	if n == 0 || res.OK() {
		return nil
	}
	// A refusal charges nothing: say what is left (the limiters answer 0),
	// so that a client can fit its next request to it.
	if peek, err := s.limiter.AllowN(r.Context(), name+":"+key, limit, 0); err == nil {
		h.Set("RateLimit-Remaining", strconv.Itoa(max(0, peek.Remaining)))
	}
	if n > limit.Burst {
		res.RetryAfter = limit.Period // it will never fit; say so plainly
	}
	h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(res.RetryAfter))))
	s.metrics.rateLimited.WithLabelValues(name).Inc()
	return errRateLimited
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// allowIP applies the per-IP limit of unauthenticated traffic.
func (s *Server) allowIP(w http.ResponseWriter, r *http.Request) bool {
	return s.allow(w, r, "ip", s.clientIP(r), s.limits.PerIP, 1)
}

// authed requires an API key with one of scopes, and applies the per-key
// limit. A failed authentication counts against the client IP, so that
// guessing keys is slow.
func (s *Server) authed(h http.Handler, scopes ...auth.Scope) http.Handler {
	denied := errInsufficientScope(scopes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key, err := s.keys.Authenticate(r.Context(), strings.TrimSpace(secret))
		if !ok || err != nil {
			if f := fault.As(err); ok && err != nil && f == nil {
				s.writeError(w, r, err)
				return
			}
			if s.allowIP(w, r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="beckon"`)
				s.writeError(w, r, auth.ErrUnauthorized)
			}
			return
		}
		infoFrom(r.Context()).key = key
		if !key.Has(scopes...) {
			s.writeError(w, r, denied)
			return
		}
		if !s.allow(w, r, "key", key.ID, s.limits.PerKey, 1) {
			return
		}
		h.ServeHTTP(w, r)
	})
}
