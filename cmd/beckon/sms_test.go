package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

const (
	fakeSID   = "AC0123456789abcdef0123456789abcdef"
	fakeToken = "0123456789abcdef0123456789abcdef"
)

// fakeTwilio speaks the shape of Twilio's Messages API: basic auth, the
// required fields, JSON answers and errors. Scripted answers per number
// (status, code) are used up in order before the 201s.
type fakeTwilio struct {
	mu       sync.Mutex
	calls    map[string]int
	bodies   map[string]string
	script   map[string][][2]int
	sequence int
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != fakeSID || pass != fakeToken || r.URL.Path != "/2010-04-01/Accounts/"+fakeSID+"/Messages.json" {
		http.Error(w, `{"code":20003,"message":"Authenticate","status":401}`, http.StatusUnauthorized)
		return
	}
	_ = r.ParseForm()
	to := r.PostForm.Get("To")
	w.Header().Set("Content-Type", "application/json")
	fail := func(status, code int) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": "scripted", "status": status})
	}
	if to == "" || r.PostForm.Get("Body") == "" || (r.PostForm.Get("From") == "" && r.PostForm.Get("MessagingServiceSid") == "") {
		fail(400, 21604)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[to]++
	if s := f.script[to]; len(s) > 0 {
		f.script[to] = s[1:]
		fail(s[0][0], s[0][1])
		return
	}
	f.sequence++
	f.bodies[to] = r.PostForm.Get("Body")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"sid": fmt.Sprintf("SM%032d", f.sequence), "status": "queued", "to": to,
		"account_sid": fakeSID, "body": r.PostForm.Get("Body"), "num_segments": "1"})
}

func (f *fakeTwilio) count(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[to]
}

