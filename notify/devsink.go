package notify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DevSink is the development sender: it writes each message to a file in a
// folder and logs the invite link, so that the whole loop can be followed
// without an SMTP server or Twilio. It is the one place where a token is
// logged, and exists only when no real provider is configured.
type DevSink struct {
	Dir string
	Log *slog.Logger
}

var _ Sender = (*DevSink)(nil)

var linkRE = regexp.MustCompile(`https?://\S+/i/[A-Za-z0-9_-]+`)

// Send implements Sender.
func (d *DevSink) Send(_ context.Context, msgs []Message) []Outcome {
	out := make([]Outcome, len(msgs))
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		for i := range out {
			out[i].Err = fmt.Errorf("dev outbox: %w", err)
		}
		return out
	}
	for i, m := range msgs {
		name := fmt.Sprintf("%s-%06d-%s.txt", time.Now().UTC().Format("20060102T150405"), m.ID, m.Channel)
		var b strings.Builder
		fmt.Fprintf(&b, "To: %s\nChannel: %s\nKind: %s\n", m.To, m.Channel, m.Kind)
		if m.Subject != "" {
			fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
		}
		if m.Unsubscribe != "" {
			fmt.Fprintf(&b, "List-Unsubscribe: <%s>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n", m.Unsubscribe)
		}
		fmt.Fprintf(&b, "\n%s\n", m.Text)
		if m.HTML != "" {
			fmt.Fprintf(&b, "\n--- HTML ---\n%s\n", m.HTML)
		}
		path := filepath.Join(d.Dir, name)
		if err := writeAtomic(path, b.String()); err != nil {
			out[i].Err = fmt.Errorf("dev outbox: %w", err)
			continue
		}
		out[i].ProviderID = "dev:" + name
		d.Log.Info("dev sink: message written (no provider configured)", "file", path, "channel", m.Channel,
			"link", linkRE.FindString(m.Text))
	}
	return out
}

// Close implements Sender.
func (d *DevSink) Close() error { return nil }

// writeAtomic writes a file so that readers see all of it or nothing.
func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
