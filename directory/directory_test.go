package directory_test

import (
	"slices"
	"testing"

	"github.com/beckon-chat/beckon/directory"
	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
)

func phone(t *testing.T, raw string) resolver.Identifier {
	t.Helper()
	id, err := resolver.Normalize(raw, "")
	if err != nil || !id.Mobile() {
		t.Fatalf("%s: %+v %v (want a mobile)", raw, id, err)
	}
	return id
}

// TestSMSCountries: an empty sms_countries allows the home region only
// (the tenant's, or a personal account's own), ["*"] every country, and a
// list the countries on it.
func TestSMSCountries(t *testing.T) {
	fr, gb := phone(t, "+33612345678"), phone(t, "+447400123456")
	tenant := func(region string, countries ...string) *directory.Tenant {
		p := directory.DefaultPolicy()
		if countries != nil {
			p.SMSCountries = countries
		}
		return &directory.Tenant{ID: "t", Region: region, Policy: p}
	}
	for _, c := range []struct {
		name    string
		account directory.Account
		tenant  *directory.Tenant
		fr, gb  bool
	}{
		{"TenantDefaultHomeOnly", directory.Account{TenantID: "t", Region: "GB"}, tenant("FR"), true, false},
		{"TenantWithoutRegion", directory.Account{TenantID: "t", Region: "FR"}, tenant(""), false, false},
		{"TenantEverywhere", directory.Account{TenantID: "t"}, tenant("FR", "*"), true, true},
		{"TenantList", directory.Account{TenantID: "t"}, tenant("FR", "GB"), false, true},
		{"PersonalOwnRegion", directory.Account{Region: "GB"}, nil, false, true},
		{"PersonalWithoutRegion", directory.Account{}, nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.account.EffectivePolicy(c.tenant)
			if got := p.ChannelAllowed(fr); got != c.fr {
				t.Errorf("FR mobile allowed = %v; want %v", got, c.fr)
			}
			if got := p.ChannelAllowed(gb); got != c.gb {
				t.Errorf("GB mobile allowed = %v; want %v", got, c.gb)
			}
		})
	}
	t.Run("NotMobile", func(t *testing.T) {
		landline, err := resolver.Normalize("+33142685300", "")
		if err != nil {
			t.Fatal(err)
		}
		if (directory.Account{TenantID: "t"}).EffectivePolicy(tenant("FR", "*")).ChannelAllowed(landline) {
			t.Error("SMS to a landline allowed")
		}
	})
	t.Run("SMSOff", func(t *testing.T) {
		tn := tenant("FR", "*")
		tn.Policy.InviteChannels = []string{directory.ChannelEmail}
		if (directory.Account{TenantID: "t"}).EffectivePolicy(tn).ChannelAllowed(fr) {
			t.Error("SMS allowed with the channel off")
		}
	})
}

func TestNormalizePolicySMSCountries(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		want []string
		code string
	}{
		{"OK", []string{"fr", " GB", "FR"}, []string{"FR", "GB"}, ""},
		{"OKEmpty", []string{}, []string{}, ""},
		{"OKEverywhere", []string{" * "}, []string{"*"}, ""},
		{"ErrEverywhereAndMore", []string{"*", "FR"}, nil, "invalid_policy"},
		{"ErrEverywhereTwice", []string{"*", "*"}, nil, "invalid_policy"},
		{"ErrRegion", []string{"France"}, nil, fault.CodeInvalidRegion},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := directory.DefaultPolicy()
			p.SMSCountries = c.in
			got, err := directory.NormalizePolicy(p)
			if c.code != "" {
				if f := fault.As(err); f == nil || f.Code != c.code || f.Field != "policy.sms_countries" {
					t.Fatalf("err = %v; want %s on policy.sms_countries", err, c.code)
				}
				return
			}
			if err != nil || !slices.Equal(got.SMSCountries, c.want) {
				t.Fatalf("got %v, %v; want %v", got.SMSCountries, err, c.want)
			}
		})
	}
}
