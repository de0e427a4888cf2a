package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/app"
	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/ratelimit"
)

// TestContactSync: through the real server, resolve charges the
// requester's limit only for identifiers it has not looked up recently
// (and for invalid entries), the RateLimit-* headers say so, and a second
// node on the same database knows what the first one saw.
func TestContactSync(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		limits := generous
		limits.PerRequester = ratelimit.Limit{Rate: 6, Burst: 6, Period: time.Hour}
		h := newHarness(t, e, limits)
		h.seed()
		book := []string{"alice@contoso.com", "06 12 34 56 78", "nobody@example.com"}
		rewritten := []string{" Alice <ALICE@Contoso.COM>", "+33 6 12 34 56 78", "NOBODY@example.com"}
		batch := func(ids ...string) map[string]any {
			return map[string]any{"requester": "bob", "region": "FR", "identifiers": ids}
		}
		single := func(id string) map[string]any {
			return map[string]any{"requester": "bob", "region": "FR", "identifier": id}
		}
		steps := []struct {
			name      string
			path      string
			body      map[string]any
			status    int
			remaining string
		}{
			{"new identifiers are charged", "/v1/resolve/batch", batch(book...), 200, "3"},
			{"the same contacts written otherwise are free", "/v1/resolve/batch", batch(rewritten...), 200, "3"},
			{"a known one alone is free", "/v1/resolve", single("alice@contoso.com"), 200, "3"},
			{"invalid entries are charged", "/v1/resolve/batch", batch("garbage"), 200, "2"},
			{"three new with old ones: over the limit, nothing charged", "/v1/resolve/batch",
				batch(append(book, "n1@example.com", "n2@example.com", "n3@example.com")...), 429, "2"},
			{"two new with old ones: the new are charged", "/v1/resolve/batch",
				batch(append(rewritten, "n1@example.com", "n2@example.com")...), 200, "0"},
			{"known ones stay free at the limit", "/v1/resolve/batch", batch(append(book, "n1@example.com")...), 200, "0"},
			{"a new one is refused at the limit", "/v1/resolve", single("n3@example.com"), 429, "0"},
			{"garbage is refused at the limit", "/v1/resolve", single("garbage"), 429, "0"},
		}
		var first []byte
		for _, s := range steps {
			r := h.do("POST", s.path, s.body)
			if r.Status != s.status || r.Header.Get("RateLimit-Remaining") != s.remaining || r.Header.Get("RateLimit-Limit") != "6" {
				t.Fatalf("%s: %d, remaining %q, limit %q; want %d, %s, 6\n%s", s.name, r.Status,
					r.Header.Get("RateLimit-Remaining"), r.Header.Get("RateLimit-Limit"), s.status, s.remaining, r.Body)
			}
			if s.status == 429 && r.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: 429 without Retry-After", s.name)
			}
			if first == nil {
				first = r.Body
			} else if s.body["identifiers"] != nil && fmt.Sprint(s.body["identifiers"]) == fmt.Sprint(rewritten) && string(r.Body) != string(first) {
				t.Fatalf("the rewritten book answers otherwise:\n%s\n%s", first, r.Body)
			}
		}
		if m := string(h.do("GET", "/metrics", nil).Body); !strings.Contains(m, `beckon_resolve_lookups_total{charge="known"}`) ||
			!strings.Contains(m, `beckon_resolve_lookups_total{charge="new"}`) || !strings.Contains(m, `beckon_resolve_lookups_total{charge="invalid"}`) {
			t.Fatal("/metrics lacks beckon_resolve_lookups_total")
		}

		// A second node on the same database (its own in-process limiter,
		// the same generated secret) knows bob's contacts.
		node, err := app.New(context.Background(), app.Config{DatabaseURL: e.URL, Limits: limits, InviteLimits: inviteLimits,
			PublicURL: "https://beckon.test", SignupURL: "https://beckon.test/signup", InviteTTL: 336 * time.Hour, DevOutbox: t.TempDir()},
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		ts := httptest.NewServer(node.Handler())
		t.Cleanup(ts.Close)
		h2 := *h
		h2.url = ts.URL
		r := h2.do("POST", "/v1/resolve/batch", batch(append(rewritten, "n1@example.com", "n2@example.com")...))
		if r.Status != 200 || r.Header.Get("RateLimit-Remaining") != "6" {
			t.Fatalf("second node, known contacts: %d, remaining %q", r.Status, r.Header.Get("RateLimit-Remaining"))
		}
		if r := h2.do("POST", "/v1/resolve", single("n4@example.com")); r.Status != 200 || r.Header.Get("RateLimit-Remaining") != "5" {
			t.Fatalf("second node, a new one: %d, remaining %q", r.Status, r.Header.Get("RateLimit-Remaining"))
		}
	})
}

// TestContactSyncBadInput: bad input still gets the contract's errors.
func TestContactSyncBadInput(t *testing.T) {
	limits := generous
	limits.PerRequester = ratelimit.Limit{Rate: 6, Burst: 6, Period: time.Hour}
	h := newHarness(t, testenv.SQLite(t), limits)
	h.seed()
	runBad(t, h, "POST", []badCase{
		{"MissingRequester", "/v1/resolve", map[string]any{"identifier": "a@example.com"}, 400, "missing_field", "requester"},
		{"MissingIdentifier", "/v1/resolve", map[string]any{"requester": "bob"}, 400, "missing_field", "identifier"},
		{"InvalidEmail", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "a@@example.com"}, 400, "invalid_email", "identifier"},
		{"RegionRequired", "/v1/resolve", map[string]any{"requester": "alice", "identifier": "06 12 34 56 78", "region": ""}, 200, "", ""},
		{"UnknownRequester", "/v1/resolve", map[string]any{"requester": "ghost", "identifier": "a@example.com"}, 404, "account_not_found", "requester"},
		{"UnknownField", "/v1/resolve", map[string]any{"requester": "bob", "identifier": "a@example.com", "x": 1}, 400, "unknown_field", "x"},
		{"BatchMissingRequester", "/v1/resolve/batch", map[string]any{"identifiers": []string{"a@example.com"}}, 400, "missing_field", "requester"},
		{"BatchEmpty", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{}}, 400, "missing_field", "identifiers"},
		{"BatchUnknownRequester", "/v1/resolve/batch", map[string]any{"requester": "ghost", "identifiers": []string{"a@example.com"}}, 404, "account_not_found", "requester"},
	})
	// An unknown requester is charged, with or without a region for a
	// national number: probing for account ids costs like a resolve.
	for i, id := range []string{"a@example.com", "06 12 34 56 78"} {
		r := h.do("POST", "/v1/resolve", map[string]any{"requester": "ghost2", "identifier": id})
		if r.Status != 404 || r.Header.Get("RateLimit-Remaining") != fmt.Sprint(5-i) {
			t.Fatalf("unknown requester, %s: %d, remaining %q", id, r.Status, r.Header.Get("RateLimit-Remaining"))
		}
	}
	// A batch with more new entries than the whole limit: refused, with
	// Retry-After the whole period, and nothing charged (the invalid email
	// above was: 5 left).
	r := h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{
		"a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com", "a5@example.com", "a6@example.com", "a7@example.com"}})
	if r.Status != 429 || r.Header.Get("Retry-After") != "3600" || r.Header.Get("RateLimit-Remaining") != "5" {
		t.Fatalf("7 new of 6: %d, Retry-After %q, remaining %q", r.Status, r.Header.Get("Retry-After"), r.Header.Get("RateLimit-Remaining"))
	}
}
