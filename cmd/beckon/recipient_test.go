package main

import (
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
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

// pageClient is a recipient's browser without JavaScript: it keeps its
// cookies, does not follow redirects, and submits the forms of the pages
// it was given, as a person pressing their buttons would.
type pageClient struct {
	t    *testing.T
	base string
	lang string // Accept-Language
	http *http.Client
}

func newPageClient(t *testing.T, base, lang string) *pageClient {
	jar, _ := cookiejar.New(nil)
	return &pageClient{t: t, base: base, lang: lang, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *pageClient) send(method, target string, form url.Values) (int, http.Header, string) {
	p.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = p.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if p.lang != "" {
		req.Header.Set("Accept-Language", p.lang)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// get opens a page.
func (p *pageClient) get(target string) (int, string) {
	p.t.Helper()
	code, _, body := p.send("GET", target, nil)
	return code, body
}

var (
	formRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)">(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input[^>]* name="([^"]+)" value="([^"]*)"`)
)

// submit posts the form of page whose action ends with action: the
// values its inputs hold and the given ones.
func (p *pageClient) submit(page, action string, fields url.Values) (int, http.Header, string) {
	p.t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if !strings.HasSuffix(html.UnescapeString(m[1]), action) {
			continue
		}
		form := url.Values{}
		for _, h := range inputRE.FindAllStringSubmatch(m[2], -1) {
			form.Set(h[1], html.UnescapeString(h[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		return p.send("POST", html.UnescapeString(m[1]), form)
	}
	p.t.Fatalf("no form %s in\n%s", action, page)
	return 0, nil, ""
}

// pagesServer runs `beckon serve` with the development sign-up page (no
// BECKON_SIGNUP_URL) and a real SMTP server, seeded with the inviter alice.
type pagesServer struct {
	base   string
	logs   *testenv.SyncBuffer
	c      client
	mailer *testenv.SMTPServer
}

func startPagesServer(t *testing.T) pagesServer {
	t.Helper()
	mailer := testenv.StartSMTP(t)
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	env["BECKON_PUBLIC_URL"] = "http://" + env["BECKON_ADDR"]
	key := createKey(t, env, "directory,invite,link,resolve")
	base, logs := startServer(t, env)
	s := pagesServer{base: base, logs: logs, c: client{t: t, base: base, key: key}, mailer: mailer}
	seedInviter(t, s.c)
	return s
}

// invite sends an invitation from inviter to to in locale and returns the
// link of its email, the email's text part and the invite's id.
func (s pagesServer) invite(t *testing.T, inviter, to, locale string) (link, text, id string) {
	t.Helper()
	before := len(s.mailer.Mails())
	code, m := s.c.do("POST", "/v1/invites", fmt.Sprintf(`{"inviter":%q,"identifier":%q,"locale":%q,"chat":{"id":"chat_9","kind":"group","title":"Quote 2026"}}`, inviter, to, locale))
	if code != 201 {
		t.Fatalf("invite: %d %v", code, m)
	}
	eventually(t, "the email", func() bool { return len(s.mailer.Mails()) > before })
	mail := s.mailer.Mails()[before]
	return pageLinkRE.FindString(mail.Raw), textPart(t, mail), m["id"].(string)
}

// textPart returns the decoded text/plain part of an email.
func textPart(t *testing.T, m testenv.Mail) string {
	t.Helper()
	_, params, _ := mime.ParseMediaType(m.Msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(strings.NewReader(m.Body), params["boundary"])
	for p, err := mr.NextPart(); err == nil; p, err = mr.NextPart() {
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "text/plain" {
			b, _ := io.ReadAll(p) // NextPart decodes quoted-printable
			return string(b)
		}
	}
	t.Fatalf("no text part in %s", m.Raw)
	return ""
}

// gone opens a link that must be gone and returns its 410 page, as text,
// without what changes with every response.
func (p *pageClient) gone(target string) string {
	p.t.Helper()
	code, page := p.get(target)
	if code != 410 {
		p.t.Fatalf("%s: %d; want 410", target, code)
	}
	return html.UnescapeString(regexp.MustCompile(`nonce-[^']+|nonce="[^"]+"|value="[^"]+"`).ReplaceAllString(page, ""))
}

// TestUsedLink: once the invitation is accepted and the account linked,
// the link answers the 410 page every gone link gets, which says how to
// continue (sign in) without telling a used link from an unknown one.
func TestUsedLink(t *testing.T) {
	s := startPagesServer(t)
	link, _, id := s.invite(t, "alice", "rita@example.net", "en")
	b := newPageClient(t, s.base, "")
	_, page := b.get(link)
	code, headers, _ := b.submit(page, "/accept", nil)
	if code != 303 {
		t.Fatalf("accept: %d", code)
	}
	_, signup := b.get(headers.Get("Location"))
	if code, _, page := b.submit(signup, "/signup", url.Values{"display_name": {"Rita"}}); code != 200 || !strings.Contains(page, "joined the group chat “Quote 2026”") {
		t.Fatalf("sign-up: %d\n%s", code, page)
	}
	if _, m := s.c.do("GET", "/v1/invites/"+id, ""); m["status"] != "accepted" {
		t.Fatalf("invite %v", m)
	}
	unknown := s.base + "/i/" + strings.Repeat("A", 43)
	used := b.gone(link)
	if used != b.gone(unknown) {
		t.Fatal("a used link's page differs from an unknown link's")
	}
	if !strings.Contains(used, "This invitation link can no longer be opened. If you already accepted the invitation, sign in to Beckon to continue. Otherwise, ask the person who invited you to send you a new one.") {
		t.Fatalf("used link page:\n%s", used)
	}
	fr := newPageClient(t, s.base, "fr-FR,fr;q=0.9")
	if page := fr.gone(link); page != fr.gone(unknown) || !strings.Contains(page, "Si vous avez déjà accepté l'invitation, connectez-vous à Beckon pour continuer.") {
		t.Fatalf("French used link page:\n%s", page)
	}
}

// TestTwoTabs: the recipient opens the link twice (the mail app, then the
// browser; or two tabs) and presses accept in the first page.
func TestTwoTabs(t *testing.T) {
	s := startPagesServer(t)
	link, _, _ := s.invite(t, "alice", "tabs@example.net", "en")
	b := newPageClient(t, s.base, "")
	_, first := b.get(link)
	if code, _ := b.get(link); code != 200 {
		t.Fatalf("second tab: %d", code)
	}
	code, headers, page := b.submit(first, "/accept", nil)
	if code != 303 || !strings.Contains(headers.Get("Location"), "/signup?") {
		t.Fatalf("accept from the first tab: %d %s\n%s", code, headers.Get("Location"), page)
	}
}

// TestDevSignup: the development sign-up page (on by default: no
// BECKON_SIGNUP_URL) binds only the identifier of a valid invite ticket,
// never the login_hint a visitor sends, so that nobody can take over an
// address, and the invitations waiting for it, without its link.
func TestDevSignup(t *testing.T) {
	s := startPagesServer(t)
	if !strings.Contains(s.logs.String(), "development sign-up page is on: set BECKON_SIGNUP_URL in production") {
		t.Fatalf("no warning at start:\n%s", s.logs)
	}
	if code, m := s.c.do("PUT", "/v1/accounts/carol", `{"display_name":"Carol","identifiers":["carol@example.com"]}`); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	s.invite(t, "alice", "victim@example.com", "en") // waits for the victim
	resolve := func(identifier string) string {
		t.Helper()
		_, m := s.c.do("POST", "/v1/resolve", `{"requester":"carol","identifier":"`+identifier+`"}`)
		return fmt.Sprint(m["match"])
	}
	eventTypes := func() string {
		t.Helper()
		_, m := s.c.do("GET", "/v1/events", "")
		var types []string
		for _, e := range m["items"].([]any) {
			types = append(types, e.(map[string]any)["type"].(string))
		}
		return strings.Join(types, ",")
	}

	t.Run("ErrNoValidTicket", func(t *testing.T) {
		attacker := newPageClient(t, s.base, "")
		for _, ticket := range []string{"", "garbage", strings.Repeat("A", 43)} {
			q := url.Values{"login_hint": {"victim@example.com"}, "invite_ticket": {ticket}}.Encode()
			code, page := attacker.get("/signup?" + q)
			if code != 422 || !strings.Contains(page, "Sign-up link not valid") || strings.Contains(page, "display_name") || strings.Contains(page, "victim@example.com") {
				t.Fatalf("GET /signup with ticket %q: %d\n%s", ticket, code, page)
			}
			// The form posted by hand, with a CSRF cookie from any page.
			u, _ := url.Parse(s.base)
			var csrf string
			for _, c := range attacker.http.Jar.Cookies(u) {
				if c.Name == "beckon_csrf" {
					csrf = c.Value
				}
			}
			code, _, page = attacker.send("POST", "/signup", url.Values{"csrf": {csrf}, "login_hint": {"victim@example.com"},
				"invite_ticket": {ticket}, "display_name": {"Mallory"}})
			if code != 422 || !strings.Contains(page, "Sign-up link not valid") {
				t.Fatalf("POST /signup with ticket %q: %d\n%s", ticket, code, page)
			}
		}
		if m := resolve("victim@example.com"); m != "none" {
			t.Fatalf("resolve victim@example.com: %s", m)
		}
		if types := eventTypes(); strings.Contains(types, "account.linked") || strings.Contains(types, "request.created") {
			t.Fatalf("events %s", types)
		}
	})
	t.Run("TicketBindsItsIdentifier", func(t *testing.T) {
		link, _, id := s.invite(t, "alice", "rita@example.net", "en")
		rita := newPageClient(t, s.base, "")
		_, page := rita.get(link)
		_, headers, _ := rita.submit(page, "/accept", nil)
		loc, _ := url.Parse(headers.Get("Location"))
		q := loc.Query()
		q.Set("login_hint", "victim@example.com") // tampered with
		loc.RawQuery = q.Encode()
		code, signup := rita.get(loc.String())
		if code != 200 || !strings.Contains(signup, `<strong id="identifier">rita@example.net</strong>`) || strings.Contains(signup, "victim@example.com") {
			t.Fatalf("sign-up page: %d\n%s", code, signup)
		}
		code, _, page = rita.submit(signup, "/signup", url.Values{"display_name": {"Rita"}, "login_hint": {"victim@example.com"}})
		if code != 200 || !strings.Contains(page, "joined the group chat “Quote 2026”") {
			t.Fatalf("sign-up: %d\n%s", code, page)
		}
		if m := resolve("rita@example.net"); m != "account" {
			t.Fatalf("resolve rita@example.net: %s", m)
		}
		if m := resolve("victim@example.com"); m != "none" {
			t.Fatalf("resolve victim@example.com: %s", m)
		}
		if _, m := s.c.do("GET", "/v1/invites/"+id, ""); m["status"] != "accepted" {
			t.Fatalf("invite %v", m)
		}
		if code, _, page := rita.submit(signup, "/signup", url.Values{"display_name": {"Rita again"}}); code != 422 || !strings.Contains(page, "Sign-up link not valid") {
			t.Fatalf("the same ticket twice: %d\n%s", code, page)
		}
	})
	t.Run("OwnerLinksLater", func(t *testing.T) {
		code, m := s.c.do("POST", "/v1/links", `{"account":{"id":"victim","display_name":"Victim"},"identifier":"victim@example.com"}`)
		if code != 200 || len(m["requests"].([]any)) != 1 {
			t.Fatalf("link the real owner: %d %v", code, m)
		}
	})
}

// TestFrenchThroughout: a French invitation stays French from the email
// to the last page, in a browser that asks for English: the dates, every
// action's confirmation and error, the development sign-up page and its
// welcome.
func TestFrenchThroughout(t *testing.T) {
	s := startPagesServer(t)
	english := func() *pageClient { return newPageClient(t, s.base, "en-US,en;q=0.9") }
	expires := templates.FormatDate(time.Now().Add(336*time.Hour), "fr")

	t.Run("AcceptAndSignup", func(t *testing.T) {
		link, text, _ := s.invite(t, "alice", "rene@example.net", "fr")
		if !strings.Contains(text, "Elle expire le "+expires+".") {
			t.Fatalf("email:\n%s", text)
		}
		b := english()
		_, page := b.get(link)
		if !strings.Contains(page, `lang="fr"`) || !strings.Contains(page, "Cette invitation expire le "+expires) {
			t.Fatalf("page:\n%s", page)
		}
		if code, _, page := b.submit(page, "/accept", url.Values{"csrf": {"stale"}}); code != 403 || !strings.Contains(page, "Cette page a expiré") {
			t.Fatalf("accept with a stale form: %d\n%s", code, page)
		}
		code, headers, _ := b.submit(page, "/accept", nil)
		loc, _ := url.Parse(headers.Get("Location"))
		if code != 303 || loc.Query().Get("lang") != "fr" {
			t.Fatalf("accept: %d %s", code, loc)
		}
		_, signup := b.get(loc.String())
		if !strings.Contains(signup, `lang="fr"`) || !strings.Contains(signup, "Créez votre compte") {
			t.Fatalf("sign-up page:\n%s", signup)
		}
		code, _, welcome := b.submit(signup, "/signup", url.Values{"display_name": {"René"}})
		if code != 200 || !strings.Contains(welcome, `lang="fr"`) || !strings.Contains(welcome, "Votre compte est prêt") {
			t.Fatalf("welcome: %d\n%s", code, welcome)
		}
		// The same ticket again, with the form of the French page.
		if code, _, page := b.submit(signup, "/signup", url.Values{"display_name": {"René"}}); code != 422 || !strings.Contains(page, "Lien d&#39;inscription non valide") {
			t.Fatalf("used ticket: %d\n%s", code, page)
		}
		// The sign-up link once its ticket is used.
		if code, page := b.get(loc.String()); code != 422 || !strings.Contains(page, `lang="fr"`) {
			t.Fatalf("used sign-up link: %d\n%s", code, page)
		}
	})
	for _, c := range []struct{ action, want string }{
		{"/decline", "Vous avez refusé l&#39;invitation."},
		{"/block", "Cette personne ne peut plus vous inviter."},
		{"/unsubscribe", "Vous ne recevrez plus d&#39;invitations à cette adresse."},
	} {
		t.Run(strings.TrimPrefix(c.action, "/"), func(t *testing.T) {
			link, _, _ := s.invite(t, "alice", strings.TrimPrefix(c.action, "/")+"@example.net", "fr")
			b := english()
			_, page := b.get(link)
			if code, _, page := b.submit(page, c.action, nil); code != 200 || !strings.Contains(page, `lang="fr"`) || !strings.Contains(page, c.want) {
				t.Fatalf("%s: %d\n%s", c.action, code, page)
			}
		})
	}
	t.Run("OneClickUnsubscribe", func(t *testing.T) {
		link, _, _ := s.invite(t, "alice", "oneclick@example.net", "fr")
		// A mail provider's server: no cookie, no form of ours.
		code, _, page := english().send("POST", link+"/unsubscribe", url.Values{"List-Unsubscribe": {"One-Click"}})
		if code != 200 || !strings.Contains(page, `lang="fr"`) {
			t.Fatalf("one-click: %d\n%s", code, page)
		}
	})
	t.Run("UnknownTokenFollowsTheBrowser", func(t *testing.T) {
		if page := english().gone(s.base + "/i/" + strings.Repeat("A", 43)); !strings.Contains(page, `lang="en"`) {
			t.Fatalf("410:\n%s", page)
		}
	})
}
