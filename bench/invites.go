package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
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

// runInvites measures invitations on one node: accepted through the API
// (wrk, invites.lua, each to a new address) with the delivery workers
// running, then delivered by the workers to a local SMTP server and a local
// Twilio-shaped server.
func runInvites(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("invites", flag.ContinueOnError)
	fs.StringVar(&o.engine, "engine", "sqlite", "sqlite or postgres")
	fs.StringVar(&o.pgURL, "pg-url", os.Getenv("BECKON_TEST_POSTGRES_URL"), "PostgreSQL server URL")
	fs.IntVar(&o.conns, "clients", 10, "wrk connections")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the API run")
	fs.StringVar(&o.binary, "beckon", "", "beckon binary (default: build ./cmd/beckon)")
	deliver := fs.Int("deliver", 5000, "messages to deliver in each delivery run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, dbURL, cleanup, err := workspace(ctx, &o)
	if err != nil {
		return err
	}
	defer cleanup()
	sink, err := startSinks()
	if err != nil {
		return err
	}
	defer sink.closer()
	env := append(append(append(os.Environ(), "BECKON_DATABASE_URL="+dbURL, "BECKON_REDIS_URL="), unlimited...), sink.env...)
	key, err := createKey(ctx, o.binary, env, "directory,invite")
	if err != nil {
		return err
	}

	// 1. The API with the workers running, as in production.
	n, err := startNode(ctx, o.binary, env, dir, "invites")
	if err != nil {
		return err
	}
	if err := inviters(ctx, n.base(), key); err != nil {
		n.stop()
		return err
	}
	s, err := runWrk(ctx, dir, wrkLoad{script: "invites", nodes: []string{n.addr}, key: key, conns: o.conns, d: o.duration,
		pids: []int{n.pid()}, env: []string{"BENCH_TAG=api", "BENCH_INVITERS=" + strconv.Itoa(benchInviters)}})
	if err != nil {
		n.stop()
		return err
	}
	fmt.Fprintf(out, "engine %s: POST /v1/invites, wrk %d connections, %s, workers on\n", o.engine, o.conns, o.duration)
	fmt.Fprintf(out, "  accepted %d invites: %.0f invites/s, p50 %.1f ms, p99 %.1f ms, errors %d\n",
		s.requests-s.errors, s.rps, ms(s.p50), ms(s.p99), s.errors)
	// Let the workers drain what the API run queued before measuring delivery.
	if err := waitForLong(ctx, func() bool { return sink.mail.messages.Load() >= s.requests-s.errors }); err != nil {
		n.stop()
		return err
	}
	n.stop()

	// 2. Delivery: queue with the workers off, then time the workers.
	var seq atomic.Int64
	for _, channel := range []string{"email", "sms"} {
		n, err := startNode(ctx, o.binary, env, dir, "invites", "--workers=false")
		if err != nil {
			return err
		}
		for i := 0; i < *deliver; i++ {
			if err := invite(ctx, n.base(), key, i%benchInviters, seq.Add(1), channel == "sms"); err != nil {
				n.stop()
				return err
			}
		}
		n.stop()
		beforeMail, beforeSMS, beforeSessions := sink.mail.messages.Load(), sink.sms.Load(), sink.mail.sessions.Load()
		t0 := time.Now()
		n, err = startNode(ctx, o.binary, env, dir, "invites")
		if err != nil {
			return err
		}
		done := func() bool {
			if channel == "email" {
				return sink.mail.messages.Load()-beforeMail >= int64(*deliver)
			}
			return sink.sms.Load()-beforeSMS >= int64(*deliver)
		}
		err = waitForLong(ctx, done)
		d := time.Since(t0)
		n.stop()
		if err != nil {
			return err
		}
		if channel == "email" {
			fmt.Fprintf(out, "  email: %d messages delivered to a local SMTP server in %.2fs: %.0f messages/s over %d SMTP connections (2 workers)\n",
				*deliver, d.Seconds(), float64(*deliver)/d.Seconds(), sink.mail.sessions.Load()-beforeSessions)
		} else {
			fmt.Fprintf(out, "  sms: %d messages delivered to a local Twilio-shaped server in %.2fs: %.0f messages/s\n",
				*deliver, d.Seconds(), float64(*deliver)/d.Seconds())
		}
	}
	return nil
}

// invite creates invite n from inviter to a new address (or phone).
func invite(ctx context.Context, base, key string, inviter int, n int64, phone bool) error {
	to := fmt.Sprintf("guest%d@example.org", n)
	if phone {
		to = fmt.Sprintf("+336%08d", n)
	}
	body := fmt.Sprintf(`{"inviter":"inviter%d","identifier":%q,"chat":{"id":"chat_%d","kind":"one_on_one"}}`, inviter, to, n)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/invites", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("invite: %d", resp.StatusCode)
	}
	return nil
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
