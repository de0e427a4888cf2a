package api_test

import (
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/testenv"
)

type decisionJSON struct {
	Decision  string
	Reason    string
	Remaining *int
}

func (h *harness) check(t *testing.T, from, to string) decisionJSON {
	t.Helper()
	r := h.call("POST", "/v1/requests/check", h.keys[auth.ScopeRequests], "application/json",
		jsonBody(t, map[string]any{"sender": from, "recipient": to, "chat_id": "chat-1", "text": "hello"}))
	want(t, r, 200, "")
	var d decisionJSON
	r.decode(t, &d)
	return d
}

type listedRequest struct {
	ID          string
	Sender      string
	Status      string
	SenderName  string  `json:"sender_name"`
	SenderEmail *string `json:"sender_email"`
	External    bool
	Personal    bool
	Delivered   int
}

func (h *harness) requests(t *testing.T, query string) []listedRequest {
	t.Helper()
	r := h.call("GET", "/v1/accounts/bob/requests"+query, h.keys[auth.ScopeRequests], "", nil)
	want(t, r, 200, "")
	var page struct{ Items []listedRequest }
	r.decode(t, &page)
	return page.Items
}

// TestRequests drives the gate, the listing and the actions through the
// API, every response validated against the OpenAPI document.
func TestRequests(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	if d := h.check(t, "alice", "carol"); d.Decision != "deliver" || d.Reason != "same_tenant" || d.Remaining != nil {
		t.Fatalf("same tenant: %+v", d)
	}
	if d := h.check(t, "alice", "bob"); d.Decision != "deliver" || d.Reason != "pre_acceptance" || d.Remaining == nil || *d.Remaining != 9 {
		t.Fatalf("first message: %+v", d)
	}
	if d := h.check(t, "bob", "frank"); d.Decision != "reject" || d.Reason != "policy" {
		t.Fatalf("inbound personal off: %+v", d)
	}
	h.check(t, "carol", "bob")

	t.Run("List", func(t *testing.T) {
		r := h.call("GET", "/v1/accounts/bob/requests?status=pending", h.keys[auth.ScopeRequests], "", nil)
		if strings.Contains(string(r.Body), "+33") || strings.Contains(string(r.Body), "612345678") {
			t.Fatalf("the listing shows a phone number: %s", r.Body)
		}
		items := h.requests(t, "?status=pending")
		if len(items) != 2 {
			t.Fatalf("%+v", items)
		}
		for _, it := range items {
			if it.Sender == "alice" && (it.SenderName != "Alice Martin" || it.SenderEmail == nil || *it.SenderEmail != "alice@contoso.com" ||
				!it.External || it.Personal || it.Delivered != 1 || it.Status != "pending") {
				t.Fatalf("alice's request: %+v", it)
			}
		}
		page1 := h.call("GET", "/v1/accounts/bob/requests?limit=1", h.keys[auth.ScopeRequests], "", nil)
		var p struct {
			Items      []listedRequest
			NextCursor *string `json:"next_cursor"`
		}
		page1.decode(t, &p)
		if len(p.Items) != 1 || p.NextCursor == nil {
			t.Fatalf("page 1: %s", page1.Body)
		}
		if rest := h.requests(t, "?limit=1&cursor="+*p.NextCursor); len(rest) != 1 || rest[0].ID == p.Items[0].ID {
			t.Fatalf("page 2: %+v", rest)
		}
		if got := h.requests(t, "?status=accepted"); len(got) != 0 {
			t.Fatalf("accepted: %+v", got)
		}
	})

	var fromAlice, fromCarol string
	for _, it := range h.requests(t, "") {
		if it.Sender == "alice" {
			fromAlice = it.ID
		} else {
			fromCarol = it.ID
		}
	}
	act := func(id, action string) response {
		return h.call("POST", "/v1/requests/"+id+"/"+action, h.keys[auth.ScopeRequests], "", nil)
	}

	t.Run("Accept", func(t *testing.T) {
		for range 2 { // idempotent
			r := act(fromAlice, "accept")
			want(t, r, 200, "")
			if !strings.Contains(string(r.Body), `"status":"accepted"`) {
				t.Fatalf("%s", r.Body)
			}
		}
		want(t, act(fromAlice, "decline"), 409, "request_decided")
		if d := h.check(t, "alice", "bob"); d.Decision != "deliver" || d.Reason != "accepted" {
			t.Fatalf("after accept: %+v", d)
		}
	})

	t.Run("Report", func(t *testing.T) {
		for range 2 {
			want(t, act(fromCarol, "report"), 200, "")
		}
		want(t, act(fromCarol, "block"), 200, "") // a report is a block
		if d := h.check(t, "carol", "bob"); d.Decision != "reject" || d.Reason != "blocked" {
			t.Fatalf("after report: %+v", d)
		}
		r := h.call("POST", "/v1/resolve", h.keys[auth.ScopeResolve], "application/json",
			jsonBody(t, map[string]any{"requester": "carol", "identifier": "bob@example.org"}))
		if want(t, r, 200, ""); !strings.Contains(string(r.Body), `"match":"none"`) {
			t.Fatalf("resolve after report: %s", r.Body)
		}
		r = h.do("GET", "/v1/accounts/bob/blocks", nil)
		if !strings.Contains(string(r.Body), `"blocked_account_id":"carol"`) {
			t.Fatalf("blocks: %s", r.Body)
		}
	})

	t.Run("FromInvite", func(t *testing.T) {
		// A pending invite that became a request at link time is the
		// pair's request: the gate counts on it, and makes no second one.
		want(t, h.call("POST", "/v1/invites", h.keys[auth.ScopeInvite], "application/json", jsonBody(t, inviteBody("alice", "dora@example.net"))), 201, "")
		if sent := h.drain(); len(sent) != 1 {
			t.Fatalf("%d messages sent", len(sent))
		}
		link := map[string]any{"account": map[string]any{"id": "dora", "tenant_id": nil, "display_name": "Dora"}, "identifier": "dora@example.net"}
		want(t, h.call("POST", "/v1/links", h.keys[auth.ScopeLink], "application/json", jsonBody(t, link)), 200, "")
		list := func() []map[string]any {
			r := h.call("GET", "/v1/accounts/dora/requests", h.keys[auth.ScopeRequests], "", nil)
			want(t, r, 200, "")
			var page struct{ Items []map[string]any }
			r.decode(t, &page)
			return page.Items
		}
		before := list()
		if len(before) != 1 || before[0]["invite_id"] == nil || before[0]["chat_id"] != "chat_77" {
			t.Fatalf("after link: %+v", before)
		}
		if d := h.check(t, "alice", "dora"); d.Reason != "pre_acceptance" || *d.Remaining != 9 {
			t.Fatalf("check: %+v", d)
		}
		if after := list(); len(after) != 1 || after[0]["id"] != before[0]["id"] || after[0]["delivered"] != 1.0 {
			t.Fatalf("after check: %+v", after)
		}
	})

	t.Run("Events", func(t *testing.T) {
		body := string(h.do("GET", "/v1/events", nil).Body)
		for typ, n := range map[string]int{"request.created": 3, "request.accepted": 1, "request.reported": 1, "request.blocked": 0} {
			if got := strings.Count(body, `"type":"`+typ+`"`); got != n {
				t.Fatalf("%d %s events; want %d: %s", got, typ, n, body)
			}
		}
	})

	t.Run("Scope", func(t *testing.T) {
		r := h.call("POST", "/v1/requests/check", h.keys[auth.ScopeInvite], "application/json",
			jsonBody(t, map[string]any{"sender": "alice", "recipient": "bob", "chat_id": "c"}))
		want(t, r, 403, "insufficient_scope")
		want(t, h.call("GET", "/v1/accounts/bob/requests", h.keys[auth.ScopeDirectory], "", nil), 403, "insufficient_scope")
		want(t, h.call("POST", "/v1/requests/"+fromAlice+"/accept", h.keys[auth.ScopeLink], "", nil), 403, "insufficient_scope")
	})

	t.Run("BadCheck", func(t *testing.T) {
		runBad(t, h, "POST", []badCase{
			{name: "NoSender", path: "/v1/requests/check", body: map[string]any{"recipient": "bob", "chat_id": "c"}, status: 400, code: "missing_field", fld: "sender"},
			{name: "NoRecipient", path: "/v1/requests/check", body: map[string]any{"sender": "bob", "chat_id": "c"}, status: 400, code: "missing_field", fld: "recipient"},
			{name: "NoChat", path: "/v1/requests/check", body: map[string]any{"sender": "alice", "recipient": "bob"}, status: 400, code: "missing_field", fld: "chat_id"},
			{name: "Self", path: "/v1/requests/check", body: map[string]any{"sender": "bob", "recipient": "bob", "chat_id": "c"}, status: 400, code: "invalid_field", fld: "recipient"},
			{name: "BadChat", path: "/v1/requests/check", body: map[string]any{"sender": "alice", "recipient": "bob", "chat_id": "a b"}, status: 400, code: "invalid_id", fld: "chat_id"},
			{name: "UnknownSender", path: "/v1/requests/check", body: map[string]any{"sender": "ghost", "recipient": "bob", "chat_id": "c"}, status: 404, code: "account_not_found", fld: "sender"},
			{name: "UnknownRecipient", path: "/v1/requests/check", body: map[string]any{"sender": "alice", "recipient": "ghost", "chat_id": "c"}, status: 404, code: "account_not_found", fld: "recipient"},
			{name: "UnknownField", path: "/v1/requests/check", body: map[string]any{"sender": "alice", "recipient": "bob", "chat_id": "c", "x": 1}, status: 400, code: "unknown_field", fld: "x"},
			{name: "WrongType", path: "/v1/requests/check", body: map[string]any{"sender": 1, "recipient": "bob", "chat_id": "c"}, status: 400, code: "invalid_field", fld: "sender"},
			{name: "TextTooLong", path: "/v1/requests/check", body: map[string]any{"sender": "alice", "recipient": "bob", "chat_id": "c", "text": strings.Repeat("x", 33<<10)}, status: 400, code: "invalid_field", fld: "text"},
			{name: "UnknownRequest", path: "/v1/requests/req_nope/accept", status: 404, code: "request_not_found", fld: "request_id"},
			{name: "BadRequestID", path: "/v1/requests/a%20b/report", status: 400, code: "invalid_id", fld: "request_id"},
		})
		want(t, h.call("POST", "/v1/requests/check", h.keys[auth.ScopeRequests], "application/json", []byte("{")), 400, "invalid_json")
	})

	t.Run("BadList", func(t *testing.T) {
		runBad(t, h, "GET", []badCase{
			{name: "Status", path: "/v1/accounts/bob/requests?status=maybe", status: 400, code: "invalid_parameter", fld: "status"},
			{name: "Limit", path: "/v1/accounts/bob/requests?limit=0", status: 400, code: "invalid_parameter", fld: "limit"},
			{name: "UnknownAccount", path: "/v1/accounts/ghost/requests", status: 404, code: "account_not_found", fld: ""},
			{name: "BadAccount", path: "/v1/accounts/a%20b/requests", status: 400, code: "invalid_id", fld: "account_id"},
		})
	})
}
