package app

import (
	"log/slog"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/reputation"
	"github.com/beckon-chat/beckon/smsguard"
	"github.com/beckon-chat/beckon/store"
	"github.com/prometheus/client_golang/prometheus"
)

// guards are the sender reputation and the SMS cost guard of a node, with
// their counters on /metrics. The counters are per node and, like all of
// /metrics, for operators only (docs/design.md): a message they stop
// still counts as sent in beckon_deliveries_total. They never move for
// the consent gate's holds (blocks, opt-outs, the per-recipient cap).
type guards struct {
	reputation *reputation.Service
	sms        *smsguard.Guard
	shrunk     prometheus.Counter
}

func newGuards(cfg Config, db *store.DB, metrics *api.Metrics, log *slog.Logger) (*guards, error) {
	suppressed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "beckon_sms_guard_suppressed_total",
		Help: "SMS invitations the SMS cost guard did not send, by reason (sms_prefix, sms_tenant_budget).",
	}, []string{"reason"})
	cooloffs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "beckon_sms_prefix_cooloffs_total",
		Help: "Destination prefixes put in cool-off: far more SMS invitations than usual, almost none accepted.",
	})
	shrunk := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "beckon_reputation_suppressed_total",
		Help: "Invitation messages not sent because their sender's reputation shrank their limits.",
	})
	for _, c := range []prometheus.Collector{suppressed, cooloffs, shrunk} {
		if err := metrics.Register(c); err != nil {
			return nil, err
		}
	}
	th := smsguard.DefaultThresholds()
	if cfg.SMSPrefixMinRecent > 0 {
		th.MinRecent = cfg.SMSPrefixMinRecent
	}
	for _, r := range []string{smsguard.ReasonPrefix, smsguard.ReasonBudget} {
		suppressed.WithLabelValues(r) // at zero from the start
	}
	return &guards{
		reputation: reputation.NewService(db, reputation.DefaultParams(), nil, cfg.ReputationCacheTTL),
		sms: smsguard.New(smsguard.Config{Store: db, Thresholds: th,
			CoolOff: cfg.SMSPrefixCoolOff, TenantDailyBudget: cfg.SMSTenantDailyBudget, Log: log,
			OnHeld: func(reason string) { suppressed.WithLabelValues(reason).Inc() }, OnCoolOff: cooloffs.Inc}),
		shrunk: shrunk,
	}, nil
}
