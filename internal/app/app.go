// Package app wires one Beckon node: storage, limits, the domain services,
// the delivery workers and the HTTP API. The binary (cmd/beckon) and the
// tests build a node with the same constructor, New, so that a feature
// wired only in a test harness cannot happen.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/contactsync"
	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/notify/twilio"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/ratelimit/redislimit"
	"github.com/beckon-chat/beckon/reputation"
	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/smsguard"
	"github.com/beckon-chat/beckon/spam"
	"github.com/beckon-chat/beckon/spam/hook"
	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/templates"
	"github.com/beckon-chat/beckon/webhook"
)

// Config is what a node needs; cmd/beckon reads it from the environment
// (every key is in .env.example with its default).
type Config struct {
	Addr           string
	DatabaseURL    string
	DBMaxConns     int
	RedisURL       string
	RedisCAFile    string
	AutoMigrate    bool
	LogLevel       string
	LogFormat      string
	Limits         api.Limits
	MaxImportBytes int64
	KeyCacheTTL    time.Duration

	PublicURL    string
	InviteTTL    time.Duration
	InviteLimits invite.Limits
	SMTPURL      string
	SMTPCAFile   string
	MailFrom     string
	DevOutbox    string
	Workers      int
	Lease        time.Duration
	Twilio       twilio.Config
	SignupURL    string
	DevSignup    bool
	ProductName  string

	WebhookURL    string
	WebhookSecret string

	TrustedProxies []netip.Prefix

	// DatabaseReadURLs are PostgreSQL read replicas for resolve; empty:
	// resolve reads the primary. ReadMaxLag bounds how far behind a
	// replica may be and still serve (0: 500ms).
	DatabaseReadURLs []string
	ReadMaxLag       time.Duration

	// PprofAddr, when not empty, is the private address of the profiling
	// listener (PprofHandler); cmd/beckon serves it, apart from Addr.
	PprofAddr string

	// ContactSyncSecret keys the contact sync hashes; empty: a secret
	// generated once and kept in the database. ContactSyncTTL is how long
	// a lookup keeps the next ones of the same identifier free (0: 30
	// days).
	ContactSyncSecret string
	ContactSyncTTL    time.Duration

	// TemplateCheckEvery is how often the node checks for a newly
	// activated template version (0: 500 ms).
	TemplateCheckEvery time.Duration

	// SMSTenantDailyBudget is how many SMS invitations a tenant may send
	// a UTC day (0: no budget); SMSPrefixCoolOff is how long SMS to a
	// pumped destination prefix stop (package smsguard).
	SMSTenantDailyBudget int
	SMSPrefixCoolOff     time.Duration
	// SMSPrefixMinRecent is the least number of SMS to a prefix in two
	// hours that may put it in cool-off (0: smsguard's default, 30).
	SMSPrefixMinRecent int
	// ReputationCacheTTL is how long a node keeps a sender's reputation
	// before reading it again (0: reads it every time).
	ReputationCacheTTL time.Duration

	// Spam configures the spam screen of the message-request gate.
	Spam SpamConfig
}

// SpamConfig configures the spam screen: the thresholds of the built-in
// rules (unset: spam.DefaultLimits), how long a node keeps its copy of the
// bad link domains (0: spam.DefaultDomainsTTL), and the optional external
// classifier.
type SpamConfig struct {
	Limits     spam.Limits
	DomainsTTL time.Duration
	// FingerprintSecret keys the text fingerprints (the same on every
	// node); empty: the random key the database keeps (spam_key).
	FingerprintSecret string
	// HookURL, when not empty, is the classifier asked about every
	// message the rules let pass, signed with HookSecret, given HookTimeout
	// (0: hook.DefaultTimeout); when it gives no answer the message passes,
	// or is spam with HookFailClosed.
	HookURL        string
	HookSecret     string
	HookTimeout    time.Duration
	HookFailClosed bool
}

// App is one wired node.
type App struct {
	// DB is the primary database.
	DB *store.DB
	// Server is the HTTP API.
	Server *api.Server
	// Invites is the invitation service.
	Invites *invite.Service
	// Dispatcher delivers the outbox.
	Dispatcher *notify.Dispatcher
	// Templates are the templates ops manage.
	Templates *templates.Library
	// Contacts charges resolves by what is new to the requester.
	Contacts *contactsync.Service

	// Reputation scores senders; its Bad is the spam screen's history
	// rule.
	Reputation *reputation.Service
	// SMSGuard is the SMS cost guard.
	SMSGuard *smsguard.Guard

	cfg      Config
	log      *slog.Logger
	redis    *redislimit.Limiter
	replicas *store.Replicas
}

