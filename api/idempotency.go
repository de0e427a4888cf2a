package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/beckon-chat/beckon/fault"
)

// IdempotencyStore keeps responses for Idempotency-Key replays.
type IdempotencyStore interface {
	// IdempotencyClaim claims (keyID, idemKey) for a request with hash:
	// keptHash is "" when the caller claimed it and runs the request, else
	// the first request's hash with its response (status 0 while it runs).
	// A claim older than ttl is taken over.
	IdempotencyClaim(ctx context.Context, keyID, idemKey, hash string, ttl time.Duration) (keptHash string, status int, body string, err error)
	// IdempotencySave keeps the response of a claimed request.
	IdempotencySave(ctx context.Context, keyID, idemKey string, status int, body string) error
	// IdempotencyForget drops a claim, so that the request may run again.
	IdempotencyForget(ctx context.Context, keyID, idemKey string) error
}

// IdempotencyTTL is how long a key is remembered.
const IdempotencyTTL = 24 * time.Hour

var (
	errIdemReused = fault.New(fault.Unprocessable, fault.CodeIdempotencyKeyReused, "", "this Idempotency-Key was used with another request")
	errIdemInUse  = fault.New(fault.Conflict, fault.CodeIdempotencyKeyInUse, "", "a request with this Idempotency-Key is still running: retry shortly")
	errIdemKey    = fault.Invalidf(fault.CodeInvalidIdempotency, "", "an Idempotency-Key is 1 to 255 printable ASCII characters")
)

// recorder keeps what a handler writes.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent honours Idempotency-Key on a POST that creates something: the
// same key (per API key) with the same request within 24 h replays the
// first response and does nothing again; with another request it is 422
// idempotency_key_reused. A 5xx or 429 answer is not kept, so a retry runs.
func (s *Server) idempotent(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idemKey := r.Header.Get("Idempotency-Key")
		if idemKey == "" || s.idem == nil {
			h.ServeHTTP(w, r)
			return
		}
		if len(idemKey) > 255 || !printable(idemKey) {
			s.writeError(w, r, errIdemKey)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			s.writeError(w, r, decodeError(err))
			return
		}
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		hash := hex.EncodeToString(sum[:])
		keyID := infoFrom(r.Context()).key.ID
		keptHash, status, kept, err := s.idem.IdempotencyClaim(r.Context(), keyID, idemKey, hash, IdempotencyTTL)
		switch {
		case err != nil:
			s.writeError(w, r, err)
			return
		case keptHash != "" && keptHash != hash:
			s.writeError(w, r, errIdemReused)
			return
		case keptHash != "" && status == 0:
			s.writeError(w, r, errIdemInUse)
			return
		case keptHash != "":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, kept)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		ctx := context.WithoutCancel(r.Context())
		if rec.status >= 500 || rec.status == http.StatusTooManyRequests || rec.status == 0 {
			err = s.idem.IdempotencyForget(ctx, keyID, idemKey)
		} else {
			err = s.idem.IdempotencySave(ctx, keyID, idemKey, rec.status, rec.body.String())
		}
		if err != nil {
			s.log.ErrorContext(ctx, "keep idempotent response", "err", err)
		}
	})
}

// printable reports whether s is visible ASCII (and spaces).
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}
