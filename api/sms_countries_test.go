package api_test

import (
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// TestInviteSMSCountries: with sms_countries empty, SMS goes only to the
// tenant's region (a personal account's own; none without one); ["*"]
// opens every country. Resolve's invitable and POST /v1/invites agree.
func TestInviteSMSCountries(t *testing.T) {
	h := newHarness(t, testenv.SQLite(t), generous)
	h.seed()
	want(t, h.do("PUT", "/v1/accounts/nomad", map[string]any{"display_name": "Nomad", "identifiers": []string{"nomad@example.org"}}), 200, "")
	const gb = "+447400123456"
	check := func(t *testing.T, inviter, number string, allowed bool) {
		t.Helper()
		if m := decodeResult(t, h.do("POST", "/v1/resolve", resolveBody(inviter, number))); m["invitable"] != allowed {
			t.Fatalf("%s resolves %s: %v; want invitable %v", inviter, number, m, allowed)
		}
		r := h.do("POST", "/v1/invites", inviteBody(inviter, number))
		if !allowed {
			want(t, r, 422, "channel_not_allowed")
			return
		}
		want(t, r, 201, "")
		if msgs := h.drain(); len(msgs) != 1 || msgs[0].Channel != "sms" {
			t.Fatalf("%s invites %s: %+v", inviter, number, msgs)
		}
	}
	t.Run("TenantDefaultIsItsRegion", func(t *testing.T) {
		check(t, "alice", gb, false)
		check(t, "alice", "06 55 44 33 10", true)
	})
	t.Run("PersonalOwnRegion", func(t *testing.T) {
		check(t, "bob", gb, false)
		check(t, "bob", "06 55 44 33 11", true)
	})
	t.Run("PersonalWithoutRegionNoSMS", func(t *testing.T) {
		check(t, "nomad", "+33655443312", false)
		check(t, "nomad", gb, false)
		want(t, h.do("POST", "/v1/invites", inviteBody("nomad", "friend@example.net")), 201, "")
		h.drain()
	})
	t.Run("EveryCountry", func(t *testing.T) {
		r := h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "domains": []string{"contoso.com"}, "region": "FR",
			"policy": map[string]any{"sms_countries": []string{"*"}}})
		want(t, r, 200, "")
		if !strings.Contains(string(r.Body), `"sms_countries":["*"]`) {
			t.Fatalf("policy: %s", r.Body)
		}
		check(t, "alice", gb, true)
	})
	t.Run("ErrEveryCountryNotAlone", func(t *testing.T) {
		r := h.do("PUT", "/v1/tenants/contoso", map[string]any{"name": "Contoso", "region": "FR",
			"policy": map[string]any{"sms_countries": []string{"*", "GB"}}})
		want(t, r, 400, "invalid_policy")
		if r.field() != "policy.sms_countries" {
			t.Fatalf("field %q", r.field())
		}
	})
}
