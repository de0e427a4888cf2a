package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// countingSMTP is an SMTP sink that counts messages and sessions.
type countingSMTP struct {
	messages, sessions atomic.Int64
}

func (c *countingSMTP) NewSession(*smtp.Conn) (smtp.Session, error) {
	c.sessions.Add(1)
	return &countingSession{c}, nil
}

type countingSession struct{ c *countingSMTP }

func (s *countingSession) Reset()                               {}
func (s *countingSession) Logout() error                        { return nil }
func (s *countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *countingSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *countingSession) Data(r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	s.c.messages.Add(1)
	return nil
}

// runInvites measures invitations: accepted through the API by N clients,
// then delivered by the workers to a local SMTP server and a local
// Twilio-shaped server.
func runInvites(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("invites", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "sqlite", "sqlite or postgres")
	fs.StringVar(&o.pgURL, "pg-url", os.Getenv("BECKON_TEST_POSTGRES_URL"), "PostgreSQL server URL")
	fs.IntVar(&o.conns, "clients", 10, "concurrent API clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the API run")
	fs.StringVar(&o.binary, "beckon", "", "beckon binary (default: build ./cmd/beckon)")
	deliver := fs.Int("deliver", 5000, "messages to deliver in each delivery run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "beckon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.binary == "" {
		o.binary = filepath.Join(dir, "beckon")
		if err := command(ctx, os.Environ(), "go", "build", "-o", o.binary, "./cmd/beckon").Run(); err != nil {
			return fmt.Errorf("build beckon: %w", err)
		}
	}
	dbURL, drop, err := freshDatabase(ctx, o, dir)
	if err != nil {
		return err
	}
	defer drop()

	sink := &countingSMTP{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	smtpSrv := smtp.NewServer(sink)
	smtpSrv.Domain, smtpSrv.AllowInsecureAuth = "localhost", true
	go func() { _ = smtpSrv.Serve(ln) }()
	defer smtpSrv.Close()
	var sms atomic.Int64
	twilioSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sms.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued"}`, n)
	}))
	defer twilioSrv.Close()

	addr := freeAddr()
	env := append(os.Environ(), "BECKON_DATABASE_URL="+dbURL, "BECKON_ADDR="+addr, "BECKON_REDIS_URL=",
		"BECKON_LIMIT_PER_KEY=100000000/s", "BECKON_LIMIT_RESOLVE_PER_REQUESTER=100000000/s",
		"BECKON_INVITE_LIMIT_PER_INVITER=100000000/s", "BECKON_INVITE_LIMIT_PER_TENANT=100000000/s",
		"BECKON_INVITE_LIMIT_PER_RECIPIENT=100000000/s", "BECKON_INVITE_LIMIT_SMS_PER_COUNTRY=100000000/s",
		"BECKON_SMTP_URL=smtp://"+ln.Addr().String()+"?tls=none", "BECKON_PUBLIC_URL=https://beckon.example",
		"TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef",
		"TWILIO_FROM=+15005550006", "BECKON_TWILIO_API_URL="+twilioSrv.URL)
	keyOut, err := command(ctx, env, o.binary, "keys", "create", "--name", "bench", "--scopes", "directory,invite").Output()
	if err != nil {
		return fmt.Errorf("keys create: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(keyOut)), "\n")
	key := lines[len(lines)-1]
	base := "http://" + addr

	// 1. The API with the workers running, as in production.
	stop, err := startBeckon(ctx, o.binary, env, dir, base, "serve")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conns}}
	put := func(path, body string) error {
		req, _ := http.NewRequestWithContext(ctx, "PUT", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("PUT %s: %d", path, resp.StatusCode)
		}
		return nil
	}
	if err := put("/v1/tenants/bench", `{"name":"Bench","region":"FR","policy":{"invites_per_user_per_day":100000}}`); err != nil {
		return err
	}
	for i := 0; i < o.conns; i++ {
		if err := put(fmt.Sprintf("/v1/accounts/inviter%d", i), fmt.Sprintf(`{"tenant_id":"bench","display_name":"Inviter %d","identifiers":["inviter%d@bench.example"]}`, i, i)); err != nil {
			return err
		}
	}
	var seq atomic.Int64
	invite := func(inviter int, phone bool) (time.Duration, error) {
		n := seq.Add(1)
		to := fmt.Sprintf("guest%d@example.org", n)
		if phone {
			to = fmt.Sprintf("+336%08d", n)
		}
		body := fmt.Sprintf(`{"inviter":"inviter%d","identifier":%q,"chat":{"id":"chat_%d","kind":"one_on_one"}}`, inviter, to, n)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/invites", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return 0, fmt.Errorf("invite: %d", resp.StatusCode)
		}
		return time.Since(t0), nil
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	start := time.Now()
	for c := 0; c < o.conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var mine []time.Duration
			for runCtx.Err() == nil {
				d, err := invite(c, false)
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	cancel()
	elapsed := time.Since(start)
	slices.Sort(lat)
	fmt.Fprintf(out, "engine %s: POST /v1/invites, %d clients, %s, workers on\n", o.engine, o.conns, o.duration)
	fmt.Fprintf(out, "  accepted %d invites: %.0f invites/s, p50 %.1f ms, p99 %.1f ms, errors %d\n",
		len(lat), float64(len(lat))/elapsed.Seconds(), ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), errs.Load())
	// Let the workers drain what the API run queued before measuring delivery.
	if err := waitFor(ctx, "the drain", func() bool { return sink.messages.Load() >= int64(len(lat)) }); err != nil {
		return err
	}
	stop()

	// 2. Delivery: queue with the workers off, then time the workers.
	for _, channel := range []string{"email", "sms"} {
		stop, err := startBeckon(ctx, o.binary, env, dir, base, "serve", "--workers=false")
		if err != nil {
			return err
		}
		for i := 0; i < *deliver; i++ {
			if _, err := invite(i%o.conns, channel == "sms"); err != nil {
				return err
			}
		}
		stop()
		beforeMail, beforeSMS, beforeSessions := sink.messages.Load(), sms.Load(), sink.sessions.Load()
		t0 := time.Now()
		stop, err = startBeckon(ctx, o.binary, env, dir, base, "serve")
		if err != nil {
			return err
		}
		done := func() bool {
			if channel == "email" {
				return sink.messages.Load()-beforeMail >= int64(*deliver)
			}
			return sms.Load()-beforeSMS >= int64(*deliver)
		}
		if err := waitForLong(ctx, done); err != nil {
			return err
		}
		d := time.Since(t0)
		stop()
		if channel == "email" {
			fmt.Fprintf(out, "  email: %d messages delivered to a local SMTP server in %.2fs: %.0f messages/s over %d SMTP connections (2 workers)\n",
				*deliver, d.Seconds(), float64(*deliver)/d.Seconds(), sink.sessions.Load()-beforeSessions)
		} else {
			fmt.Fprintf(out, "  sms: %d messages delivered to a local Twilio-shaped server in %.2fs: %.0f messages/s\n",
				*deliver, d.Seconds(), float64(*deliver)/d.Seconds())
		}
	}
	return nil
}

// startBeckon starts the binary with args and waits for it; stop ends it.
func startBeckon(ctx context.Context, bin string, env []string, dir, base string, args ...string) (func(), error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "beckon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := command(ctx, env, bin, args...)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait(); logFile.Close() }
	if err := waitFor(ctx, "beckon", healthy(base)); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// waitForLong polls up to 5 minutes.
func waitForLong(ctx context.Context, done func() bool) error {
	deadline := time.Now().Add(5 * time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("delivery did not finish in 5 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
