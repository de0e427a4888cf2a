package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/smsguard"
)

// headerNames are the names of a response's headers but those that vary
// with every response whoever sends it.
func headerNames(r response) string {
	var names []string
	for k := range r.Header {
		if k != "Date" && k != "X-Request-Id" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// metric reads one series of /metrics.
func metric(t *testing.T, h *harness, series string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestReputationShrinksSilently: an inviter blocked by ten people they
// wrote to gets a tenth of their daily invitations, and sees exactly what
// an inviter in good standing sees: the same answers, the same headers,
// the same refusal at the full limit; only fewer messages go out. Ten
// strangers who block an inviter they never heard from cost that inviter
// nothing.
func TestReputationShrinksSilently(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		h := newHarness(t, e, generous)
		h.seed()
		want(t, h.do("PUT", "/v1/accounts/mallory", map[string]any{"tenant_id": "contoso", "display_name": "Mallory"}), 200, "")
		for i := range 10 { // mallory writes to ten people...
			victim := fmt.Sprintf("victim%d", i)
			want(t, h.do("PUT", "/v1/accounts/"+victim, map[string]any{"tenant_id": "fabrikam", "display_name": victim}), 200, "")
			if d := h.check(t, "mallory", victim); d.Reason != "pre_acceptance" {
				t.Fatalf("mallory → %s: %+v", victim, d)
			}
		}
		for i := range 10 { // ...who all block her
			victim := fmt.Sprintf("victim%d", i)
			want(t, h.do("PUT", "/v1/accounts/"+victim+"/blocks/mallory", nil), 200, "")
			troll := fmt.Sprintf("troll%d", i)
			want(t, h.do("PUT", "/v1/accounts/"+troll, map[string]any{"tenant_id": nil, "display_name": troll}), 200, "")
			want(t, h.do("PUT", "/v1/accounts/"+troll+"/blocks/carol", nil), 200, "")
		}
		// The default policy: 50 invitations a day; Mallory's shrink to 5.
		type seen struct {
			bodies, headers []string
			sent            int
		}
		run := func(inviter string) seen {
			var s seen
			for i := range 51 {
				r := h.do("POST", "/v1/invites", inviteBody(inviter, fmt.Sprintf("%s.friend%d@example.net", inviter, i)))
				body := string(r.Body)
				if r.Status == 201 {
					body = normalised(t, r)
				}
				s.bodies = append(s.bodies, fmt.Sprintf("%d %s", r.Status, strings.ReplaceAll(body, inviter, "INVITER")))
				s.headers = append(s.headers, headerNames(r))
				s.sent += len(h.drain())
			}
			return s
		}
		good, bad := run("carol"), run("mallory")
		if good.sent != 50 || bad.sent != 5 {
			t.Fatalf("sent %d for carol, %d for mallory; want 50 and 5", good.sent, bad.sent)
		}
		for i := range good.bodies {
			if good.bodies[i] != bad.bodies[i] || good.headers[i] != bad.headers[i] {
				t.Fatalf("invite %d answers differently:\n%s %s\n%s %s", i, good.bodies[i], good.headers[i], bad.bodies[i], bad.headers[i])
			}
		}
		if !strings.HasPrefix(good.bodies[50], "429 ") {
			t.Fatalf("the 51st: %s", good.bodies[50])
		}
		// A held invite reads as a sent one.
		var page struct{ Items []map[string]any }
		h.do("GET", "/v1/invites?inviter=mallory&limit=50", nil).decode(t, &page)
		for _, inv := range page.Items {
			if inv["delivery"] != "sent" {
				t.Fatalf("a held invite shows %v", inv["delivery"])
			}
		}
		if got := metric(t, h, "beckon_reputation_suppressed_total"); got != "45" {
			t.Fatalf("beckon_reputation_suppressed_total %q; want 45", got)
		}
	})
}

// TestSMSGuardThroughTheAPI: SMS invitations pumped to one prefix are
// created and answered as any other, and after the trip not sent; SMS to
// another prefix still go; the cool-off is counted.
func TestSMSGuardThroughTheAPI(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	want(t, h.do("PUT", "/v1/tenants/pumpco", map[string]any{"name": "Pump Co", "region": "GB",
		"policy": map[string]any{"invites_per_user_per_day": 1000}}), 200, "")
	want(t, h.do("PUT", "/v1/accounts/pumper", map[string]any{"tenant_id": "pumpco", "display_name": "P"}), 200, "")
	var first string
	sent := 0
	for i := range 50 {
		r := h.do("POST", "/v1/invites", inviteBody("pumper", fmt.Sprintf("+4478123%05d", i)))
		want(t, r, 201, "")
		if got := normalised(t, r); first == "" {
			first = got
		} else if got != first {
			t.Fatalf("invite %d answers differently:\n%s\n%s", i, got, first)
		}
		sent += len(h.drain())
	}
	// No history: 20 in two hours is 10× the assumed normal, but no fewer
	// than 30 trip: the 31st is held, and the 19 after it.
	if sent != 30 {
		t.Fatalf("%d of 50 SMS sent; want 30", sent)
	}
	want(t, h.do("POST", "/v1/invites", inviteBody("pumper", "+447400123456")), 201, "")
	if n := len(h.drain()); n != 1 {
		t.Fatalf("another prefix: %d sent", n)
	}
	if got := metric(t, h, `beckon_sms_guard_suppressed_total{reason="sms_prefix"}`); got != "20" {
		t.Fatalf("held %q; want 20", got)
	}
	if got := metric(t, h, "beckon_sms_prefix_cooloffs_total"); got != "1" {
		t.Fatalf("cool-offs %q; want 1", got)
	}
	// An accepted SMS invitation counts for its prefix, once.
	tok := invited(t, h, "pumper", "+447400654321", "en")
	b := newBrowser(t, h)
	_, _, csrf := b.open(tok, "")
	_, headers, _ := b.do("POST", "/i/"+tok+"/accept", url.Values{"csrf": {csrf}}, "")
	loc, _ := url.Parse(headers.Get("Location"))
	link := map[string]any{"account": map[string]any{"id": "newcomer", "tenant_id": nil, "display_name": "N"},
		"identifier": "+447400654321", "invite_ticket": loc.Query().Get("invite_ticket")}
	for range 2 {
		want(t, h.call("POST", "/v1/links", h.keys["link"], "application/json", jsonBody(t, link)), 200, "")
	}
	now := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour) // an hour may have begun since
	st, err := h.db.SMSPrefixStats(context.Background(), "+44740", smsguard.Windows{Recent: now, Day: now, Baseline: now})
	if err != nil || st.DayAccepted != 1 || st.Day != 2 {
		t.Fatalf("prefix +44740: %+v, %v; want 2 sent, 1 accepted", st, err)
	}
	if !strings.Contains(h.logs.String(), "+44781*******") || strings.Contains(h.logs.String(), "+447812300049") {
		t.Fatal("the guard's logs show a number")
	}
}
