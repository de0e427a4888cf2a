package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

func resolveBody(requester, identifier string) map[string]any {
	return map[string]any{"requester": requester, "identifier": identifier}
}

func TestResolve(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	t.Run("OKNationalPhoneWithTenantRegion", func(t *testing.T) {
		// carol's tenant is in FR: "06..." needs no region in the request.
		r := h.do("POST", "/v1/resolve", resolveBody("carol", "06 12 34 56 78"))
		want(t, r, 200, "")
		if string(r.Body) != `{"identifier":{"kind":"phone","value":"+33612345678"},"match":"account","account":{"id":"alice","display_name":"Alice Martin","email":"alice@contoso.com","external":false,"personal":false},"invitable":false}`+"\n" {
			t.Fatalf("%s", r.Body)
		}
	})
	t.Run("OKExternalPersonal", func(t *testing.T) {
		m := decodeResult(t, h.do("POST", "/v1/resolve", map[string]any{"requester": "alice", "identifier": "+33 7 81 23 45 67"}))
		acct := m["account"].(map[string]any)
		if acct["id"] != "bob" || acct["external"] != true || acct["personal"] != true || acct["email"] != "bob@example.org" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("OKInvitable", func(t *testing.T) {
		for id, invitable := range map[string]bool{"new@example.com": true, "06 00 00 00 01": true, "01 42 68 53 01": false} {
			m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody("alice", id)))
			if m["match"] != "none" || m["invitable"] != invitable {
				t.Errorf("%s: %v", id, m)
			}
		}
	})
	t.Run("OKRegionFromRequest", func(t *testing.T) {
		m := decodeResult(t, h.do("POST", "/v1/resolve", map[string]any{"requester": "frank", "identifier": "06 12 34 56 78", "region": "fr"}))
		if m["match"] != "account" {
			t.Fatalf("%v", m)
		}
	})
	bad := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{"ErrMissingRequester", map[string]any{"identifier": "a@example.com"}, 400, "missing_field", "requester"},
		{"ErrMissingIdentifier", map[string]any{"requester": "alice"}, 400, "missing_field", "identifier"},
		{"ErrUnknownRequester", resolveBody("ghost", "a@example.com"), 404, "account_not_found", "requester"},
		{"ErrEmail", resolveBody("alice", "alice@@contoso.com"), 400, "invalid_email", "identifier"},
		{"ErrEmailCRLF", resolveBody("alice", "alice@contoso.com\r\nBcc: x@y.z"), 400, "invalid_email", "identifier"},
		{"ErrPhone", resolveBody("alice", "06 12"), 400, "invalid_phone", "identifier"},
		{"ErrRegionRequired", resolveBody("bob2", "06 12 34 56 78"), 400, "region_required", "region"},
		{"ErrRegion", map[string]any{"requester": "alice", "identifier": "06 12 34 56 78", "region": "XX"}, 400, "invalid_region", "region"},
	}
	want(t, h.do("PUT", "/v1/accounts/bob2", map[string]any{"display_name": "No region"}), 200, "")
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/v1/resolve", c.body)
			want(t, r, c.status, c.code)
			if r.field() != c.field {
				t.Fatalf("field %q; want %q", r.field(), c.field)
			}
		})
	}
}

