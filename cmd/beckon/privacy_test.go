package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// pageAction opens an invite page like a browser and posts one of its
// forms; it returns the response (not followed).
func pageAction(t *testing.T, link, action string) *http.Response {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindStringSubmatch(string(page))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("page %s: %d", link, resp.StatusCode)
	}
	resp, err = browser.PostForm(link+"/"+action, url.Values{"csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// lastLinkTo returns the link of the latest email to addr.
func lastLinkTo(t *testing.T, m *testenv.SMTPServer, addr string) string {
	t.Helper()
	link := ""
	for _, mail := range m.Mails() {
		if mail.To[0] == addr {
			link = pageLinkRE.FindString(mail.Raw)
		}
	}
	if link == "" {
		t.Fatalf("no email with a link to %s", addr)
	}
	return link
}

// TestBlocksSurviveSignup: a recipient blocks mallory from the page, then
// signs up through alice's invitation. Mallory's invite makes no message
// request, and mallory's resolve does not find the new account.
func TestBlocksSurviveSignup(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		mailer := testenv.StartSMTP(t)
		env := inviteEnv(t, e, mailer.Addr)
		env["BECKON_PUBLIC_URL"] = "http://" + env["BECKON_ADDR"]
		env["BECKON_SIGNUP_URL"] = "https://idp.example/signup"
		key := createKey(t, env, "directory,invite,link,resolve")
		base, _ := startNode(t, env)
		c := client{t: t, base: base, key: key}
		seedInviters(t, c, "alice", "mallory")

		// Two invites from mallory reach rose; she blocks him from the second.
		inviteAs(t, c, "mallory", "rose@example.net", "chat_m0")
		eventually(t, "mallory's first email", func() bool { return mailsTo(mailer, "rose@example.net") == 1 })
		inviteAs(t, c, "mallory", "rose@example.net", "chat_m1")
		eventually(t, "mallory's second email", func() bool { return mailsTo(mailer, "rose@example.net") == 2 })
		if resp := pageAction(t, lastLinkTo(t, mailer, "rose@example.net"), "block"); resp.StatusCode != 200 {
			t.Fatalf("block: %d", resp.StatusCode)
		}
		blockedLater := inviteAs(t, c, "mallory", "rose@example.net", "chat_m2")
		inviteAs(t, c, "alice", "rose@example.net", "chat_a")
		eventually(t, "alice's email", func() bool { return mailsTo(mailer, "rose@example.net") == 3 })
		resp := pageAction(t, lastLinkTo(t, mailer, "rose@example.net"), "accept")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 303 || loc.Query().Get("invite_ticket") == "" {
			t.Fatalf("accept: %d", resp.StatusCode)
		}
		linkBody := `{"account":{"id":"rose","tenant_id":null,"display_name":"Rose"},"identifier":"rose@example.net","invite_ticket":"` + loc.Query().Get("invite_ticket") + `"}`
		code, m := c.do("POST", "/v1/links", linkBody)
		if code != 200 || len(m["accepted"].([]any)) != 1 {
			t.Fatalf("link: %d %v", code, m)
		}
		if reqs := m["requests"].([]any); len(reqs) != 0 {
			t.Fatalf("a blocked inviter's invite became a request: %v", reqs)
		}
		if _, r := c.do("POST", "/v1/resolve", `{"requester":"mallory","identifier":"rose@example.net"}`); r["match"] == "account" {
			t.Fatalf("mallory finds rose after her sign-up: %v", r)
		}
		if _, r := c.do("POST", "/v1/resolve", `{"requester":"alice","identifier":"rose@example.net"}`); r["match"] != "account" {
			t.Fatalf("alice does not find rose: %v", r)
		}
		_, blocks := c.do("GET", "/v1/accounts/rose/blocks", "")
		if b, _ := json.Marshal(blocks); !strings.Contains(string(b), "mallory") {
			t.Fatalf("rose's blocks: %s", b)
		}
		if mailsTo(mailer, "rose@example.net") != 3 {
			t.Fatal("mallory's invite after the block was sent")
		}
		// Rose unblocks mallory in the app; signing in again (another
		// link) does not bring the page block back.
		if code, m := c.do("DELETE", "/v1/accounts/rose/blocks/mallory", ""); code != 204 && code != 200 {
			t.Fatalf("unblock: %d %v", code, m)
		}
		if code, m := c.do("POST", "/v1/links", linkBody); code != 200 {
			t.Fatalf("link again: %d %v", code, m)
		}
		if _, r := c.do("POST", "/v1/resolve", `{"requester":"mallory","identifier":"rose@example.net"}`); r["match"] != "account" {
			t.Fatalf("after the unblock and a new link, mallory still does not find rose: %v", r)
		}
		// To mallory, the invite after the block looked sent like any other.
		if d := delivery(c, blockedLater); d != "sent" {
			t.Fatalf("mallory's invite after the block shows %q", d)
		}
	})
}