// twilioSign computes X-Twilio-Signature as Twilio does: HMAC-SHA1 of the
// URL followed by each parameter name and value in name order, base64.
func twilioSign(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		s += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func postSigned(t *testing.T, base, public, path string, form url.Values, sign bool) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		req.Header.Set("X-Twilio-Signature", twilioSign(fakeToken, public+path, form))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSMSByTwilio(t *testing.T) {
	fake := &fakeTwilio{calls: map[string]int{}, bodies: map[string]string{}, script: map[string][][2]int{
		"+33622222222": {{429, 20429}}, // throttled once, then accepted
		"+33633333333": {{400, 21211}}, // invalid 'To': permanent
		"+33644444444": {{400, 21610}}, // said STOP to Twilio before we heard it
	}}
	api := httptest.NewServer(fake)
	defer api.Close()
	e := testenv.SQLite(t)
	env := inviteEnv(t, e, "127.0.0.1:1")
	env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"], env["TWILIO_FROM"] = fakeSID, fakeToken, "+15005550006"
	env["BECKON_TWILIO_API_URL"] = api.URL
	key := createKey(t, env, "directory,invite")
	base, logs := startServer(t, env)
	public := env["BECKON_PUBLIC_URL"]
	c := client{t: t, base: base, key: key}
	seedInviter(t, c)

	ok := sendInvite(t, c, "06 11 11 11 11")
	throttled := sendInvite(t, c, "06 22 22 22 22")
	invalid := sendInvite(t, c, "06 33 33 33 33")
	eventually(t, "the SMS", func() bool { return delivery(c, ok) == "sent" })
	fake.mu.Lock()
	body := fake.bodies["+33611111111"]
	fake.mu.Unlock()
	if !strings.Contains(body, "https://beckon.test/i/") || !strings.Contains(body, "STOP") {
		t.Fatalf("sms body %q", body)
	}
	eventually(t, "the throttled SMS retried", func() bool { return delivery(c, throttled) == "sent" })
	eventually(t, "the invalid number failed", func() bool { return delivery(c, invalid) == "failed" })
	if n := fake.count("+33622222222"); n != 2 {
		t.Fatalf("throttled number called %d times; want 2", n)
	}
	time.Sleep(6 * time.Second) // longer than the first backoff: a retry would show
	if n := fake.count("+33633333333"); n != 1 {
		t.Fatalf("invalid number called %d times; want 1", n)
	}

	t.Run("StatusCallback", func(t *testing.T) {
		form := url.Values{"MessageSid": {fmt.Sprintf("SM%032d", 1)}, "MessageStatus": {"delivered"}, "AccountSid": {fakeSID}}
		if code := postSigned(t, base, public, "/webhooks/twilio/status", form, false); code != 403 {
			t.Fatalf("unsigned callback: %d", code)
		}
		form2 := url.Values{"MessageSid": {fmt.Sprintf("SM%032d", 1)}, "MessageStatus": {"delivered"}, "AccountSid": {fakeSID}}
		bad := url.Values{"MessageSid": {"SMforged"}, "MessageStatus": {"delivered"}}
		req, _ := http.NewRequest("POST", base+"/webhooks/twilio/status", strings.NewReader(bad.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSign(fakeToken, public+"/webhooks/twilio/status", form2)) // signed for other params
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
			t.Fatalf("signature over other params accepted: %v %v", resp.StatusCode, err)
		}
		if code := postSigned(t, base, public, "/webhooks/twilio/status", form, true); code != 200 {
			t.Fatalf("signed callback: %d", code)
		}
		if d := delivery(c, ok); d != "delivered" {
			t.Fatalf("delivery %s after the report", d)
		}
	})
	t.Run("ProviderOptOut", func(t *testing.T) {
		// To the inviter, like any other SMS; the number is unsubscribed.
		id := sendInvite(t, c, "06 44 44 44 44")
		eventually(t, "the refused SMS to look sent", func() bool { return delivery(c, id) == "sent" })
		code, m := c.do("POST", "/v1/invites", `{"inviter":"alice","identifier":"06 44 44 44 44","chat":{"id":"chat_again","kind":"one_on_one"}}`)
		if code != 201 {
			t.Fatalf("%d %v", code, m)
		}
		again := m["id"].(string)
		eventually(t, "the next invite to look sent", func() bool { return delivery(c, again) == "sent" })
		if n := fake.count("+33644444444"); n != 1 {
			t.Fatalf("Twilio was asked %d times for a number that opted out with it; want 1", n)
		}
	})
	t.Run("Resend", func(t *testing.T) {
		backdate(t, e, ok)
		if code, m := c.do("POST", "/v1/invites/"+ok+"/resend", ""); code != 202 {
			t.Fatalf("resend of an SMS invite: %d %v", code, m)
		}
		eventually(t, "the second SMS", func() bool { return fake.count("+33611111111") == 2 })
	})
	t.Run("InboundStop", func(t *testing.T) {
		form := url.Values{"From": {"+33611111111"}, "To": {"+15005550006"}, "Body": {" stop "}, "MessageSid": {"SMin"}}
		if code := postSigned(t, base, public, "/webhooks/twilio/inbound", form, true); code != 200 {
			t.Fatalf("inbound: %d", code)
		}
		before := fake.count("+33611111111")
		code, m := c.do("POST", "/v1/invites", `{"inviter":"alice","identifier":"06 11 11 11 11","chat":{"id":"chat_other","kind":"one_on_one"}}`)
		if code != 201 {
			t.Fatalf("%d %v", code, m)
		}
		// Held, it looks like a real SMS: sent, then reported delivered
		// within the 2–20 s that delivery reports take.
		held := m["id"].(string)
		eventually(t, "the held SMS to look sent", func() bool { return delivery(c, held) == "sent" })
		deadline := time.Now().Add(30 * time.Second)
		for delivery(c, held) != "delivered" {
			if time.Now().After(deadline) {
				t.Fatalf("the held SMS stays %q; a real one is reported delivered", delivery(c, held))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if fake.count("+33611111111") != before {
			t.Fatal("an SMS went to a number that replied STOP")
		}
		// START undoes it.
		form["Body"] = []string{"Start"}
		if code := postSigned(t, base, public, "/webhooks/twilio/inbound", form, true); code != 200 {
			t.Fatalf("inbound START: %d", code)
		}
		if code, m := c.do("POST", "/v1/invites", `{"inviter":"alice","identifier":"06 11 11 11 11","chat":{"id":"chat_third","kind":"one_on_one"}}`); code != 201 {
			t.Fatalf("%d %v", code, m)
		}
		eventually(t, "an SMS after START", func() bool { return fake.count("+33611111111") == before+1 })
	})
	if strings.Contains(logs.String(), "+33633333333") || strings.Contains(logs.String(), "+33611111111") {
		t.Fatal("a phone number reached the log")
	}
}
