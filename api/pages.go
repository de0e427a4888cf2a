package api

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/templates"
)

var errCSRF = fault.New(fault.Forbidden, fault.CodeInvalidCSRF, "", "the form expired: open the invitation link again")

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pageHeaders are the headers of every recipient page: no referrer (the URL
// holds the token), a strict CSP with a per-response style nonce, no
// framing, no caching.
func (s *Server) pageHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'none'; form-action 'self' "+
		s.pages.signupOrigin+"; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// renderPage writes page name with status, a fresh nonce, and the CSRF
// token of the browser's cookie.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d templates.PageData) {
	d.Nonce = randomString()
	d.CSRF = s.csrfToken(w, r)
	d.Product = s.pages.product
	body, err := s.pages.set.Render(name, d)
	if err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.pageHeaders(w, d.Nonce)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writePageError answers a page request that failed, with the status of
// the one mapping in errors.go and a page that reveals nothing.
func (s *Server) writePageError(w http.ResponseWriter, r *http.Request, lang string, err error) {
	status := http.StatusInternalServerError
	if f := s.faultOf(err); f != nil {
		if st, ok := statusOf[f.Kind]; ok {
			status = st
		}
		setRetryAfter(w, f)
	} else {
		s.log.ErrorContext(r.Context(), "internal error", "route", routeOf(r), "err", err)
	}
	t := templates.Wording(lang)
	var heading, text string
	switch code := fault.CodeOf(err); {
	case status == http.StatusGone:
		heading, text = t.GoneTitle, t.GoneFor(s.pages.product)
	case code == invite.ErrInvalidTicket.Code:
		heading, text = t.BadTicketTitle, t.BadTicket
	case code == errCSRF.Code:
		heading, text = t.FormExpiredTitle, t.FormExpired
	case code == errRateLimited.Code:
		heading, text = t.TooManyTitle, t.TooMany
	case code == errNoName.Code:
		heading, text = t.ErrorTitle, t.NameMissing
	default:
		heading, text = t.ErrorTitle, t.Error
	}
	s.renderPage(w, r, status, "message", templates.PageData{Lang: lang, Heading: heading, Text: text})
}

// pageAllowed applies the per-IP limit to a page, answering with a page.
func (s *Server) pageAllowed(w http.ResponseWriter, r *http.Request, lang string) bool {
	res, err := s.limiter.AllowN(r.Context(), "ip:"+s.clientIP(r), s.limits.PerIP, 1)
	if err != nil || res.OK() {
		return true
	}
	s.metrics.rateLimited.WithLabelValues("ip").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(res.RetryAfter))))
	s.writePageError(w, r, lang, errRateLimited)
	return false
}

func langOf(r *http.Request, locale string) string {
	return templates.PageLanguage(locale, r.Header.Get("Accept-Language"))
}

func (s *Server) handleLanding() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := langOf(r, "")
		if !s.pageAllowed(w, r, lang) {
			return
		}
		token := r.PathValue("token")
		l, err := s.invites.Land(r.Context(), token)
		if err != nil {
			s.writePageError(w, r, lang, err)
			return
		}
		lang = langOf(r, l.Invite.Locale)
		s.renderPage(w, r, http.StatusOK, "landing", templates.PageData{Lang: lang, Token: token,
			InviterName: l.InviterName, InviterEmail: l.InviterEmail, ChatTitle: l.ChatTitle,
			ExpiresAt: templates.FormatDate(l.Invite.ExpiresAt, lang)})
	})
}

// csrfToken returns the token for the forms of a page (double submit: the
// form's copy must match the cookie's). While the browser's cookie lives
// its token is kept, so that a second tab of the same link does not void
// the forms of the first; otherwise a new one is made. The cookie is set
// again either way, so its hour starts over.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	token := ""
	if c, err := r.Cookie(s.pages.csrfCookie); err == nil && wellFormedToken(c.Value) {
		token = c.Value
	} else {
		token = randomString()
	}
	http.SetCookie(w, &http.Cookie{Name: s.pages.csrfCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.pages.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return token
}

// wellFormedToken reports whether v could have come from randomString.
func wellFormedToken(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 24
}

// checkCSRF compares the form's token with the cookie set with the page.
func (s *Server) checkCSRF(r *http.Request) error {
	c, err := r.Cookie(s.pages.csrfCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		return errCSRF
	}
	return nil
}

// confirmation is what a recipient action answers: its wording, in the
// locale of the invite it acted on.
type confirmation struct {
	locale        string
	heading, text func(templates.Text) string
}

// pageAction runs a recipient action: a small form body, the per-IP
// limit, CSRF, then do, which returns the confirmation, or nil when it
// answered itself (a redirect). Until the invite is known, pages speak the
// language of the page the form came from (its lang field), else
// Accept-Language; neither depends on the invite, so a gone token's page
// tells nothing.
func (s *Server) pageAction(csrf bool, do func(w http.ResponseWriter, r *http.Request, token string) (*confirmation, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		// RFC 8058 one-click POSTs are multipart/form-data (SHOULD), which
		// ParseForm leaves unread.
		var formErr error
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
			formErr = r.ParseMultipartForm(4 << 10)
		} else {
			formErr = r.ParseForm()
		}
		lang := langOf(r, r.PostFormValue("lang"))
		if !s.pageAllowed(w, r, lang) {
			return
		}
		if formErr != nil {
			s.writePageError(w, r, lang, errForm)
			return
		}
		if csrf {
			if err := s.checkCSRF(r); err != nil {
				s.writePageError(w, r, lang, err)
				return
			}
		}
		c, err := do(w, r, r.PathValue("token"))
		if err != nil {
			s.writePageError(w, r, lang, err)
			return
		}
		if c == nil {
			return // do answered itself
		}
		lang = langOf(r, c.locale)
		t := templates.Wording(lang)
		s.renderPage(w, r, http.StatusOK, "message", templates.PageData{Lang: lang, Heading: c.heading(t), Text: c.text(t)})
	})
}

