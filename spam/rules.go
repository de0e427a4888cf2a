package spam

import (
	"context"
	"time"
)

// Store is what the built-in rules read and write; store.DB implements it.
// Each method is one transaction.
type Store interface {
	// SenderAccepted reports whether anyone ever accepted a request from
	// sender or an invitation of theirs.
	SenderAccepted(ctx context.Context, sender string) (bool, error)
	// ClaimRecipient reports whether sender may write to recipient: yes
	// when sender has a request with recipient or claimed it since;
	// otherwise yes, claiming it at now, when sender claimed fewer than
	// upTo other recipients since, and no when upTo or more. Claims of one
	// sender are made one at a time on every node, so that exactly upTo
	// new recipients pass under any concurrency.
	ClaimRecipient(ctx context.Context, sender, recipient string, now, since time.Time, upTo int) (bool, error)
	// RecordFingerprint keeps fp for the pair (sender, recipient) as seen
	// at now, and returns how many distinct recipients sender sent a text
	// sharing a band with fp since, the recipient included, counting no
	// further than upTo.
	RecordFingerprint(ctx context.Context, sender, recipient string, fp Fingerprint, now, since time.Time, upTo int) (int, error)
	// PruneSpam deletes the fingerprints and the claims seen before
	// before and returns how many.
	PruneSpam(ctx context.Context, before time.Time) (int64, error)
}

// The names of the built-in rules, as /metrics labels them.
const (
	RuleBadDomain     = "bad_domain"
	RuleHistory       = "history"
	RuleLinks         = "links_unaccepted"
	RuleNewRecipients = "new_recipients"
	RuleNearDuplicate = "near_duplicate"
)

// Limits are the thresholds of the built-in rules (docs/design.md says why
// each is what it is).
type Limits struct {
	// DuplicateRecipients is how many distinct recipients may get the same
	// or nearly the same text from one sender within DuplicateWindow; the
	// next one is spam.
	DuplicateRecipients int
	DuplicateWindow     time.Duration
	// NewRecipients is how many recipients a sender may start a request
	// with within NewRecipientWindow; a message to one more is spam.
	NewRecipients      int
	NewRecipientWindow time.Duration
}

// DefaultLimits are the thresholds when nothing else is configured.
func DefaultLimits() Limits {
	return Limits{DuplicateRecipients: 5, DuplicateWindow: time.Hour, NewRecipients: 20, NewRecipientWindow: time.Hour}
}

// OrDefaults returns l with DefaultLimits' values for a threshold or a
// window that is not set (zero or less).
func (l Limits) OrDefaults() Limits {
	d := DefaultLimits()
	if l.DuplicateRecipients <= 0 || l.DuplicateWindow <= 0 {
		l.DuplicateRecipients, l.DuplicateWindow = d.DuplicateRecipients, d.DuplicateWindow
	}
	if l.NewRecipients <= 0 || l.NewRecipientWindow <= 0 {
		l.NewRecipients, l.NewRecipientWindow = d.NewRecipients, d.NewRecipientWindow
	}
	return l
}

// Builtin returns the built-in rules, cheapest first: bad link domains
// (in memory), the sender's history (when reps is not nil; cached by the
// reputation service), links from a sender nobody accepted (one read, only
// when the text has a link), the rate of new recipients (one read, and one
// write for a new recipient), near duplicates (one write). Unset limits
// take DefaultLimits' values.
func Builtin(st Store, domains *Domains, reps Reputations, fp *Fingerprinter, l Limits) []Rule {
	l = l.OrDefaults()
	rules := []Rule{BadDomainRule{Domains: domains}}
	if reps != nil {
		rules = append(rules, HistoryRule{Reputations: reps})
	}
	return append(rules,
		LinksRule{Store: st},
		NewRecipientsRule{Store: st, Max: l.NewRecipients, Window: l.NewRecipientWindow},
		NearDuplicateRule{Store: st, Fingerprinter: fp, Max: l.DuplicateRecipients, Window: l.DuplicateWindow},
	)
}