// TestResolveAllowedDomains: a tenant that may reach only contoso.com.
// Email addresses are judged by their domain, accounts by their first
// email (as the gate judges them), the tenant's own domains are allowed and
// its members always reachable, and a phone number reaches only a visible
// account whose email is allowed: every other number (unregistered, of an
// account with no email or an email elsewhere, of an opted-out account) is
// denied alike. What resolve shows, the gate delivers.
func TestResolveAllowedDomains(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.putAll([]put{
		{"/v1/tenants/partnered", map[string]any{"name": "Partnered", "domains": []string{"partnered.example"}, "region": "FR",
			"policy": map[string]any{"allowed_domains": []string{"contoso.com"}}}},
		{"/v1/accounts/pat", map[string]any{"tenant_id": "partnered", "display_name": "Pat", "identifiers": []string{"pat@partnered.example"}}},
		{"/v1/accounts/pia", map[string]any{"tenant_id": "partnered", "display_name": "Pia", "identifiers": []string{"06 11 11 11 11"}}},
		{"/v1/accounts/phoebe", map[string]any{"display_name": "Phoebe", "region": "FR", "identifiers": []string{"06 22 22 22 22"}}},
		{"/v1/accounts/hidden", map[string]any{"tenant_id": "contoso", "display_name": "Hidden", "discoverable": false,
			"identifiers": []string{"hidden@contoso.com", "06 33 33 33 33"}}},
		{"/v1/accounts/dual", map[string]any{"display_name": "Dual", "identifiers": []string{"dual@gmail.example", "dual@contoso.com"}}},
		{"/v1/accounts/gus", map[string]any{"tenant_id": "partnered", "display_name": "Gus", "identifiers": []string{"gus@gmail.example"}}},
		{"/v1/accounts/pete", map[string]any{"display_name": "Pete", "identifiers": []string{"pete@partnered.example"}}},
	})
	for _, c := range []struct {
		name, identifier, match string // match "" = 403 policy_denied
	}{
		{"AllowedAccount", "alice@contoso.com", "account"},
		{"AllowedAccountByPhone", "06 12 34 56 78", "account"},
		{"AllowedUnregistered", "new@contoso.com", "none"},
		{"OwnDomain", "pia@partnered.example", "none"},
		{"ColleagueByPhone", "06 11 11 11 11", "account"},
		{"OtherDomainAccount", "bob@example.org", ""},
		{"OtherDomainAccountByPhone", "07 81 23 45 67", ""},
		{"OtherDomainUnregistered", "x@gmail.com", ""},
		{"NoEmailAccount", "06 22 22 22 22", ""},
		{"UnregisteredPhone", "06 44 44 44 44", ""},
		{"OptedOutByPhone", "06 33 33 33 33", ""},
		{"OptedOutByEmail", "hidden@contoso.com", "none"},
		{"SecondEmailAllowedFirstNot", "dual@contoso.com", ""},
		{"ColleagueElsewhere", "gus@gmail.example", "account"},
		{"PersonalAtOwnDomain", "pete@partnered.example", "account"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/v1/resolve", resolveBody("pat", c.identifier))
			if c.match == "" {
				want(t, r, 403, "policy_denied")
				return
			}
			if m := decodeResult(t, r); r.Status != 200 || m["match"] != c.match {
				t.Fatalf("%d %s; want match %s", r.Status, r.Body, c.match)
			}
		})
	}
	t.Run("GateAgrees", func(t *testing.T) {
		for to, reason := range map[string]string{"alice": "pre_acceptance", "dual": "policy", "gus": "same_tenant",
			"pete": "pre_acceptance", "bob": "policy", "phoebe": "policy"} {
			if d := h.check(t, "pat", to); d.Reason != reason {
				t.Fatalf("pat → %s: %+v; want %s", to, d, reason)
			}
		}
		for from, reason := range map[string]string{"pete": "pre_acceptance", "frank": "policy", "phoebe": "policy"} {
			if d := h.check(t, from, "pat"); d.Reason != reason {
				t.Fatalf("%s → pat: %+v; want %s", from, d, reason)
			}
		}
	})
	// Pat's tenant admits only contoso.com and its own domain: to anyone
	// else Pat looks
	// unregistered (as an owner refusing personal accounts does), and an
	// invitation to Pat is answered like one to a stranger but never sent.
	t.Run("Inbound", func(t *testing.T) {
		stranger := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody("frank", "nobody@partnered.example")))
		for requester, match := range map[string]string{"alice": "account", "pete": "account", "frank": "none", "bob": "none", "phoebe": "none"} {
			m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody(requester, "pat@partnered.example")))
			if m["match"] != match || (match == "none" && m["invitable"] != stranger["invitable"]) {
				t.Fatalf("%s resolves Pat: %v; want match %s like %v", requester, m, match, stranger)
			}
		}
		for to, sent := range map[string]int{"pat@partnered.example": 0, "nobody@partnered.example": 1} {
			want(t, h.do("POST", "/v1/invites", inviteBody("frank", to)), 201, "")
			if got := len(h.drain()); got != sent {
				t.Fatalf("frank invites %s: %d sent; want %d", to, got, sent)
			}
		}
	})
}

