package main

import (
	"fmt"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/emersion/go-smtp"
)

var linkRE = regexp.MustCompile(`https://beckon\.test/i/[A-Za-z0-9_-]{43}`)

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func inviteEnv(t *testing.T, e testenv.Engine, smtpAddr string) map[string]string {
	return map[string]string{"BECKON_DATABASE_URL": e.URL, "BECKON_ADDR": freeAddr(t), "BECKON_PUBLIC_URL": "https://beckon.test",
		"BECKON_SMTP_URL": "smtp://" + smtpAddr + "?tls=none", "BECKON_MAIL_FROM": "Beckon <invites@beckon.test>",
		"BECKON_WORKERS": "2", "BECKON_INVITE_LIMIT_PER_INVITER": "1000/m", "BECKON_INVITE_LIMIT_PER_RECIPIENT": "1000/d",
		"BECKON_DEV_OUTBOX": t.TempDir()}
}

func seedInviter(t *testing.T, c client) {
	t.Helper()
	for _, s := range []struct{ path, body string }{
		{"/v1/tenants/contoso", `{"name":"Contoso","domains":["contoso.com"],"region":"FR","policy":{"invites_per_user_per_day":10000}}`},
		{"/v1/accounts/alice", `{"tenant_id":"contoso","display_name":"Alice <b>Martin</b>","identifiers":["alice@contoso.com"]}`},
	} {
		if code, m := c.do("PUT", s.path, s.body); code != 200 {
			t.Fatalf("%s: %d %v", s.path, code, m)
		}
	}
}

func sendInvite(t *testing.T, c client, to string) string {
	t.Helper()
	code, m := c.do("POST", "/v1/invites", fmt.Sprintf(`{"inviter":"alice","identifier":%q,"chat":{"id":"chat_77","kind":"one_on_one"}}`, to))
	if code != 201 {
		t.Fatalf("invite %s: %d %v", to, code, m)
	}
	return m["id"].(string)
}

func delivery(c client, id string) string {
	_, m := c.do("GET", "/v1/invites/"+id, "")
	s, _ := m["delivery"].(string)
	return s
}

func TestInviteByEmail(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e testenv.Engine) {
		mailer := testenv.StartSMTP(t)
		env := inviteEnv(t, e, mailer.Addr)
		key := createKey(t, env, "directory,invite,resolve")
		base, logs := startServer(t, env)
		c := client{t: t, base: base, key: key}
		seedInviter(t, c)

		id := sendInvite(t, c, "Bob@Example.org")
		eventually(t, "the email", func() bool { return len(mailer.Mails()) == 1 })
		m := mailer.Mails()[0]
		h := m.Msg.Header
		if m.To[0] != "bob@example.org" || !strings.Contains(m.From, "invites@beckon.test") || h.Get("Message-Id") == "" {
			t.Fatalf("envelope/headers: %v %v %v", m.From, m.To, h)
		}
		if !strings.Contains(h.Get("Subject"), "Alice Martin invited you") {
			t.Fatalf("subject %q", h.Get("Subject"))
		}
		if !strings.HasPrefix(h.Get("List-Unsubscribe"), "<https://beckon.test/i/") || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Fatalf("unsubscribe headers: %v", h)
		}
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if mt != "multipart/alternative" {
			t.Fatalf("content type %s", mt)
		}
		parts := map[string]bool{}
		mr := multipart.NewReader(strings.NewReader(m.Body), params["boundary"])
		for p, err := mr.NextPart(); err == nil; p, err = mr.NextPart() {
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			parts[ct] = true
		}
		if !parts["text/plain"] || !parts["text/html"] {
			t.Fatalf("parts %v", parts)
		}
		link := linkRE.FindString(m.Raw)
		if link == "" {
			t.Fatalf("no link in %s", m.Raw)
		}
		eventually(t, "delivery sent", func() bool { return delivery(c, id) == "sent" })
		if _, body := get(t, base+"/metrics"); !strings.Contains(body, `beckon_deliveries_total{channel="email",outcome="sent"} 1`) {
			t.Fatal("metrics lack the delivery")
		}
		if strings.Contains(logs.String(), strings.TrimPrefix(link, "https://beckon.test/i/")) || strings.Contains(logs.String(), "bob@example.org") {
			t.Fatal("the log holds the token or the address")
		}
	})
}

