package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
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
	// User and Pass, when set, are required (AUTH PLAIN) before MAIL.
	User, Pass string
	// TLS is set by StartSMTPS: "starttls" or "tls".
	TLS       string
	tlsConfig *tls.Config
	// CAFile is the PEM of the CA that signed the server's certificate.
	CAFile string

	mu       sync.Mutex
	srv      *smtp.Server
	mails    []Mail
	sessions int
	Reject   map[string]*smtp.SMTPError
	delay    time.Duration
}

// SetDelay makes the server take d to accept each message, as a remote
// server does: a worker then has a message on the wire most of the time.
func (s *SMTPServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// StartSMTP starts a plain server on a free port; it stops with the test.
func StartSMTP(t testing.TB) *SMTPServer { return startSMTP(t, &SMTPServer{}) }

// StartSMTPS starts a server with TLS ("starttls" or "tls") under a new CA
// whose PEM is in CAFile, that requires AUTH PLAIN with user and pass.
func StartSMTPS(t testing.TB, mode, user, pass string) *SMTPServer {
	cfg, caFile := testTLS(t)
	return startSMTP(t, &SMTPServer{TLS: mode, tlsConfig: cfg, CAFile: caFile, User: user, Pass: pass})
}

func startSMTP(t testing.TB, s *SMTPServer) *SMTPServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.t, s.Addr, s.Reject = t, ln.Addr().String(), map[string]*smtp.SMTPError{}
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// testTLS makes a CA and a certificate for 127.0.0.1 signed by it.
func testTLS(t testing.TB) (*tls.Config, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Beckon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}, caFile
}

func (s *SMTPServer) serve(ln net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = s.TLS == ""
	srv.TLSConfig = s.tlsConfig
	if s.TLS == "tls" {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
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
	srv    *SMTPServer
	authed bool
	from   string
	to     []string
}

// AuthMechanisms implements smtp.AuthSession.
func (x *smtpSession) AuthMechanisms() []string {
	if x.srv.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (x *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.srv.User || pass != x.srv.Pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		x.authed = true
		return nil
	}), nil
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if x.srv.User != "" && !x.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
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
	delay := x.srv.delay
	x.srv.mu.Unlock()
	time.Sleep(delay)
	x.srv.mu.Lock()
	x.srv.mails = append(x.srv.mails, m)
	x.srv.mu.Unlock()
	return nil
}
