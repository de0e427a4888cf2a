package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// hookReceiver is the chat backend's webhook endpoint: it checks every
// signature and keeps the events.
type hookReceiver struct {
	secret string
	mu     sync.Mutex
	events []map[string]any
	bad    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig := r.Header.Get("Beckon-Signature")
	var ts, v1 string
	for _, part := range strings.Split(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		if k == "t" {
			ts = v
		} else if k == "v1" {
			v1 = v
		}
	}
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if ts == "" || !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		h.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e map[string]any
	_ = json.Unmarshal(body, &e)
	h.events = append(h.events, e)
}

func (h *hookReceiver) find(typ string) map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e["type"] == typ {
			return e
		}
	}
	return nil
}

var pageLinkRE = regexp.MustCompile(`http://[^/\s]+/i/[A-Za-z0-9_-]{43}`)

func TestWholeLoop(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		mailer := testenv.StartSMTP(t)
		hook := &hookReceiver{secret: "a-webhook-secret-of-length"}
		hookSrv := httptest.NewServer(hook)
		defer hookSrv.Close()
		env := inviteEnv(t, e, mailer.Addr)
		env["BECKON_PUBLIC_URL"] = "http://" + env["BECKON_ADDR"]
		env["BECKON_SIGNUP_URL"] = "https://idp.example/signup"
		env["BECKON_WEBHOOK_URL"] = hookSrv.URL
		env["BECKON_WEBHOOK_SECRET"] = hook.secret
		key := createKey(t, env, "directory,invite,link")
		base, _ := startServer(t, env)
		c := client{t: t, base: base, key: key}
		seedInviter(t, c)

		code, m := c.do("POST", "/v1/invites", `{"inviter":"alice","identifier":"bob@example.org","chat":{"id":"chat_77","kind":"group","title":"Quote 2026"}}`)
		if code != 201 {
			t.Fatalf("invite: %d %v", code, m)
		}
		eventually(t, "the email", func() bool { return len(mailer.Mails()) == 1 })
		link := pageLinkRE.FindString(mailer.Mails()[0].Raw)
		if link == "" {
			t.Fatal("no link in the email")
		}

		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := browser.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), `id="inviter-name">Alice Martin<`) {
			t.Fatalf("page %d", resp.StatusCode)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(page))[1]
		resp, err = browser.PostForm(link+"/accept", url.Values{"csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 303 || loc.Host != "idp.example" || loc.Query().Get("login_hint") != "bob@example.org" {
			t.Fatalf("accept: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		// The identity provider signs Bob up and tells Beckon.
		code, m = c.do("POST", "/v1/links", `{"account":{"id":"bob_acct","tenant_id":null,"display_name":"Bob"},"identifier":"bob@example.org","invite_ticket":"`+loc.Query().Get("invite_ticket")+`"}`)
		if code != 200 || len(m["accepted"].([]any)) != 1 {
			t.Fatalf("link: %d %v", code, m)
		}

		eventually(t, "invite.accepted at the webhook", func() bool { return hook.find("invite.accepted") != nil })
		data := hook.find("invite.accepted")["data"].(map[string]any)
		if data["account_id"] != "bob_acct" || data["chat"].(map[string]any)["id"] != "chat_77" {
			t.Fatalf("invite.accepted data: %v", data)
		}
		hook.mu.Lock()
		bad := hook.bad
		var types []string
		for _, e := range hook.events {
			types = append(types, e["type"].(string))
		}
		hook.mu.Unlock()
		if bad != 0 || strings.Join(types, ",") != "invite.created,invite.sent,account.linked,invite.accepted" {
			t.Fatalf("webhook saw %v (%d bad signatures)", types, bad)
		}
		code, m = c.do("GET", "/v1/events?limit=2", "")
		next := m["next_cursor"].(string)
		if code != 200 || len(m["items"].([]any)) != 2 {
			t.Fatalf("feed: %d %v", code, m)
		}
		_, m = c.do("GET", "/v1/events?after="+next, "")
		if items := m["items"].([]any); len(items) != 2 || items[1].(map[string]any)["type"] != "invite.accepted" {
			t.Fatalf("feed page 2: %v", m)
		}
		if code, m := c.do("GET", "/v1/events?after=evt_nope", ""); code != 400 || m["error"].(map[string]any)["code"] != "invalid_cursor" {
			t.Fatalf("bad cursor: %d %v", code, m)
		}
	})
}