// inviterView is everything an inviter can read about one invite.
type inviterView struct {
	Object map[string]any
	Events []string
	Resend int
	Again  map[string]any
}

// view reads the inviter's view of invite id: the object, the types of its
// events in the feed's order, and resend's answer. It waits until the feed
// shows the invite's state (on PostgreSQL an event shows once every older
// transaction on the server has ended).
func view(t *testing.T, c client, id string) inviterView {
	t.Helper()
	var v inviterView
	eventually(t, "the feed to show invite "+id, func() bool {
		v = inviterView{}
		_, v.Object = c.do("GET", "/v1/invites/"+id, "")
		for _, ev := range feedEvents(c) {
			if inv, _ := ev["data"].(map[string]any)["invite"].(map[string]any); inv != nil && inv["id"] == id {
				v.Events = append(v.Events, ev["type"].(string))
			}
		}
		want := map[any]string{"sent": "invite.sent", "delivered": "invite.delivered", "failed": "invite.delivery_failed"}[v.Object["delivery"]]
		if want == "" {
			want = "invite.created"
		}
		return slices.Contains(v.Events, want)
	})
	return v
}

// feedEvents reads the whole feed, following the cursor.
func feedEvents(c client) []map[string]any {
	var out []map[string]any
	after := ""
	for {
		_, page := c.do("GET", "/v1/events?limit=100&after="+after, "")
		for _, it := range page["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return out
		}
		after = next
	}
}

// sentOrder lists the invites of the first n invite.sent events, in feed
// order, once the feed holds n.
func sentOrder(t *testing.T, c client, n int) []string {
	t.Helper()
	var ids []string
	eventually(t, "the invite.sent events", func() bool {
		ids = nil
		for _, ev := range feedEvents(c) {
			if ev["type"] == "invite.sent" {
				ids = append(ids, ev["data"].(map[string]any)["invite"].(map[string]any)["id"].(string))
			}
		}
		return len(ids) >= n
	})
	return ids[:n]
}

// normal blanks what differs between two invites by nature.
func normal(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch k {
		case "id", "created_at", "expires_at", "recipient":
		default:
			out[k] = v
		}
	}
	return out
}

