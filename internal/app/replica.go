package app

import (
	"context"

	"github.com/beckon-chat/beckon/api"
	"github.com/beckon-chat/beckon/invite"
	"github.com/beckon-chat/beckon/resolver"
	"github.com/beckon-chat/beckon/store"
	"github.com/prometheus/client_golang/prometheus"
)

// openReplicas opens the read replicas of cfg.DatabaseReadURLs, if any,
// and returns the resolver that serves POST /v1/resolve and its batch
// (reading the replicas, and the primary when they are behind or down),
// a readiness check per replica and their metrics. Without replicas it
// returns primary (the resolver over the primary) and nothing else.
func (a *App) openReplicas(primary *resolver.Service) (*resolver.Service, []api.Check, []prometheus.Collector, error) {
	if len(a.cfg.DatabaseReadURLs) == 0 {
		return primary, nil, nil, nil
	}
	reps, err := store.OpenReplicas(a.DB, a.cfg.DatabaseReadURLs, store.ReplicaOptions{
		MaxConns: a.cfg.DBMaxConns, MaxLag: a.cfg.ReadMaxLag, Log: a.log})
	if err != nil {
		return nil, nil, nil, err
	}
	a.replicas = reps
	var checks []api.Check
	for i, st := range reps.Status() {
		checks = append(checks, api.Check{Name: st.Name, Probe: func(context.Context) (string, error) {
			switch s := reps.Status()[i].State; s {
			case store.ReplicaOK:
				return "ok", nil
			default:
				// The node still serves, from the primary: degraded,
				// not unready.
				return string(s) + ": resolve reads the primary", nil
			}
		}})
	}
	return resolver.NewService(reps, invite.Finder{Store: reps}), checks, []prometheus.Collector{replicaCollector{reps}}, nil
}

// replicaCollector exposes the replicas' state at each scrape.
type replicaCollector struct{ reps *store.Replicas }

var (
	replicaReadsDesc = prometheus.NewDesc("beckon_resolve_reads_total",
		"Queries made by resolve, by where they ran: replica, or primary (no replica caught up, or none usable).", []string{"source"}, nil)
	replicaStateDesc = prometheus.NewDesc("beckon_db_replica_state",
		"1 for the state of each read replica: ok (resolve reads it), lagging or unavailable (resolve reads the primary).", []string{"replica", "state"}, nil)
	replicaLagDesc = prometheus.NewDesc("beckon_db_replica_lag_seconds",
		"How long each read replica has been behind a write it has not replayed, as this node measured it.", []string{"replica"}, nil)
)

// Describe sends the descriptions of the replica metrics.
func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaReadsDesc
	ch <- replicaStateDesc
	ch <- replicaLagDesc
}

// Collect sends the replica metrics as they are now.
func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	onReplica, onPrimary := c.reps.Reads()
	ch <- prometheus.MustNewConstMetric(replicaReadsDesc, prometheus.CounterValue, float64(onReplica), "replica")
	ch <- prometheus.MustNewConstMetric(replicaReadsDesc, prometheus.CounterValue, float64(onPrimary), "primary")
	for _, st := range c.reps.Status() {
		for _, s := range []store.ReplicaState{store.ReplicaOK, store.ReplicaLagging, store.ReplicaDown} {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(replicaStateDesc, prometheus.GaugeValue, v, st.Name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(replicaLagDesc, prometheus.GaugeValue, st.Lag.Seconds(), st.Name)
	}
}
