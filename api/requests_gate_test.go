package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/auth"
	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestGateLinkRaceKeepsLimit: a link whose transaction began before the
// pair's first check and commits after it adds an invite's request older
// than the gate's; the allowance is the pair's, so the pair still gets
// the limit once, not once per request.
func TestGateLinkRaceKeepsLimit(t *testing.T) {
	e := testenv.Postgres(t)
	h := newHarness(t, e, generous)
	h.seed()
	ctx := context.Background()
	want(t, h.do("PUT", "/v1/accounts/dora", map[string]any{"tenant_id": nil, "display_name": "Dora",
		"identifiers": []string{"dora@example.net"}}), 200, "")
	want(t, h.call("POST", "/v1/invites", h.keys[auth.ScopeInvite], "application/json",
		jsonBody(t, inviteBody("alice", "dora.work@example.net"))), 201, "")
	if sent := h.drain(); len(sent) != 1 {
		t.Fatalf("%d sent", len(sent))
	}

	// A slow link: something holds dora's account row while the link's
	// transaction (its clock already read) waits on its first statement.
	db, err := sql.Open("pgx", e.DirectURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT 1 FROM accounts WHERE id = 'dora' FOR NO KEY UPDATE"); err != nil {
		t.Fatal(err)
	}
	linked := make(chan int, 1)
	go func() {
		body := `{"account":{"id":"dora","tenant_id":null,"display_name":"Dora"},"identifier":"dora.work@example.net"}`
		req, _ := http.NewRequest("POST", h.url+"/v1/links", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.keys[auth.ScopeLink])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			linked <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		linked <- resp.StatusCode
	}()
	time.Sleep(500 * time.Millisecond)

	delivered := 0
	for range 12 {
		if d := h.check(t, "alice", "dora"); d.Decision == "deliver" {
			delivered++
		}
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if st := <-linked; st != 200 {
		t.Fatalf("link: %d", st)
	}
	for range 12 {
		if d := h.check(t, "alice", "dora"); d.Decision == "deliver" {
			delivered++
		}
	}
	if delivered != 10 {
		t.Fatalf("%d pre-acceptance messages delivered from alice to dora; the limit is 10", delivered)
	}
	r := h.call("GET", "/v1/accounts/dora/requests", h.keys[auth.ScopeRequests], "", nil)
	want(t, r, 200, "")
	var page struct{ Items []listedRequest }
	r.decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("%d requests to dora; want the gate's and the invite's", len(page.Items))
	}
	for _, it := range page.Items {
		if it.Delivered != 10 {
			t.Errorf("request %s shows %d delivered; the pair's count is 10", it.ID, it.Delivered)
		}
	}
}

// TestGateAcceptedInviteDelivers: Rita accepted Alice's invitation on the
// landing page and signed up; that is consent between them, and Alice's
// messages are delivered as accepted, past the pre-acceptance limit.
func TestGateAcceptedInviteDelivers(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	b := newBrowser(t, h)
	token := invited(t, h, "alice", "rita@example.net", "en")
	_, _, csrf := b.open(token, "")
	_, headers, _ := b.do("POST", "/i/"+token+"/accept", url.Values{"csrf": {csrf}}, "")
	loc, _ := url.Parse(headers.Get("Location"))
	link := map[string]any{"account": map[string]any{"id": "rita", "tenant_id": nil, "display_name": "Rita"},
		"identifier": "rita@example.net", "invite_ticket": loc.Query().Get("invite_ticket")}
	want(t, h.call("POST", "/v1/links", h.keys[auth.ScopeLink], "application/json", jsonBody(t, link)), 200, "")
	var reasons []string
	for range 11 {
		reasons = append(reasons, h.check(t, "alice", "rita").Reason)
	}
	if reasons[0] != "accepted" || reasons[10] != "accepted" {
		t.Fatalf("alice → rita after rita accepted alice's invite: %v", reasons)
	}
}

// TestGateReplyAfterAccept: Bob accepted Alice's request, so Bob's replies
// to Alice are not a request of their own (not cut off after 10).
func TestGateReplyAfterAccept(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.check(t, "alice", "bob")
	id := h.requests(t, "")[0].ID
	want(t, h.call("POST", "/v1/requests/"+id+"/accept", h.keys[auth.ScopeRequests], "", nil), 200, "")
	var reasons []string
	for range 11 {
		reasons = append(reasons, h.check(t, "bob", "alice").Reason)
	}
	if reasons[10] != "accepted" {
		t.Fatalf("bob's replies to alice after bob accepted alice's request: %v", reasons)
	}
}

// TestListBadCursor: a cursor that cannot be an id is 400
// invalid_parameter on every list, not a query PostgreSQL refuses (500).
func TestListBadCursor(t *testing.T) {
	h := newHarness(t, testenv.Postgres(t), generous)
	h.seed()
	h.check(t, "alice", "bob")
	for _, c := range []string{"%ff", "%00", "a%c3"} {
		for _, p := range []struct{ path, key string }{
			{"/v1/accounts/bob/requests", h.keys[auth.ScopeRequests]},
			{"/v1/accounts/bob/blocks", h.keys[auth.ScopeRequests]},
			{"/v1/invites?inviter=alice&", h.keys[auth.ScopeInvite]},
		} {
			sep := "?"
			if strings.HasSuffix(p.path, "&") {
				sep = ""
			}
			want(t, h.call("GET", p.path+sep+"cursor="+c, p.key, "", nil), 400, "invalid_parameter")
		}
	}
}

// TestCheckIdempotencyKey: a check retried with the same Idempotency-Key
// is answered once and counted once.
func TestCheckIdempotencyKey(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	body := jsonBody(t, map[string]any{"sender": "alice", "recipient": "bob", "chat_id": "chat-1", "text": "hello"})
	var got []string
	for range 2 {
		req, _ := http.NewRequest("POST", h.url+"/v1/requests/check", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.keys[auth.ScopeRequests])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "retry-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(b))
	}
	items := h.requests(t, "")
	if got[0] != got[1] || len(items) != 1 || items[0].Delivered != 1 {
		t.Fatalf("the same check retried with one Idempotency-Key: %q, counted %+v", got, items)
	}
}

// TestGateChangeOfMind: a recipient who blocked a request, then lifted the
// block, can accept it, and the sender's messages are delivered again;
// while the block stood, the acceptance did not let them through.
func TestGateChangeOfMind(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.check(t, "alice", "bob")
	id := h.requests(t, "")[0].ID
	key := h.keys[auth.ScopeRequests]
	want(t, h.call("POST", "/v1/requests/"+id+"/block", key, "", nil), 200, "")
	want(t, h.call("POST", "/v1/requests/"+id+"/accept", key, "", nil), 200, "")
	if d := h.check(t, "alice", "bob"); d.Reason != "blocked" {
		t.Fatalf("accepted while the block stands: %+v", d)
	}
	want(t, h.call("DELETE", "/v1/accounts/bob/blocks/alice", key, "", nil), 204, "")
	if d := h.check(t, "alice", "bob"); d.Decision != "deliver" || d.Reason != "accepted" {
		t.Fatalf("after the block was lifted: %+v", d)
	}
}
