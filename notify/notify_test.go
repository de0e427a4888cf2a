package notify

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 5: 80 * time.Second, 30: maxBackoff} {
		for i := 0; i < 50; i++ {
			got := Backoff(attempt)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("Backoff(%d) = %s; want %s ± 20%%", attempt, got, want)
			}
		}
	}
	var total time.Duration
	for a := 1; a < MaxAttempts; a++ {
		total += Backoff(a)
	}
	if total < 12*time.Hour || total > 36*time.Hour {
		t.Fatalf("retries span %s; want about a day", total)
	}
}

func TestAttempt(t *testing.T) {
	d := NewDispatcher(DispatcherConfig{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m := Message{ID: 7, Attempt: 1}
	if a := d.attempt(m, Outcome{ProviderID: "x"}); a.State != StateSent || a.ProviderID != "x" {
		t.Fatalf("%+v", a)
	}
	a := d.attempt(m, Outcome{Err: errors.New("450 mailbox busy for bob@example.org")})
	if a.State != StateRetry || a.RetryAt.Before(time.Now()) || strings.Contains(a.Reason, "bob@example.org") || !strings.Contains(a.Reason, "b***@example.org") {
		t.Fatalf("transient: %+v", a)
	}
	if a := d.attempt(m, Outcome{Err: Permanentf("550 no such user +33612345678")}); a.State != StateFailed || strings.Contains(a.Reason, "+33612345678") {
		t.Fatalf("permanent: %+v", a)
	}
	if a := d.attempt(Message{Attempt: MaxAttempts}, Outcome{Err: errors.New("timeout")}); a.State != StateFailed {
		t.Fatalf("out of attempts: %+v", a)
	}
}
