// Package auth holds API keys and their scopes. Keys are random, shown once
// when created, and stored only as a SHA-256 hash.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beckon-chat/beckon/fault"
)

// Scope is a permission an API key carries.
type Scope string

// The scopes of the contract.
const (
	ScopeResolve   Scope = "resolve"
	ScopeInvite    Scope = "invite"
	ScopeLink      Scope = "link"
	ScopeDirectory Scope = "directory"
	ScopeRequests  Scope = "requests"
	ScopeAdmin     Scope = "admin"
	ScopeTemplates Scope = "templates"
)

// AllScopes lists every scope.
func AllScopes() []Scope {
	return []Scope{ScopeResolve, ScopeInvite, ScopeLink, ScopeDirectory, ScopeRequests, ScopeAdmin, ScopeTemplates}
}

// Key is a stored API key; the secret itself is never kept.
type Key struct {
	ID        string
	Name      string
	Scopes    []Scope
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Has reports whether the key carries any of scopes.
func (k Key) Has(scopes ...Scope) bool {
	return slices.ContainsFunc(scopes, func(s Scope) bool { return slices.Contains(k.Scopes, s) })
}

// Store persists API keys.
type Store interface {
	// CreateKey stores a key under its hash; Conflict key_name_taken when an
	// active key has the name.
	CreateKey(ctx context.Context, k Key, hash string) error
	// ReplaceKey revokes the active key named k.Name, if there is one, and
	// stores k under its hash, in one transaction.
	ReplaceKey(ctx context.Context, k Key, hash string) error
	// KeyByHash returns the active key with hash, or NotFound.
	KeyByHash(ctx context.Context, hash string) (Key, error)
	Keys(ctx context.Context) ([]Key, error)
	// RevokeKey revokes the active key with name, or returns NotFound.
	RevokeKey(ctx context.Context, name string) error
}

const secretPrefix = "bk_"

// Hash returns the stored form of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ErrUnauthorized is returned for a missing, unknown or revoked key.
var ErrUnauthorized = fault.New(fault.Unauthorized, fault.CodeUnauthorized, "", "a valid API key is required: Authorization: Bearer <key>")

// scopeNames is AllScopes as text: "resolve, invite, …".
func scopeNames() string {
	names := make([]string, 0, len(AllScopes()))
	for _, sc := range AllScopes() {
		names = append(names, string(sc))
	}
	return strings.Join(names, ", ")
}

// ParseScopes parses a comma-separated scope list. Errors: fault Invalid
// invalid_scope naming the valid scopes, for an unknown scope or none.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		if sc == "" {
			continue
		}
		if !slices.Contains(AllScopes(), sc) {
			return nil, fault.Invalidf(fault.CodeInvalidScope, "scopes", "unknown scope %q; the scopes are %s", sc, scopeNames())
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fault.Invalidf(fault.CodeInvalidScope, "scopes", "give at least one scope of %s", scopeNames())
	}
	return out, nil
}

// Service creates, checks and revokes keys.
type Service struct {
	store Store
	now   func() time.Time
	ttl   time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key   Key
	until time.Time
}

// maxCached bounds the cache of authenticated keys.
const maxCached = 10_000

// NewService returns a key service; now is the clock. A successful
// authentication is remembered for cacheTTL (0: never), so a revocation
// reaches a running server within cacheTTL.
func NewService(store Store, now func() time.Time, cacheTTL time.Duration) *Service {
	return &Service{store: store, now: now, ttl: cacheTTL, cache: map[string]cachedKey{}}
}

// Create makes a key named name with scopes and returns it with its secret,
// which is never available again. Errors: fault Invalid invalid_name or
// invalid_scope, Conflict key_name_taken when an active key has the name.
func (s *Service) Create(ctx context.Context, name string, scopes []Scope) (Key, string, error) {
	return s.create(ctx, name, scopes, s.store.CreateKey)
}

// Replace is Create that first revokes the active key named name, if there
// is one, in the same transaction: its secret stops working (on running
// nodes, within their cache TTL) and the name gets a new one.
func (s *Service) Replace(ctx context.Context, name string, scopes []Scope) (Key, string, error) {
	return s.create(ctx, name, scopes, s.store.ReplaceKey)
}

func (s *Service) create(ctx context.Context, name string, scopes []Scope, save func(context.Context, Key, string) error) (Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return Key{}, "", fault.Invalidf(fault.CodeInvalidName, "name", "a key name is 1 to 100 characters")
	}
	if len(scopes) == 0 {
		return Key{}, "", fault.Invalidf(fault.CodeInvalidScope, "scopes", "give at least one scope of %s", scopeNames())
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, "", err
	}
	idRaw := make([]byte, 9)
	if _, err := rand.Read(idRaw); err != nil {
		return Key{}, "", err
	}
	k := Key{ID: "key_" + base64.RawURLEncoding.EncodeToString(idRaw), Name: name, Scopes: scopes, CreatedAt: s.now().UTC()}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	if err := save(ctx, k, Hash(secret)); err != nil {
		return Key{}, "", err
	}
	return k, secret, nil
}

// Authenticate returns the active key for secret, or ErrUnauthorized.
func (s *Service) Authenticate(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 100 {
		return Key{}, ErrUnauthorized
	}
	hash := Hash(secret)
	now := s.now()
	if s.ttl > 0 {
		s.mu.Lock()
		c, ok := s.cache[hash]
		s.mu.Unlock()
		if ok && now.Before(c.until) {
			return c.key, nil
		}
	}
	k, err := s.store.KeyByHash(ctx, hash)
	if f := fault.As(err); f != nil && f.Kind == fault.NotFound {
		return Key{}, ErrUnauthorized
	}
	if err != nil || s.ttl <= 0 {
		return k, err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[hash] = cachedKey{key: k, until: now.Add(s.ttl)}
	s.mu.Unlock()
	return k, nil
}

// List returns every key, revoked ones included.
func (s *Service) List(ctx context.Context) ([]Key, error) { return s.store.Keys(ctx) }

// Revoke revokes the active key named name.
func (s *Service) Revoke(ctx context.Context, name string) error { return s.store.RevokeKey(ctx, name) }