// TestInviterSeesNoDifference puts the inviter's whole view of an invite to
// an account that blocked them beside one to a stranger: object, events
// and their order, resend's answer, now and after the workers ran.
func TestInviterSeesNoDifference(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		mailer := testenv.StartSMTP(t)
		env := inviteEnv(t, e, mailer.Addr)
		key := createKey(t, env, "directory,invite,link")
		// An API-only node takes both invites, so that the workers that
		// start later claim them in one batch.
		base, stop := startNode(t, env, "--workers=false")
		c := client{t: t, base: base, key: key}
		seedInviters(t, c, "alice")
		for _, s := range []struct{ method, path, body string }{
			{"PUT", "/v1/accounts/blocker", `{"tenant_id":null,"display_name":"B","discoverable":false,"identifiers":["blocker@example.net"]}`},
			{"PUT", "/v1/accounts/blocker/blocks/alice", ""},
		} {
			if code, m := c.do(s.method, s.path, s.body); code != 200 {
				t.Fatalf("%s: %d %v", s.path, code, m)
			}
		}
		ids := map[string]string{}
		answers := map[string]map[string]any{}
		// The blocker's first: in the feed, held and sent messages keep the
		// order they were claimed in.
		for _, to := range []string{"blocker@example.net", "stranger@example.net"} {
			code, m := c.do("POST", "/v1/invites", `{"inviter":"alice","identifier":"`+to+`","chat":{"id":"chat_1","kind":"one_on_one"}}`)
			if code != 201 {
				t.Fatalf("invite %s: %d", to, code)
			}
			ids[to], answers[to] = m["id"].(string), normal(m)
		}
		if !equalJSON(answers["stranger@example.net"], answers["blocker@example.net"]) {
			t.Fatalf("creation answers differ:\n%v\n%v", answers["stranger@example.net"], answers["blocker@example.net"])
		}
		compare := func(when string) {
			t.Helper()
			a, b := view(t, c, ids["stranger@example.net"]), view(t, c, ids["blocker@example.net"])
			a.Object, b.Object = normal(a.Object), normal(b.Object)
			if !equalJSON(a, b) {
				t.Fatalf("%s, the inviter tells them apart:\nstranger %+v\nblocker  %+v", when, a, b)
			}
		}
		compare("before the workers ran")
		stop()
		c.base, _ = startNode(t, env)
		eventually(t, "both to look sent", func() bool {
			return delivery(c, ids["stranger@example.net"]) == "sent" && delivery(c, ids["blocker@example.net"]) == "sent"
		})
		time.Sleep(time.Second)
		compare("a second after sending")
		if v := view(t, c, ids["blocker@example.net"]); !slices.Equal(v.Events, []string{"invite.created", "invite.sent"}) {
			t.Fatalf("events %v", v.Events)
		}
		if order := sentOrder(t, c, 2); !slices.Equal(order, []string{ids["blocker@example.net"], ids["stranger@example.net"]}) {
			t.Fatalf("invite.sent in the feed: %v; want the order of creation", order)
		}
		for to, id := range ids {
			backdate(t, e, id)
			code, m := c.do("POST", "/v1/invites/"+id+"/resend", "")
			if code != 202 {
				t.Fatalf("resend %s: %d %v", to, code, m)
			}
			answers[to] = normal(m)
		}
		if !equalJSON(answers["stranger@example.net"], answers["blocker@example.net"]) {
			t.Fatalf("resend answers differ:\n%v\n%v", answers["stranger@example.net"], answers["blocker@example.net"])
		}
		eventually(t, "both resends to look sent", func() bool {
			return delivery(c, ids["stranger@example.net"]) == "sent" && delivery(c, ids["blocker@example.net"]) == "sent"
		})
		time.Sleep(time.Second)
		compare("after the resends")
		if _, body := get(t, base+"/metrics"); strings.Contains(body, "held") || !strings.Contains(body, `beckon_deliveries_total{channel="email",outcome="sent"} 4`) {
			t.Fatalf("the metrics tell held messages apart:\n%s", body)
		}
		if n := mailsTo(mailer, "blocker@example.net"); n != 0 {
			t.Fatalf("the blocker got %d emails", n)
		}
		if n := mailsTo(mailer, "stranger@example.net"); n != 2 {
			t.Fatalf("the stranger got %d emails; want 2", n)
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestIdempotencyThroughRun: the binary honours Idempotency-Key.
func TestIdempotencyThroughRun(t *testing.T) {
	mailer := testenv.StartSMTP(t)
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	key := createKey(t, env, "directory,invite")
	base, _ := startNode(t, env)
	c := client{t: t, base: base, key: key}
	seedInviters(t, c, "alice")
	post := func(body string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/v1/invites", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "order-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := `{"inviter":"alice","identifier":"idem@example.net","chat":{"id":"chat_1","kind":"one_on_one"}}`
	code1, body1 := post(body)
	code2, body2 := post(body)
	if code1 != 201 || code2 != 201 || body1 != body2 {
		t.Fatalf("replay: %d %s\nthen %d %s", code1, body1, code2, body2)
	}
	code3, body3 := post(strings.Replace(body, "idem@", "other@", 1))
	if code3 != 422 || !strings.Contains(body3, `"idempotency_key_reused"`) {
		t.Fatalf("same key, another body: %d %s", code3, body3)
	}
	_, list := c.do("GET", "/v1/invites?inviter=alice", "")
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("%d invites after a replay and a reused key; want 1", n)
	}
}

// TestProductName: BECKON_PRODUCT_NAME names the product in messages.
func TestProductName(t *testing.T) {
	mailer := testenv.StartSMTP(t)
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	env["BECKON_PRODUCT_NAME"] = "Contoso Chat"
	key := createKey(t, env, "directory,invite")
	base, _ := startNode(t, env)
	c := client{t: t, base: base, key: key}
	seedInviters(t, c, "alice")
	inviteAs(t, c, "alice", "p@example.net", "chat_1")
	eventually(t, "the email", func() bool { return mailsTo(mailer, "p@example.net") == 1 })
	if s := mailer.Mails()[0].Msg.Header.Get("Subject"); s != "alice invited you to chat on Contoso Chat" {
		t.Fatalf("subject %q", s)
	}
}
