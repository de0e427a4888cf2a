// Package spam is the spam screen of the message-request gate: a list of
// rules, each a small test of a pre-acceptance message with a named
// threshold, then, optionally, an external classifier. The first rule that
// calls a message spam decides; the gate then rejects it (reason spam)
// without using the allowance. Texts are never stored: the near-duplicate
// rule keeps keyed fingerprints (Fingerprint) and nothing else.
package spam

import (
	"context"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/request"
)

// Message is a pre-acceptance message as the rules see it: the gate's
// message, the time of the check, and what is worked out from the text
// once for every rule.
type Message struct {
	request.Message
	Now time.Time

	links     []string
	linksRead bool
}

// Links returns the hosts of the links in the text (see Links), worked
// out on first use.
func (m *Message) Links() []string {
	if !m.linksRead {
		m.links, m.linksRead = Links(m.Text), true
	}
	return m.links
}

// Rule is one test of the screen. Name labels it in /metrics
// (beckon_spam_verdicts_total{rule=Name}); Spam reports whether the
// message is spam by this rule alone. A rule may record what it needs
// (the near-duplicate rule stores the fingerprint): it is asked only when
// every rule before it let the message pass.
type Rule interface {
	Name() string
	Spam(ctx context.Context, m *Message) (bool, error)
}

// Classifier is an external judge of a message, such as the HTTP hook
// (spam/hook). An error means it gave no answer (slow, down, garbage).
type Classifier interface {
	Spam(ctx context.Context, m request.Message) (bool, error)
}

// Verdict labels beyond the rules' names.
const (
	// VerdictNone: no rule and no classifier called the message spam.
	VerdictNone = "none"
	// VerdictHook: the external classifier called it spam.
	VerdictHook = "hook"
	// VerdictHookFailed: the classifier gave no answer and the screen
	// fails closed.
	VerdictHookFailed = "hook_failed"
)

// Config builds a Screen.
type Config struct {
	// Rules are asked in order; the first that calls a message spam
	// decides. Cheap rules (no database) go first.
	Rules []Rule
	// Hook, if not nil, is asked when no rule called the message spam.
	Hook Classifier
	// FailClosed: a message the hook gives no answer for is spam. Off
	// (the default): it passes.
	FailClosed bool
	// Observe, if not nil, is told the verdict of every message: the name
	// of the rule that called it spam, VerdictHook, VerdictHookFailed, or
	// VerdictNone.
	Observe func(verdict string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Screen is the spam screen; it implements request.Screen.
type Screen struct {
	cfg Config
}

var _ request.Screen = (*Screen)(nil)

// NewScreen returns a screen of cfg's rules and hook.
func NewScreen(cfg Config) *Screen {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	return &Screen{cfg: cfg}
}

// Spam asks the rules in order, then the hook, and reports whether the
// message is spam. A hook that fails lets the message pass, or calls it
// spam when the screen fails closed. Errors: a rule's (its store's).
func (s *Screen) Spam(ctx context.Context, rm request.Message) (bool, error) {
	m := &Message{Message: rm, Now: s.cfg.Now()}
	for _, r := range s.cfg.Rules {
		spam, err := r.Spam(ctx, m)
		if err != nil {
			return false, fmt.Errorf("rule %s: %w", r.Name(), err)
		}
		if spam {
			s.cfg.Observe(r.Name())
			return true, nil
		}
	}
	if s.cfg.Hook != nil {
		spam, err := s.cfg.Hook.Spam(ctx, rm)
		switch {
		case err != nil && s.cfg.FailClosed:
			s.cfg.Observe(VerdictHookFailed)
			return true, nil
		case err == nil && spam:
			s.cfg.Observe(VerdictHook)
			return true, nil
		}
	}
	s.cfg.Observe(VerdictNone)
	return false, nil
}
