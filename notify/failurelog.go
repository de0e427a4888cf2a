package notify

import (
	"log/slog"
	"sync"
)

// FailureLog logs a background loop's failures once per run of failures:
// the first failure, then nothing until a round succeeds, which it logs as
// the recovery. A database restart is two lines, not one per round per
// worker. The zero value needs Log and What; it is safe for concurrent use
// by the workers of one loop.
type FailureLog struct {
	Log  *slog.Logger
	What string // "outbox round", "webhook round", ...

	mu      sync.Mutex
	failing bool
}

// Note records the outcome of a round: err nil is a success.
func (f *FailureLog) Note(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil && !f.failing:
		f.failing = true
		f.Log.Error(f.What+" failed; retrying, quietly until it works again", "err", err)
	case err == nil && f.failing:
		f.failing = false
		f.Log.Info(f.What + " works again")
	}
}
