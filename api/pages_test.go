package api_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/templates"
)

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

func newBrowser(t *testing.T, h *harness) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, h: h, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, form url.Values, lang string) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.h.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// open loads the page and returns its CSRF form value.
func (b *browser) open(token, lang string) (int, string, string) {
	code, _, body := b.do("GET", "/i/"+token, nil, lang)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		return code, body, ""
	}
	return code, body, m[1]
}

// invited creates an invite and returns its token, from the queued message.
func invited(t *testing.T, h *harness, inviter, to, locale string) string {
	t.Helper()
	body := inviteBody(inviter, to)
	body["locale"] = locale
	want(t, h.do("POST", "/v1/invites", body), 201, "")
	msgs := h.drain()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	return tokenRE.FindStringSubmatch(msgs[0].Text)[1]
}

// expiresOn is the expiry date of an invite created now, as a page in
// locale writes it.
func expiresOn(locale string) string {
	return "expire" + map[string]string{"en": "s on ", "fr": " le "}[locale] + templates.FormatDate(time.Now().Add(336*time.Hour), locale)
}

// gonePage opens a link that must be gone and returns its 410 page
// without what changes with every response.
func gonePage(t *testing.T, b *browser, token, lang string) string {
	t.Helper()
	code, _, page := b.do("GET", "/i/"+token, nil, lang)
	if code != 410 {
		t.Fatalf("%s: %d", token, code)
	}
	return regexp.MustCompile(`nonce-[^']+|nonce="[^"]+"|value="[^"]+"`).ReplaceAllString(page, "")
}

