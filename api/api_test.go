package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/ratelimit"
)

func TestOpenAPICoversRoutes(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	doc := loadDoc(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, route := range h.srv.Routes() {
		if !slices.Contains(documented, route) {
			t.Errorf("route %q is served but not in docs/openapi.yaml", route)
		}
	}
	for _, d := range documented {
		if !slices.Contains(h.srv.Routes(), d) {
			t.Errorf("docs/openapi.yaml documents %q, which is not served", d)
		}
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	body := []byte(`{"name":"Contoso"}`)
	t.Run("ErrMissingKey", func(t *testing.T) {
		r := h.call("PUT", "/v1/tenants/contoso", "", "application/json", body)
		want(t, r, 401, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("no WWW-Authenticate header")
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		want(t, h.call("PUT", "/v1/tenants/contoso", "bk_not-a-real-key-but-well-formed-0123456789a", "application/json", body), 401, "unauthorized")
		want(t, h.call("PUT", "/v1/tenants/contoso", "garbage", "application/json", body), 401, "unauthorized")
	})
	t.Run("ErrScope", func(t *testing.T) {
		want(t, h.call("PUT", "/v1/tenants/contoso", h.keys[auth.ScopeResolve], "application/json", body), 403, "insufficient_scope")
		want(t, h.call("POST", "/v1/resolve", h.keys[auth.ScopeDirectory], "application/json", []byte(`{}`)), 403, "insufficient_scope")
		want(t, h.call("PUT", "/v1/accounts/a/policy", h.keys[auth.ScopeDirectory], "application/json", []byte(`{}`)), 403, "insufficient_scope")
		for _, c := range []struct{ method, path, key, message string }{
			{"POST", "/v1/resolve", h.keys[auth.ScopeDirectory], "this key lacks the resolve scope"},
			{"GET", "/v1/accounts/a/blocks", h.keys[auth.ScopeResolve], "this key lacks the directory or requests scope"},
		} {
			var e struct {
				Error struct{ Code, Message string }
			}
			h.call(c.method, c.path, c.key, "application/json", nil).decode(t, &e)
			if e.Error.Code != "insufficient_scope" || e.Error.Message != c.message {
				t.Errorf("%s %s: %+v; want the message %q", c.method, c.path, e.Error, c.message)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		want(t, h.call("PUT", "/v1/tenants/contoso", h.keys[auth.ScopeDirectory], "application/json", body), 200, "")
	})
}

func TestBadJSON(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	// Every JSON endpoint rejects the same malformed inputs the same way.
	endpoints := []struct{ method, path string }{
		{"PUT", "/v1/tenants/t1"}, {"PUT", "/v1/accounts/a1"}, {"PATCH", "/v1/accounts/alice"},
		{"PUT", "/v1/accounts/alice/policy"}, {"POST", "/v1/resolve"}, {"POST", "/v1/resolve/batch"},
	}
	cases := []struct {
		name, contentType, body string
		status                  int
		code, field             string
	}{
		{"ErrMalformed", "application/json", `{"name":`, 400, "invalid_json", ""},
		{"ErrSyntax", "application/json", `{"name" "x"}`, 400, "invalid_json", ""},
		{"ErrEmpty", "application/json", ``, 400, "invalid_json", ""},
		{"ErrNotObject", "application/json", `[1,2]`, 400, "invalid_json", ""},
		{"ErrTrailing", "application/json", `{} {}`, 400, "invalid_json", ""},
		{"ErrUnknownField", "application/json", `{"surprise": 1}`, 400, "unknown_field", "surprise"},
		{"ErrContentType", "text/plain", `{}`, 415, "unsupported_media_type", ""},
		{"ErrNoContentType", "", `{}`, 415, "unsupported_media_type", ""},
		{"ErrTooLarge", "application/json", `{"x":"` + strings.Repeat("a", 1<<20+10) + `"}`, 413, "request_too_large", ""},
		{"ErrTooLargeNotJSON", "application/json", strings.Repeat("a", 2<<20), 413, "request_too_large", ""}, // the size comes first
	}
	for _, e := range endpoints {
		for _, c := range cases {
			t.Run(e.method+e.path+"/"+c.name, func(t *testing.T) {
				r := h.call(e.method, e.path, h.key, c.contentType, []byte(c.body))
				want(t, r, c.status, c.code)
				if r.field() != c.field {
					t.Fatalf("field = %q; want %q", r.field(), c.field)
				}
			})
		}
	}
	// encoding/json matches keys whatever their case and lets a repeated
	// key win: Beckon must act on the field a proxy or a log reads.
	t.Run("ErrKeyNotExact", func(t *testing.T) {
		for _, c := range []struct{ method, path, field, value string }{
			{"PUT", "/v1/tenants/t1", "name", `"T"`}, {"PUT", "/v1/accounts/a1", "display_name", `"A"`},
			{"PATCH", "/v1/accounts/alice", "discoverable", `true`}, {"PUT", "/v1/accounts/alice/policy", "outbound_personal", `true`},
			{"POST", "/v1/resolve", "requester", `"alice"`}, {"POST", "/v1/resolve/batch", "requester", `"alice"`},
			{"POST", "/v1/requests/check", "sender", `"alice"`}, {"POST", "/v1/invites", "inviter", `"alice"`},
		} {
			upper := strings.ToUpper(c.field)
			longS := strings.Replace(c.field, "s", "\u017f", 1) // ſ, which encoding/json folds to s
			for _, b := range []struct{ body, code, field string }{
				{`{"` + upper + `":` + c.value + `}`, "unknown_field", upper},
				{`{"` + c.field + `":` + c.value + `,"` + c.field + `":` + c.value + `}`, "invalid_field", c.field},
				{"{\"" + c.field + "\":\"\xff\xfe\"}", "invalid_json", ""}, // not UTF-8
			} {
				r := h.call(c.method, c.path, h.key, "application/json", []byte(b.body))
				want(t, r, 400, b.code)
				if r.field() != b.field {
					t.Fatalf("%s %s %q: field %q; want %q", c.method, c.path, b.body, r.field(), b.field)
				}
			}
			if strings.Contains(c.field, "s") {
				want(t, h.call(c.method, c.path, h.key, "application/json", []byte(`{"`+longS+`":`+c.value+`}`)), 400, "unknown_field")
			}
		}
		// Nested objects too; a valid nested body still passes.
		want(t, h.do("PUT", "/v1/tenants/t2", map[string]any{"name": "T", "policy": map[string]any{"Allowed_Domains": []string{}}}), 400, "unknown_field")
		want(t, h.do("PUT", "/v1/tenants/t2", map[string]any{"name": "T", "policy": map[string]any{"allowed_domains": []string{}}}), 200, "")
	})
	t.Run("ErrWrongType", func(t *testing.T) {
		for _, c := range []struct{ method, path, body, field string }{
			{"PUT", "/v1/tenants/t1", `{"name": 5}`, "name"},
			{"PUT", "/v1/tenants/t1", `{"name": "x", "policy": {"invites_per_user_per_day": "many"}}`, "policy.invites_per_user_per_day"},
			{"PUT", "/v1/accounts/a1", `{"display_name": "A", "identifiers": "a@b.co"}`, "identifiers"},
			{"PUT", "/v1/accounts/a1", `{"display_name": "A", "tenant_id": 7}`, "tenant_id"},
			{"PATCH", "/v1/accounts/alice", `{"discoverable": "no"}`, "discoverable"},
			{"PUT", "/v1/accounts/alice/policy", `{"inbound_personal": 1}`, "inbound_personal"},
			{"POST", "/v1/resolve", `{"requester": "alice", "identifier": 33612345678}`, "identifier"},
			{"POST", "/v1/resolve/batch", `{"requester": "alice", "identifiers": [1]}`, "identifiers"},
		} {
			r := h.call(c.method, c.path, h.key, "application/json", []byte(c.body))
			want(t, r, 400, "invalid_field")
			if !strings.HasPrefix(r.field(), c.field) {
				t.Fatalf("%s %s: field %q; want %q", c.method, c.path, r.field(), c.field)
			}
		}
	})
}

func TestTenants(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	t.Run("OKDefaults", func(t *testing.T) {
		r := h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "domains": []string{"Contoso.COM", "bücher.de"}, "region": "fr",
			"policy": map[string]any{"outbound_personal": false, "sms_countries": []string{"fr"}}})
		want(t, r, 200, "")
		var got struct {
			Domains []string
			Region  string
			Policy  map[string]any
		}
		r.decode(t, &got)
		if strings.Join(got.Domains, ",") != "contoso.com,xn--bcher-kva.de" || got.Region != "FR" {
			t.Fatalf("not normalised: %s", r.Body)
		}
		if got.Policy["outbound_personal"] != false || got.Policy["inbound_personal"] != true ||
			got.Policy["invites_per_user_per_day"] != 50.0 || got.Policy["pre_acceptance_message_limit"] != 10.0 ||
			fmt.Sprint(got.Policy["sms_countries"]) != "[FR]" || fmt.Sprint(got.Policy["invite_channels"]) != "[email sms]" {
			t.Fatalf("policy defaults: %s", r.Body)
		}
		want(t, h.do("GET", "/v1/tenants/contoso", nil), 200, "")
	})
	bad := []badCase{
		{"ErrMissingName", "/v1/tenants/t", map[string]any{}, 400, "missing_field", "name"},
		{"ErrBlankName", "/v1/tenants/t", map[string]any{"name": "  "}, 400, "missing_field", "name"},
		{"ErrControlInName", "/v1/tenants/t", map[string]any{"name": "a\x07b"}, 400, "invalid_name", "name"},
		{"ErrRegion", "/v1/tenants/t", map[string]any{"name": "T", "region": "ZZ"}, 400, "invalid_region", "region"},
		{"ErrDomain", "/v1/tenants/t", map[string]any{"name": "T", "domains": []string{"not a domain"}}, 400, "invalid_domain", "domains"},
		{"ErrChannel", "/v1/tenants/t", map[string]any{"name": "T", "policy": map[string]any{"invite_channels": []string{"fax"}}}, 400, "invalid_channel", "policy.invite_channels"},
		{"ErrSMSCountry", "/v1/tenants/t", map[string]any{"name": "T", "policy": map[string]any{"sms_countries": []string{"France"}}}, 400, "invalid_region", "policy.sms_countries"},
		{"ErrQuota", "/v1/tenants/t", map[string]any{"name": "T", "policy": map[string]any{"invites_per_user_per_day": -1}}, 400, "invalid_policy", "policy.invites_per_user_per_day"},
		{"ErrPolicyUnknownField", "/v1/tenants/t", map[string]any{"name": "T", "policy": map[string]any{"colour": "red"}}, 400, "unknown_field", "colour"},
		{"ErrID", "/v1/tenants/bad%20id", map[string]any{"name": "T"}, 400, "invalid_id", "tenant_id"},
		{"ErrIDTooLong", "/v1/tenants/" + strings.Repeat("x", 129), map[string]any{"name": "T"}, 400, "invalid_id", "tenant_id"},
	}
	runBad(t, h, "PUT", bad)
	t.Run("ErrNotFound", func(t *testing.T) { want(t, h.do("GET", "/v1/tenants/ghost", nil), 404, "tenant_not_found") })
}

func TestAccounts(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	t.Run("OKNormalisedWithTenantRegion", func(t *testing.T) {
		r := h.do("PUT", "/v1/accounts/dave", map[string]any{"tenant_id": "contoso", "display_name": "Dave",
			"identifiers": []string{"Dave <DAVE@Contoso.com>", "01 42 68 53 00", "dave@contoso.com"}})
		want(t, r, 200, "")
		var a struct {
			Identifiers  []map[string]string
			Discoverable bool
			TenantID     *string `json:"tenant_id"`
		}
		r.decode(t, &a)
		if len(a.Identifiers) != 2 || a.Identifiers[0]["value"] != "dave@contoso.com" || a.Identifiers[1]["value"] != "+33142685300" || !a.Discoverable {
			t.Fatalf("account: %s", r.Body)
		}
	})
	t.Run("OKPersonalNullTenant", func(t *testing.T) {
		r := h.do("GET", "/v1/accounts/bob", nil)
		if !strings.Contains(string(r.Body), `"tenant_id":null`) {
			t.Fatalf("personal account: %s", r.Body)
		}
	})
	bad := []badCase{
		{"ErrMissingName", "/v1/accounts/x", map[string]any{"identifiers": []string{}}, 400, "missing_field", "display_name"},
		{"ErrEmail", "/v1/accounts/x", map[string]any{"display_name": "X", "identifiers": []string{"ok@example.com", "not@valid"}}, 400, "invalid_email", "identifiers[1]"},
		{"ErrRegionRequired", "/v1/accounts/x", map[string]any{"display_name": "X", "identifiers": []string{"06 12 34 56 79"}}, 400, "region_required", "identifiers[0]"},
		{"ErrPhone", "/v1/accounts/x", map[string]any{"display_name": "X", "region": "FR", "identifiers": []string{"12"}}, 400, "invalid_phone", "identifiers[0]"},
		{"ErrTooManyIdentifiers", "/v1/accounts/x", map[string]any{"display_name": "X", "identifiers": slices.Repeat([]string{"a@example.com"}, 21)}, 400, "too_many_identifiers", "identifiers"},
		{"ErrTenantNotFound", "/v1/accounts/x", map[string]any{"display_name": "X", "tenant_id": "ghost"}, 422, "tenant_not_found", "tenant_id"},
		{"ErrTenantID", "/v1/accounts/x", map[string]any{"display_name": "X", "tenant_id": "no spaces"}, 400, "invalid_id", "tenant_id"},
		{"ErrIdentifierTaken", "/v1/accounts/x", map[string]any{"display_name": "X", "identifiers": []string{"+33612345678"}}, 409, "identifier_taken", "identifiers[0]"},
		{"ErrID", "/v1/accounts/%C3%A9", map[string]any{"display_name": "X"}, 400, "invalid_id", "id"},
	}
	runBad(t, h, "PUT", bad)
	t.Run("PatchDiscoverable", func(t *testing.T) {
		r := h.do("PATCH", "/v1/accounts/bob", map[string]any{"discoverable": false})
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"discoverable":false`) {
			t.Fatalf("%s", r.Body)
		}
		want(t, h.do("PATCH", "/v1/accounts/bob", map[string]any{}), 400, "missing_field")
		want(t, h.do("PATCH", "/v1/accounts/ghost", map[string]any{"discoverable": true}), 404, "account_not_found")
		want(t, h.do("PATCH", "/v1/accounts/bob", map[string]any{"display_name": "B"}), 400, "unknown_field")
	})
	t.Run("PolicyOverrides", func(t *testing.T) {
		r := h.do("PUT", "/v1/accounts/alice/policy", map[string]any{"outbound_personal": false, "inbound_personal": nil})
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"policy":{"outbound_personal":false,"inbound_personal":null}`) {
			t.Fatalf("%s", r.Body)
		}
		want(t, h.do("PUT", "/v1/accounts/ghost/policy", map[string]any{}), 404, "account_not_found")
	})
	t.Run("Delete", func(t *testing.T) {
		want(t, h.do("PUT", "/v1/accounts/carol/blocks/bob", nil), 200, "")
		r := h.do("DELETE", "/v1/accounts/carol", nil)
		if r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		want(t, h.do("GET", "/v1/accounts/carol", nil), 404, "account_not_found")
		want(t, h.do("DELETE", "/v1/accounts/carol", nil), 404, "account_not_found")
		// Its identifier is free again.
		want(t, h.do("PUT", "/v1/accounts/carol2", map[string]any{"display_name": "C", "identifiers": []string{"carol@contoso.com"}}), 200, "")
	})
}

func TestBlocks(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	for _, other := range []string{"frank", "bob", "carol"} {
		r := h.call("PUT", "/v1/accounts/alice/blocks/"+other, h.keys[auth.ScopeRequests], "", nil)
		want(t, r, 200, "")
	}
	want(t, h.do("PUT", "/v1/accounts/alice/blocks/bob", nil), 200, "") // again: no-op
	r := h.do("GET", "/v1/accounts/alice/blocks?limit=2", nil)
	var page struct {
		Items []struct {
			BlockedAccountID string `json:"blocked_account_id"`
		}
		NextCursor *string `json:"next_cursor"`
	}
	r.decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].BlockedAccountID != "bob" || page.NextCursor == nil {
		t.Fatalf("page 1: %s", r.Body)
	}
	r = h.do("GET", "/v1/accounts/alice/blocks?limit=2&cursor="+*page.NextCursor, nil)
	page.NextCursor = nil
	r.decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].BlockedAccountID != "frank" || page.NextCursor != nil {
		t.Fatalf("page 2: %s", r.Body)
	}
	t.Run("ErrSelf", func(t *testing.T) { want(t, h.do("PUT", "/v1/accounts/alice/blocks/alice", nil), 400, "invalid_block") })
	t.Run("ErrUnknownOther", func(t *testing.T) {
		r := h.do("PUT", "/v1/accounts/alice/blocks/ghost", nil)
		want(t, r, 404, "account_not_found")
		if r.field() != "other_account_id" {
			t.Fatalf("field %q", r.field())
		}
	})
	t.Run("ErrUnknownAccount", func(t *testing.T) { want(t, h.do("GET", "/v1/accounts/ghost/blocks", nil), 404, "account_not_found") })
	t.Run("ErrLimit", func(t *testing.T) {
		for _, l := range []string{"0", "101", "x", "-1"} {
			want(t, h.do("GET", "/v1/accounts/alice/blocks?limit="+l, nil), 400, "invalid_parameter")
		}
	})
	t.Run("Unblock", func(t *testing.T) {
		if r := h.do("DELETE", "/v1/accounts/alice/blocks/bob", nil); r.Status != 204 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		want(t, h.do("DELETE", "/v1/accounts/alice/blocks/bob", nil), 404, "block_not_found")
	})
}

