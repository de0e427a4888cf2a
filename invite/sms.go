package invite

import (
	"context"
	"slices"
	"strings"

	"github.com/beckon-chat/beckon/resolver"
)

// SMS delivery states that end a message, as Twilio names them.
var (
	deliveredStates = []string{"delivered"}
	failedStates    = []string{"failed", "undelivered"}
	// stopWords are the replies that mean "no more messages" (Twilio's
	// standard opt-out keywords, and French ones).
	stopWords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT", "STOP SMS"}
	// startWords undo a stop, as Twilio's own opt-in keywords do with it.
	startWords = []string{"START", "UNSTOP", "YES"}
)

// SMSStatus records a delivery report for the SMS the provider knows as
// sid. Intermediate states (queued, sending, sent) change nothing.
func (s *Service) SMSStatus(ctx context.Context, sid, status string) error {
	switch {
	case slices.Contains(deliveredStates, status):
		return s.cfg.Store.ReportDelivery(ctx, sid, Delivered)
	case slices.Contains(failedStates, status):
		return s.cfg.Store.ReportDelivery(ctx, sid, Failed)
	}
	return nil
}

// InboundSMS handles a reply: a stop word unsubscribes the number from all
// invitations, a start word (Twilio lets the number through again then)
// undoes it. It reports whether it changed anything.
func (s *Service) InboundSMS(ctx context.Context, from, body string) (bool, error) {
	word := strings.ToUpper(strings.TrimSpace(body))
	stop, start := slices.Contains(stopWords, word), slices.Contains(startWords, word)
	if !stop && !start {
		return false, nil
	}
	id, err := resolver.NormalizePhone(from, "")
	if err != nil {
		return false, err
	}
	if start {
		return true, s.cfg.Store.Resubscribe(ctx, id)
	}
	return true, s.cfg.Store.Unsubscribe(ctx, id)
}
