package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/resolver"
)

func inviteBody(inviter, identifier string) map[string]any {
	return map[string]any{"inviter": inviter, "identifier": identifier,
		"chat": map[string]any{"id": "chat_77", "kind": "group", "title": "Quote 2026"}, "locale": "fr"}
}

// drain delivers every queued message through the node's consent gate, as
// the dispatcher does, and returns those that really went out.
func (h *harness) drain() []notify.Message {
	h.t.Helper()
	capture := &captureSender{}
	d := notify.NewDispatcher(notify.DispatcherConfig{Outbox: h.db, Gate: h.app.Invites, Batch: 1000,
		Senders: func(string) (notify.Sender, error) { return capture, nil }, Log: slog.New(slog.DiscardHandler)})
	if _, err := d.RunOnce(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	return capture.sent
}

// captureSender is the network edge: it keeps what it is given.
type captureSender struct{ sent []notify.Message }

func (c *captureSender) Send(_ context.Context, msgs []notify.Message) []notify.Outcome {
	c.sent = append(c.sent, msgs...)
	return make([]notify.Outcome, len(msgs))
}

func (c *captureSender) Close() error { return nil }

var tokenRE = regexp.MustCompile(`/i/([A-Za-z0-9_-]{43})`)

// normalised blanks what differs between two invites by nature.
func normalised(t *testing.T, r response) string {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	for _, k := range []string{"id", "created_at", "expires_at", "recipient"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestInvites(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	var bodies []string // every response, to look for tokens
	do := func(method, path string, v any) response {
		r := h.do(method, path, v)
		bodies = append(bodies, string(r.Body))
		return r
	}

	r := do("POST", "/v1/invites", inviteBody("alice", "new.person@example.org"))
	want(t, r, 201, "")
	var inv map[string]any
	r.decode(t, &inv)
	if inv["status"] != "pending" || inv["delivery"] != "queued" || inv["channel"] != "email" || inv["locale"] != "fr" ||
		inv["inviter"] != "alice" || inv["accepted_by"] != nil || !strings.HasPrefix(inv["id"].(string), "inv_") {
		t.Fatalf("invite: %s", r.Body)
	}
	msgs := h.drain()
	if len(msgs) != 1 || msgs[0].To != "new.person@example.org" || !strings.Contains(msgs[0].Subject, "vous invite") ||
		!strings.Contains(msgs[0].Text, "Alice Martin") || !strings.Contains(msgs[0].Text, "Quote 2026") || msgs[0].Unsubscribe == "" {
		t.Fatalf("queued message: %+v", msgs)
	}
	token := tokenRE.FindStringSubmatch(msgs[0].Text)[1]
	id := inv["id"].(string)

	t.Run("Dedupe", func(t *testing.T) {
		r := do("POST", "/v1/invites", inviteBody("alice", "New.Person@Example.ORG"))
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), id) || len(h.drain()) != 0 {
			t.Fatalf("second invite: %s", r.Body)
		}
	})
	t.Run("AccountMatch", func(t *testing.T) {
		r := do("POST", "/v1/invites", inviteBody("alice", "bob@example.org"))
		want(t, r, 200, "")
		if !strings.HasPrefix(string(r.Body), `{"match":"account","account":{"id":"bob"`) || len(h.drain()) != 0 {
			t.Fatalf("%s", r.Body)
		}
	})
	t.Run("ResolveShowsPendingInvite", func(t *testing.T) {
		m := decodeResult(t, do("POST", "/v1/resolve", resolveBody("alice", "new.person@example.org")))
		if m["match"] != "pending_invite" || m["invite"].(map[string]any)["id"] != id {
			t.Fatalf("%v", m)
		}
		if m := decodeResult(t, do("POST", "/v1/resolve", resolveBody("carol", "new.person@example.org"))); m["match"] != "none" {
			t.Fatalf("someone else's invite leaked: %v", m)
		}
		r := do("POST", "/v1/resolve/batch", map[string]any{"requester": "alice",
			"identifiers": []string{"nobody@example.org", "new.person@example.org", "alice@contoso.com", "new.person@example.org"}})
		var batch struct{ Results []map[string]any }
		r.decode(t, &batch)
		var got []string
		for _, it := range batch.Results {
			got = append(got, it["match"].(string))
		}
		if strings.Join(got, " ") != "none pending_invite account pending_invite" {
			t.Fatalf("batch: %v", got)
		}
	})
	t.Run("HiddenOwnersLookUnregistered", func(t *testing.T) {
		for _, p := range []struct {
			path string
			body any
		}{
			{"/v1/accounts/optout", map[string]any{"display_name": "Opted Out", "discoverable": false, "identifiers": []string{"optout@example.net"}}},
			{"/v1/accounts/blocker", map[string]any{"display_name": "Blocker", "identifiers": []string{"blocker@example.net"}}},
			{"/v1/accounts/blocker/blocks/alice", nil},
		} {
			want(t, do("PUT", p.path, p.body), 200, "")
		}
		id, _ := resolver.Normalize("unsub@example.net", "")
		if err := h.db.Unsubscribe(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		base := normalised(t, do("POST", "/v1/invites", inviteBody("alice", "stranger@example.net")))
		if msgs := h.drain(); len(msgs) != 1 || msgs[0].To != "stranger@example.net" {
			t.Fatalf("unregistered: %+v", msgs)
		}
		for addr, sent := range map[string]bool{"optout@example.net": true, "blocker@example.net": false, "unsub@example.net": false} {
			r := do("POST", "/v1/invites", inviteBody("alice", addr))
			want(t, r, 201, "")
			if got := normalised(t, r); got != base {
				t.Fatalf("%s answers differently:\n%s\n%s", addr, got, base)
			}
			if msgs := h.drain(); (len(msgs) == 1) != sent {
				t.Fatalf("%s: sent %d messages; want sent=%v", addr, len(msgs), sent)
			}
		}
	})
	t.Run("PerRecipientCapIsSilent", func(t *testing.T) {
		for i, inviter := range []string{"carol", "bob", "frank", "alice"} {
			r := do("POST", "/v1/invites", inviteBody(inviter, "popular@example.com"))
			want(t, r, 201, "")
			// The cap is 3 a day, whoever sends them: the 4th is not sent.
			if n, want := len(h.drain()), map[bool]int{true: 1, false: 0}[i < 3]; n != want {
				t.Fatalf("invite %d by %s queued %d messages; want %d", i, inviter, n, want)
			}
		}
	})
	t.Run("Channels", func(t *testing.T) {
		want(t, do("POST", "/v1/invites", inviteBody("alice", "01 42 68 53 00")), 422, "channel_not_allowed")
		r := do("POST", "/v1/invites", inviteBody("alice", "06 55 44 33 22"))
		want(t, r, 201, "")
		if msgs := h.drain(); len(msgs) != 1 || msgs[0].Channel != "sms" || msgs[0].To != "+33655443322" || !strings.Contains(msgs[0].Text, "https://beckon.test/i/") {
			t.Fatalf("sms: %+v", msgs)
		}
		want(t, do("PUT", "/v1/tenants/nosms", map[string]any{"name": "No SMS", "region": "FR", "policy": map[string]any{"invite_channels": []string{"email"}, "sms_countries": []string{"GB"}}}), 200, "")
		want(t, do("PUT", "/v1/accounts/ned", map[string]any{"tenant_id": "nosms", "display_name": "Ned"}), 200, "")
		want(t, do("POST", "/v1/invites", inviteBody("ned", "06 55 44 33 21")), 422, "channel_not_allowed")
	})
	bad := []badCase{
		{"ErrMissingInviter", "/v1/invites", map[string]any{"identifier": "x@example.com", "chat": map[string]any{"id": "c", "kind": "group"}}, 400, "missing_field", "inviter"},
		{"ErrMissingChat", "/v1/invites", map[string]any{"inviter": "alice", "identifier": "x@example.com"}, 400, "missing_field", "chat"},
		{"ErrChatKind", "/v1/invites", map[string]any{"inviter": "alice", "identifier": "x@example.com", "chat": map[string]any{"id": "c", "kind": "channel"}}, 400, "invalid_chat", "chat.kind"},
		{"ErrChatID", "/v1/invites", map[string]any{"inviter": "alice", "identifier": "x@example.com", "chat": map[string]any{"id": "", "kind": "group"}}, 400, "invalid_id", "chat.id"},
		{"ErrChatField", "/v1/invites", map[string]any{"inviter": "alice", "identifier": "x@example.com", "chat": map[string]any{"id": "c", "kind": "group", "topic": "x"}}, 400, "unknown_field", "topic"},
		{"ErrLocale", "/v1/invites", map[string]any{"inviter": "alice", "identifier": "x@example.com", "locale": "<script>", "chat": map[string]any{"id": "c", "kind": "group"}}, 400, "invalid_locale", "locale"},
		{"ErrInviter", "/v1/invites", inviteBody("ghost", "x@example.com"), 404, "account_not_found", "inviter"},
		{"ErrEmail", "/v1/invites", inviteBody("alice", "x@@example.com"), 400, "invalid_email", "identifier"},
	}
	runBad(t, h, "POST", bad)
	t.Run("GetListRevokeResend", func(t *testing.T) {
		want(t, do("GET", "/v1/invites/"+id, nil), 200, "")
		want(t, do("GET", "/v1/invites/inv_nope", nil), 404, "invite_not_found")
		want(t, do("GET", "/v1/invites/a%20b", nil), 404, "invite_not_found")
		want(t, do("DELETE", "/v1/invites/inv_nope", nil), 404, "invite_not_found")
		want(t, do("POST", "/v1/invites/inv_nope/resend", nil), 404, "invite_not_found")
		want(t, do("GET", "/v1/invites?limit=0", nil), 400, "invalid_parameter")
		want(t, do("GET", "/v1/events?limit=500", nil), 400, "invalid_parameter")
		want(t, do("GET", "/v1/events?after=evt_missing", nil), 400, "invalid_cursor")
		want(t, h.call("GET", "/v1/events", h.keys["invite"], "", nil), 403, "insufficient_scope")
		r := do("GET", "/v1/invites?inviter=alice&status=pending&limit=2", nil)
		var page struct {
			Items      []map[string]any
			NextCursor *string `json:"next_cursor"`
		}
		r.decode(t, &page)
		if len(page.Items) != 2 || page.NextCursor == nil || page.Items[0]["id"].(string) < page.Items[1]["id"].(string) {
			t.Fatalf("page: %s", r.Body)
		}
		want(t, do("GET", "/v1/invites?status=sideways", nil), 400, "invalid_parameter")
		want(t, do("GET", "/v1/invites?inviter=a%20b", nil), 400, "invalid_id")

		r = do("POST", "/v1/invites/"+id+"/resend", nil)
		want(t, r, 429, "rate_limited") // sent less than an hour ago
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		r = do("DELETE", "/v1/invites/"+id, nil)
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"status":"revoked"`) {
			t.Fatalf("%s", r.Body)
		}
		want(t, do("DELETE", "/v1/invites/"+id, nil), 409, "invite_not_pending")
		want(t, do("POST", "/v1/invites/"+id+"/resend", nil), 409, "invite_not_pending")
	})
	for _, b := range bodies {
		if strings.Contains(b, token) {
			t.Fatalf("a response holds the invite token: %s", b)
		}
	}
	if strings.Contains(h.logs.String(), token) {
		t.Fatal("the log holds the invite token")
	}
}

func TestInviteLimits(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), api.Limits{
		PerKey: generous.PerKey, PerIP: generous.PerIP, PerRequester: generous.PerRequester,
	})
	h.seed()
	want(t, h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "domains": []string{"contoso.com"}, "region": "FR",
		"policy": map[string]any{"invites_per_user_per_day": 2}}), 200, "")
	for i := 0; i < 2; i++ {
		want(t, h.do("POST", "/v1/invites", inviteBody("alice", "quota"+string(rune('a'+i))+"@example.com")), 201, "")
	}
	r := h.do("POST", "/v1/invites", inviteBody("alice", "quotac@example.com"))
	want(t, r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

// BenchmarkInviteCreate is one POST /v1/invites through the whole handler
// on a SQLite file, each to a new address.
func BenchmarkInviteCreate(b *testing.B) {
	h := newHarness(b, testenv.SQLite(b), generous)
	h.seed()
	if r := h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "region": "FR", "policy": map[string]any{"invites_per_user_per_day": 100000}}); r.Status != 200 {
		b.Fatal(string(r.Body))
	}
	i := 0
	for b.Loop() {
		i++
		body := []byte(`{"inviter":"alice","identifier":"guest` + strconv.Itoa(i) + `@example.org","chat":{"id":"c","kind":"one_on_one"}}`)
		req := httptest.NewRequest("POST", "/v1/invites", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	post := func(key, idem string, v any) response {
		t.Helper()
		req, _ := http.NewRequest("POST", h.url+"/v1/invites", bytes.NewReader(jsonBody(t, v)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	body := inviteBody("alice", "idem@example.org")
	first := post(h.key, "order-42", body)
	want(t, first, 201, "")
	if n := len(h.drain()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	again := post(h.key, "order-42", body)
	if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	if n := len(h.drain()); n != 0 {
		t.Fatal("a replay sent the invitation again")
	}
	want(t, post(h.key, "order-42", inviteBody("alice", "other@example.org")), 422, "idempotency_key_reused")
	want(t, post(h.key, strings.Repeat("k", 256), body), 400, "invalid_idempotency_key")
	want(t, post(h.key, "bad\u00a0key", body), 400, "invalid_idempotency_key") // a non-ASCII space
	// Keys are per API key: another key's "order-42" is its own (and here
	// meets the pending invite: 200).
	want(t, post(h.keys["invite"], "order-42", body), 200, "")
}

// BenchmarkInviteOutcomes reports the median time to create an invite for
// each kind of recipient, side by side: creating one that will be held
// back (blocked, unsubscribed) must cost what creating a normal one does.
func BenchmarkInviteOutcomes(b *testing.B) {
	h := newBenchHarness(b)
	h.putAll([]put{
		{"/v1/tenants/busy", map[string]any{"name": "Busy", "region": "FR", "policy": map[string]any{"invites_per_user_per_day": 10000}}},
		{"/v1/accounts/ivy", map[string]any{"tenant_id": "busy", "display_name": "Ivy", "identifiers": []string{"ivy@busy.example"}}},
		{"/v1/accounts/blocker/blocks/ivy", nil},
	})
	ctx := context.Background()
	unsub, _ := resolver.Normalize("unsub@example.net", "")
	if err := h.db.Unsubscribe(ctx, unsub); err != nil {
		b.Fatal(err)
	}
	seq := 0
	var cases []timedCase
	for _, c := range []struct{ name, to string }{
		{"unregistered", "nobody@example.net"}, {"opted_out", "optout@example.net"},
		{"blocked", "blocker@example.net"}, {"unsubscribed", "unsub@example.net"},
	} {
		cases = append(cases, timedCase{name: c.name, path: "/v1/invites", status: http.StatusCreated,
			body: func() []byte {
				seq++ // a new chat each time: a new invite, never the existing one
				body, _ := json.Marshal(map[string]any{"inviter": "ivy", "identifier": c.to,
					"chat": map[string]any{"id": fmt.Sprintf("chat_%d", seq), "kind": "group", "title": "Quote 2026"}, "locale": "fr"})
				return body
			},
			done: func(resp []byte) {
				// Revoked, so that the inviter's pending invites do not pile up.
				var inv struct{ ID string }
				_ = json.Unmarshal(resp, &inv)
				if r := h.do("DELETE", "/v1/invites/"+inv.ID, nil); r.Status != http.StatusOK {
					b.Fatalf("revoke: %d %s", r.Status, r.Body)
				}
			}})
	}
	h.interleaved(b, cases)
}