// New opens the database (and migrates it when cfg.AutoMigrate), connects
// the rate limiter and builds the services and the API. Close releases
// what it opened. Errors: database, Redis URL, provider configuration.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: cfg.DBMaxConns})
	if err != nil {
		return nil, err
	}
	a := &App{DB: db, cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if cfg.AutoMigrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "migrations", applied)
		}
	}
	metrics := api.NewMetrics()
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	checks := []api.Check{{Name: "database", Probe: func(ctx context.Context) (string, error) { return "ok", db.Ping(ctx) }}}
	if cfg.RedisURL != "" {
		redislimit.RouteLogs(log)
		a.redis, err = redislimit.New(cfg.RedisURL, redislimit.Options{CAFile: cfg.RedisCAFile, Log: log,
			OnChange: metrics.SetRateLimitFallback})
		if err != nil {
			return nil, err
		}
		limiter = a.redis
		checks = append(checks, api.Check{Name: "redis", Probe: func(ctx context.Context) (string, error) {
			if err := a.redis.Ping(ctx); err != nil || a.redis.Degraded() {
				return "unavailable: rate limits kept in process", nil
			}
			return "ok", nil
		}})
	}
	tmpl, err := templates.NewLibrary(templates.LibraryConfig{Store: db, Product: cfg.ProductName,
		PublicURL: cfg.PublicURL, Every: cfg.TemplateCheckEvery})
	if err != nil {
		return nil, err
	}
	if err := tmpl.Load(ctx); err != nil {
		return nil, err
	}
	a.Templates = tmpl
	if a.Contacts, err = a.contactSync(ctx); err != nil {
		return nil, err
	}
	res := resolver.NewService(db, invite.Finder{Store: db})
	readRes, replicaChecks, collectors, err := a.openReplicas(res)
	if err != nil {
		return nil, err
	}
	checks = append(checks, replicaChecks...)
	for _, c := range collectors {
		if err := metrics.Register(c); err != nil {
			return nil, err
		}
	}
	g, err := newGuards(cfg, db, metrics, log)
	if err != nil {
		return nil, err
	}
	a.Reputation, a.SMSGuard = g.reputation, g.sms
	a.Invites = invite.NewService(invite.Config{
		Store: db, Accounts: db, Resolver: res, Templates: tmpl, Limiter: limiter, Limits: cfg.InviteLimits,
		PublicURL: cfg.PublicURL, ProductName: cfg.ProductName, TTL: cfg.InviteTTL,
		Reputation: g.reputation, OnShrunk: g.shrunk.Inc, SMSGuard: g.sms,
	})
	senders, err := newSenders(cfg, log)
	if err != nil {
		return nil, err
	}
	a.Dispatcher = notify.NewDispatcher(notify.DispatcherConfig{Outbox: db, Senders: senders, Gate: a.Invites,
		Workers: cfg.Workers, Lease: cfg.Lease, Log: log,
		Observe: func(at notify.Attempt) { metrics.ObserveDelivery(at.Message.Channel, publicState(at.State)) }})
	screen, domains, err := a.newScreen(ctx, metrics)
	if err != nil {
		return nil, err
	}
	a.Server, err = api.New(api.Config{
		PublicURL:       cfg.PublicURL,
		SignupURL:       cfg.SignupURL,
		DevSignup:       cfg.DevSignup,
		ProductName:     cfg.ProductName,
		TwilioAuthToken: cfg.Twilio.AuthToken,
		TrustedProxies:  cfg.TrustedProxies,
		Directory:       directory.NewService(db),
		Resolver:        readRes,
		Contacts:        a.Contacts,
		Invites:         a.Invites,
		Requests:        request.NewService(db, screen),
		SpamDomains:     domains,
		Templates:       tmpl,
		Events:          db,
		Idempotency:     db,
		Wake:            a.Dispatcher.Wake,
		Keys:            auth.NewService(db, time.Now, cfg.KeyCacheTTL),
		Limiter:         limiter,
		Limits:          cfg.Limits,
		MaxImportBytes:  cfg.MaxImportBytes,
		Checks:          checks,
		Metrics:         metrics,
		Log:             log,
		Classify:        store.Classify, // database unavailable → 503
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// publicState is the outcome /metrics shows for an attempt: a held message
// counts as sent, as the inviter sees it, since anyone who can read the
// metrics could match a count to the invite they just made.
func publicState(state string) string {
	if state == notify.StateHeld {
		return notify.StateSent
	}
	return state
}

// Handler is the node's HTTP handler.
func (a *App) Handler() http.Handler { return a.Server.Handler() }

// RunWorkers runs the delivery workers, the invite sweep, the spam
// fingerprint and contact sync prunes and, when configured, the webhook
// dispatcher until ctx ends.
func (a *App) RunWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	if a.cfg.WebhookURL != "" {
		hook := &webhook.Dispatcher{Store: a.DB, URL: a.cfg.WebhookURL, Secret: a.cfg.WebhookSecret,
			Client: &http.Client{Timeout: 15 * time.Second}, Log: a.log, Idle: 200 * time.Millisecond}
		wg.Add(1)
		go func() { defer wg.Done(); hook.Run(ctx) }()
	}
	wg.Add(3)
	go func() { defer wg.Done(); a.sweep(ctx) }()
	go func() { defer wg.Done(); a.pruneSpam(ctx) }()
	go func() { defer wg.Done(); a.pruneContacts(ctx) }()
	a.Dispatcher.Run(ctx)
	wg.Wait()
}

// sweep expires invites and queues reminders every 30 seconds.
func (a *App) sweep(ctx context.Context) {
	failures := &notify.FailureLog{Log: a.log, What: "invite sweep"} // once per run of failures
	for {
		expired, reminded, err := a.Invites.Sweep(ctx)
		if err == nil {
			err = a.SMSGuard.Prune(ctx)
		}
		if ctx.Err() == nil {
			failures.Note(err)
		}
		if expired+reminded > 0 {
			a.log.Info("invite sweep", "expired", expired, "reminders", reminded)
			a.Dispatcher.Wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

// newScreen builds the spam screen: the built-in rules on the database,
// fingerprints keyed with the configured secret or else the database's
// key, then the hook when
// configured; verdicts and hook calls are counted on metrics.
func (a *App) newScreen(ctx context.Context, metrics *api.Metrics) (*spam.Screen, *spam.Domains, error) {
	cfg := a.cfg.Spam
	key := []byte(cfg.FingerprintSecret)
	if len(key) == 0 {
		var err error
		if key, err = a.DB.SpamKey(ctx); err != nil {
			return nil, nil, err
		}
	}
	domains := spam.NewDomains(a.DB, cfg.DomainsTTL, nil)
	rules := spam.Builtin(a.DB, domains, a.Reputation, spam.NewFingerprinter(key), cfg.Limits)
	verdicts := []string{spam.VerdictNone, spam.VerdictHook, spam.VerdictHookFailed}
	for _, r := range rules {
		verdicts = append(verdicts, r.Name())
	}
	counters, err := api.NewSpamMetrics(metrics, verdicts, hook.Outcomes())
	if err != nil {
		return nil, nil, err
	}
	sc := spam.Config{Rules: rules, FailClosed: cfg.HookFailClosed, Observe: counters.Verdict}
	if cfg.HookURL != "" {
		sc.Hook = hook.New(hook.Config{URL: cfg.HookURL, Secret: cfg.HookSecret, Timeout: cfg.HookTimeout, Observe: counters.HookCall})
	}
	return spam.NewScreen(sc), domains, nil
}

// pruneSpam deletes the text fingerprints and new-recipient claims older
// than the longer of the screen's windows every minute (any node may: the
// deletes are idempotent).
func (a *App) pruneSpam(ctx context.Context) {
	failures := &notify.FailureLog{Log: a.log, What: "spam screen pruning"}
	l := a.cfg.Spam.Limits.OrDefaults()
	window := max(l.DuplicateWindow, l.NewRecipientWindow)
	for {
		_, err := a.DB.PruneSpam(ctx, time.Now().Add(-window))
		if ctx.Err() == nil {
			failures.Note(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}

// Close closes the database, the read replicas and the Redis client.
func (a *App) Close() error {
	var errs []error
	if a.replicas != nil {
		errs = append(errs, a.replicas.Close())
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	errs = append(errs, a.DB.Close())
	return errors.Join(errs...)
}

// newSenders picks a sender per channel: SMTP when BECKON_SMTP_URL is set,
// Twilio when its credentials are, else the development sink, which
// writes to BECKON_DEV_OUTBOX.
func newSenders(cfg Config, log *slog.Logger) (func(string) (notify.Sender, error), error) {
	dev := &notify.DevSink{Dir: cfg.DevOutbox, Log: log}
	var smtp *notify.SMTPConfig
	if cfg.SMTPURL != "" {
		c, err := notify.ParseSMTPURL(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, err
		}
		c.CAFile = cfg.SMTPCAFile
		smtp = &c
	}
	var sms notify.Sender
	if cfg.Twilio.AccountSID != "" {
		s, err := twilio.New(cfg.Twilio)
		if err != nil {
			return nil, err
		}
		sms = s
	} else {
		log.Warn("no Twilio credentials: SMS goes to the development sink", "folder", cfg.DevOutbox)
	}
	if smtp == nil {
		log.Warn("no BECKON_SMTP_URL: email goes to the development sink", "folder", cfg.DevOutbox)
	}
	return func(channel string) (notify.Sender, error) {
		switch {
		case channel == invite.ChannelEmail && smtp != nil:
			return notify.NewSMTP(*smtp), nil
		case channel == invite.ChannelSMS && sms != nil:
			return sms, nil
		}
		return dev, nil
	}, nil
}
