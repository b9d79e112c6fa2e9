package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/mesosnet/mesosnet/runtime/instrument"
)

// Metric names. Every series carries the constant label controller=<name>.
const (
	metricReconcileTotal    = "mesosnet_controller_reconcile_total"
	metricReconcileDuration = "mesosnet_controller_reconcile_duration_seconds"
	metricQueueDepth        = "mesosnet_controller_queue_depth"
	metricQueueAdds         = "mesosnet_controller_queue_adds_total"
	metricQueueLatency      = "mesosnet_controller_queue_latency_seconds"
	metricQueueRetries      = "mesosnet_controller_queue_retries_total"
	metricUnfinishedWork    = "mesosnet_controller_queue_unfinished_work_seconds"
	metricLongestRunning    = "mesosnet_controller_queue_longest_running_processor_seconds"
)

// Values of the result label of reconcile_total.
const (
	resultSuccess = "success"
	resultError   = "error"
	resultPanic   = "panic"
	resultRequeue = "requeue"
)

// durationBuckets span 0.5ms (an in-memory snapshot) to ~16s (a large
// kernel sync or a slow raft apply).
var durationBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// metrics are one controller's collectors. They also serve as the
// workqueue.MetricsProvider of its queue, so queue metrics get the same
// names and labels as ours instead of workqueue's global provider.
type metrics struct {
	successes, errors, panics, requeues prometheus.Counter
	duration                            prometheus.Histogram

	depth          prometheus.Gauge
	adds           prometheus.Counter
	latency        prometheus.Histogram
	retries        prometheus.Counter
	unfinished     prometheus.Gauge
	longestRunning prometheus.Gauge
}

// newMetrics creates the collectors of controller name and registers them
// with reg, if not nil. Collectors already registered under the same name
// and controller label are reused.
func newMetrics(name string, reg prometheus.Registerer) *metrics {
	labels := prometheus.Labels{"controller": name}
	reconciles := instrument.Register(reg, "controller", prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        metricReconcileTotal,
		Help:        "Reconcile passes by result: success, error (including terminal errors), panic, requeue (success asking for a later pass).",
		ConstLabels: labels,
	}, []string{"result"}))
	m := &metrics{
		successes: reconciles.WithLabelValues(resultSuccess),
		errors:    reconciles.WithLabelValues(resultError),
		panics:    reconciles.WithLabelValues(resultPanic),
		requeues:  reconciles.WithLabelValues(resultRequeue),
		duration: instrument.Register(reg, "controller", prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        metricReconcileDuration,
			Help:        "Duration of reconcile passes.",
			ConstLabels: labels,
			Buckets:     durationBuckets,
		})),
		depth: instrument.Register(reg, "controller", prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        metricQueueDepth,
			Help:        "Keys waiting in the work queue (not counting delayed retries).",
			ConstLabels: labels,
		})),
		adds: instrument.Register(reg, "controller", prometheus.NewCounter(prometheus.CounterOpts{
			Name:        metricQueueAdds,
			Help:        "Keys added to the work queue (a key already waiting is not counted again).",
			ConstLabels: labels,
		})),
		latency: instrument.Register(reg, "controller", prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        metricQueueLatency,
			Help:        "Time a key waits in the work queue before a worker picks it up.",
			ConstLabels: labels,
			Buckets:     durationBuckets,
		})),
		retries: instrument.Register(reg, "controller", prometheus.NewCounter(prometheus.CounterOpts{
			Name:        metricQueueRetries,
			Help:        "Delayed additions to the work queue: retries after failures and requested requeues.",
			ConstLabels: labels,
		})),
		unfinished: instrument.Register(reg, "controller", prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        metricUnfinishedWork,
			Help:        "Sum of the ages of the reconcile passes in progress; growth means stuck workers.",
			ConstLabels: labels,
		})),
		longestRunning: instrument.Register(reg, "controller", prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        metricLongestRunning,
			Help:        "Age of the longest reconcile pass in progress.",
			ConstLabels: labels,
		})),
	}
	return m
}

// resetInFlight zeroes the gauges describing passes in progress, which the
// queue stops updating once it is shut down.
func (m *metrics) resetInFlight() {
	m.unfinished.Set(0)
	m.longestRunning.Set(0)
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (m *metrics) NewDepthMetric(string) workqueue.GaugeMetric { return m.depth }

// NewAddsMetric implements workqueue.MetricsProvider.
func (m *metrics) NewAddsMetric(string) workqueue.CounterMetric { return m.adds }

// NewLatencyMetric implements workqueue.MetricsProvider.
func (m *metrics) NewLatencyMetric(string) workqueue.HistogramMetric { return m.latency }

// NewWorkDurationMetric implements workqueue.MetricsProvider. The queue's
// work duration is the reconcile duration, already observed as
// reconcile_duration_seconds, so it is not recorded twice.
func (m *metrics) NewWorkDurationMetric(string) workqueue.HistogramMetric { return discard{} }

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (m *metrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return m.unfinished
}

// NewLongestRunningProcessorSecondsMetric implements workqueue.MetricsProvider.
func (m *metrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return m.longestRunning
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (m *metrics) NewRetriesMetric(string) workqueue.CounterMetric { return m.retries }

// discard is a metric that records nothing.
type discard struct{}

// Observe does nothing.
func (discard) Observe(float64) {}
