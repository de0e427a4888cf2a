// Package hook asks an external classifier whether a pre-acceptance
// message is spam (BECKON_SPAM_HOOK_URL): a POST of the message as JSON,
// signed as the event webhook is (Beckon-Signature: t=<unix>,v1=<hex
// HMAC-SHA256 of "t.body">), answered with {"spam": true|false}. Anything
// else — slow, unreachable, a status other than 2xx, a body that is not
// that JSON or longer than MaxAnswerBytes — is a failure, counted; the
// screen decides what a failure means (spam.Config.FailClosed).
package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/beckon-chat/beckon/request"
	"github.com/beckon-chat/beckon/spam"
	"github.com/beckon-chat/beckon/webhook"
)

// Outcomes of a call, as /metrics labels them
// (beckon_spam_hook_calls_total{outcome}).
const (
	OutcomeSpam        = "spam"
	OutcomeHam         = "ham"
	OutcomeTimeout     = "timeout"
	OutcomeUnreachable = "unreachable"
	OutcomeBadStatus   = "bad_status"
	OutcomeBadAnswer   = "bad_answer"
)

// Outcomes lists every outcome.
func Outcomes() []string {
	return []string{OutcomeSpam, OutcomeHam, OutcomeTimeout, OutcomeUnreachable, OutcomeBadStatus, OutcomeBadAnswer}
}

// MaxAnswerBytes caps the answer read: {"spam": false} needs 15 bytes.
const MaxAnswerBytes = 4 << 10

// DefaultTimeout is the longest a call may take when Config says nothing:
// the chat backend waits for the check, and a classifier that needs more
// is treated as down.
const DefaultTimeout = 300 * time.Millisecond

// Config configures a Client.
type Config struct {
	URL    string
	Secret string
	// Timeout bounds a whole call (0: DefaultTimeout).
	Timeout time.Duration
	// Observe, if not nil, is told the outcome of every call.
	Observe func(outcome string)
}

// Client calls the hook; it implements spam.Classifier.
type Client struct {
	cfg  Config
	http *http.Client
}

var _ spam.Classifier = (*Client)(nil)

// New returns a client of cfg.URL.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // checks run concurrently: keep connections for them
	return &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Body is what the hook receives: the gate's message.
type Body struct {
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
}

type answer struct {
	Spam *bool `json:"spam"`
}

// Spam posts m to the hook and returns its answer. Errors: the call
// failed (its outcome is counted; the error says which).
func (c *Client) Spam(ctx context.Context, m request.Message) (bool, error) {
	spam, outcome, err := c.call(ctx, m)
	c.cfg.Observe(outcome)
	return spam, err
}

func (c *Client) call(ctx context.Context, m request.Message) (bool, string, error) {
	body, err := json.Marshal(Body{Sender: m.Sender, Recipient: m.Recipient, ChatID: m.ChatID, Text: m.Text})
	if err != nil {
		return false, OutcomeBadAnswer, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, OutcomeUnreachable, fmt.Errorf("spam hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Beckon-Spam-Hook/1")
	req.Header.Set("Beckon-Signature", webhook.Sign(c.cfg.Secret, time.Now(), body))
	resp, err := c.http.Do(req)
	if err != nil {
		return false, failure(err), fmt.Errorf("spam hook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswerBytes))
		return false, OutcomeBadStatus, fmt.Errorf("spam hook answered %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return false, failure(err), fmt.Errorf("spam hook: read answer: %w", err)
	}
	if len(raw) > MaxAnswerBytes {
		return false, OutcomeBadAnswer, fmt.Errorf("spam hook: answer longer than %d bytes", MaxAnswerBytes)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil || a.Spam == nil {
		return false, OutcomeBadAnswer, errors.New(`spam hook: the answer is not {"spam": true|false}`)
	}
	if *a.Spam {
		return true, OutcomeSpam, nil
	}
	return false, OutcomeHam, nil
}

// failure names a transport error: a timeout, or anything else that kept
// the answer from arriving.
func failure(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return OutcomeTimeout
	}
	return OutcomeUnreachable
}