// TestResolveBlockedOwnSubdomain: a blocked list applies even to the
// tenant's own domains (a blocked contractors' subdomain), to unregistered
// addresses and invitations alike; only members stay reachable.
func TestResolveBlockedOwnSubdomain(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	want(t, h.do("PUT", "/v1/tenants/corp", map[string]any{"name": "Corp", "domains": []string{"corp.example"}, "region": "FR",
		"policy": map[string]any{"blocked_domains": []string{"contractors.corp.example"}}}), 200, "")
	want(t, h.do("PUT", "/v1/accounts/cm", map[string]any{"tenant_id": "corp", "display_name": "CM", "identifiers": []string{"cm@corp.example"}}), 200, "")
	want(t, h.do("PUT", "/v1/accounts/cx", map[string]any{"tenant_id": "corp", "display_name": "CX", "identifiers": []string{"cx@contractors.corp.example"}}), 200, "")
	want(t, h.do("POST", "/v1/resolve", resolveBody("cm", "new@contractors.corp.example")), 403, "policy_denied")
	want(t, h.do("POST", "/v1/invites", inviteBody("cm", "new@contractors.corp.example")), 403, "policy_denied")
	if m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody("cm", "cx@contractors.corp.example"))); m["match"] != "account" {
		t.Fatalf("a member at the blocked subdomain: %v", m)
	}
	if got := len(h.drain()); got != 0 {
		t.Fatalf("%d messages sent", got)
	}
}

// TestInviteHiddenRefusedHeld: an invitation to a hidden account is
// answered as one to a stranger, and held when the inviter's own policy
// refuses that account as the gate judges it (its first email, its being
// personal): through an allowed second email, through a phone number, and
// under outbound_personal = false.
func TestInviteHiddenRefusedHeld(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.putAll([]put{
		{"/v1/tenants/partnered", map[string]any{"name": "Partnered", "domains": []string{"partnered.example"}, "region": "FR",
			"policy": map[string]any{"allowed_domains": []string{"contoso.com"}}}},
		{"/v1/tenants/picky", map[string]any{"name": "Picky", "domains": []string{"picky.example"}, "region": "FR",
			"policy": map[string]any{"blocked_domains": []string{"gmail.example"}}}},
		{"/v1/tenants/closed", map[string]any{"name": "Closed", "domains": []string{"closed.example"}, "region": "FR",
			"policy": map[string]any{"outbound_personal": false}}},
		{"/v1/accounts/pat", map[string]any{"tenant_id": "partnered", "display_name": "Pat", "identifiers": []string{"pat@partnered.example"}}},
		{"/v1/accounts/kim", map[string]any{"tenant_id": "picky", "display_name": "Kim", "identifiers": []string{"kim@picky.example"}}},
		{"/v1/accounts/cole", map[string]any{"tenant_id": "closed", "display_name": "Cole", "identifiers": []string{"cole@closed.example"}}},
		{"/v1/accounts/dual", map[string]any{"display_name": "Dual", "discoverable": false, "identifiers": []string{"dual@gmail.example", "dual@contoso.com"}}},
		{"/v1/accounts/gina", map[string]any{"tenant_id": "contoso", "display_name": "Gina", "discoverable": false,
			"identifiers": []string{"gina@gmail.example", "06 55 55 55 55"}}},
		{"/v1/accounts/perso", map[string]any{"display_name": "Perso", "discoverable": false, "identifiers": []string{"perso@closed.example"}}},
	})
	for _, c := range []struct{ from, to, who string }{
		{"pat", "dual@contoso.com", "dual"}, {"kim", "06 55 55 55 55", "gina"}, {"cole", "perso@closed.example", "perso"},
	} {
		if d := h.check(t, c.from, c.who); d.Reason != "policy" {
			t.Fatalf("gate %s → %s: %+v; want policy", c.from, c.who, d)
		}
		if m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody(c.from, c.to))); m["match"] != "none" {
			t.Fatalf("%s resolves %s: %v", c.from, c.to, m)
		}
		want(t, h.do("POST", "/v1/invites", inviteBody(c.from, c.to)), 201, "")
		if n := len(h.drain()); n != 0 {
			t.Fatalf("%s invites %s (%s, refused by %s's policy): %d sent", c.from, c.to, c.who, c.from, n)
		}
	}
}

