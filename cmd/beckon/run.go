package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/notify/twilio"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
	"github.com/beckon-chat/beckon/templates"
	"github.com/beckon-chat/beckon/webhook"
)

const usage = `usage: beckon <command> [flags]

commands:
  serve [--workers=true]                        run the HTTP API
  migrate                                       apply schema migrations
  keys create --name NAME --scopes a,b,... [--replace]
                                                create an API key (printed once, on the last line);
                                                --replace revokes the active key of that name first
  keys list                                     list API keys
  keys revoke NAME                              revoke an API key

Configuration comes from the environment, over ./.env (or the file named by
BECKON_ENV_FILE) when there is one: see .env.example.`

// run is the whole program; main only calls it. A command's --help prints
// its flags and succeeds.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve", "migrate", "keys":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	getenv, err := withEnvFile(getenv)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		err = serve(ctx, cfg, args[1:], log, stderr)
	case "migrate":
		err = migrate(ctx, cfg, stdout)
	case "keys":
		err = keys(ctx, cfg, args[1:], stdout, stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command's flag set printed its usage
	}
	return err
}

func newLogger(cfg config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("BECKON_LOG_LEVEL: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func openDB(ctx context.Context, cfg config) (*store.DB, error) {
	return store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: cfg.DBMaxConns})
}

func migrate(ctx context.Context, cfg config, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
	}
	return err
}

func serve(ctx context.Context, cfg config, args []string, log *slog.Logger, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Bool("workers", true, "run delivery workers on this node (false for API-only nodes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.AutoMigrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "migrations", applied)
		}
	}

	var (
		limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
		rl      *ratelimit.Redis
		srv     *api.Server
	)
	checks := []api.Check{{Name: "database", Probe: func(ctx context.Context) (string, error) { return "ok", db.Ping(ctx) }}}
	if cfg.RedisURL != "" {
		ratelimit.RouteRedisLogs(log)
		rl, err = ratelimit.NewRedis(cfg.RedisURL, log, func(degraded bool) { srv.SetRateLimitFallback(degraded) })
		if err != nil {
			return err
		}
		defer rl.Close()
		limiter = rl
		checks = append(checks, api.Check{Name: "redis", Probe: func(ctx context.Context) (string, error) {
			if err := rl.Ping(ctx); err != nil || rl.Degraded() {
				return "unavailable: rate limits kept in process", nil
			}
			return "ok", nil
		}})
	}
	tmpl, err := templates.Defaults()
	if err != nil {
		return err
	}
	res := resolver.NewService(db, invite.Finder{Store: db})
	invites := invite.NewService(invite.Config{
		Store: db, Accounts: db, Resolver: res, Templates: tmpl, Limiter: limiter, Limits: cfg.InviteLimits,
		PublicURL: cfg.PublicURL, TTL: cfg.InviteTTL,
	})
	senders, err := newSenders(cfg, log)
	if err != nil {
		return err
	}
	dispatcher := notify.NewDispatcher(notify.DispatcherConfig{Outbox: db, Senders: senders, Workers: cfg.Workers, Lease: cfg.Lease, Log: log,
		Observe: func(a notify.Attempt) { srv.ObserveDelivery(a.Message.Channel, a.State) }})
	srv, err = api.New(api.Config{
		PublicURL:       cfg.PublicURL,
		SignupURL:       cfg.SignupURL,
		DevSignup:       cfg.DevSignup,
		TwilioAuthToken: cfg.Twilio.AuthToken,
		TrustedProxies:  cfg.TrustedProxies,
		Directory:       directory.NewService(db),
		Resolver:        res,
		Invites:         invites,
		Events:          db,
		Wake:            dispatcher.Wake,
		Keys:            auth.NewService(db, time.Now, cfg.KeyCacheTTL),
		Limiter:         limiter,
		Limits:          cfg.Limits,
		MaxImportBytes:  cfg.MaxImportBytes,
		Checks:          checks,
		Log:             log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := api.NewHTTPServer(cfg.Addr, srv.Handler(), log)
	log.Info("beckon listening", "addr", ln.Addr().String(), "database", string(db.Dialect()),
		"redis", cfg.RedisURL != "", "workers", *workers)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if !*workers {
			return
		}
		var wg sync.WaitGroup
		if cfg.WebhookURL != "" {
			hook := &webhook.Dispatcher{Store: db, URL: cfg.WebhookURL, Secret: cfg.WebhookSecret,
				Client: &http.Client{Timeout: 15 * time.Second}, Log: log, Idle: 200 * time.Millisecond}
			wg.Add(1)
			go func() { defer wg.Done(); hook.Run(workCtx) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); sweep(workCtx, invites, dispatcher, log) }()
		dispatcher.Run(workCtx)
		wg.Wait()
	}()
	defer func() { stopWork(); <-workDone }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log.Info("shutting down")
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sweep expires invites and queues reminders every 30 seconds.
func sweep(ctx context.Context, invites *invite.Service, d *notify.Dispatcher, log *slog.Logger) {
	for {
		expired, reminded, err := invites.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("invite sweep failed", "err", err)
		}
		if expired+reminded > 0 {
			log.Info("invite sweep", "expired", expired, "reminders", reminded)
			d.Wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

// newSenders picks a sender per channel: SMTP when BECKON_SMTP_URL is set,
// else the development sink, which writes to BECKON_DEV_OUTBOX.
func newSenders(cfg config, log *slog.Logger) (func(string) (notify.Sender, error), error) {
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

func keys(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys needs create, list or revoke")
	}
	// Check the command line before touching the database.
	var (
		name    string
		scopes  []auth.Scope
		replace bool
	)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.StringVar(&name, "name", "", "name of the key (unique among active keys)")
		scopeList := fs.String("scopes", "", "comma-separated scopes: "+joinScopes(auth.AllScopes()))
		fs.BoolVar(&replace, "replace", false, "revoke the active key of that name first, if any (its secret stops working)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("keys create takes only flags, not %q", fs.Arg(0))
		}
		if strings.TrimSpace(name) == "" {
			return errors.New("keys create needs --name NAME")
		}
		var err error
		if scopes, err = auth.ParseScopes(*scopeList); err != nil {
			return fmt.Errorf("keys create --scopes: %w", err)
		}
	case "list":
	case "revoke":
		if len(args) != 2 {
			return errors.New("usage: beckon keys revoke NAME")
		}
	default:
		return fmt.Errorf("unknown keys command %q", args[0])
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.AutoMigrate {
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	svc := auth.NewService(db, time.Now, 0)
	switch args[0] {
	case "create":
		create := svc.Create
		if replace {
			create = svc.Replace
		}
		k, secret, err := create(ctx, name, scopes)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created key %q with scopes %s; it is shown only once:\n%s\n", k.Name, joinScopes(k.Scopes), secret)
		return nil
	case "list":
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tREVOKED")
		for _, k := range list {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, joinScopes(k.Scopes), k.CreatedAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	}
	// revoke
	if err := svc.Revoke(ctx, args[1]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked key %q\n", args[1])
	return nil
}

func joinScopes(scopes []auth.Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}
