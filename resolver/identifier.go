// Package resolver turns what a user typed into a canonical identifier and
// decides, under Beckon's privacy rules, what a requester may learn about it.
//
// It imports neither net/http nor database/sql: storage and transport are
// adapters that implement the interfaces declared here.
package resolver

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/beckon-chat/beckon/fault"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Kind is the kind of an identifier.
type Kind string

// The identifier kinds.
const (
	Email Kind = "email"
	Phone Kind = "phone"
)

// PhoneType is the line type of a phone number, kept for SMS decisions.
type PhoneType string

// The phone types that matter to Beckon; anything else is PhoneOther.
const (
	PhoneMobile            PhoneType = "mobile"
	PhoneFixedLine         PhoneType = "fixed_line"
	PhoneFixedLineOrMobile PhoneType = "fixed_line_or_mobile"
	PhoneOther             PhoneType = "other"
)

// Identifier is a canonical email address or E.164 phone number.
type Identifier struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
	// Region is the ISO 3166 alpha-2 region of a phone number.
	Region string `json:"-"`
	// PhoneType is the line type of a phone number.
	PhoneType PhoneType `json:"-"`
}

// Domain returns the domain of an email identifier, or "".
func (id Identifier) Domain() string {
	if id.Kind != Email {
		return ""
	}
	return id.Value[strings.LastIndexByte(id.Value, '@')+1:]
}

// Mobile reports whether an SMS can reach the phone number.
func (id Identifier) Mobile() bool {
	return id.Kind == Phone && (id.PhoneType == PhoneMobile || id.PhoneType == PhoneFixedLineOrMobile)
}

// Limits on raw input, checked before any parsing work.
const (
	maxRawEmail = 512
	maxRawPhone = 64
	maxEmail    = 254
	maxLocal    = 64
)

// Normalize parses raw as an email address (when it has an '@' or a letter)
// or a phone number, and returns its canonical form. region is the hint for
// phone numbers written without '+' or '00'; it may be empty.
//
// It returns a fault.Invalid with code invalid_email, invalid_phone,
// region_required or invalid_region, always for field "identifier" except
// invalid_region ("region").
func Normalize(raw, region string) (Identifier, error) {
	if looksLikeEmail(raw) {
		return NormalizeEmail(raw)
	}
	return NormalizePhone(raw, region)
}

func looksLikeEmail(raw string) bool {
	return strings.ContainsFunc(raw, func(r rune) bool { return r == '@' || unicode.IsLetter(r) })
}

func invalidEmail(reason string) error {
	return fault.Invalidf(fault.CodeInvalidEmail, "identifier", "not a valid email address: %s", reason)
}

// NormalizeEmail returns the canonical form of an email address: trimmed,
// NFC, lower-cased, with its domain in IDNA ASCII form. The "Name <addr>"
// form is accepted. Plus-addresses and dots are kept.
func NormalizeEmail(raw string) (Identifier, error) {
	if len(raw) > maxRawEmail {
		return Identifier{}, invalidEmail("too long")
	}
	if !utf8.ValidString(raw) {
		return Identifier{}, invalidEmail("not UTF-8")
	}
	s := strings.TrimSpace(raw)
	if strings.ContainsAny(s, "\r\n") {
		return Identifier{}, invalidEmail("line breaks are not allowed")
	}
	if strings.HasSuffix(s, ">") {
		open := strings.LastIndexByte(s, '<')
		if open < 0 {
			return Identifier{}, invalidEmail("unbalanced angle brackets")
		}
		s = strings.TrimSpace(s[open+1 : len(s)-1])
	}
	s = norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Identifier{}, invalidEmail("expected local-part@domain")
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return Identifier{}, err
	}
	ascii, err := normalizeDomain(domain)
	if err != nil {
		return Identifier{}, err
	}
	value := local + "@" + ascii
	if len(value) > maxEmail {
		return Identifier{}, invalidEmail("too long")
	}
	return Identifier{Kind: Email, Value: value}, nil
}

func checkLocal(local string) error {
	if len(local) > maxLocal {
		return invalidEmail("local part too long")
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return invalidEmail("misplaced dot in local part")
	}
	for _, r := range local {
		if r < 0x21 || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r) ||
			strings.ContainsRune(`"(),:;<>@[\]`, r) {
			return invalidEmail("character not allowed in local part")
		}
	}
	return nil
}

