package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // "none", "starttls" or "tls"
	Username string
	Password string
	From     string
	Timeout  time.Duration
	// CAFile, if set, is a PEM file of the CAs that sign the server's
	// certificate (an internal relay); otherwise the system's roots.
	CAFile string
}

// ParseSMTPURL reads smtp://user:pass@host:port?tls=none|starttls|tls.
// The default TLS mode is starttls (mandatory); the default port is 587,
// or 465 with tls=tls.
func ParseSMTPURL(raw, from string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return SMTPConfig{}, fmt.Errorf("BECKON_SMTP_URL must look like smtp://user:pass@host:port?tls=starttls")
	}
	c := SMTPConfig{Host: u.Hostname(), TLS: u.Query().Get("tls"), From: from, Timeout: 15 * time.Second}
	if c.TLS == "" {
		c.TLS = "starttls"
	}
	if c.TLS != "none" && c.TLS != "starttls" && c.TLS != "tls" {
		return c, fmt.Errorf("BECKON_SMTP_URL: tls is none, starttls or tls")
	}
	c.Port = 587
	if c.TLS == "tls" {
		c.Port = 465
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil {
			return c, fmt.Errorf("BECKON_SMTP_URL: bad port")
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	return c, nil
}

// SMTP sends email with go-mail over one connection that it keeps open
// between batches and opens again after a failure.
type SMTP struct {
	cfg    SMTPConfig
	client *mail.Client
}

var _ Sender = (*SMTP)(nil)

// NewSMTP returns a sender; it connects on first use.
func NewSMTP(cfg SMTPConfig) *SMTP { return &SMTP{cfg: cfg} }

func (s *SMTP) connect(ctx context.Context) error {
	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(s.cfg.Timeout)}
	if s.cfg.TLS != "none" {
		tc := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
		if s.cfg.CAFile != "" {
			pem, err := os.ReadFile(s.cfg.CAFile)
			if err != nil {
				return fmt.Errorf("smtp CA file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return Permanentf("smtp CA file %s holds no PEM certificate", s.cfg.CAFile)
			}
		}
		opts = append(opts, mail.WithTLSConfig(tc))
	}
	switch s.cfg.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		opts = append(opts, mail.WithSSL())
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	c, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return Permanentf("smtp client: %v", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	s.client = c
	return nil
}

// build turns a message into a MIME message: text and HTML alternatives,
// a Message-ID, and RFC 8058 one-click unsubscribe headers.
func (s *SMTP) build(m Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return nil, Permanentf("from address: %v", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, Permanentf("recipient address: %v", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	if m.Unsubscribe != "" {
		msg.SetGenHeader(mail.HeaderListUnsubscribe, "<"+m.Unsubscribe+">")
		msg.SetGenHeader(mail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	return msg, nil
}

// Send implements Sender. SMTP 5xx answers are permanent; 4xx answers and
// network failures are transient.
func (s *SMTP) Send(ctx context.Context, msgs []Message) []Outcome {
	out := make([]Outcome, len(msgs))
	built := make([]*mail.Msg, 0, len(msgs))
	index := make([]int, 0, len(msgs))
	for i, m := range msgs {
		b, err := s.build(m)
		if err != nil {
			out[i].Err = err
			continue
		}
		built, index = append(built, b), append(index, i)
	}
	if len(built) == 0 {
		return out
	}
	if s.client == nil {
		if err := s.connect(ctx); err != nil {
			for _, i := range index {
				out[i].Err = err
			}
			return out
		}
	}
	err := s.client.Send(built...)
	var se *mail.SendError
	if err != nil && errors.As(err, &se) && se.Reason == mail.ErrConnCheck {
		s.drop()
		for _, i := range index {
			out[i].Err = fmt.Errorf("smtp connection lost: %w", err)
		}
		return out
	}
	broken := false
	for j, b := range built {
		i := index[j]
		if !b.HasSendError() {
			out[i].ProviderID = b.GetMessageID()
			continue
		}
		out[i].Err = classify(b.SendError())
		broken = broken || !IsPermanent(out[i].Err)
	}
	if broken {
		s.drop() // a transient failure may have left the session unusable
	}
	return out
}

func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return Permanent(err)
	}
	return err
}

func (s *SMTP) drop() {
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// Close closes the connection.
func (s *SMTP) Close() error {
	s.drop()
	return nil
}
