package api

import (
	"net/http"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/request"
)

// routes lists every endpoint and what guards it.
func (s *Server) routes() {
	dir, admin := auth.ScopeDirectory, auth.ScopeAdmin
	m := s

	m.handle("GET /healthz", handleHealthz())
	m.handle("GET /readyz", handleReadyz(s.checks))
	m.handle("GET /metrics", s.handleMetrics())

	m.handle("PUT /v1/tenants/{tenant_id}", s.authed(s.handleTenantPut(), dir))
	m.handle("GET /v1/tenants/{tenant_id}", s.authed(s.handleTenantGet(), dir, admin))

	m.handle("POST /v1/accounts/import", s.authed(s.handleImport(), dir))
	m.handle("PUT /v1/accounts/{account_id}", s.authed(s.handleAccountPut(), dir))
	m.handle("GET /v1/accounts/{account_id}", s.authed(s.handleAccountGet(), dir, admin))
	m.handle("PATCH /v1/accounts/{account_id}", s.authed(s.handleAccountPatch(), dir))
	m.handle("DELETE /v1/accounts/{account_id}", s.authed(s.handleAccountDelete(), dir))
	m.handle("PUT /v1/accounts/{account_id}/policy", s.authed(s.handleAccountPolicyPut(), admin))

	m.handle("GET /v1/accounts/{account_id}/blocks", s.authed(s.handleBlocksList(), dir, auth.ScopeRequests))
	m.handle("PUT /v1/accounts/{account_id}/blocks/{other_account_id}", s.authed(s.handleBlockPut(), dir, auth.ScopeRequests))
	m.handle("DELETE /v1/accounts/{account_id}/blocks/{other_account_id}", s.authed(s.handleBlockDelete(), dir, auth.ScopeRequests))

	m.handle("POST /v1/resolve", s.authed(s.handleResolve(), auth.ScopeResolve))
	m.handle("POST /v1/resolve/batch", s.authed(s.handleResolveBatch(), auth.ScopeResolve))

	inv := auth.ScopeInvite
	m.handle("POST /v1/invites", s.authed(s.idempotent(s.handleInviteCreate()), inv))
	m.handle("GET /v1/invites", s.authed(s.handleInviteList(), inv))
	m.handle("GET /v1/invites/{invite_id}", s.authed(s.handleInviteGet(), inv))
	m.handle("DELETE /v1/invites/{invite_id}", s.authed(s.handleInviteRevoke(), inv))
	m.handle("POST /v1/invites/{invite_id}/resend", s.authed(s.idempotent(s.handleInviteResend()), inv))

	reqs := auth.ScopeRequests
	m.handle("POST /v1/requests/check", s.authed(s.idempotent(s.handleRequestCheck()), reqs))
	m.handle("GET /v1/accounts/{account_id}/requests", s.authed(s.handleRequestList(), reqs))
	m.handle("POST /v1/requests/{request_id}/accept", s.authed(s.handleRequestAction(request.Accept), reqs))
	m.handle("POST /v1/requests/{request_id}/decline", s.authed(s.handleRequestAction(request.Decline), reqs))
	m.handle("POST /v1/requests/{request_id}/block", s.authed(s.handleRequestAction(request.Block), reqs))
	m.handle("POST /v1/requests/{request_id}/report", s.authed(s.handleRequestAction(request.Report), reqs))

	if s.spamDomains != nil {
		m.handle("GET /v1/spam/domains", s.authed(s.handleSpamDomainList(), admin))
		m.handle("PUT /v1/spam/domains/{domain}", s.authed(s.handleSpamDomainPut(), admin))
		m.handle("DELETE /v1/spam/domains/{domain}", s.authed(s.handleSpamDomainDelete(), admin))
	}

	m.handle("POST /v1/links", s.authed(s.handleLink(), auth.ScopeLink))
	m.handle("GET /v1/events", s.authed(s.handleEvents(), auth.ScopeLink, admin))

	tpl := auth.ScopeTemplates
	m.handle("GET /v1/templates", s.authed(s.handleTemplateList(), tpl))
	m.handle("GET /v1/templates/{name}/{locale}", s.authed(s.handleTemplateGet(), tpl))
	m.handle("PUT /v1/templates/{name}/{locale}", s.authed(s.handleTemplatePut(), tpl))
	m.handle("POST /v1/templates/{name}/{locale}/preview", s.authed(s.handleTemplatePreview(), tpl))
	m.handle("POST /v1/templates/{name}/{locale}/activate", s.authed(s.handleTemplateActivate(), tpl))

	// The recipient's pages: no API key, the token is the credential.
	m.handle("GET /i/{token}", s.handleLanding())
	m.handle("POST /i/{token}/accept", s.handleAccept())
	m.handle("POST /i/{token}/decline", s.handleDecline())
	m.handle("POST /i/{token}/block", s.handleBlock())
	m.handle("POST /i/{token}/unsubscribe", s.handleUnsubscribe())
	m.handle("POST /webhooks/twilio/status", s.handleTwilioStatus())
	m.handle("POST /webhooks/twilio/inbound", s.handleTwilioInbound())
	if s.devSignup {
		m.handle("GET /signup", s.handleSignupPage())
		m.handle("POST /signup", s.handleSignupSubmit())
	}
}

// handle registers h for pattern and remembers the pattern.
func (s *Server) handle(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

// Routes returns every route pattern the server serves, for the test that
// holds the OpenAPI document to the code.
func (s *Server) Routes() []string { return s.patterns }
