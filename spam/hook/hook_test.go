package hook_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/spam/hook"
	"github.com/beckon-chat/beckon/webhook"
)

const secret = "a secret of sixteen or more"

var msg = request.Message{Sender: "s1", Recipient: "r1", ChatID: "chat-1", Text: "hello there"}

// classifier is a real local HTTP server that checks the signature and
// the body, then answers as answer says.
func classifier(t *testing.T, answer func(w http.ResponseWriter, body hook.Body)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("Beckon-Signature")
		ts := strings.TrimPrefix(strings.Split(sig, ",")[0], "t=")
		unix, _ := strconv.ParseInt(ts, 10, 64)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			sig != webhook.Sign(secret, time.Unix(unix, 0), raw) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var b hook.Body
		if err := json.Unmarshal(raw, &b); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		answer(w, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func write(s string) func(http.ResponseWriter, hook.Body) {
	return func(w http.ResponseWriter, _ hook.Body) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, s)
	}
}

// TestHook: a classifier that answers, and every way of not answering:
// slow, down (a closed port), a status other than 2xx, garbage, a huge
// body, a redirect. Each outcome is counted.
func TestHook(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/classify"
	}
	for _, c := range []struct {
		name    string
		url     func(t *testing.T) string
		spam    bool
		err     bool
		outcome string
	}{
		{"Spam", func(t *testing.T) string {
			return classifier(t, func(w http.ResponseWriter, b hook.Body) {
				if b != (hook.Body{Sender: "s1", Recipient: "r1", ChatID: "chat-1", Text: "hello there"}) {
					http.Error(w, "wrong body", http.StatusBadRequest)
					return
				}
				io.WriteString(w, `{"spam": true, "score": 0.97}`)
			})
		}, true, false, hook.OutcomeSpam},
		{"Ham", func(t *testing.T) string { return classifier(t, write(`{"spam": false}`)) }, false, false, hook.OutcomeHam},
		{"Slow", func(t *testing.T) string {
			return classifier(t, func(w http.ResponseWriter, _ hook.Body) {
				time.Sleep(time.Second)
				io.WriteString(w, `{"spam": true}`)
			})
		}, false, true, hook.OutcomeTimeout},
		{"Down", func(t *testing.T) string { return closed() }, false, true, hook.OutcomeUnreachable},
		{"Status500", func(t *testing.T) string {
			return classifier(t, func(w http.ResponseWriter, _ hook.Body) { http.Error(w, `{"spam": true}`, 500) })
		}, false, true, hook.OutcomeBadStatus},
		{"Redirect", func(t *testing.T) string {
			return classifier(t, func(w http.ResponseWriter, _ hook.Body) { w.Header().Set("Location", "/elsewhere"); w.WriteHeader(307) })
		}, false, true, hook.OutcomeBadStatus},
		{"Garbage", func(t *testing.T) string { return classifier(t, write(`<html>oops</html>`)) }, false, true, hook.OutcomeBadAnswer},
		{"NoField", func(t *testing.T) string { return classifier(t, write(`{"verdict": "spam"}`)) }, false, true, hook.OutcomeBadAnswer},
		{"WrongType", func(t *testing.T) string { return classifier(t, write(`{"spam": "yes"}`)) }, false, true, hook.OutcomeBadAnswer},
		{"Empty", func(t *testing.T) string { return classifier(t, write(``)) }, false, true, hook.OutcomeBadAnswer},
		{"Huge", func(t *testing.T) string {
			return classifier(t, write(`{"spam": false, "pad": "`+strings.Repeat("x", 1<<20)+`"}`))
		}, false, true, hook.OutcomeBadAnswer},
		{"WrongSecret", func(t *testing.T) string { return classifier(t, write(`{"spam": false}`)) }, false, true, hook.OutcomeBadStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			var outcomes []string
			s := secret
			if c.name == "WrongSecret" {
				s = "another secret, not the receiver's"
			}
			cl := hook.New(hook.Config{URL: c.url(t), Secret: s, Timeout: 200 * time.Millisecond,
				Observe: func(o string) { outcomes = append(outcomes, o) }})
			start := time.Now()
			got, err := cl.Spam(context.Background(), msg)
			if took := time.Since(start); took > 600*time.Millisecond {
				t.Errorf("the call took %v, over its timeout", took)
			}
			if got != c.spam || (err != nil) != c.err {
				t.Fatalf("spam = %v, %v; want %v, error %v", got, err, c.spam, c.err)
			}
			if len(outcomes) != 1 || outcomes[0] != c.outcome {
				t.Fatalf("outcomes %q; want %q", outcomes, c.outcome)
			}
		})
	}
}
