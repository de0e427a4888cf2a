// Package smsguard keeps SMS invitations from being turned into money for
// someone else (SMS pumping, or toll fraud): numbers a fraudster controls
// never accept an invitation. It counts the SMS invitations sent to each
// destination prefix (country code and the first national digits) and the
// ones accepted, and when a prefix receives far more than usual while
// almost none are accepted, it stops SMS to that prefix for a while (a
// cool-off). It also keeps each tenant within a daily SMS budget. What it
// stops is held back as the consent gate holds a message (package invite):
// the invite exists and looks sent to the inviter. Its state is in the
// database, so every node sees the same counts; it imports neither
// net/http nor database/sql.
package smsguard

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Stats are one prefix's SMS invitations in the guard's windows.
type Stats struct {
	// Recent counts SMS sent or held in the recent window.
	Recent int
	// Baseline and BaselineAccepted count SMS sent (not held) and
	// acceptances in the baseline window before the recent one: the
	// prefix's normal.
	Baseline, BaselineAccepted int
	// Day and DayAccepted count SMS sent or held, and acceptances, in the
	// last day (24 hours, the current one included).
	Day, DayAccepted int
	// CoolUntil is the end of the prefix's cool-off (zero: none).
	CoolUntil time.Time
}

// Windows are where the windows of Stats start.
type Windows struct {
	Recent, Day, Baseline time.Time
}

// Count names a counter of a prefix's hour.
type Count string

// The counters.
const (
	CountSent     Count = "sent"
	CountHeld     Count = "held"
	CountAccepted Count = "accepted"
)

// Store keeps the guard's counts (store.DB implements it).
type Store interface {
	// SMSPrefixStats reads prefix's counts and cool-off.
	SMSPrefixStats(ctx context.Context, prefix string, w Windows) (Stats, error)
	// CountSMS adds one to a counter of prefix's hour.
	CountSMS(ctx context.Context, prefix string, hour time.Time, c Count) error
	// CoolOffPrefix stops SMS to prefix until a time (never shortening a
	// longer cool-off).
	CoolOffPrefix(ctx context.Context, prefix string, until, now time.Time) error
	// SpendSMS takes one SMS from tenantID's budget for day, atomically,
	// and reports whether one was left.
	SpendSMS(ctx context.Context, tenantID, day string, budget int) (bool, error)
	// PruneSMS forgets counts and cool-offs that no window reads any more.
	PruneSMS(ctx context.Context, hoursBefore time.Time, dayBefore string, now time.Time) error
}

// Thresholds decide when a prefix is pumped; docs/design.md explains each.
type Thresholds struct {
	// RecentHours is the recent window: the current hour and the ones
	// before it, RecentHours in all.
	RecentHours int
	// BaselineHours is the baseline window, before the recent one.
	BaselineHours int
	// MinRecent is the least number of recent SMS that may trip.
	MinRecent int
	// Surge is how many times the prefix's normal rate the recent rate
	// must reach.
	Surge float64
	// MaxAcceptRatio is the share of the day's SMS beyond the normal
	// that may be accepted and the prefix still count as "almost never
	// accepted".
	MaxAcceptRatio float64
}

// DefaultThresholds are the numbers Beckon runs with.
func DefaultThresholds() Thresholds {
	return Thresholds{RecentHours: 2, BaselineHours: 7 * 24, MinRecent: 30, Surge: 10, MaxAcceptRatio: 0.02}
}

// Pumped reports whether st shows a pumped prefix: at least MinRecent SMS
// recently, at least Surge times the normal rate (a prefix with little or
// no history is taken to normally get one SMS an hour), and the day's
// acceptances no more than the prefix's normal traffic explains plus
// MaxAcceptRatio of the day's SMS beyond the normal. Acceptances of the
// normal traffic do not hide a surge that nobody accepts.
func (t Thresholds) Pumped(st Stats) bool {
	perHour := max(float64(st.Baseline)/float64(t.BaselineHours), 1)
	if st.Recent < t.MinRecent || float64(st.Recent) < t.Surge*perHour*float64(t.RecentHours) {
		return false
	}
	excess := max(float64(st.Day)-perHour*24, 0)
	explained := float64(st.BaselineAccepted) / float64(t.BaselineHours) * 24
	return float64(st.DayAccepted) <= explained+t.MaxAcceptRatio*excess
}

// Why a message was held.
const (
	ReasonPrefix = "sms_prefix"
	ReasonBudget = "sms_tenant_budget"
)

// Config is what a Guard needs.
type Config struct {
	Store      Store
	Thresholds Thresholds
	// CoolOff is how long SMS to a pumped prefix stop.
	CoolOff time.Duration
	// TenantDailyBudget is how many SMS invitations a tenant may send a
	// UTC day; 0: no budget. Personal accounts have no tenant and no
	// budget (the per-country hourly limit and the prefix guard cover
	// them).
	TenantDailyBudget int
	Log               *slog.Logger
	// OnHeld, when set, counts a held message by reason; OnCoolOff counts
	// a prefix put in cool-off.
	OnHeld    func(reason string)
	OnCoolOff func()
	Now       func() time.Time
}

// DefaultCoolOff is how long SMS to a pumped prefix stop by default.
const DefaultCoolOff = 3 * time.Hour

// Guard decides which SMS invitations may go.
type Guard struct {
	cfg Config

	mu        sync.Mutex
	lastPrune time.Time
}

