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
	"text/tabwriter"
	"time"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/store"
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
  templates list|show|put|preview|activate|diff|edit ...
                                                manage message templates on a running server
                                                (BECKON_URL, BECKON_API_KEY; beckon templates help)
  spam domains list|add|remove ...              keep the spam screen's bad link domains on a running
                                                server (BECKON_URL, BECKON_API_KEY; beckon spam help)

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
	case "serve", "migrate", "keys", "templates", "spam":
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
	if args[0] == "spam" {
		return spamCmd(ctx, args[1:], getenv, stdout)
	}
	if args[0] == "templates" {
		err := templatesCmd(ctx, args[1:], getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
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
	node, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer node.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := api.NewHTTPServer(cfg.Addr, node.Handler(), log)
	log.Info("beckon listening", "addr", ln.Addr().String(), "database", string(node.DB.Dialect()),
		"redis", cfg.RedisURL != "", "workers", *workers)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if cfg.PprofAddr != "" {
		pln, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			_ = hs.Close()
			return fmt.Errorf("listen for profiles: %w", err)
		}
		ps := &http.Server{Handler: app.PprofHandler(), ReadHeaderTimeout: 5 * time.Second}
		log.Warn("profiling listener on: keep BECKON_PPROF_ADDR private", "addr", pln.Addr().String())
		go func() { _ = ps.Serve(pln) }()
		defer ps.Close()
	}
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if *workers {
			node.RunWorkers(workCtx)
		}
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