func TestRecipientPage(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	want(t, h.do("PUT", "/v1/accounts/mallory", map[string]any{"display_name": "Mallory <img src=x onerror=alert(1)> evil[.]com", "identifiers": []string{"mallory@example.com"}}), 200, "")
	b := newBrowser(t, h)

	token := invited(t, h, "alice", "rita@example.net", "en")
	code, headers, page := b.do("GET", "/i/"+token, nil, "")
	if code != 200 || !strings.Contains(page, "Alice Martin") || !strings.Contains(page, "alice@contoso.com") ||
		!strings.Contains(page, `id="external"`) || !strings.Contains(page, "outside your organisation") || !strings.Contains(page, "Quote 2026") {
		t.Fatalf("page %d:\n%s", code, page)
	}
	for _, action := range []string{"accept", "decline", "block", "unsubscribe"} {
		if !strings.Contains(page, `action="/i/`+token+`/`+action+`"`) {
			t.Fatalf("no %s form", action)
		}
	}
	csp := headers.Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`nonce-([A-Za-z0-9_-]+)`).FindStringSubmatch(csp)
	if headers.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(csp, "default-src 'none'") || nonce == nil ||
		!strings.Contains(page, `<style nonce="`+nonce[1]+`">`) || headers.Get("Cache-Control") != "no-store" || strings.Contains(page, "http://") {
		t.Fatalf("headers %v", headers)
	}

	t.Run("GetChangesNothing", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			b.do("GET", "/i/"+token, nil, "")
		}
		r := h.do("GET", "/v1/invites?inviter=alice&status=pending", nil)
		if !strings.Contains(string(r.Body), "rita@example.net") {
			t.Fatal("the invite is no longer pending after GETs")
		}
	})
	t.Run("French", func(t *testing.T) {
		fr := invited(t, h, "alice", "rene@example.net", "fr")
		if _, page, _ := b.open(fr, ""); !strings.Contains(page, `lang="fr"`) || !strings.Contains(page, "Externe") || !strings.Contains(page, "Refuser") ||
			!strings.Contains(page, expiresOn("fr")) {
			t.Fatalf("not French:\n%s", page)
		}
		if _, page, _ := b.open(token, ""); !strings.Contains(page, expiresOn("en")) {
			t.Fatalf("no English date:\n%s", page)
		}
		if _, page, _ := b.open(token, "fr-CA,fr;q=0.9,en;q=0.5"); !strings.Contains(page, `lang="en"`) {
			t.Fatal("the invite's locale (en) comes before Accept-Language")
		}
	})
	t.Run("HostileInviterName", func(t *testing.T) {
		x := invited(t, h, "mallory", "victim@example.net", "en")
		_, page, _ := b.open(x, "")
		if !strings.Contains(page, `id="inviter-name">Mallory</span>`) || strings.Contains(page, "img") || strings.Contains(page, "evil") {
			t.Fatalf("inviter name not sanitised:\n%s", page)
		}
	})
	t.Run("Gone", func(t *testing.T) {
		revoked := invited(t, h, "alice", "gone@example.net", "en")
		var id string
		r := h.do("GET", "/v1/invites?inviter=alice&limit=1", nil)
		id = regexp.MustCompile(`"id":"(inv_[0-9a-f]+)"`).FindStringSubmatch(string(r.Body))[1]
		want(t, h.do("DELETE", "/v1/invites/"+id, nil), 200, "")
		var pages []string
		for _, tok := range []string{revoked, strings.Repeat("A", 43), "short", token[:42] + "x"} {
			pages = append(pages, gonePage(t, b, tok, ""))
		}
		for _, p := range pages[1:] {
			if p != pages[0] {
				t.Fatal("410 pages differ")
			}
		}
		if !strings.Contains(pages[0], "can no longer be opened. If you already accepted the invitation, sign in to Beckon to continue.") {
			t.Fatalf("410 wording:\n%s", pages[0])
		}
		if fr := gonePage(t, b, revoked, "fr"); !strings.Contains(fr, "connectez-vous à Beckon pour continuer") {
			t.Fatalf("French 410 wording:\n%s", fr)
		}
	})
	t.Run("ErrCSRF", func(t *testing.T) {
		other := newBrowser(t, h) // never loaded the page: no cookie
		code, _, _ := other.do("POST", "/i/"+token+"/decline", url.Values{"csrf": {"guess"}}, "")
		if code != 403 {
			t.Fatalf("decline without the cookie: %d", code)
		}
		_, _, csrf := b.open(token, "")
		if code, _, _ := b.do("POST", "/i/"+token+"/accept", url.Values{"csrf": {csrf + "x"}}, ""); code != 403 {
			t.Fatalf("wrong csrf: %d", code)
		}
	})
	t.Run("TwoTabs", func(t *testing.T) {
		tok := invited(t, h, "alice", "tabs@example.net", "en")
		_, _, first := b.open(tok, "")
		_, _, second := b.open(tok, "") // the same link in another tab
		if first != second {
			t.Fatal("a second tab changed the token of the first")
		}
		if code, _, page := b.do("POST", "/i/"+tok+"/decline", url.Values{"csrf": {first}}, ""); code != 200 || !strings.Contains(page, "You declined") {
			t.Fatalf("decline from the first tab: %d", code)
		}
		// A cookie Beckon could not have made is replaced, not kept.
		other := newBrowser(t, h)
		u, _ := url.Parse(h.url)
		other.client.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-beckon_csrf", Value: "chosen-by-someone-else", Path: "/"}})
		_, headers, page := other.do("GET", "/i/"+token, nil, "")
		if c := headers.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-beckon_csrf=") || !strings.Contains(c, "Secure") || strings.Contains(page, "chosen-by-someone-else") {
			t.Fatalf("cookie %q", c)
		}
	})
	t.Run("AcceptAndLink", func(t *testing.T) {
		other := invited(t, h, "carol", "rita@example.net", "en") // a second inviter: becomes a request
		_ = other
		_, _, csrf := b.open(token, "")
		code, headers, _ := b.do("POST", "/i/"+token+"/accept", url.Values{"csrf": {csrf}}, "")
		loc, _ := url.Parse(headers.Get("Location"))
		if code != 303 || loc.Path != "/signup" || loc.Query().Get("login_hint") != "rita@example.net" || len(loc.Query().Get("invite_ticket")) != 43 {
			t.Fatalf("accept: %d %s", code, headers.Get("Location"))
		}
		ticket := loc.Query().Get("invite_ticket")
		link := map[string]any{"account": map[string]any{"id": "rita", "tenant_id": nil, "display_name": "Rita"},
			"identifier": "rita@example.net", "invite_ticket": ticket}
		r := h.call("POST", "/v1/links", h.keys["link"], "application/json", jsonBody(t, link))
		want(t, r, 200, "")
		var res struct {
			Accepted []map[string]any
			Requests []map[string]any
		}
		r.decode(t, &res)
		if len(res.Accepted) != 1 || res.Accepted[0]["status"] != "accepted" || res.Accepted[0]["accepted_by"] != "rita" ||
			len(res.Requests) != 1 || res.Requests[0]["inviter"] != "carol" {
			t.Fatalf("link: %s", r.Body)
		}
		again := h.call("POST", "/v1/links", h.keys["link"], "application/json", jsonBody(t, link))
		want(t, again, 200, "")
		if gonePage(t, b, token, "") != gonePage(t, b, strings.Repeat("A", 43), "") {
			t.Fatal("the page of a used link differs from an unknown one's")
		}
		link["account"] = map[string]any{"id": "someone_else", "display_name": "S"}
		want(t, h.call("POST", "/v1/links", h.keys["link"], "application/json", jsonBody(t, link)), 409, "identifier_taken")
		if m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody("alice", "rita@example.net"))); m["match"] != "account" {
			t.Fatalf("after link: %v", m)
		}
		// Erasing Rita erases her address from the invite she accepted.
		acceptedID := res.Accepted[0]["id"].(string)
		if r := h.do("DELETE", "/v1/accounts/rita", nil); r.Status != 204 {
			t.Fatalf("delete: %d", r.Status)
		}
		r = h.do("GET", "/v1/invites/"+acceptedID, nil)
		if strings.Contains(string(r.Body), "rita@example.net") || !strings.Contains(string(r.Body), `"accepted_by":null`) {
			t.Fatalf("after erasure: %s", r.Body)
		}
	})
	t.Run("ErrSignupWithoutTicket", func(t *testing.T) {
		for _, q := range []string{"", "?login_hint=rita@example.net", "?invite_ticket=" + strings.Repeat("A", 43) + "&login_hint=rita@example.net"} {
			if r := h.call("GET", "/signup"+q, "", "", nil); r.Status != 422 || !strings.Contains(string(r.Body), "Sign-up link not valid") {
				t.Fatalf("GET /signup%s: %d", q, r.Status)
			}
		}
	})
	t.Run("BlockAndUnsubscribe", func(t *testing.T) {
		tok := invited(t, h, "alice", "sam@example.net", "en")
		_, _, csrf := b.open(tok, "")
		if code, _, page := b.do("POST", "/i/"+tok+"/block", url.Values{"csrf": {csrf}}, ""); code != 200 || !strings.Contains(page, "can no longer invite you") {
			t.Fatalf("block: %d", code)
		}
		body := inviteBody("alice", "sam@example.net")
		body["chat"] = map[string]any{"id": "chat_2", "kind": "one_on_one"}
		want(t, h.do("POST", "/v1/invites", body), 201, "")
		if n := len(h.drain()); n != 0 {
			t.Fatal("a blocked inviter's invite was sent")
		}
		want(t, h.do("POST", "/v1/invites", inviteBody("carol", "sam@example.net")), 201, "")
		tok2 := tokenRE.FindStringSubmatch(h.drain()[0].Text)[1]
		oneClick := newBrowser(t, h) // a mail client: no cookie, RFC 8058 body
		if code, _, _ := oneClick.do("POST", "/i/"+tok2+"/unsubscribe", url.Values{"List-Unsubscribe": {"One-Click"}}, ""); code != 200 {
			t.Fatalf("one-click unsubscribe: %d", code)
		}
		want(t, h.do("POST", "/v1/invites", inviteBody("frank", "sam@example.net")), 201, "")
		if n := len(h.drain()); n != 0 {
			t.Fatal("an unsubscribed address got an invitation")
		}
	})
	t.Run("LinkBadInput", func(t *testing.T) {
		for _, c := range []struct {
			body        string
			status      int
			code, field string
		}{
			{`{"identifier":"x@example.com"}`, 400, "missing_field", "account"},
			{`{"account":{"id":"x","display_name":"X"}}`, 400, "missing_field", "identifier"},
			{`{"account":{"id":"x","display_name":"X"},"identifier":"x@@example.com"}`, 400, "invalid_email", "identifier"},
			{`{"account":{"id":"x y","display_name":"X"},"identifier":"x@example.com"}`, 400, "invalid_id", "id"},
			{`{"account":{"id":"x","display_name":""},"identifier":"x@example.com"}`, 400, "invalid_name", "display_name"},
			{`{"account":{"id":"x","display_name":"X","photo":"y"},"identifier":"x@example.com"}`, 400, "unknown_field", "photo"},
			{`{"account":{"id":"x","display_name":"X"},"identifier":"x@example.com","invite_ticket":"nope"}`, 422, "invalid_ticket", "invite_ticket"},
			{`{"account":{"id":"x","display_name":"X"},"identifier":"x@example.com","invite_ticket":"` + strings.Repeat("A", 43) + `"}`, 422, "invalid_ticket", "invite_ticket"},
			{`{"account":{"id":"x","display_name":"X","tenant_id":"ghost"},"identifier":"x@example.com"}`, 422, "tenant_not_found", "tenant_id"},
		} {
			r := h.call("POST", "/v1/links", h.keys["link"], "application/json", []byte(c.body))
			want(t, r, c.status, c.code)
			if r.field() != c.field {
				t.Fatalf("%s: field %q", c.body, r.field())
			}
		}
	})
	if strings.Contains(h.logs.String(), token) {
		t.Fatal("a token reached the log")
	}
}
