package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// sinks are the local SMTP server and Twilio-shaped server the nodes
// deliver to, both in the bench process.
type sinks struct {
	mail   *countingSMTP
	sms    atomic.Int64
	env    []string
	closer func()
}

func startSinks() (*sinks, error) {
	s := &sinks{mail: &countingSMTP{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	smtpSrv := smtp.NewServer(s.mail)
	smtpSrv.Domain, smtpSrv.AllowInsecureAuth = "localhost", true
	go func() { _ = smtpSrv.Serve(ln) }()
	twilioSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.sms.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued"}`, n)
	}))
	s.closer = func() { smtpSrv.Close(); twilioSrv.Close() }
	s.env = []string{"BECKON_SMTP_URL=smtp://" + ln.Addr().String() + "?tls=none", "BECKON_PUBLIC_URL=https://beckon.example",
		"TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef", "TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef",
		"TWILIO_FROM=+15005550006", "BECKON_TWILIO_API_URL=" + twilioSrv.URL}
	return s, nil
}

// unlimited lifts every rate limit out of the way of the load (they are
// still checked on every request).
var unlimited = []string{
	"BECKON_LIMIT_PER_KEY=100000000/s", "BECKON_LIMIT_RESOLVE_PER_REQUESTER=100000000/s", "BECKON_LIMIT_PER_IP=100000000/s",
	"BECKON_INVITE_LIMIT_PER_INVITER=100000000/s", "BECKON_INVITE_LIMIT_PER_TENANT=100000000/s",
	"BECKON_INVITE_LIMIT_PER_RECIPIENT=100000000/s", "BECKON_INVITE_LIMIT_SMS_PER_COUNTRY=100000000/s",
	// The SMS cost guard: the delivery run sends thousands of SMS to one
	// prefix that nobody accepts, which is what it stops.
	"BECKON_SMS_TENANT_DAILY_BUDGET=100000000", "BECKON_SMS_PREFIX_MIN_RECENT=100000000",
}

// node is one running `beckon serve`.
type node struct {
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func (n *node) base() string { return "http://" + n.addr }

func (n *node) pid() int { return n.cmd.Process.Pid }

// stop interrupts the node and waits for it.
func (n *node) stop() {
	_ = n.cmd.Process.Signal(os.Interrupt)
	_ = n.cmd.Wait()
	if n.log != nil {
		n.log.Close()
	}
}

// startBare starts the bare baseline (this program's bare command) on
// dbURL and waits until it listens.
func startBare(ctx context.Context, dbURL string, conns int) (*node, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	n := &node{addr: freeAddr()}
	n.cmd = command(ctx, os.Environ(), self, "bare", "-db", dbURL, "-addr", n.addr, "-db-conns", strconv.Itoa(conns))
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "bare server", listening(n.addr)); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// startNode starts `beckon serve args...` with env on a free address,
// logging to dir/beckon-<name>.log, and waits until it is healthy.
func startNode(ctx context.Context, bin string, env []string, dir, name string, args ...string) (*node, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "beckon-"+name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	n := &node{addr: freeAddr(), log: logFile}
	n.cmd = command(ctx, append(env, "BECKON_ADDR="+n.addr), bin, append([]string{"serve"}, args...)...)
	n.cmd.Stderr = logFile
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	if err := waitFor(ctx, "beckon "+name, healthy(n.base())); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// createKey creates an API key with scopes and returns its secret.
func createKey(ctx context.Context, bin string, env []string, scopes string) (string, error) {
	out, err := command(ctx, env, bin, "keys", "create", "--name", "bench", "--scopes", scopes, "--replace").Output()
	if err != nil {
		return "", fmt.Errorf("keys create: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// put sends a PUT with a JSON body and wants 200.
func put(ctx context.Context, base, key, path, body string) error {
	req, _ := http.NewRequestWithContext(ctx, "PUT", base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT %s: %d", path, resp.StatusCode)
	}
	return nil
}

// benchInviters is how many accounts take turns inviting in invites.lua.
const benchInviters = 100

// inviters creates the tenant policy and the accounts invites.lua invites
// from.
func inviters(ctx context.Context, base, key string) error {
	if err := put(ctx, base, key, "/v1/tenants/bench", `{"name":"Bench","region":"FR","policy":{"invites_per_user_per_day":100000}}`); err != nil {
		return err
	}
	for i := 0; i < benchInviters; i++ {
		if err := put(ctx, base, key, fmt.Sprintf("/v1/accounts/inviter%d", i),
			fmt.Sprintf(`{"tenant_id":"bench","display_name":"Inviter %d","identifiers":["inviter%d@bench.example"]}`, i, i)); err != nil {
			return err
		}
	}
	return nil
}
