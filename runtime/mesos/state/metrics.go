package state

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mesosnet/mesosnet/runtime/instrument"
)

// Metric names.
const (
	metricEvents           = "mesosnet_mesos_state_events_total"
	metricEventErrors      = "mesosnet_mesos_state_event_errors_total"
	metricNormalizeErrors  = "mesosnet_mesos_state_task_normalize_errors_total"
	metricTasks            = "mesosnet_mesos_state_tasks"
	metricAgents           = "mesosnet_mesos_state_agents"
	metricFrameworks       = "mesosnet_mesos_state_frameworks"
	metricRevision         = "mesosnet_mesos_state_revision"
	metricRecoveredPending = "mesosnet_mesos_state_recovered_agents_pending"
	metricConnected        = "mesosnet_mesos_state_connected"
	metricLastEvent        = "mesosnet_mesos_state_last_event_timestamp_seconds"
	metricCoalesced        = "mesosnet_mesos_state_notifications_coalesced_total"
)

// metrics are the collectors of a Store.
type metrics struct {
	events, eventErrors *prometheus.CounterVec
	normalizeErrors     prometheus.Counter
	published, waiting  prometheus.Gauge
	agents, frameworks  prometheus.Gauge
	revision            prometheus.Gauge
	recoveredPending    prometheus.Gauge
	connected           prometheus.Gauge
	lastEvent           prometheus.Gauge
	coalesced           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	tasks := instrument.Register(reg, "Mesos state", prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricTasks,
		Help: "Tasks held, by set: published (in snapshots) or waiting (agent or framework not known yet).",
	}, []string{"set"}))
	return &metrics{
		events: instrument.Register(reg, "Mesos state", prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricEvents,
			Help: "Mesos operator API events applied, by type (SUBSCRIBED and GET_STATE included).",
		}, []string{"type"})),
		eventErrors: instrument.Register(reg, "Mesos state", prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricEventErrors,
			Help: "Mesos events rejected as malformed or inconsistent with the state, by type.",
		}, []string{"type"})),
		normalizeErrors: instrument.Register(reg, "Mesos state", prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricNormalizeErrors,
			Help: "Task updates whose normalisation dropped bad data (e.g. an unparsable VIP label).",
		})),
		published: tasks.WithLabelValues("published"),
		waiting:   tasks.WithLabelValues("waiting"),
		agents: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricAgents,
			Help: "Registered Mesos agents in the current state.",
		})),
		frameworks: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricFrameworks,
			Help: "Registered Mesos frameworks in the current state.",
		})),
		revision: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricRevision,
			Help: "Revision of the latest published snapshot.",
		})),
		recoveredPending: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricRecoveredPending,
			Help: "Recovered agents still awaited after a Mesos failover; publication is held while non-zero (DCOS_OSS-5463).",
		})),
		connected: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricConnected,
			Help: "1 while the state follows a live Mesos connection, 0 while it serves the last known state.",
		})),
		lastEvent: instrument.Register(reg, "Mesos state", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricLastEvent,
			Help: "Unix time of the last Mesos event or snapshot received.",
		})),
		coalesced: instrument.Register(reg, "Mesos state", prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricCoalesced,
			Help: "Times a slow subscriber's pending notifications were replaced by one reset notification.",
		})),
	}
}
