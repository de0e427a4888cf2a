package notify_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beckon-chat/beckon/internal/testenv"
	"github.com/beckon-chat/beckon/notify"
)

// TestSMTPModes sends through go-mail with STARTTLS and with implicit TLS,
// both with AUTH, to a real SMTP server whose CA comes from CAFile.
func TestSMTPModes(t *testing.T) {
	msg := notify.Message{ID: 1, Channel: "email", To: "bob@example.org", Subject: "Hi", Text: "text", HTML: "<p>html</p>"}
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			srv := testenv.StartSMTPS(t, mode, "beckon", "s3cret")
			cfg, err := notify.ParseSMTPURL("smtp://beckon:s3cret@"+srv.Addr+"?tls="+mode, "Beckon <no-reply@beckon.test>")
			if err != nil {
				t.Fatal(err)
			}
			cfg.CAFile, cfg.Timeout = srv.CAFile, 5*time.Second
			s := notify.NewSMTP(cfg)
			defer s.Close()
			if out := s.Send(context.Background(), []notify.Message{msg}); out[0].Err != nil || out[0].ProviderID == "" {
				t.Fatalf("send: %+v", out[0])
			}
			if n := len(srv.Mails()); n != 1 {
				t.Fatalf("%d mails", n)
			}

			cfg.Password = "wrong"
			bad := notify.NewSMTP(cfg)
			defer bad.Close()
			if out := bad.Send(context.Background(), []notify.Message{msg}); out[0].Err == nil {
				t.Fatal("a wrong password was accepted")
			}
			cfg.Password, cfg.CAFile = "s3cret", ""
			untrusted := notify.NewSMTP(cfg)
			defer untrusted.Close()
			if out := untrusted.Send(context.Background(), []notify.Message{msg}); out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "certificate") {
				t.Fatalf("an unknown CA was trusted: %+v", out[0])
			}
		})
	}
}

func TestParseSMTPURL(t *testing.T) {
	for raw, want := range map[string]string{
		"smtp://h.example":                   "h.example:587 starttls",
		"smtp://u:p@h.example:2525?tls=none": "h.example:2525 none",
		"smtp://h.example?tls=tls":           "h.example:465 tls",
	} {
		c, err := notify.ParseSMTPURL(raw, "x@y.z")
		if err != nil || c.Host+":"+strconv.Itoa(c.Port)+" "+c.TLS != want {
			t.Errorf("%s: %+v %v", raw, c, err)
		}
	}
	for _, bad := range []string{"http://h", "smtp://", "smtp://h?tls=maybe", "smtp://h:port"} {
		if _, err := notify.ParseSMTPURL(bad, "x@y.z"); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
