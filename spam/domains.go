package spam

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/fault"
)

// Domain is a bad link domain on the list ops keep.
type Domain struct {
	Name    string    `json:"domain"`
	AddedAt time.Time `json:"added_at"`
}

// DomainStore keeps the list of bad link domains; store.DB implements it.
type DomainStore interface {
	// SpamDomains lists the domains by name.
	SpamDomains(ctx context.Context) ([]Domain, error)
	// PutSpamDomain adds d unless its name is listed, and returns the
	// listed domain and whether it was added.
	PutSpamDomain(ctx context.Context, d Domain) (Domain, bool, error)
	// DeleteSpamDomain removes a domain and reports whether it was listed.
	DeleteSpamDomain(ctx context.Context, name string) (bool, error)
}

// DefaultDomainsTTL is how long a node trusts its copy of the list: a
// change made on another node applies here within this time.
const DefaultDomainsTTL = 5 * time.Second

// reloadTimeout bounds a read of the list; past it the old copy serves.
const reloadTimeout = 2 * time.Second

// Domains is the list of bad link domains, with a copy in memory that a
// node reads again after its TTL (a change on this node applies at once).
type Domains struct {
	store DomainStore
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex
	set    map[string]bool
	loaded time.Time
}

// NewDomains returns the list kept in st, read again every ttl (0:
// DefaultDomainsTTL). now is the clock (nil: time.Now).
func NewDomains(st DomainStore, ttl time.Duration, now func() time.Time) *Domains {
	if ttl <= 0 {
		ttl = DefaultDomainsTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Domains{store: st, ttl: ttl, now: now}
}

// ErrInvalidDomain is the fault of a name that is not a domain.
var ErrInvalidDomain = fault.New(fault.Invalid, fault.CodeInvalidDomain, "domain",
	"domain is a host name such as example.com (an internationalised name is taken in either form), or an IPv4 address")

// ParseDomain returns the listed form of a domain name as the link reader
// (Links) would meet it: lower-case ASCII, punycode for an
// internationalised name, without a trailing dot; a numeric host in any
// form a browser reads (2130706433, 0x7f.1, 127.1) as its dotted IPv4
// address. A single label (a whole top-level domain, such as zip) is
// accepted. A name no link can have is refused rather than listed to
// match nothing: labels of letters, digits, '-' (not at either end) and
// '_', a last label of letters or xn--. Errors: Invalid invalid_domain.
func ParseDomain(name string) (string, error) {
	s := strings.TrimSuffix(strings.TrimSpace(clean(name)), ".")
	if s == "" || len(s) > 253 || strings.ContainsAny(s, "/:@?# ") {
		return "", ErrInvalidDomain
	}
	if ip, ok := ipv4(s); ok {
		return ip, nil // listed as links read it: 010.0.0.1 is 8.0.0.1
	}
	h, err := lookup.ToASCII(s)
	if err != nil && !ascii(h) {
		return "", ErrInvalidDomain
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !validLabel(l) || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", ErrInvalidDomain
		}
	}
	if tld := labels[len(labels)-1]; !letters(tld) && !strings.HasPrefix(tld, "xn--") {
		return "", ErrInvalidDomain
	}
	return h, nil
}

// List returns the listed domains by name.
func (d *Domains) List(ctx context.Context) ([]Domain, error) {
	return d.store.SpamDomains(ctx)
}

// Put lists a domain (again: no change) and returns it. Errors: Invalid
// invalid_domain.
func (d *Domains) Put(ctx context.Context, name string) (Domain, error) {
	n, err := ParseDomain(name)
	if err != nil {
		return Domain{}, err
	}
	out, added, err := d.store.PutSpamDomain(ctx, Domain{Name: n, AddedAt: d.now().UTC()})
	if added {
		d.forget()
	}
	return out, err
}

// Delete takes a domain off the list; one not listed is no error.
// Errors: Invalid invalid_domain.
func (d *Domains) Delete(ctx context.Context, name string) error {
	n, err := ParseDomain(name)
	if err != nil {
		return err
	}
	removed, err := d.store.DeleteSpamDomain(ctx, n)
	if removed {
		d.forget()
	}
	return err
}

// forget drops this node's copy so that the next check reads the list.
func (d *Domains) forget() {
	d.mu.Lock()
	d.loaded = time.Time{}
	d.mu.Unlock()
}

// Bad reports whether host (as Links returns it) is a listed domain or a
// subdomain of one. The copy in memory is read again when older than the
// TTL; if that read fails the old copy serves until the next try, and a
// node that never read the list returns the error.
func (d *Domains) Bad(ctx context.Context, host string) (bool, error) {
	set, err := d.current(ctx)
	if err != nil {
		return false, err
	}
	for h := host; ; {
		if set[h] {
			return true, nil
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return false, nil
		}
		h = h[i+1:]
	}
}

func (d *Domains) current(ctx context.Context) (map[string]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.set != nil && !d.loaded.IsZero() && now.Sub(d.loaded) < d.ttl {
		return d.set, nil
	}
	// The read serves every check waiting on the lock, not only this
	// one: a request that ends meanwhile does not cut it short.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	list, err := d.store.SpamDomains(rctx)
	if err != nil {
		if d.set != nil {
			d.loaded = now // try again after the TTL, not on every check
			return d.set, nil
		}
		return nil, fmt.Errorf("bad domains: %w", err)
	}
	set := make(map[string]bool, len(list))
	for _, x := range list {
		set[x.Name] = true
	}
	d.set, d.loaded = set, now
	return set, nil
}
