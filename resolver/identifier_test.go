package resolver_test

import (
	"testing"

	"github.com/beckon-chat/beckon/fault"
	"github.com/beckon-chat/beckon/resolver"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, raw, region string
		kind              resolver.Kind
		want              string // canonical value, or the error code
		phoneType         resolver.PhoneType
	}{
		// Email: accepted forms.
		{"EmailPlain", "alice@example.com", "", resolver.Email, "alice@example.com", ""},
		{"EmailUpper", "Alice.Martin@Example.COM", "", resolver.Email, "alice.martin@example.com", ""},
		{"EmailTrim", "  bob@example.org\t", "", resolver.Email, "bob@example.org", ""},
		{"EmailDisplayName", "Alice <alice@example.com>", "", resolver.Email, "alice@example.com", ""},
		{"EmailQuotedDisplayName", `"Martin, Alice" <Alice@Example.com>`, "", resolver.Email, "alice@example.com", ""},
		{"EmailPlusKept", "alice+chat@example.com", "", resolver.Email, "alice+chat@example.com", ""},
		{"EmailDotsKept", "a.l.i.c.e@gmail.com", "", resolver.Email, "a.l.i.c.e@gmail.com", ""},
		{"EmailIDNDomain", "jose@bücher.de", "", resolver.Email, "jose@xn--bcher-kva.de", ""},
		{"EmailIDNUpperDomain", "jose@BÜCHER.de", "", resolver.Email, "jose@xn--bcher-kva.de", ""},
		{"EmailPunycodeKept", "jose@xn--bcher-kva.de", "", resolver.Email, "jose@xn--bcher-kva.de", ""},
		{"EmailUnicodeLocalNFC", "Jose\u0301@example.es", "", resolver.Email, "josé@example.es", ""},
		{"EmailSubdomain", "ops@mail.contoso.co.uk", "", resolver.Email, "ops@mail.contoso.co.uk", ""},
		{"EmailJapaneseDomain", "taro@例え.jp", "", resolver.Email, "taro@xn--r8jz45g.jp", ""},
		{"EmailHyphenDomain", "x@my-company.fr", "", resolver.Email, "x@my-company.fr", ""},
		// Email: rejected.
		{"EmailNoAt", "alice.example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailEmptyLocal", "@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailEmptyDomain", "alice@", "", "", fault.CodeInvalidEmail, ""},
		{"EmailNoDot", "alice@localhost", "", "", fault.CodeInvalidEmail, ""},
		{"EmailIPLiteral", "alice@[127.0.0.1]", "", "", fault.CodeInvalidEmail, ""},
		{"EmailNumericTLD", "alice@10.0.0.1", "", "", fault.CodeInvalidEmail, ""},
		{"EmailCRLF", "alice@example.com\r\nBcc: eve@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailSpaceInside", "ali ce@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailDoubleDot", "alice..m@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailLeadingDot", ".alice@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailLocalTooLong", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailBadDomainLabel", "alice@exa_mple.com", "", "", fault.CodeInvalidEmail, ""},
		{"EmailUnbalanced", "Alice alice@example.com>", "", "", fault.CodeInvalidEmail, ""},
		{"EmailJustWord", "hello", "", "", fault.CodeInvalidEmail, ""},
		{"EmailQuotedLocal", `"al ice"@example.com`, "", "", fault.CodeInvalidEmail, ""},
		// Phone: France.
		{"FRNationalSpaces", "06 12 34 56 78", "FR", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRNationalDots", "06.12.34.56.78", "fr", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRNationalCompact", "0612345678", "FR", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRInternational", "+33 6 12 34 56 78", "", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRDoubleZero", "0033 6 12 34 56 78", "", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRDoubleZeroWithRegion", "0033612345678", "FR", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRTrunkInParens", "+33 (0)6 12 34 56 78", "", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		{"FRFixedLine", "01 42 68 53 00", "FR", resolver.Phone, "+33142685300", resolver.PhoneFixedLine},
		{"FRMobile07", "07 81 23 45 67", "FR", resolver.Phone, "+33781234567", resolver.PhoneMobile},
		{"FRNumberOtherRegionHint", "+33 6 12 34 56 78", "DE", resolver.Phone, "+33612345678", resolver.PhoneMobile},
		// Phone: elsewhere.
		{"GBMobile", "07400 123456", "GB", resolver.Phone, "+447400123456", resolver.PhoneMobile},
		{"DEMobile", "0151 23456789", "DE", resolver.Phone, "+4915123456789", resolver.PhoneMobile},
		{"USNumber", "(201) 555-0123", "US", resolver.Phone, "+12015550123", resolver.PhoneFixedLineOrMobile},
		{"USDashes", "+1 201-555-0123", "", resolver.Phone, "+12015550123", resolver.PhoneFixedLineOrMobile},
		{"CHMobile", "078 123 45 67", "CH", resolver.Phone, "+41781234567", resolver.PhoneMobile},
		{"BEMobile", "0470 12 34 56", "BE", resolver.Phone, "+32470123456", resolver.PhoneMobile},
		{"INMobile", "+91 98765 43210", "", resolver.Phone, "+919876543210", resolver.PhoneMobile},
		{"JPMobile", "090-1234-5678", "JP", resolver.Phone, "+819012345678", resolver.PhoneMobile},
		{"BRMobile", "+55 11 91234-5678", "", resolver.Phone, "+5511912345678", resolver.PhoneMobile},
		// Phone: rejected.
		{"PhoneNoRegion", "06 12 34 56 78", "", "", fault.CodeRegionRequired, ""},
		{"PhoneBadRegion", "06 12 34 56 78", "XX", "", fault.CodeInvalidRegion, ""},
		{"PhoneRegionTooLong", "06 12 34 56 78", "FRA", "", fault.CodeInvalidRegion, ""},
		{"PhoneTooShort", "06 12", "FR", "", fault.CodeInvalidPhone, ""},
		{"PhoneInvalidForRegion", "+33 0 00 00 00 00", "", "", fault.CodeInvalidPhone, ""},
		{"PhonePlusInside", "06+12345678", "FR", "", fault.CodeInvalidPhone, ""},
		{"PhoneEmpty", "   ", "FR", "", fault.CodeInvalidPhone, ""},
		{"PhoneTooLong", "+33 6 12 34 56 78 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99", "", "", fault.CodeInvalidPhone, ""},
		{"PhoneSymbols", "+33#612345678", "", "", fault.CodeInvalidPhone, ""},
		{"PhoneUnknownCountryCode", "+999 123 456 789", "", "", fault.CodeInvalidPhone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := resolver.Normalize(tt.raw, tt.region)
			if tt.kind == "" {
				if code := fault.CodeOf(err); code != tt.want {
					t.Fatalf("Normalize(%q, %q) = %+v, %v; want error code %s", tt.raw, tt.region, id, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.raw, tt.region, err)
			}
			if id.Kind != tt.kind || id.Value != tt.want || id.PhoneType != tt.phoneType {
				t.Fatalf("Normalize(%q, %q) = %+v; want %s %s %s", tt.raw, tt.region, id, tt.kind, tt.want, tt.phoneType)
			}
			again, err := resolver.Normalize(id.Value, "")
			if err != nil || again.Value != id.Value {
				t.Fatalf("canonical %q is not stable: %+v, %v", id.Value, again, err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"alice@example.com": "a***@example.com",
		"+33612345678":      "+336******78",
		"@example.com":      "***@example.com",
		"0612":              "****",
		"":                  "",
	} {
		if got := resolver.Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q; want %q", raw, got, want)
		}
	}
}

// FuzzNormalize checks that Normalize never panics, that every error is a
// fault with a code, and that a canonical value normalises to itself.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"alice@example.com", "Alice <A@B.fr>", "06 12 34 56 78", "+33612345678", "0033 6 12", "jose@bücher.de", "a@b", "\r\n@", "+"} {
		f.Add(seed, "FR")
		f.Add(seed, "")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		id, err := resolver.Normalize(raw, region)
		if err != nil {
			if fault.As(err) == nil {
				t.Fatalf("Normalize(%q, %q) returned a non-fault error: %v", raw, region, err)
			}
			return
		}
		again, err := resolver.Normalize(id.Value, "")
		if err != nil {
			t.Fatalf("canonical %q (from %q) does not normalise: %v", id.Value, raw, err)
		}
		if again.Value != id.Value || again.Kind != id.Kind {
			t.Fatalf("canonical %q (from %q) normalises to %q", id.Value, raw, again.Value)
		}
	})
}
