package event_test

import (
	"encoding/json"
	"testing"

	"github.com/beckon-chat/beckon/event"
)

// TestDataJSON pins the JSON of each payload: the keys and their order are
// what feed and webhook consumers have always received.
func TestDataJSON(t *testing.T) {
	inv := map[string]string{"id": "inv_1"}
	chat := map[string]string{"id": "c1"}
	for _, c := range []struct {
		data event.Data
		typ  event.Type
		want string
	}{
		{event.InviteData{Type: event.InviteRevoked, Invite: inv}, event.InviteRevoked, `{"invite":{"id":"inv_1"}}`},
		{event.AcceptedData{AccountID: "a1", Chat: chat, Invite: inv}, event.InviteAccepted,
			`{"account_id":"a1","chat":{"id":"c1"},"invite":{"id":"inv_1"}}`},
		{event.RequestData{Chat: chat, Invite: inv, Recipient: "a2", RequestID: "req_1", Sender: "a1"}, event.RequestCreated,
			`{"chat":{"id":"c1"},"invite":{"id":"inv_1"},"recipient":"a2","request_id":"req_1","sender":"a1"}`},
		{event.RequestChangeData{Type: event.RequestReported, Request: map[string]string{"id": "req_1"}}, event.RequestReported,
			`{"request":{"id":"req_1"}}`},
		{event.LinkedData{AccountID: "a1", Identifier: map[string]string{"kind": "email"}}, event.AccountLinked,
			`{"account_id":"a1","identifier":{"kind":"email"}}`},
	} {
		t.Run(string(c.typ), func(t *testing.T) {
			b, err := json.Marshal(c.data)
			if err != nil || string(b) != c.want {
				t.Fatalf("got %s, %v; want %s", b, err, c.want)
			}
			if c.data.EventType() != c.typ {
				t.Fatalf("type %q, want %q", c.data.EventType(), c.typ)
			}
		})
	}
}
