package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
)

// startNode runs `beckon serve args...` and returns a function that stops
// it (also called when the test ends).
func startNode(t *testing.T, env map[string]string, args ...string) (base string, stop func()) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), envFunc(env), nil, io.Discard, logs) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(stop)
	base = "http://" + env["BECKON_ADDR"]
	eventually(t, "the node to come up", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base, stop
}

// backdate moves an invite's last send two hours back, so that it may be
// sent again without the test waiting the hour resends need.
func backdate(t *testing.T, e testenv.Engine, inviteID string) {
	t.Helper()
	driver, dsn := "pgx", e.DirectURL
	var at any = time.Now().UTC().Add(-2 * time.Hour)
	if path, ok := strings.CutPrefix(e.DirectURL, "sqlite://"); ok {
		driver, dsn, at = "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)", at.(time.Time).Format(time.RFC3339Nano)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := "UPDATE invites SET last_sent_at = ? WHERE id = ?"
	if driver == "pgx" {
		q = "UPDATE invites SET last_sent_at = $1 WHERE id = $2"
	}
	if _, err := db.Exec(q, at, inviteID); err != nil {
		t.Fatal(err)
	}
}

func inviteAs(t *testing.T, c client, inviter, to, chat string) string {
	t.Helper()
	code, m := c.do("POST", "/v1/invites", fmt.Sprintf(`{"inviter":%q,"identifier":%q,"chat":{"id":%q,"kind":"one_on_one"}}`, inviter, to, chat))
	if code != 201 {
		t.Fatalf("invite %s → %s: %d %v", inviter, to, code, m)
	}
	return m["id"].(string)
}

func seedInviters(t *testing.T, c client, names ...string) {
	t.Helper()
	if code, m := c.do("PUT", "/v1/tenants/contoso", `{"name":"Contoso","domains":["contoso.com"],"region":"FR","policy":{"invites_per_user_per_day":10000}}`); code != 200 {
		t.Fatalf("tenant: %d %v", code, m)
	}
	for _, n := range names {
		if code, m := c.do("PUT", "/v1/accounts/"+n, fmt.Sprintf(`{"tenant_id":"contoso","display_name":%q,"identifiers":["%s@contoso.com"]}`, n, n)); code != 200 {
			t.Fatalf("account %s: %d %v", n, code, m)
		}
	}
}

// mailsTo counts the emails the SMTP server got for addr.
func mailsTo(m *testenv.SMTPServer, addr string) int {
	n := 0
	for _, mail := range m.Mails() {
		if mail.To[0] == addr {
			n++
		}
	}
	return n
}

// TestConsentAtSend shows, through the binary, that consent is read when a
// message is sent: a message queued before an unsubscribe is held back,
// and so are resends after it; held invites look sent to the inviter.
func TestConsentAtSend(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		mailer := testenv.StartSMTP(t)
		env := inviteEnv(t, e, mailer.Addr)
		key := createKey(t, env, "directory,invite,resolve")

		base, stop := startNode(t, env)
		c := client{t: t, base: base, key: key}
		seedInviters(t, c, "alice", "carol", "mallory")
		inviteAs(t, c, "carol", "x@example.net", "chat_1")
		eventually(t, "carol's email", func() bool { return mailsTo(mailer, "x@example.net") == 1 })
		link := linkRE.FindString(mailer.Mails()[0].Raw)
		stop()

		// An API-only node queues alice's and mallory's invites; then x
		// unsubscribes with the one-click POST of a mail provider.
		base, stop = startNode(t, env, "--workers=false")
		c.base = base
		queued := inviteAs(t, c, "alice", "x@example.net", "chat_2")
		inviteAs(t, c, "mallory", "x@example.net", "chat_3")
		if d := delivery(c, queued); d != "queued" {
			t.Fatalf("delivery %s on an API-only node", d)
		}
		// As RFC 8058 says a mail provider SHOULD post it: multipart/form-data.
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		_ = mw.WriteField("List-Unsubscribe", "One-Click")
		mw.Close()
		resp, err := http.Post(strings.Replace(link, "https://beckon.test", base, 1)+"/unsubscribe", mw.FormDataContentType(), &form)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("one-click unsubscribe: %v %v", err, resp)
		}
		resp.Body.Close()
		stop()

		// Workers start: the queued messages are held, and look sent.
		base, _ = startNode(t, env)
		c.base = base
		eventually(t, "alice's invite to look sent", func() bool { return delivery(c, queued) == "sent" })
		backdate(t, e, queued)
		if code, m := c.do("POST", "/v1/invites/"+queued+"/resend", ""); code != 202 {
			t.Fatalf("resend: %d %v", code, m)
		}
		eventually(t, "the resend to look sent", func() bool { return delivery(c, queued) == "sent" })
		time.Sleep(300 * time.Millisecond)
		if n := mailsTo(mailer, "x@example.net"); n != 1 {
			t.Fatalf("x got %d emails after unsubscribing; want only the first", n)
		}
	})
}

// TestCapsHoldOnEveryPath: the per-recipient daily cap (3 here) counts
// resends too, and resends are charged to the inviter's daily quota.
func TestCapsHoldOnEveryPath(t *testing.T) {
	mailer := testenv.StartSMTP(t)
	e := testenv.SQLite(t)
	env := inviteEnv(t, e, mailer.Addr)
	env["BECKON_INVITE_LIMIT_PER_RECIPIENT"] = "3/d"
	key := createKey(t, env, "directory,invite")
	base, _ := startNode(t, env)
	c := client{t: t, base: base, key: key}
	inviters := []string{"a1", "a2", "a3", "a4", "a5"}
	seedInviters(t, c, inviters...)
	var ids []string
	for _, who := range inviters {
		ids = append(ids, inviteAs(t, c, who, "popular@example.net", "chat_"+who))
	}
	for _, id := range ids {
		eventually(t, "each invite to look sent", func() bool { return delivery(c, id) == "sent" })
	}
	for _, id := range ids {
		backdate(t, e, id)
		if code, m := c.do("POST", "/v1/invites/"+id+"/resend", ""); code != 202 {
			t.Fatalf("resend: %d %v", code, m)
		}
	}
	for _, id := range ids {
		eventually(t, "each resend to look sent", func() bool { return delivery(c, id) == "sent" })
	}
	if n := mailsTo(mailer, "popular@example.net"); n != 3 {
		t.Fatalf("popular@ got %d emails from 5 invites and 5 resends; the cap is 3 a day", n)
	}

	// A quota of 2 a day: two invites, then a resend is refused like a third.
	if code, m := c.do("PUT", "/v1/tenants/small", `{"name":"Small","region":"FR","policy":{"invites_per_user_per_day":2}}`); code != 200 {
		t.Fatalf("tenant: %d %v", code, m)
	}
	if code, m := c.do("PUT", "/v1/accounts/sam", `{"tenant_id":"small","display_name":"Sam"}`); code != 200 {
		t.Fatalf("account: %d %v", code, m)
	}
	first := inviteAs(t, c, "sam", "one@example.net", "c1")
	inviteAs(t, c, "sam", "two@example.net", "c2")
	backdate(t, e, first)
	if code, m := c.do("POST", "/v1/invites/"+first+"/resend", ""); code != 429 {
		t.Fatalf("a resend over the daily quota: %d %v", code, m)
	}
}
