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
