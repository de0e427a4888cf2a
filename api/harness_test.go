package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/docs"
	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/ratelimit"
	"github.com/beckon-chat/beckon/store"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// harness is a real server on a real SQLite file; every response it sees
// is validated against docs/openapi.yaml.
type harness struct {
	t       testing.TB
	db      *store.DB
	app     *app.App
	handler http.Handler
	srv     *api.Server
	url     string
	router  routers.Router
	logs    *bytes.Buffer
	key     string // every scope
	keys    map[auth.Scope]string
}

var generous = api.Limits{
	PerKey:       ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second},
	PerRequester: ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second},
	PerIP:        ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second},
}

// inviteLimits are loose but real: tests of the limits set their own.
var inviteLimits = invite.Limits{
	PerInviterMinute: ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Minute},
	PerTenantDay:     ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: 24 * time.Hour},
	PerRecipientDay:  ratelimit.Limit{Rate: 3, Burst: 3, Period: 24 * time.Hour},
	SMSPerCountry:    ratelimit.Limit{Rate: 1000, Burst: 1000, Period: time.Hour},
}

func loadDoc(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi document is invalid: %v", err)
	}
	return doc
}

func newHarness(t testing.TB, e testenv.Engine, limits api.Limits) *harness {
	t.Helper()
	ctx := context.Background()
	logs := &bytes.Buffer{}
	// The same constructor as the binary: nothing is wired only here.
	node, err := app.New(ctx, app.Config{
		DatabaseURL: e.URL, AutoMigrate: true, Limits: limits, InviteLimits: inviteLimits, MaxImportBytes: 4096,
		KeyCacheTTL: 10 * time.Second, PublicURL: "https://beckon.test", SignupURL: "https://beckon.test/signup", DevSignup: true,
		InviteTTL: 336 * time.Hour, DevOutbox: t.TempDir(),
	}, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	db, srv := node.DB, node.Server
	keys := auth.NewService(db, time.Now, 0)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	doc := loadDoc(t)
	doc.Servers = nil // match any host: the test server's port is random
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, app: node, handler: srv.Handler(), srv: srv, url: ts.URL, router: router, logs: logs, keys: map[auth.Scope]string{}}
	_, h.key, err = keys.Create(ctx, "all", auth.AllScopes())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range auth.AllScopes() {
		_, h.keys[sc], _ = keys.Create(ctx, string(sc), []auth.Scope{sc})
	}
	return h
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// code returns the error code of an error response, or "".
func (r response) code() string {
	var e struct {
		Error struct{ Code, Field string }
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (r response) field() string {
	var e struct {
		Error struct{ Code, Field string }
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Field
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// call sends a request with the given key, content type and raw body.
func (h *harness) call(method, path, key, contentType string, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	h.validate(req, out)
	return out
}

// do sends v as JSON (a string or []byte is sent as it is) with the
// all-scopes key.
func (h *harness) do(method, path string, v any) response {
	h.t.Helper()
	return h.call(method, path, h.key, "application/json", jsonBody(h.t, v))
}

func jsonBody(t testing.TB, v any) []byte {
	switch b := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	case []byte:
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validate checks a response against the OpenAPI document.
func (h *harness) validate(req *http.Request, resp response) {
	h.t.Helper()
	if resp.Status == http.StatusNotFound && resp.code() == "not_found" || resp.Status == http.StatusMethodNotAllowed {
		return // no route to validate against
	}
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		h.t.Errorf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.Status, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(resp.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/") || resp.Status == 303 {
		return // /metrics and pages: the route is documented, the body is not JSON
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		h.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, resp.Status, err, resp.Body)
	}
}

// want fails unless resp has status and (when not "") error code.
func want(t *testing.T, resp response, status int, code string) {
	t.Helper()
	if resp.Status != status || resp.code() != code {
		t.Fatalf("got %d %s; want %d %q", resp.Status, resp.Body, status, code)
	}
}

// put is one PUT of a test's setup.
type put struct {
	path string
	body any
}

// putAll makes each PUT in order and fails the test on any answer but 200.
func (h *harness) putAll(puts []put) {
	h.t.Helper()
	for _, p := range puts {
		if r := h.do("PUT", p.path, p.body); r.Status != 200 {
			h.t.Fatalf("PUT %s: %d %s", p.path, r.Status, r.Body)
		}
	}
}

// seed puts the usual tenant and accounts.
func (h *harness) seed() {
	h.t.Helper()
	h.putAll([]put{
		{"/v1/tenants/contoso", map[string]any{"name": "Contoso", "domains": []string{"contoso.com"}, "region": "FR"}},
		{"/v1/tenants/fabrikam", map[string]any{"name": "Fabrikam", "domains": []string{"fabrikam.com"}, "region": "GB",
			"policy": map[string]any{"inbound_personal": false}}},
		{"/v1/accounts/alice", map[string]any{"tenant_id": "contoso", "display_name": "Alice Martin", "identifiers": []string{"alice@contoso.com", "06 12 34 56 78"}}},
		{"/v1/accounts/carol", map[string]any{"tenant_id": "contoso", "display_name": "Carol", "identifiers": []string{"carol@contoso.com"}}},
		{"/v1/accounts/bob", map[string]any{"tenant_id": nil, "display_name": "Bob", "region": "FR", "identifiers": []string{"bob@example.org", "07 81 23 45 67"}}},
		{"/v1/accounts/frank", map[string]any{"tenant_id": "fabrikam", "display_name": "Frank", "identifiers": []string{"frank@fabrikam.com"}}},
	})
}

// newBenchHarness seeds the accounts of every resolve outcome.
func newBenchHarness(b *testing.B) *harness {
	h := newHarness(b, testenv.SQLite(b), generous)
	h.seed()
	h.putAll([]put{
		{"/v1/accounts/optout", map[string]any{"display_name": "Opted Out", "discoverable": false, "identifiers": []string{"optout@example.net"}}},
		{"/v1/accounts/blocker", map[string]any{"display_name": "Blocker", "identifiers": []string{"blocker@example.net"}}},
		{"/v1/accounts/blocker/blocks/bob", nil},
	})
	h.logs.Reset()
	return h
}

// timedCase is one request of a benchmark that compares outcomes.
type timedCase struct {
	name, path string
	// body returns the body of each request.
	body   func() []byte
	status int
	// done, if not nil, gets each response body, outside the timing.
	done func([]byte)
}

// interleaved POSTs every case in turn, b.N rounds, through the whole
// handler, and reports each case's median and p99 time as metrics named
// after it. Taking the cases in turn keeps the machine's drift out of the
// comparison.
func (h *harness) interleaved(b *testing.B, cases []timedCase) {
	times := make([][]time.Duration, len(cases))
	for b.Loop() {
		for i, c := range cases {
			req := httptest.NewRequest("POST", c.path, bytes.NewReader(c.body()))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			start := time.Now()
			h.handler.ServeHTTP(rec, req)
			times[i] = append(times[i], time.Since(start))
			if rec.Code != c.status {
				b.Fatalf("%s: %d %s", c.name, rec.Code, rec.Body)
			}
			if c.done != nil {
				c.done(rec.Body.Bytes())
			}
		}
	}
	for i, c := range cases {
		slices.Sort(times[i])
		b.ReportMetric(float64(times[i][len(times[i])/2].Nanoseconds()), c.name+"-median-ns")
		b.ReportMetric(float64(times[i][len(times[i])*99/100].Nanoseconds()), c.name+"-p99-ns")
	}
}

// badCase is a request that must fail with status, code and field.
type badCase struct {
	name, path string
	body       any
	status     int
	code, fld  string
}

// runBad sends each case with method as a subtest.
func runBad(t *testing.T, h *harness, method string, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(method, c.path, c.body)
			want(t, r, c.status, c.code)
			if r.field() != c.fld {
				t.Fatalf("field %q; want %q", r.field(), c.fld)
			}
		})
	}
}