func TestEmailFaults(t *testing.T) {
	mailer := testenv.StartSMTP(t)
	mailer.Reject["bounce@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	env := inviteEnv(t, testenv.SQLite(t), mailer.Addr)
	key := createKey(t, env, "directory,invite")
	base, logs := startServer(t, env)
	c := client{t: t, base: base, key: key}
	seedInviter(t, c)

	t.Run("PermanentFailsOnce", func(t *testing.T) {
		id := sendInvite(t, c, "bounce@example.org")
		eventually(t, "delivery failed", func() bool { return delivery(c, id) == "failed" })
		if _, body := get(t, base+"/metrics"); !strings.Contains(body, `beckon_deliveries_total{channel="email",outcome="failed"} 1`) {
			t.Fatal("metrics lack the failed delivery")
		}
		if strings.Contains(logs.String(), "bounce@example.org") {
			t.Fatal("the address reached the log")
		}
	})
	t.Run("ConnectionReused", func(t *testing.T) {
		before := mailer.Sessions()
		for i := 0; i < 20; i++ {
			sendInvite(t, c, fmt.Sprintf("burst%d@example.org", i))
		}
		eventually(t, "20 emails", func() bool { return len(mailer.Mails()) >= 20 })
		if opened := mailer.Sessions() - before; opened > 2 {
			t.Fatalf("opened %d SMTP connections for a burst with 2 workers", opened)
		}
	})
	t.Run("ServerDownThenBack", func(t *testing.T) {
		// An account that blocked alice: its invite is held, and must look
		// like the others while the server is down, then sent with them.
		for _, s := range []struct{ method, path, body string }{
			{"PUT", "/v1/accounts/blk", `{"tenant_id":null,"display_name":"B","identifiers":["held@example.org"]}`},
			{"PUT", "/v1/accounts/blk/blocks/alice", ""},
		} {
			if code, m := c.do(s.method, s.path, s.body); code != 200 {
				t.Fatalf("%s: %d %v", s.path, code, m)
			}
		}
		mailer.Stop()
		sent := len(mailer.Mails())
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, sendInvite(t, c, fmt.Sprintf("later%d@example.org", i)))
		}
		ids = append(ids, sendInvite(t, c, "held@example.org"))
		time.Sleep(time.Second)
		for _, id := range ids {
			if d := delivery(c, id); d != "queued" {
				t.Fatalf("delivery %s while the server is down", d)
			}
		}
		mailer.Start()
		eventually(t, "the queued emails", func() bool { return len(mailer.Mails()) == sent+5 })
		for _, id := range ids {
			eventually(t, "sent", func() bool { return delivery(c, id) == "sent" })
		}
	})
}

func TestDevSink(t *testing.T) {
	env := map[string]string{"BECKON_DATABASE_URL": testenv.SQLite(t).URL, "BECKON_ADDR": freeAddr(t),
		"BECKON_PUBLIC_URL": "https://beckon.test", "BECKON_DEV_OUTBOX": t.TempDir()}
	key := createKey(t, env, "directory,invite")
	base, logs := startServer(t, env)
	c := client{t: t, base: base, key: key}
	seedInviter(t, c)
	sendInvite(t, c, "dev@example.org")
	sendInvite(t, c, "+33 6 12 34 56 78")
	var files []string
	eventually(t, "two files", func() bool {
		files, _ = filepath.Glob(filepath.Join(env["BECKON_DEV_OUTBOX"], "*.txt"))
		return len(files) == 2
	})
	for _, f := range files {
		b, _ := os.ReadFile(f)
		link := linkRE.FindString(string(b))
		if link == "" || !strings.Contains(logs.String(), link) {
			t.Fatalf("%s: link %q not in the file and the log:\n%s", f, link, b)
		}
	}
}
