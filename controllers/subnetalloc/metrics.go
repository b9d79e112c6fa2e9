package subnetalloc

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mesosnet/mesosnet/runtime/instrument"
)

// Results of a registration, the labels of
// mesosnet_subnetalloc_registrations_total.
const (
	resultCreated    = "created"     // a new agent got its allocation
	resultUpdated    = "updated"     // new overlays or a new hostname were recorded
	resultUnchanged  = "unchanged"   // the recorded agent got its record, nothing written
	resultInvalid    = "invalid"     // the request failed validation
	resultExhausted  = "exhausted"   // a range had no room left
	resultNotLeading = "not_leading" // no Run serving on this master
	resultFailed     = "failed"      // raft failed, or the caller gave up
)

// Reasons of a removal, the labels of mesosnet_subnetalloc_removals_total.
const (
	reasonGrace    = "grace"    // Mesos reported the agent gone longer than RemovedGrace ago
	reasonOperator = "operator" // Delete
)

// metrics are the controller's Prometheus metrics. A controller recreated on
// every leadership reuses the collectors registered the first time.
type metrics struct {
	registrations *prometheus.CounterVec
	allocations   prometheus.Counter
	removals      *prometheus.CounterVec
	conflicts     prometheus.Counter
	agents        prometheus.Gauge
	batchSize     prometheus.Histogram
	latency       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "mesosnet", "subnetalloc"
	m := &metrics{
		registrations: instrument.Register(reg, "subnetalloc registrations", prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "registrations_total",
			Help: "Agent registrations answered by this master's subnet allocator, by result (created, updated, unchanged, invalid, exhausted, not_leading, failed).",
		}, []string{"result"})),
		allocations: instrument.Register(reg, "subnetalloc allocations", prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_total",
			Help: "Agent allocations committed to raft: new agents, and agents that got subnets of newly configured overlays.",
		})),
		removals: instrument.Register(reg, "subnetalloc removals", prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "removals_total",
			Help: "Agent records deleted, by reason (grace: gone from Mesos for longer than the grace period; operator).",
		}, []string{"reason"})),
		conflicts: instrument.Register(reg, "subnetalloc conflicts", prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "conflicts_total",
			Help: "Writes of agent records rejected because the agents changed since they were read (another writer), then retried.",
		})),
		agents: instrument.Register(reg, "subnetalloc agents", prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "agents",
			Help: "Agent records in raft, as last read by this master's subnet allocator.",
		})),
		batchSize: instrument.Register(reg, "subnetalloc batch size", prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "batch_size",
			Help:    "Registrations handled together, with one read of raft and at most one write.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 to 512
		})),
		latency: instrument.Register(reg, "subnetalloc registration latency", prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "registration_duration_seconds",
			Help:    "Time to answer a registration, from its arrival to its answer, including the raft commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		})),
	}
	for _, r := range []string{resultCreated, resultUpdated, resultUnchanged, resultInvalid, resultExhausted, resultNotLeading, resultFailed} {
		m.registrations.WithLabelValues(r)
	}
	for _, r := range []string{reasonGrace, reasonOperator} {
		m.removals.WithLabelValues(r)
	}
	return m
}
