// Package api is Beckon's HTTP adapter: it decodes requests, checks API
// keys, scopes and rate limits, calls the domain services and encodes their
// answers as the contract in docs/openapi.yaml says.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/contactsync"
	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/event"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/spam"
	"github.com/beckon-chat/beckon/templates"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits are the rate limits the server applies.
type Limits struct {
	// PerKey limits every request made with one API key.
	PerKey ratelimit.Limit
	// PerRequester limits resolves by one requester: each entry counts,
	// except, with Config.Contacts, those the requester looked up recently.
	PerRequester ratelimit.Limit
	// PerIP limits unauthenticated requests (and failed authentications)
	// from one client address.
	PerIP ratelimit.Limit
}

// Check is a readiness check: a name and a probe that returns a status
// word ("ok", or a degraded state) or an error when not ready.
type Check struct {
	Name  string
	Probe func(ctx context.Context) (string, error)
}

// Config is what a Server needs.
type Config struct {
	Directory *directory.Service
	Resolver  *resolver.Service
	// Contacts, if not nil, charges resolves only for the identifiers
	// new to the requester (contact sync); nil: every entry is charged.
	Contacts  *contactsync.Service
	Keys      *auth.Service
	Invites   *invite.Service
	Requests  *request.Service
	Templates *templates.Library
	// SpamDomains is the list of bad link domains of the spam screen
	// (/v1/spam/domains); nil: those routes are not served.
	SpamDomains *spam.Domains
	Events      event.Store
	// Idempotency keeps responses for Idempotency-Key; nil: not honoured.
	Idempotency IdempotencyStore
	// Wake, if not nil, is called when a message was queued.
	Wake    func()
	Limiter ratelimit.Limiter
	Limits  Limits
	// PublicURL is the base of invite links; SignupURL is where accepting
	// recipients go. DevSignup serves the development sign-up page.
	PublicURL string
	SignupURL string
	DevSignup bool
	// ProductName is the product the recipient's pages name (where to
	// sign in); empty: "Beckon".
	ProductName string
	// TwilioAuthToken checks Twilio's callbacks; empty: they answer 404.
	TwilioAuthToken string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MaxImportBytes caps the streamed body of the import endpoint.
	MaxImportBytes int64
	Checks         []Check
	// Metrics are served on /metrics and counted into; nil: a set of the
	// server's own.
	Metrics *Metrics
	Log     *slog.Logger
	// Classify, if not nil, turns errors that are not faults into faults
	// where it can: store.Classify makes "database unavailable" a 503.
	Classify func(error) error
}

// Server serves the Beckon API.
type Server struct {
	dir            *directory.Service
	resolver       *resolver.Service
	contacts       *contactsync.Service
	lookups        *prometheus.CounterVec
	keys           *auth.Service
	invites        *invite.Service
	requests       *request.Service
	templates      *templates.Library
	spamDomains    *spam.Domains
	events         event.Store
	idem           IdempotencyStore
	wake           func()
	limiter        ratelimit.Limiter
	limits         Limits
	maxImportBytes int64
	checks         []Check
	log            *slog.Logger
	metrics        *Metrics
	mux            *http.ServeMux
	patterns       []string
	pages          pageConfig
	devSignup      bool
	twilioToken    string
	trustedProxies []netip.Prefix
	classify       func(error) error
	// unavailableLogged is when (Unix ns) a 503 was last logged: at most
	// one line every unavailableLogEvery, not one per request.
	unavailableLogged atomic.Int64
}

// New returns a Server; call Handler to serve it.
func New(cfg Config) (*Server, error) {
	pages, err := newPageConfig(cfg.PublicURL, cfg.SignupURL, cfg.ProductName)
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir: cfg.Directory, resolver: cfg.Resolver, contacts: cfg.Contacts, keys: cfg.Keys, invites: cfg.Invites, requests: cfg.Requests, templates: cfg.Templates,
		spamDomains: cfg.SpamDomains,
		events:      cfg.Events, idem: cfg.Idempotency, wake: cfg.Wake,
		limiter: cfg.Limiter, limits: cfg.Limits,
		maxImportBytes: cfg.MaxImportBytes, checks: cfg.Checks, log: cfg.Log, metrics: cfg.Metrics,
		mux: http.NewServeMux(), pages: pages, devSignup: cfg.DevSignup, twilioToken: cfg.TwilioAuthToken,
		trustedProxies: cfg.TrustedProxies, classify: cfg.Classify,
	}
	if s.classify == nil {
		s.classify = func(err error) error { return err }
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.lookups, err = newLookupCounter(s.metrics); err != nil {
		return nil, err
	}
	if s.wake == nil {
		s.wake = func() {}
	}
	if s.devSignup {
		s.log.Warn("development sign-up page is on: set BECKON_SIGNUP_URL in production")
	}
	s.routes()
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.observe(s.mux) }

// NewHTTPServer returns an http.Server for h with timeouts that suit an API.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Minute, // imports stream large bodies
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
