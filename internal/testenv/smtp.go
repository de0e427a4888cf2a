package testenv

import (
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Mail is a message the test SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Raw  string
	Msg  *mail.Message
	Body string
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) in the
// test process, on a fixed loopback address that it keeps across Stop and
// Start. Recipients listed in Reject get that SMTP error.
type SMTPServer struct {
	t    testing.TB
	Addr string

	mu       sync.Mutex
	srv      *smtp.Server
	mails    []Mail
	sessions int
	Reject   map[string]*smtp.SMTPError
}

// StartSMTP starts a server on a free port; it stops with the test.
func StartSMTP(t testing.TB) *SMTPServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{t: t, Addr: ln.Addr().String(), Reject: map[string]*smtp.SMTPError{}}
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *SMTPServer) serve(ln net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and every connection.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address.
func (s *SMTPServer) Start() {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		s.t.Fatalf("restart smtp: %v", err)
	}
	s.serve(ln)
}

// Mails returns the accepted messages.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Sessions returns how many SMTP connections were opened.
func (s *SMTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &smtpSession{srv: s}, nil
}

type smtpSession struct {
	srv  *SMTPServer
	from string
	to   []string
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.srv.mu.Lock()
	rej := x.srv.Reject[to]
	x.srv.mu.Unlock()
	if rej != nil {
		return rej
	}
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Mail{From: x.from, To: x.to, Raw: string(b)}
	if m.Msg, err = mail.ReadMessage(strings.NewReader(m.Raw)); err == nil {
		body, _ := io.ReadAll(m.Msg.Body)
		m.Body = string(body)
	}
	x.srv.mu.Lock()
	x.srv.mails = append(x.srv.mails, m)
	x.srv.mu.Unlock()
	return nil
}