// BadDomainRule: a link to a listed domain or one of its subdomains.
type BadDomainRule struct{ Domains *Domains }

// Name returns RuleBadDomain.
func (BadDomainRule) Name() string { return RuleBadDomain }

// Spam reports whether a link of m points to a listed domain.
func (r BadDomainRule) Spam(ctx context.Context, m *Message) (bool, error) {
	for _, h := range m.Links() {
		if bad, err := r.Domains.Bad(ctx, h); bad || err != nil {
			return bad, err
		}
	}
	return false, nil
}

// Reputations judge a sender by their history (package reputation:
// their recipients' declines, blocks and reports against acceptances).
type Reputations interface {
	// Bad reports whether the sender's history is bad.
	Bad(ctx context.Context, senderID string) (bool, error)
}

// HistoryRule: a sender whose history is bad (Reputations.Bad; the
// threshold is the reputation's own, see docs/design.md).
type HistoryRule struct{ Reputations Reputations }

// Name returns RuleHistory.
func (HistoryRule) Name() string { return RuleHistory }

// Spam reports whether m's sender has a bad history.
func (r HistoryRule) Spam(ctx context.Context, m *Message) (bool, error) {
	return r.Reputations.Bad(ctx, m.Sender)
}

// MaxLinksUnaccepted is how many links a pre-acceptance message from a
// sender nobody has accepted may carry: none.
const MaxLinksUnaccepted = 0

// LinksRule: links from a sender whom nobody has ever accepted (no
// request from them, no invitation of theirs accepted).
type LinksRule struct{ Store Store }

// Name returns RuleLinks.
func (LinksRule) Name() string { return RuleLinks }

// Spam reports whether m has more than MaxLinksUnaccepted links while
// nobody ever accepted its sender. Without links it reads nothing.
func (r LinksRule) Spam(ctx context.Context, m *Message) (bool, error) {
	if len(m.Links()) <= MaxLinksUnaccepted {
		return false, nil
	}
	accepted, err := r.Store.SenderAccepted(ctx, m.Sender)
	return !accepted, err
}

// NewRecipientsRule: a sender writing to more than Max new recipients
// within Window. A recipient is new when the sender has no request with
// them; the first message to one claims it (even if a later rule rejects
// it), and later messages to recipients the sender has a request with or
// claimed pass without counting.
type NewRecipientsRule struct {
	Store  Store
	Max    int
	Window time.Duration
}

// Name returns RuleNewRecipients.
func (NewRecipientsRule) Name() string { return RuleNewRecipients }

// Spam reports whether m goes to a new recipient while its sender already
// claimed Max within the window.
func (r NewRecipientsRule) Spam(ctx context.Context, m *Message) (bool, error) {
	ok, err := r.Store.ClaimRecipient(ctx, m.Sender, m.Recipient, m.Now, m.Now.Add(-r.Window), r.Max)
	return err == nil && !ok, err
}

// NearDuplicateRule: the same or nearly the same text from one sender to
// more than Max distinct recipients within Window. Texts too short for a
// fingerprint (MinFingerprintRunes) pass and store nothing.
type NearDuplicateRule struct {
	Store         Store
	Fingerprinter *Fingerprinter
	Max           int
	Window        time.Duration
}

// Name returns RuleNearDuplicate.
func (NearDuplicateRule) Name() string { return RuleNearDuplicate }

// Spam records the fingerprint of m's text for its pair and reports
// whether more than Max distinct recipients got a similar one within the
// window.
func (r NearDuplicateRule) Spam(ctx context.Context, m *Message) (bool, error) {
	fp, ok := r.Fingerprinter.Fingerprint(m.Text)
	if !ok {
		return false, nil
	}
	n, err := r.Store.RecordFingerprint(ctx, m.Sender, m.Recipient, fp, m.Now, m.Now.Add(-r.Window), r.Max+1)
	return err == nil && n > r.Max, err
}