func (s *Server) handleAccept() http.Handler {
	return s.pageAction(true, func(w http.ResponseWriter, r *http.Request, token string) (*confirmation, error) {
		ticket, inv, err := s.invites.Accept(r.Context(), token)
		if err != nil {
			return nil, err
		}
		u := *s.pages.signupURL
		q := u.Query()
		q.Set("invite_ticket", ticket)
		q.Set("login_hint", inv.Recipient.Value)
		if s.devSignup {
			q.Set("lang", inv.Locale) // our own page: it speaks the invite's language
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return nil, nil
	})
}

func (s *Server) handleDecline() http.Handler {
	return s.pageAction(true, func(_ http.ResponseWriter, r *http.Request, token string) (*confirmation, error) {
		inv, err := s.invites.Decline(r.Context(), token)
		return &confirmation{inv.Locale, func(t templates.Text) string { return t.DeclinedTitle }, func(t templates.Text) string { return t.Declined }}, err
	})
}

func (s *Server) handleBlock() http.Handler {
	return s.pageAction(true, func(_ http.ResponseWriter, r *http.Request, token string) (*confirmation, error) {
		inv, err := s.invites.BlockInviter(r.Context(), token)
		return &confirmation{inv.Locale, func(t templates.Text) string { return t.BlockedTitle }, func(t templates.Text) string { return t.Blocked }}, err
	})
}

// handleUnsubscribe takes the page's form (with CSRF) and the RFC 8058
// one-click POST of mail clients (body List-Unsubscribe=One-Click, no
// cookie): stopping invitations is harmless to allow to anyone holding
// the token.
func (s *Server) handleUnsubscribe() http.Handler {
	return s.pageAction(false, func(_ http.ResponseWriter, r *http.Request, token string) (*confirmation, error) {
		if r.PostFormValue("List-Unsubscribe") != "One-Click" {
			if err := s.checkCSRF(r); err != nil {
				return nil, err
			}
		}
		inv, err := s.invites.Unsubscribe(r.Context(), token)
		return &confirmation{inv.Locale, func(t templates.Text) string { return t.StoppedTitle }, func(t templates.Text) string { return t.Stopped }}, err
	})
}

// handleSignupPage is the development sign-up page, served when
// BECKON_SIGNUP_URL is not set, so that the whole loop can be clicked
// through locally. It opens only with a valid invite ticket, and shows
// the ticket's identifier: login_hint is not trusted, since nobody
// verified it.
func (s *Server) handleSignupPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := langOf(r, r.URL.Query().Get("lang"))
		if !s.pageAllowed(w, r, lang) {
			return
		}
		ticket := r.URL.Query().Get("invite_ticket")
		signup, err := s.invites.OpenTicket(r.Context(), ticket)
		if err != nil {
			s.writePageError(w, r, lang, err)
			return
		}
		s.renderPage(w, r, http.StatusOK, "signup", templates.PageData{Lang: langOf(r, signup.Locale),
			Ticket: ticket, Identifier: signup.Identifier.Value})
	})
}

var errNoName = fault.Invalidf(fault.CodeMissingField, "display_name", "give your name")

// handleSignupSubmit creates a personal account for the development
// sign-up page and binds it the identifier of the ticket (never one from
// the form), as an identity provider that verified the address would.
func (s *Server) handleSignupSubmit() http.Handler {
	return s.pageAction(true, func(_ http.ResponseWriter, r *http.Request, _ string) (*confirmation, error) {
		name := strings.TrimSpace(r.PostFormValue("display_name"))
		if name == "" {
			return nil, errNoName
		}
		linked, err := s.invites.SignupWithTicket(r.Context(),
			directory.AccountInput{ID: "dev_" + randomString()[:16], DisplayName: name, Discoverable: true},
			r.PostFormValue("invite_ticket"))
		if err != nil {
			return nil, err
		}
		c := &confirmation{heading: func(t templates.Text) string { return t.WelcomeTitle }, text: func(t templates.Text) string { return t.Welcome }}
		if len(linked.Accepted) > 0 {
			inv := linked.Accepted[0]
			c.locale = inv.Locale
			if title := templates.Sanitize(inv.Chat.Title); inv.Chat.Kind == invite.Group && title != "" {
				c.text = func(t templates.Text) string { return fmt.Sprintf(t.WelcomeGroup, title) }
			}
		}
		return c, nil
	})
}

// pageConfig is what the pages need besides the invite service.
type pageConfig struct {
	publicURL    string
	set          *templates.Pages
	signupURL    *url.URL
	signupOrigin string
	secure       bool
	product      string
	// csrfCookie is the name of the CSRF cookie: on HTTPS with the
	// __Host- prefix, which a sibling subdomain cannot set for us.
	csrfCookie string
}

func newPageConfig(publicURL, signupURL, product string) (pageConfig, error) {
	set, err := templates.NewPages()
	if err != nil {
		return pageConfig{}, err
	}
	u, err := url.Parse(signupURL)
	if err != nil || u.Host == "" {
		return pageConfig{}, errors.New("BECKON_SIGNUP_URL must be an absolute URL")
	}
	c := pageConfig{publicURL: strings.TrimRight(publicURL, "/"), set: set, signupURL: u, signupOrigin: u.Scheme + "://" + u.Host,
		secure: strings.HasPrefix(publicURL, "https://"), product: cmp.Or(product, "Beckon"), csrfCookie: "beckon_csrf"}
	if c.secure {
		c.csrfCookie = "__Host-beckon_csrf"
	}
	return c, nil
}