func TestResolvePolicy(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	want(t, h.do("PUT", "/v1/tenants/strict", map[string]any{"name": "Strict", "domains": []string{"strict.example"}, "region": "FR",
		"policy": map[string]any{"outbound_personal": false, "blocked_domains": []string{"fabrikam.com"}}}), 200, "")
	want(t, h.do("PUT", "/v1/accounts/sam", map[string]any{"tenant_id": "strict", "display_name": "Sam", "identifiers": []string{"sam@strict.example"}}), 200, "")
	cases := []struct {
		name, requester, identifier string
		status                      int
		match                       string
	}{
		{"BlockedDomain", "sam", "frank@fabrikam.com", 403, ""},
		{"BlockedSubdomain", "sam", "x@mail.fabrikam.com", 403, ""},
		{"OutboundPersonalVisible", "sam", "bob@example.org", 403, ""},
		{"OutboundPersonalUnregistered", "sam", "stranger@gmail.com", 403, ""},
		{"OutboundOwnDomainUnregistered", "sam", "new.colleague@strict.example", 200, "none"},
		{"OutboundTenantAccount", "sam", "alice@contoso.com", 200, "account"},
		{"InboundPersonalRefusesPersonal", "bob", "frank@fabrikam.com", 200, "none"},
		{"InboundPersonalAdmitsMembers", "alice", "frank@fabrikam.com", 200, "account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/v1/resolve", resolveBody(c.requester, c.identifier))
			if c.status == 403 {
				want(t, r, 403, "policy_denied")
				return
			}
			if m := decodeResult(t, r); r.Status != c.status || m["match"] != c.match {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("UserOverride", func(t *testing.T) {
		want(t, h.do("PUT", "/v1/accounts/sam/policy", map[string]any{"outbound_personal": true}), 200, "")
		if m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody("sam", "bob@example.org"))); m["match"] != "account" {
			t.Fatalf("%v", m)
		}
	})
}

// TestResolveHidesWhy proves that opted-out, blocked, policy-refused and
// unregistered owners give the same status and the same bytes but for the
// echoed identifier.
func TestResolveHidesWhy(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	h.putAll([]put{
		{"/v1/accounts/optout", map[string]any{"display_name": "Opted Out", "discoverable": false, "identifiers": []string{"optout@example.net", "+33 6 11 11 11 11"}}},
		{"/v1/accounts/blocker", map[string]any{"display_name": "Blocker", "identifiers": []string{"blocker@example.net", "+33 6 22 22 22 22"}}},
		{"/v1/accounts/blocker/blocks/bob", nil},
		{"/v1/tenants/closed", map[string]any{"name": "Closed", "policy": map[string]any{"inbound_personal": false}}},
		{"/v1/accounts/member", map[string]any{"tenant_id": "closed", "display_name": "Member", "identifiers": []string{"member@example.net", "+33 6 33 33 33 33"}}},
	})
	for _, kind := range []struct{ unregistered, optedOut, blocked, refused string }{
		{"nobody@example.net", "optout@example.net", "blocker@example.net", "member@example.net"},
		{"+33644444444", "+33611111111", "+33622222222", "+33633333333"},
	} {
		var bodies []string
		for _, id := range []string{kind.unregistered, kind.optedOut, kind.blocked, kind.refused} {
			r := h.do("POST", "/v1/resolve", resolveBody("bob", id))
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", id, r.Status, r.Body)
			}
			bodies = append(bodies, strings.Replace(string(r.Body), id, "ID", 1))
		}
		for i, b := range bodies[1:] {
			if b != bodies[0] {
				t.Fatalf("case %d differs from unregistered:\n%s\n%s", i+1, b, bodies[0])
			}
		}
		if !strings.Contains(bodies[0], `"match":"none"`) {
			t.Fatalf("unexpected body %s", bodies[0])
		}
	}
}