func TestImport(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	ndjson := strings.Join([]string{
		`{"id":"i1","display_name":"One","identifiers":["one@example.com"]}`,
		``,
		`{"id":"i2","tenant_id":"contoso","display_name":"Two","identifiers":["06 99 88 77 66"],"discoverable":false}`,
		`not json`,
		`{"id":"i3","display_name":"Three","identifiers":["alice@contoso.com"]}`,
		`{"id":"i4","display_name":"Four","tenant_id":"ghost"}`,
		`{"id":"i5","display_name":"Five","nickname":"5"}`,
		`{"display_name":"no id"}`,
		`{"id":"i6","display_name":"Six","identifiers":["+33 6 99 88 77 66"]}`,
		`{"id":"i7","display_name":"Seven"}{"id":"i8"}`,
	}, "\n")
	r := h.call("POST", "/v1/accounts/import", h.keys[auth.ScopeDirectory], "application/x-ndjson", []byte(ndjson))
	want(t, r, 200, "")
	var res struct {
		Imported int
		Errors   []struct {
			Line int
			Code string
		}
	}
	r.decode(t, &res)
	got := ""
	for _, e := range res.Errors {
		got += fmt.Sprintf("%d:%s ", e.Line, e.Code)
	}
	if res.Imported != 2 || got != "4:invalid_json 5:identifier_taken 6:tenant_not_found 7:unknown_field 8:invalid_id 9:identifier_taken 10:invalid_json " {
		t.Fatalf("imported %d, errors %s", res.Imported, got)
	}
	if r := h.do("GET", "/v1/accounts/i2", nil); !strings.Contains(string(r.Body), "+33699887766") || !strings.Contains(string(r.Body), `"discoverable":false`) {
		t.Fatalf("i2 not imported with its tenant region: %s", r.Body)
	}
	t.Run("ErrContentType", func(t *testing.T) {
		want(t, h.call("POST", "/v1/accounts/import", h.key, "text/csv", []byte("id\n")), 415, "unsupported_media_type")
	})
	t.Run("ErrLineTooLong", func(t *testing.T) {
		// The harness caps imports at 4 KiB; a line of 3 KiB is fine for the
		// cap but a bad account.
		r := h.call("POST", "/v1/accounts/import", h.key, "application/x-ndjson", []byte(`{"id":"`+strings.Repeat("x", 3000)+`"}`))
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"code":"invalid_id"`) {
			t.Fatalf("%s", r.Body)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		var b strings.Builder
		for i := 0; b.Len() < 8000; i++ {
			fmt.Fprintf(&b, `{"id":"big%d","display_name":"B"}`+"\n", i)
		}
		want(t, h.call("POST", "/v1/accounts/import", h.key, "application/x-ndjson", []byte(b.String())), 413, "request_too_large")
	})
}

func TestRouting(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	want(t, h.do("GET", "/v1/nowhere", nil), 404, "not_found")
	r := h.do("POST", "/v1/tenants/contoso", map[string]any{})
	want(t, r, 405, "method_not_allowed")
	if r.Header.Get("Allow") != "GET, PUT" {
		t.Fatalf("Allow = %q", r.Header.Get("Allow"))
	}
	want(t, h.do("GET", "/healthz", nil), 200, "")
	r = h.do("GET", "/readyz", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"database":"ok"`) {
		t.Fatalf("readyz: %s", r.Body)
	}
}

func TestRateLimits(t *testing.T) {
	limits := generous
	limits.PerRequester = ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}
	limits.PerIP = ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Minute}
	limits.PerKey = ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}
	h := newHarness(t, testenv.SQLite(t), limits)
	h.seed()
	// Each new identifier counts (contact sync: see contactsync_test.go).
	for i := 0; i < 3; i++ {
		r := h.do("POST", "/v1/resolve", map[string]any{"requester": "alice", "identifier": fmt.Sprintf("bob%d@example.org", i)})
		want(t, r, 200, "")
		if r.Header.Get("RateLimit-Remaining") != fmt.Sprint(2-i) || r.Header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("call %d headers: %v", i, r.Header)
		}
	}
	r := h.do("POST", "/v1/resolve", map[string]any{"requester": "alice", "identifier": "bob@example.org"})
	want(t, r, 429, "rate_limited")
	if ra := r.Header.Get("Retry-After"); ra != "20" || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Reset") == "" {
		t.Fatalf("429 headers: %v", r.Header)
	}
	t.Run("BatchEntriesCount", func(t *testing.T) {
		r := h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{"a@example.com", "b@example.com"}})
		want(t, r, 200, "")
		if r.Header.Get("RateLimit-Remaining") != "1" {
			t.Fatalf("remaining after a batch of 2: %v", r.Header.Get("RateLimit-Remaining"))
		}
		want(t, h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{"c@example.com", "d@example.com"}}), 429, "rate_limited")
	})
	t.Run("UnknownRequesterCounts", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			want(t, h.do("POST", "/v1/resolve", map[string]any{"requester": "ghost", "identifier": fmt.Sprintf("a%d@example.com", i)}), 404, "account_not_found")
		}
		want(t, h.do("POST", "/v1/resolve", map[string]any{"requester": "ghost", "identifier": "a9@example.com"}), 429, "rate_limited")
	})
	t.Run("FailedAuthPerIP", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			want(t, h.call("GET", "/v1/tenants/contoso", "bk_wrong", "", nil), 401, "unauthorized")
		}
		want(t, h.call("GET", "/v1/tenants/contoso", "bk_wrong", "", nil), 429, "rate_limited")
	})
	t.Run("PerKey", func(t *testing.T) {
		var last response
		for i := 0; i < 101; i++ {
			last = h.call("GET", "/v1/tenants/contoso", h.keys[auth.ScopeDirectory], "", nil)
		}
		want(t, last, 429, "rate_limited")
	})
}

