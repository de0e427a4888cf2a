package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestSpamDomainsCommand: beckon spam domains add, list and remove
// against a running server.
func TestSpamDomainsCommand(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t)}
	base, _ := startServer(t, env)
	cli := map[string]string{"BECKON_URL": base, "BECKON_API_KEY": createKey(t, env, "admin")}
	beckon := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"spam", "domains"}, args...), envFunc(cli), nil, &out, io.Discard)
		return out.String(), err
	}
	if out, err := beckon("add", "Evil.COM", "bücher.example"); err != nil || out != "listed evil.com\nlisted xn--bcher-kva.example\n" {
		t.Fatalf("add: %q %v", out, err)
	}
	if out, err := beckon("list"); err != nil || !strings.HasPrefix(out, "evil.com\t") || !strings.Contains(out, "\nxn--bcher-kva.example\t") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := beckon("remove", "evil.com"); err != nil || out != "removed evil.com\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err := beckon("add", "not a domain"); err == nil || !strings.Contains(err.Error(), "invalid_domain") {
		t.Fatalf("a bad name: %v", err)
	}
	if _, err := beckon("frobnicate"); err == nil {
		t.Fatal("an unknown command")
	}
	cli["BECKON_API_KEY"] = createKey(t, env, "templates")
	if _, err := beckon("list"); err == nil || !strings.Contains(err.Error(), "insufficient_scope") {
		t.Fatalf("without the admin scope: %v", err)
	}
}

// TestSpamHookThroughServe: BECKON_SPAM_HOOK_* reach the screen of a node
// started as the binary starts one; the hook's verdicts decide, its
// failures pass the message (open) or reject it (closed), and /metrics
// counts both.
func TestSpamHookThroughServe(t *testing.T) {
	const secret = "sixteen or more characters"
	classifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Text string }
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &b)
		switch {
		case r.Header.Get("Beckon-Signature") == "":
			w.WriteHeader(http.StatusUnauthorized)
		case strings.Contains(b.Text, "slow"):
			time.Sleep(500 * time.Millisecond)
			io.WriteString(w, `{"spam": false}`)
		case strings.Contains(b.Text, "garbage"):
			io.WriteString(w, `<html>`)
		default:
			fmt.Fprintf(w, `{"spam": %v}`, strings.Contains(b.Text, "casino"))
		}
	}))
	t.Cleanup(classifier.Close)
	for _, failure := range []string{"open", "closed"} {
		t.Run(failure, func(t *testing.T) {
			env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t),
				"BECKON_SPAM_HOOK_URL": classifier.URL, "BECKON_SPAM_HOOK_SECRET": secret,
				"BECKON_SPAM_HOOK_TIMEOUT": "100ms", "BECKON_SPAM_HOOK_FAILURE": failure}
			if failure == "closed" {
				env["BECKON_SPAM_FINGERPRINT_SECRET"] = "a fingerprint secret kept out of the database"
			}
			base, _ := startServer(t, env)
			c := client{t, base, createKey(t, env, "directory,requests")}
			for _, p := range []struct{ path, body string }{
				{"/v1/tenants/acme", `{"name": "Acme", "domains": ["acme.com"]}`},
				{"/v1/accounts/a1", `{"tenant_id": "acme", "display_name": "A", "identifiers": ["a1@acme.com"]}`},
				{"/v1/accounts/p1", `{"tenant_id": null, "display_name": "P", "identifiers": ["p1@mail.example"]}`},
			} {
				if code, m := c.do("PUT", p.path, p.body); code != 200 {
					t.Fatalf("%s: %d %v", p.path, code, m)
				}
			}
			failed := map[string]string{"open": "deliver", "closed": "reject"}[failure]
			for _, m := range []struct{ text, decision string }{
				{"hello, nice to meet you at the fair yesterday", "deliver"},
				{"the best casino bonus of the year awaits you", "reject"},
				{"a slow answer", failed},
				{"garbage comes back", failed},
			} {
				_, d := c.do("POST", "/v1/requests/check", `{"sender": "a1", "recipient": "p1", "chat_id": "c1", "text": "`+m.text+`"}`)
				if d["decision"] != m.decision {
					t.Fatalf("%q: %v; want %s", m.text, d, m.decision)
				}
			}
			_, metrics := get(t, base+"/metrics")
			for _, line := range []string{
				`beckon_spam_hook_calls_total{outcome="ham"} 1`,
				`beckon_spam_hook_calls_total{outcome="spam"} 1`,
				`beckon_spam_hook_calls_total{outcome="timeout"} 1`,
				`beckon_spam_hook_calls_total{outcome="bad_answer"} 1`,
				`beckon_spam_verdicts_total{rule="hook"} 1`,
				`beckon_spam_verdicts_total{rule="hook_failed"} ` + map[string]string{"open": "0", "closed": "2"}[failure],
			} {
				if !strings.Contains(metrics, line+"\n") {
					t.Errorf("/metrics lacks %s", line)
				}
			}
		})
	}
}
