package twilio

import (
	"errors"
	"testing"

	"github.com/beckon-chat/beckon/notify"
	"github.com/twilio/twilio-go/client"
)

// TestClassify: what fails one recipient is permanent; what fails the
// whole channel (throttling, an outage, the account refused) is retried, so
// that held messages, which copy a failing channel, look alike; a number
// that opted out with Twilio is an opt-out, not a failure.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name            string
		status, code    int
		permanent, stop bool
	}{
		{"InvalidTo", 400, 21211, true, false},
		{"Unsubscribed", 400, 21610, false, true},
		{"Throttled", 429, 20429, false, false},
		{"Down", 503, 0, false, false},
		{"BadCredentials", 401, 20003, false, false},
		{"Suspended", 403, 20005, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := classify(&client.TwilioRestError{Status: c.status, Code: c.code, Message: "x"})
			if notify.IsPermanent(err) != c.permanent || notify.IsOptedOut(err) != c.stop {
				t.Fatalf("%v: permanent=%v opted out=%v", err, notify.IsPermanent(err), notify.IsOptedOut(err))
			}
		})
	}
	if err := classify(errors.New("dial tcp: refused")); notify.IsPermanent(err) {
		t.Fatalf("a network error is permanent: %v", err)
	}
}
