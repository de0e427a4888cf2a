// Package twilio sends SMS through Twilio's API with twilio-go, and checks
// the X-Twilio-Signature of Twilio's callbacks.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/beckon-chat/beckon/notify"
	twilio "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Config says how to reach Twilio.
type Config struct {
	AccountSID          string
	AuthToken           string
	From                string
	MessagingServiceSID string
	// APIURL replaces https://api.twilio.com (tests, proxies); empty: Twilio.
	APIURL string
	// StatusCallback is where Twilio reports delivery.
	StatusCallback string
}

// Sender sends SMS.
type Sender struct {
	cfg  Config
	rest *twilio.RestClient
}

var (
	_ notify.Sender           = (*Sender)(nil)
	_ notify.DeliveryReporter = (*Sender)(nil)
)

// rewrite sends Twilio's requests to another base URL.
type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rw.base.Scheme, rw.base.Host
	r.URL.Path = strings.TrimRight(rw.base.Path, "/") + r.URL.Path
	r.Host = rw.base.Host
	return rw.next.RoundTrip(r)
}

var (
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySID  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	serviceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	authToken  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCode  = regexp.MustCompile(`^[0-9]{3,8}$`)
	senderID   = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

// Validate checks the shape of the credentials and the sender, so that a
// mistyped value stops the service at start instead of failing every SMS
// later with a 4xx from Twilio, which is permanent: the invitations would
// be lost. The account SID is AC and 32 hex digits (the pattern of Twilio's
// own OpenAPI document), the auth token 32 hex digits, the messaging
// service SID MG and 32 hex digits; TWILIO_FROM is an E.164 number, a short
// code, or an alphanumeric sender ID (1 to 11 letters, digits and spaces,
// at least one letter). The zero Config (SMS to the development sink) is
// valid. It returns one error naming each variable at fault, never a
// token's value.
func (c Config) Validate() error {
	if c.AccountSID == "" && c.AuthToken == "" && c.From == "" && c.MessagingServiceSID == "" {
		return nil
	}
	var errs []error
	switch {
	case c.AccountSID == "":
		errs = append(errs, errors.New("TWILIO_ACCOUNT_SID is empty while other TWILIO_ variables are set: set it with TWILIO_AUTH_TOKEN, or leave all of them empty for the development sink"))
	case apiKeySID.MatchString(c.AccountSID):
		errs = append(errs, errors.New("TWILIO_ACCOUNT_SID is an API key SID (SK…), which Beckon does not support: use the account SID (AC…) and its auth token"))
	case !accountSID.MatchString(c.AccountSID):
		errs = append(errs, errors.New("TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits"))
	}
	switch {
	case c.AuthToken == "":
		errs = append(errs, errors.New("TWILIO_AUTH_TOKEN is empty: it is needed with TWILIO_ACCOUNT_SID"))
	case !authToken.MatchString(c.AuthToken):
		errs = append(errs, errors.New("TWILIO_AUTH_TOKEN must be 32 hexadecimal digits (the account's auth token)"))
	}
	if (c.From == "") == (c.MessagingServiceSID == "") {
		errs = append(errs, errors.New("set one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID"))
	}
	if c.MessagingServiceSID != "" && !serviceSID.MatchString(c.MessagingServiceSID) {
		errs = append(errs, errors.New("TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hexadecimal digits"))
	}
	if c.From != "" && !validFrom(c.From) {
		errs = append(errs, errors.New("TWILIO_FROM must be a number in E.164 form (+15005550006), a short code, or an alphanumeric sender ID of 1 to 11 letters, digits and spaces"))
	}
	return errors.Join(errs...)
}

func validFrom(s string) bool {
	if strings.HasPrefix(s, "+") {
		return e164.MatchString(s)
	}
	return shortCode.MatchString(s) ||
		(senderID.MatchString(s) && strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' }) >= 0)
}

// New returns an SMS sender. Errors: those of Validate, and an APIURL that
// is not an absolute URL.
func New(cfg Config) (*Sender, error) {
	if cfg.AccountSID == "" {
		return nil, errors.New("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are both needed")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || u.Host == "" {
			return nil, errors.New("BECKON_TWILIO_API_URL must be an absolute URL")
		}
		hc.Transport = rewrite{base: u, next: http.DefaultTransport}
	}
	c := &client.Client{Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken), HTTPClient: hc}
	c.SetAccountSid(cfg.AccountSID)
	return &Sender{cfg: cfg, rest: twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})}, nil
}

// Send implements notify.Sender. Twilio's 429 and 5xx answers and network
// failures are transient; other 4xx answers (an invalid or unsubscribed
// number, 21211, 21610, 21614, …) are permanent.
func (s *Sender) Send(_ context.Context, msgs []notify.Message) []notify.Outcome {
	out := make([]notify.Outcome, len(msgs))
	for i, m := range msgs {
		if m.To == "" || m.Text == "" {
			out[i].Err = notify.Permanentf("an SMS needs a recipient and a text")
			continue
		}
		p := &openapi.CreateMessageParams{}
		p.SetTo(m.To)
		p.SetBody(m.Text)
		if s.cfg.MessagingServiceSID != "" {
			p.SetMessagingServiceSid(s.cfg.MessagingServiceSID)
		} else {
			p.SetFrom(s.cfg.From)
		}
		if s.cfg.StatusCallback != "" {
			p.SetStatusCallback(s.cfg.StatusCallback)
		}
		resp, err := s.rest.Api.CreateMessage(p)
		if err != nil {
			out[i].Err = classify(err)
			continue
		}
		if resp.Sid != nil {
			out[i].ProviderID = *resp.Sid
		}
	}
	return out
}

// codeUnsubscribed is Twilio's "the recipient replied STOP" refusal.
const codeUnsubscribed = 21610

// classify sorts Twilio's errors: an opt-out, transient (the channel as a
// whole fails), or permanent (this message can never go).
func classify(err error) error {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		e := fmt.Errorf("twilio %d (%d): %s", te.Status, te.Code, te.Message)
		switch {
		case te.Code == codeUnsubscribed:
			return notify.OptedOut(e)
		case te.Status == http.StatusTooManyRequests || te.Status >= 500,
			te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden:
			// Throttled, down, or the account itself refused (credentials,
			// suspension): the channel fails, not this recipient; retried.
			return e
		}
		return notify.Permanent(e)
	}
	return fmt.Errorf("twilio: %w", err)
}

// Close implements notify.Sender.
func (s *Sender) Close() error { return nil }

// ReportsDelivery implements notify.DeliveryReporter: Twilio reports
// delivery to the status callback.
func (s *Sender) ReportsDelivery() bool { return s.cfg.StatusCallback != "" }

// Valid reports whether a callback to publicURL with these form values
// carries a valid X-Twilio-Signature.
func Valid(authToken, publicURL string, form url.Values, signature string) bool {
	if signature == "" {
		return false
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	v := client.NewRequestValidator(authToken)
	return v.Validate(publicURL, params, signature)
}