// New returns a Guard.
func New(cfg Config) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CoolOff <= 0 {
		cfg.CoolOff = DefaultCoolOff
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnHeld == nil {
		cfg.OnHeld = func(string) {}
	}
	if cfg.OnCoolOff == nil {
		cfg.OnCoolOff = func() {}
	}
	return &Guard{cfg: cfg}
}

// Prefix is the destination prefix of an E.164 number: "+", the country
// code and the first three national digits (two when the national number
// is shorter than nine digits), "" when number does not parse.
func Prefix(number string) string {
	n, err := phonenumbers.Parse(number, "")
	if err != nil {
		return ""
	}
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	k := 3
	if len(nsn) < 9 {
		k = 2
	}
	k = min(k, len(nsn))
	return fmt.Sprintf("+%d%s", n.GetCountryCode(), nsn[:k])
}

// Redact shows number's prefix and hides the rest of it, for logs.
func Redact(number string) string {
	p := Prefix(number)
	if p == "" || len(number) < len(p) {
		return "[number]"
	}
	return p + strings.Repeat("*", len(number)-len(p))
}

// Hold decides, once, when an SMS invitation of tenantID (empty for a
// personal account) to number is about to be sent, whether it is held
// back: its prefix is in cool-off or trips one now, or the tenant's budget
// for the day is spent. It counts the message as sent or held for its
// prefix, logs a held message with its number redacted and calls OnHeld.
// Errors: store errors.
func (g *Guard) Hold(ctx context.Context, tenantID, number string) (bool, error) {
	now := g.cfg.Now().UTC()
	prefix := Prefix(number)
	if prefix == "" {
		prefix = "?"
	}
	hour := now.Truncate(time.Hour)
	reason, err := g.reason(ctx, prefix, tenantID, now)
	if err != nil {
		return false, err
	}
	count := CountSent
	if reason != "" {
		count = CountHeld
	}
	if err := g.cfg.Store.CountSMS(ctx, prefix, hour, count); err != nil {
		return false, fmt.Errorf("count sms: %w", err)
	}
	if reason == "" {
		return false, nil
	}
	g.cfg.Log.Info("sms invitation held", "reason", reason, "to", Redact(number), "tenant", tenantID)
	g.cfg.OnHeld(reason)
	return true, nil
}

func (g *Guard) reason(ctx context.Context, prefix, tenantID string, now time.Time) (string, error) {
	t := g.cfg.Thresholds
	hour := now.Truncate(time.Hour)
	recent := hour.Add(-time.Duration(t.RecentHours-1) * time.Hour)
	w := Windows{Recent: recent, Day: hour.Add(-23 * time.Hour), Baseline: recent.Add(-time.Duration(t.BaselineHours) * time.Hour)}
	st, err := g.cfg.Store.SMSPrefixStats(ctx, prefix, w)
	if err != nil {
		return "", fmt.Errorf("sms prefix stats: %w", err)
	}
	if now.Before(st.CoolUntil) {
		return ReasonPrefix, nil
	}
	if t.Pumped(st) {
		until := now.Add(g.cfg.CoolOff)
		if err := g.cfg.Store.CoolOffPrefix(ctx, prefix, until, now); err != nil {
			return "", fmt.Errorf("cool off prefix: %w", err)
		}
		g.cfg.Log.Warn("sms prefix in cool-off: many invitations, almost none accepted", "prefix", prefix,
			"recent", st.Recent, "baseline", st.Baseline, "day", st.Day, "day_accepted", st.DayAccepted, "until", until)
		g.cfg.OnCoolOff()
		return ReasonPrefix, nil
	}
	if tenantID == "" || g.cfg.TenantDailyBudget <= 0 {
		return "", nil
	}
	ok, err := g.cfg.Store.SpendSMS(ctx, tenantID, now.Format(time.DateOnly), g.cfg.TenantDailyBudget)
	if err != nil {
		return "", fmt.Errorf("spend sms budget: %w", err)
	}
	if !ok {
		return ReasonBudget, nil
	}
	return "", nil
}

// Accepted counts an accepted SMS invitation to number for its prefix; it
// logs a failure as well as returning it. Errors: store errors.
func (g *Guard) Accepted(ctx context.Context, number string) error {
	prefix := Prefix(number)
	if prefix == "" {
		return nil
	}
	if err := g.cfg.Store.CountSMS(ctx, prefix, g.cfg.Now().UTC().Truncate(time.Hour), CountAccepted); err != nil {
		g.cfg.Log.Error("sms guard: an acceptance was not counted", "prefix", prefix, "error", err)
		return fmt.Errorf("count sms accepted: %w", err)
	}
	return nil
}

// Prune forgets what no window reads any more, at most once an hour per
// Guard (it does nothing otherwise). Run it now and then; any node may.
func (g *Guard) Prune(ctx context.Context) error {
	now := g.cfg.Now().UTC()
	g.mu.Lock()
	due := now.Sub(g.lastPrune) >= time.Hour
	if due {
		g.lastPrune = now
	}
	g.mu.Unlock()
	if !due {
		return nil
	}
	t := g.cfg.Thresholds
	keep := time.Duration(t.RecentHours+t.BaselineHours+24) * time.Hour
	return g.cfg.Store.PruneSMS(ctx, now.Truncate(time.Hour).Add(-keep), now.AddDate(0, 0, -2).Format(time.DateOnly), now)
}