var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

func normalizeDomain(domain string) (string, error) {
	ascii, err := domainProfile.ToASCII(domain)
	if err != nil {
		return "", invalidEmail("invalid domain")
	}
	ascii = strings.ToLower(ascii)
	dot := strings.LastIndexByte(ascii, '.')
	if dot <= 0 {
		return "", invalidEmail("domain needs a dot")
	}
	tld := ascii[dot+1:]
	if strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return "", invalidEmail("domain must not be an address")
	}
	return ascii, nil
}

func invalidPhone(reason string) error {
	return fault.Invalidf(fault.CodeInvalidPhone, "identifier", "not a valid phone number: %s", reason)
}

// NormalizeRegion upper-cases an ISO 3166 alpha-2 region and checks that
// phone numbering knows it. An empty region stays empty.
func NormalizeRegion(region string) (string, error) {
	if region == "" {
		return "", nil
	}
	r := strings.ToUpper(strings.TrimSpace(region))
	if len(r) != 2 || phonenumbers.GetCountryCodeForRegion(r) == 0 {
		return "", fault.Invalidf(fault.CodeInvalidRegion, "region", "%q is not a known ISO 3166 alpha-2 region", region)
	}
	return r, nil
}

// NormalizePhone returns the E.164 form of a phone number. Numbers that do
// not start with '+' or '00' need a region.
func NormalizePhone(raw, region string) (Identifier, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Identifier{}, invalidPhone("empty")
	}
	if len(s) > maxRawPhone {
		return Identifier{}, invalidPhone("too long")
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-.()/ \u00a0", r) {
			return Identifier{}, invalidPhone("unexpected character")
		}
	}
	if strings.LastIndexByte(s, '+') > 0 {
		return Identifier{}, invalidPhone("'+' only at the start")
	}
	region, err := NormalizeRegion(region)
	if err != nil {
		return Identifier{}, err
	}
	compact := strings.TrimLeft(s, "(")
	if strings.HasPrefix(compact, "00") && region == "" {
		s = "+" + strings.TrimPrefix(compact, "00")
	}
	if !strings.HasPrefix(s, "+") && region == "" {
		return Identifier{}, fault.Invalidf(fault.CodeRegionRequired, "region",
			"the number has no country code: start it with + or give a region")
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Identifier{}, invalidPhone("cannot parse")
	}
	if !phonenumbers.IsValidNumber(num) {
		return Identifier{}, invalidPhone("not a valid number for its region")
	}
	return Identifier{
		Kind:      Phone,
		Value:     phonenumbers.Format(num, phonenumbers.E164),
		Region:    phonenumbers.GetRegionCodeForNumber(num),
		PhoneType: phoneType(phonenumbers.GetNumberType(num)),
	}, nil
}

func phoneType(t phonenumbers.PhoneNumberType) PhoneType {
	switch t {
	case phonenumbers.MOBILE:
		return PhoneMobile
	case phonenumbers.FIXED_LINE:
		return PhoneFixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return PhoneFixedLineOrMobile
	default:
		return PhoneOther
	}
}

// Parse rebuilds an Identifier from a stored canonical kind and value,
// recomputing the phone metadata. It returns an error when the stored value
// is no longer canonical.
func Parse(kind Kind, value string) (Identifier, error) {
	switch kind {
	case Email:
		return NormalizeEmail(value)
	case Phone:
		return NormalizePhone(value, "")
	}
	return Identifier{}, fault.Invalidf(fault.CodeInvalidIdentifier, "identifier", "unknown identifier kind %q", kind)
}

// Redact hides most of an email address or phone number for logs:
// alice@example.com becomes a***@example.com and +33612345678 becomes
// +336******78. It works on raw input too and never returns its argument
// unchanged unless it is empty.
func Redact(s string) string {
	if s == "" {
		return ""
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		first, _ := utf8.DecodeRuneInString(s)
		if at == 0 {
			return "***" + s[at:]
		}
		return string(first) + "***" + s[at:]
	}
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-6) + s[len(s)-2:]
}
