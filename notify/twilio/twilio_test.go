package twilio_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/notify"
	"github.com/beckon-chat/beckon/notify/twilio"
)

// TestContractWithPrism sends through twilio-go to Prism serving Twilio's
// own OpenAPI document, which rejects what Twilio would: our requests must
// pass, and a request without a recipient must not.
func TestContractWithPrism(t *testing.T) {
	prism := testenv.Prism(t)
	for _, cfg := range []twilio.Config{
		{From: "+15005550006"},
		{MessagingServiceSID: "MG0123456789abcdef0123456789abcdef"},
	} {
		cfg.AccountSID, cfg.AuthToken, cfg.APIURL = "AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", prism
		cfg.StatusCallback = "https://beckon.example/webhooks/twilio/status"
		s, err := twilio.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Send(context.Background(), []notify.Message{
			{ID: 1, Channel: "sms", To: "+33611111111", Text: "Alice invited you to chat on Beckon: https://beckon.example/i/x Reply STOP to opt out."},
			{ID: 2, Channel: "sms", To: "", Text: "no recipient"},
		})
		if out[0].Err != nil || !strings.HasPrefix(out[0].ProviderID, "SM") {
			t.Fatalf("valid message: %+v", out[0])
		}
		if out[1].Err == nil || !notify.IsPermanent(out[1].Err) {
			t.Fatalf("a message without To must be refused for good: %+v", out[1])
		}
	}
	// The mock does validate: a request without To is rejected.
	form := url.Values{"From": {"+15005550006"}, "Body": {"x"}}
	req, _ := http.NewRequest("POST", prism+"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json", strings.NewReader(form.Encode()))
	req.SetBasicAuth("AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("Prism accepted a request without To: %d", resp.StatusCode)
	}
}

func TestValidate(t *testing.T) {
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		token = "0123456789abcdef0123456789abcdef"
		mg    = "MG0123456789ABCDEF0123456789ABCDEF"
	)
	for _, c := range []struct {
		name string
		cfg  twilio.Config
		bad  string // the variable named in the error; "" for none
	}{
		{"OKNone", twilio.Config{APIURL: "http://127.0.0.1:1", StatusCallback: "https://x/cb"}, ""},
		{"OKFrom", twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006"}, ""},
		{"OKMessagingService", twilio.Config{AccountSID: sid, AuthToken: token, MessagingServiceSID: mg}, ""},
		{"OKSenderID", twilio.Config{AccountSID: sid, AuthToken: token, From: "Beckon Chat"}, ""},
		{"OKShortCode", twilio.Config{AccountSID: sid, AuthToken: token, From: "36700"}, ""},
		{"ErrTokenShape", twilio.Config{AccountSID: sid, AuthToken: "abc-def", From: "+15005550006"}, "TWILIO_AUTH_TOKEN"},
		{"ErrTokenLength", twilio.Config{AccountSID: sid, AuthToken: token + "0", From: "+15005550006"}, "TWILIO_AUTH_TOKEN"},
		{"ErrTokenWithoutSID", twilio.Config{AuthToken: token}, "TWILIO_ACCOUNT_SID"},
		{"ErrFromWithoutSID", twilio.Config{From: "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{"ErrSIDWithoutToken", twilio.Config{AccountSID: sid, From: "+15005550006"}, "TWILIO_AUTH_TOKEN"},
		{"ErrSIDShape", twilio.Config{AccountSID: "AC0123", AuthToken: token, From: "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{"ErrSIDNotHex", twilio.Config{AccountSID: "AC0123456789abcdef0123456789abcdeg", AuthToken: token, From: "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{"ErrAPIKeySID", twilio.Config{AccountSID: "SK0123456789abcdef0123456789abcdef", AuthToken: token, From: "+15005550006"}, "API key"},
		{"ErrNoSender", twilio.Config{AccountSID: sid, AuthToken: token}, "TWILIO_FROM"},
		{"ErrTwoSenders", twilio.Config{AccountSID: sid, AuthToken: token, From: "+15005550006", MessagingServiceSID: mg}, "TWILIO_MESSAGING_SERVICE_SID"},
		{"ErrServiceSID", twilio.Config{AccountSID: sid, AuthToken: token, MessagingServiceSID: "MG123"}, "TWILIO_MESSAGING_SERVICE_SID"},
		{"ErrFromNational", twilio.Config{AccountSID: sid, AuthToken: token, From: "0612345678"}, "TWILIO_FROM"},
		{"ErrFromSenderIDTooLong", twilio.Config{AccountSID: sid, AuthToken: token, From: "Beckon Invites"}, "TWILIO_FROM"},
		{"ErrFromPunctuation", twilio.Config{AccountSID: sid, AuthToken: token, From: "Beckon!"}, "TWILIO_FROM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Fatalf("err = %v; want one naming %s", err, c.bad)
			}
			if c.cfg.AuthToken != "" && strings.Contains(err.Error(), c.cfg.AuthToken) {
				t.Fatalf("the error shows the token: %v", err)
			}
			if _, err := twilio.New(c.cfg); err == nil {
				t.Fatal("New accepted what Validate refuses")
			}
		})
	}
}
