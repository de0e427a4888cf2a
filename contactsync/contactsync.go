// Package contactsync decides what a resolve costs the requester, as
// contact discovery does in messengers that let a backend re-check an
// address book every day: an identifier the requester looked up recently
// is free, a new one is charged. A backend re-checking the same contacts
// stays within its limits; a requester trying new numbers does not, and
// mixing old ones in does not make new ones cheaper.
//
// Only keyed hashes of (requester, normalised identifier) are kept
// (HMAC-SHA256 with a server secret), and only for a window after the last
// lookup. The package imports neither net/http nor database/sql: the
// storage is behind Store, the rate limiter behind the charge function the
// caller gives.
package contactsync

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/beckon-chat/beckon/resolver"
)

// DefaultWindow is how long a lookup keeps the next lookups of the same
// identifier by the same requester free (refreshed by each of them): 30
// days, so that a backend that syncs an address book daily, weekly or
// monthly pays once for each contact, while a scraper pays for every
// number it has not itself tried in the last month.
const DefaultWindow = 30 * 24 * time.Hour

// MinSecret is the shortest secret accepted, in bytes.
const MinSecret = 16

// keySize is how much of the HMAC is kept: 128 bits, ample against
// collisions among the rows of one database.
const keySize = 16

// pruneBatch is how many rows a prune deletes a transaction.
const pruneBatch = 5000

// Store keeps the keyed hashes of recent lookups.
type Store interface {
	// RememberLookups records, in one transaction, that each of keys
	// (distinct) was looked up at now, counts the fresh ones (no row, or
	// one last seen at or before expired) and calls charge with the count.
	// When charge returns an error, nothing is recorded and that error is
	// returned. A recent row needs rewriting only when last seen before
	// refresh. Of two transactions recording the same fresh key at once,
	// exactly one counts it (unless the first one is rolled back).
	RememberLookups(ctx context.Context, keys [][]byte, now, expired, refresh time.Time, charge func(fresh int) error) error
	// PruneLookups deletes the rows last seen before cutoff, batch rows a
	// transaction, and returns how many it deleted.
	PruneLookups(ctx context.Context, cutoff time.Time, batch int) (int, error)
}

// Config is what a Service needs.
type Config struct {
	Store Store
	// Secret keys the hashes; at least MinSecret bytes.
	Secret []byte
	// Window is how long after its last lookup an identifier stays free
	// for the requester; 0 means DefaultWindow.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, if not nil, is told the outcome of each use of the store
	// by Charge: nil, or the failure after which every entry was charged.
	Observe func(err error)
}

// Service charges resolves by what is new to each requester.
type Service struct {
	store   Store
	secret  []byte
	window  time.Duration
	now     func() time.Time
	observe func(error)
}

// New returns a Service. Errors: a secret shorter than MinSecret, a
// negative window.
func New(cfg Config) (*Service, error) {
	if len(cfg.Secret) < MinSecret {
		return nil, fmt.Errorf("contact sync secret: at least %d bytes", MinSecret)
	}
	if cfg.Window < 0 {
		return nil, errors.New("contact sync window: must not be negative")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observe == nil {
		cfg.Observe = func(error) {}
	}
	return &Service{store: cfg.Store, secret: cfg.Secret, window: cfg.Window, now: cfg.Now, observe: cfg.Observe}, nil
}

// Window returns how long a lookup keeps the next ones free.
func (s *Service) Window() time.Duration { return s.window }

// Key returns the keyed hash kept for requester's lookup of id: HMAC-SHA256
// with the secret of the requester and the canonical identifier, each
// length-prefixed so that no two pairs make the same input.
func (s *Service) Key(requester string, id resolver.Identifier) []byte {
	m := hmac.New(sha256.New, s.secret)
	for _, part := range []string{requester, string(id.Kind), id.Value} {
		var n [4]byte
		l := len(part)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return m.Sum(nil)[:keySize]
}

// Bill is what one resolve was charged.
type Bill struct {
	// Fresh are the distinct identifiers new to the requester, Known those
	// it looked up within the window (duplicates of a batch count as
	// known), Invalid the entries that were no identifier.
	Fresh, Known, Invalid int
	// Charged is what charge was called with.
	Charged int
	// Degraded says the store failed and every entry was charged.
	Degraded bool
	// StoreErr is the store's failure when Degraded.
	StoreErr error
}

// Charge charges requester for a resolve of ids (normalised; duplicates
// allowed) and of invalid entries that did not normalise: charge is called
// once, with the number of distinct identifiers the requester has not
// looked up within the window plus invalid, and the lookups are recorded
// only when it returns nil. Invalid entries are always charged: they are
// not remembered, so garbage gives no free probes. Known identifiers cost
// nothing, whatever they are mixed with. The error is charge's (a refusal),
// returned as it is; when the store fails, every entry is charged instead
// (as if all were new) and the Bill says so.
func (s *Service) Charge(ctx context.Context, requester string, ids []resolver.Identifier, invalid int, charge func(n int) error) (Bill, error) {
	now := s.now()
	keys := make([][]byte, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		k := s.Key(requester, id)
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	bill := Bill{Invalid: invalid, Charged: invalid}
	if len(keys) == 0 {
		return bill, charge(invalid)
	}
	called := false
	var refused error
	err := s.store.RememberLookups(ctx, keys, now, now.Add(-s.window), now.Add(-s.window/10), func(fresh int) error {
		called = true
		bill.Fresh, bill.Known, bill.Charged = fresh, len(ids)-fresh, fresh+invalid
		refused = charge(bill.Charged)
		return refused
	})
	if called {
		s.observe(nil)
		// Charged (or refused): a failure to commit after a charge only
		// means that these lookups are charged again next time.
		return bill, refused
	}
	s.observe(err)
	bill = Bill{Fresh: len(keys), Known: len(ids) - len(keys), Invalid: invalid, Charged: len(keys) + invalid, Degraded: true, StoreErr: err}
	return bill, charge(bill.Charged)
}

// Prune deletes the lookups older than the window and returns how many.
func (s *Service) Prune(ctx context.Context) (int, error) {
	return s.store.PruneLookups(ctx, s.now().Add(-s.window), pruneBatch)
}