func TestResolveBatch(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	r := h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "region": "FR",
		"identifiers": []string{"alice@contoso.com", "not-an-email@", "06 12 34 56 78", "nobody@example.com", "01"}})
	want(t, r, 200, "")
	var res struct {
		Results []map[string]any
	}
	r.decode(t, &res)
	got := []string{}
	for _, it := range res.Results {
		if e, ok := it["error"].(map[string]any); ok {
			got = append(got, "error:"+e["code"].(string))
		} else {
			got = append(got, it["match"].(string))
		}
	}
	if strings.Join(got, " ") != "account error:invalid_email account none error:invalid_phone" {
		t.Fatalf("results %v", got)
	}
	t.Run("ErrEmpty", func(t *testing.T) {
		want(t, h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{}}), 400, "missing_field")
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		ids := slices.Repeat([]string{"a@example.com"}, 1001)
		want(t, h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": ids}), 400, "too_many_identifiers")
	})
	t.Run("ErrUnknownRequester", func(t *testing.T) {
		want(t, h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "ghost", "identifiers": []string{"a@example.com"}}), 404, "account_not_found")
	})
	t.Run("PolicyPerEntry", func(t *testing.T) {
		want(t, h.do("PUT", "/v1/accounts/bob/policy", map[string]any{"outbound_personal": false}), 200, "")
		r := h.do("POST", "/v1/resolve/batch", map[string]any{"requester": "bob", "identifiers": []string{"alice@contoso.com", "x@gmail.com"}})
		if r.Status != 200 || !strings.Contains(string(r.Body), `{"error":{"code":"policy_denied"`) || !strings.Contains(string(r.Body), `"match":"account"`) {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

// BenchmarkResolveOutcomes reports the median time of a resolve through the
// whole handler for each outcome side by side, single and in batches of 1,
// 100 and 1000 identifiers of that outcome: the unregistered, opted-out and
// blocked cases should not be told apart by timing.
func BenchmarkResolveOutcomes(b *testing.B) {
	h := newBenchHarness(b)
	const most = 1000
	for i := range most {
		// The harness caps imports at 4 KiB: one small import per index.
		var lines strings.Builder
		fmt.Fprintf(&lines, `{"id":"opt%d","display_name":"Opted Out","discoverable":false,"identifiers":["opt%d@example.net"]}`+"\n", i, i)
		fmt.Fprintf(&lines, `{"id":"blk%d","display_name":"Blocker","identifiers":["blk%d@example.net"]}`+"\n", i, i)
		fmt.Fprintf(&lines, `{"id":"vis%d","display_name":"Visible","identifiers":["vis%d@example.net"]}`+"\n", i, i)
		if r := h.call("POST", "/v1/accounts/import", h.key, "application/x-ndjson", []byte(lines.String())); r.Status != 200 {
			b.Fatalf("import: %d %s", r.Status, r.Body)
		}
	}
	for i := range most {
		if r := h.do("PUT", fmt.Sprintf("/v1/accounts/blk%d/blocks/bob", i), nil); r.Status != 200 {
			b.Fatalf("block: %s", r.Body)
		}
	}
	prefixes := []struct{ name, prefix string }{
		{"account", "vis"}, {"unregistered", "nobody"}, {"opted_out", "opt"}, {"blocked", "blk"},
	}
	fixed := func(b []byte) func() []byte { return func() []byte { return b } }
	var single []timedCase
	for _, c := range prefixes {
		single = append(single, timedCase{name: c.name, path: "/v1/resolve", status: http.StatusOK,
			body: fixed([]byte(`{"requester":"bob","identifier":"` + c.prefix + `0@example.net"}`))})
	}
	b.Run("single", func(b *testing.B) { h.interleaved(b, single) })
	for _, n := range []int{1, 100, most} {
		var cases []timedCase
		for _, c := range prefixes {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s%d@example.net", c.prefix, i)
			}
			body, _ := json.Marshal(map[string]any{"requester": "bob", "identifiers": ids})
			cases = append(cases, timedCase{name: c.name, path: "/v1/resolve/batch", status: http.StatusOK, body: fixed(body)})
		}
		b.Run(fmt.Sprintf("batch_%d", n), func(b *testing.B) { h.interleaved(b, cases) })
	}
}
