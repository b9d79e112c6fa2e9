package raftstore

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus metrics. A nil *metrics records
// nothing, so an FSM used on its own needs none.
type metrics struct {
	isLeader      prometheus.Gauge
	appliedIndex  prometheus.Gauge
	failed        prometheus.Gauge
	applyDuration prometheus.Histogram
	rejections    *prometheus.CounterVec
	forwarded     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mesosnet_raft_is_leader",
			Help: "1 if this master is the raft leader, else 0.",
		}),
		appliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mesosnet_raft_applied_index",
			Help: "Raft index of the last log entry applied to the local state.",
		}),
		failed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mesosnet_raft_failed",
			Help: "1 if this master met a raft log entry it cannot decode and stopped applying the log.",
		}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mesosnet_raft_apply_duration_seconds",
			Help:    "Time from Apply to the command's result on this master, forwarding included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesosnet_raft_rejections_total",
			Help: "Committed commands the local state machine rejected, by reason. Every master counts every rejection.",
		}, []string{"reason"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mesosnet_raft_forwarded_total",
			Help: "Requests this master forwarded to the raft leader.",
		}),
	}
	for _, r := range []Reason{ReasonConflict, ReasonUnknownKind, ReasonInvalid} {
		m.rejections.WithLabelValues(string(r))
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.isLeader, m.appliedIndex, m.failed, m.applyDuration, m.rejections, m.forwarded}
}

// register registers the metrics on reg, undoing a partial registration on
// failure.
func (m *metrics) register(reg prometheus.Registerer) error {
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return fmt.Errorf("register metrics: %w", err)
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

func (m *metrics) rejected(r Reason) {
	if m != nil {
		m.rejections.WithLabelValues(string(r)).Inc()
	}
}

func (m *metrics) applied(index uint64) {
	if m != nil {
		m.appliedIndex.Set(float64(index))
	}
}

func (m *metrics) setFailed() {
	if m != nil {
		m.failed.Set(1)
	}
}

func (m *metrics) leader(v bool) {
	if m == nil {
		return
	}
	if v {
		m.isLeader.Set(1)
	} else {
		m.isLeader.Set(0)
	}
}
