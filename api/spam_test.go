package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/testenv"
)

func (h *harness) say(t *testing.T, from, to, text string) decisionJSON {
	t.Helper()
	r := h.call("POST", "/v1/requests/check", h.keys[auth.ScopeRequests], "application/json",
		jsonBody(t, map[string]any{"sender": from, "recipient": to, "chat_id": "chat-" + from + "-" + to, "text": text}))
	want(t, r, 200, "")
	var d decisionJSON
	r.decode(t, &d)
	return d
}

// metric returns the line of /metrics that starts with name, or "".
func (h *harness) metric(t *testing.T, name string) string {
	t.Helper()
	r := h.call("GET", "/metrics", "", "", nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

// TestSpamScreen: through the real server, a sender who sends the same
// text to many recipients is rejected as spam past the threshold (5
// recipients an hour), and the rejected messages use no allowance, while
// a sender who writes to as many people in their own words is not
// touched; the bad-domain list is kept through the admin endpoints.
func TestSpamScreen(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	for _, id := range []string{"spammer", "writer"} {
		h.do("PUT", "/v1/accounts/"+id, map[string]any{"tenant_id": nil, "display_name": id, "identifiers": []string{id + "@example.net"}})
	}
	for i := 1; i <= 8; i++ {
		id := fmt.Sprintf("c%d", i)
		h.do("PUT", "/v1/accounts/"+id, map[string]any{"tenant_id": "contoso", "display_name": id, "identifiers": []string{id + "@contoso.com"}})
	}
	offer := "Hello %s! Earn 500 dollars a day working from home, no experience needed. Reply YES to start."
	for i := 1; i <= 5; i++ {
		if d := h.say(t, "spammer", fmt.Sprintf("c%d", i), fmt.Sprintf(offer, fmt.Sprintf("friend %d", i))); d.Decision != "deliver" || d.Reason != "pre_acceptance" {
			t.Fatalf("message %d of the campaign: %+v", i, d)
		}
	}
	for _, to := range []string{"c6", "c7", "c1"} {
		if d := h.say(t, "spammer", to, fmt.Sprintf(offer, to)); d.Decision != "reject" || d.Reason != "spam" || d.Remaining != nil {
			t.Fatalf("past the threshold, to %s: %+v", to, d)
		}
	}
	t.Run("NoAllowanceUsed", func(t *testing.T) {
		r := h.call("GET", "/v1/accounts/c1/requests", h.keys[auth.ScopeRequests], "", nil)
		var page struct{ Items []listedRequest }
		r.decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].Delivered != 1 {
			t.Fatalf("c1's requests: %+v", page.Items)
		}
		r = h.call("GET", "/v1/accounts/c6/requests", h.keys[auth.ScopeRequests], "", nil)
		page.Items = nil
		if r.decode(t, &page); len(page.Items) != 0 {
			t.Fatalf("a spam message made a request: %+v", page.Items)
		}
	})
	t.Run("NormalSender", func(t *testing.T) {
		texts := []string{
			"Hi c1, we met at the conference last week; could we talk about the logistics project?",
			"Dear c2, your colleague said you handle invoices. Mine from March is still open, can you help?",
			"Hello c3! I am organising the school fair on Saturday and wondered whether Contoso could sponsor a stand.",
			"c4, thanks for the book recommendation. I finished it yesterday and loved the ending.",
			"Good morning c5, the plumber is coming at ten; will someone be there to let him in?",
			"Hey c6, are you still selling the bicycle? I could come and look at it this evening.",
			"c7: the minutes of Tuesday's meeting are ready, shall I send them to your team as well?",
		}
		for i, text := range texts {
			if d := h.say(t, "writer", fmt.Sprintf("c%d", i+1), text); d.Decision != "deliver" {
				t.Fatalf("a normal message %d: %+v", i, d)
			}
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		if got := h.metric(t, `beckon_spam_verdicts_total{rule="near_duplicate"}`); !strings.HasSuffix(got, " 3") {
			t.Fatalf("near_duplicate: %q", got)
		}
		if got := h.metric(t, `beckon_spam_verdicts_total{rule="none"}`); !strings.HasSuffix(got, " 12") {
			t.Fatalf("none: %q", got)
		}
		if got := h.metric(t, `beckon_spam_hook_calls_total{outcome="timeout"}`); !strings.HasSuffix(got, " 0") {
			t.Fatalf("hook timeouts: %q", got)
		}
	})
	t.Run("Domains", func(t *testing.T) {
		admin := h.keys[auth.ScopeAdmin]
		r := h.call("PUT", "/v1/spam/domains/Login.EVIL.com", admin, "", nil)
		want(t, r, 200, "")
		var d struct{ Domain string }
		if r.decode(t, &d); d.Domain != "login.evil.com" {
			t.Fatalf("put: %s", r.Body)
		}
		want(t, h.call("PUT", "/v1/spam/domains/b%C3%BCcher.example", admin, "", nil), 200, "")
		want(t, h.call("PUT", "/v1/spam/domains/not%20a%20domain", admin, "", nil), 400, "invalid_domain")
		want(t, h.call("PUT", "/v1/spam/domains/evil.com", h.keys[auth.ScopeRequests], "", nil), 403, "insufficient_scope")
		want(t, h.call("GET", "/v1/spam/domains", "", "", nil), 401, "unauthorized")
		r = h.call("GET", "/v1/spam/domains", admin, "", nil)
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"login.evil.com"`) || !strings.Contains(string(r.Body), `"xn--bcher-kva.example"`) {
			t.Fatalf("list: %s", r.Body)
		}
		// writer was never accepted: links are spam anyway; the rule
		// counted says which fired first.
		if d := h.say(t, "writer", "c1", "the form is at https://x.login.evil.com/form"); d.Reason != "spam" {
			t.Fatalf("bad domain: %+v", d)
		}
		if got := h.metric(t, `beckon_spam_verdicts_total{rule="bad_domain"}`); !strings.HasSuffix(got, " 1") {
			t.Fatalf("bad_domain: %q", got)
		}
		want(t, h.call("DELETE", "/v1/spam/domains/login.evil.com", admin, "", nil), 204, "")
		want(t, h.call("DELETE", "/v1/spam/domains/login.evil.com", admin, "", nil), 204, "")
		if d := h.say(t, "writer", "c1", "the form is at https://x.login.evil.com/form"); d.Reason != "spam" {
			t.Fatalf("link from a sender nobody accepted: %+v", d)
		}
		if got := h.metric(t, `beckon_spam_verdicts_total{rule="links_unaccepted"}`); !strings.HasSuffix(got, " 1") {
			t.Fatalf("links_unaccepted: %q", got)
		}
	})
}