func TestLogsRedacted(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.do("POST", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "alice@contoso.com"})
	h.do("POST", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "06 12 34 56 78", "region": "FR"})
	h.do("POST", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "bad@@example.com"})
	logs := h.logs.String()
	for _, line := range []string{`"route":"POST /v1/resolve"`, `"identifier":"a***@contoso.com"`, `"identifier":"+336******78"`, `"outcome":"invalid_email"`} {
		if !strings.Contains(logs, line) {
			t.Fatalf("log lacks %s:\n%s", line, logs)
		}
	}
	for _, secret := range []string{"alice@contoso.com", "+33612345678", "06 12 34 56 78", "bad@@example.com", h.key, "bob@example.org"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.do("POST", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "alice@contoso.com"})
	h.do("POST", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "nobody@contoso.com"})
	r := h.do("GET", "/metrics", nil)
	for _, line := range []string{
		`beckon_http_requests_total{code="200",route="POST /v1/resolve"} 2`,
		`beckon_resolve_results_total{match="account"} 1`,
		`beckon_resolve_results_total{match="none"} 1`,
		`beckon_http_request_duration_seconds_count{route="POST /v1/resolve"} 2`,
	} {
		if !strings.Contains(string(r.Body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// decodeResult reads a resolve answer into a generic map.
func decodeResult(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestImportCutShort: a client that hangs up in the middle of an import
// gets a 400 (what it sent before stays imported), never a 503 blaming the
// database.
func TestImportCutShort(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	u, _ := url.Parse(h.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line := `{"id":"cut1","display_name":"Cut","identifiers":["cut@example.com"]}` + "\n"
	fmt.Fprintf(conn, "POST /v1/accounts/import HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n%s",
		u.Host, h.keys[auth.ScopeDirectory], line)
	conn.(*net.TCPConn).CloseWrite() // the rest never comes
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"invalid_json"`) {
		t.Fatalf("a body cut short: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(h.logs.String(), "answering 503") {
		t.Fatalf("a body cut short was logged as the database's fault:\n%s", h.logs)
	}
}
