package mesos

import (
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
)

// metricLabels are the labels of every metric of the plugin: the server
// (dns://:53) and server block zone of the instance, as CoreDNS's own
// metrics.
var metricLabels = []string{"server", "zone"}

// rebuildDuration observes every zone build and update. Like CoreDNS's own
// vectors it is never reset, so a Corefile reload keeps its history.
var rebuildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "zone_rebuild_duration_seconds",
	Help:      "Time taken to build or update the zone from a Mesos state snapshot.",
	Buckets:   prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to 26s
}, metricLabels)

// clusterRebuildDuration observes every build of the l4lb zone.
var clusterRebuildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "cluster_zone_rebuild_duration_seconds",
	Help:      "Time taken to build the l4lb zone from the VIP allocations of the cluster API.",
	Buckets:   prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to 26s
}, metricLabels)

// Descriptions of the gauges computed at scrape time.
var (
	zoneRecordsDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "zone_records"),
		"Number of owner names in the zone being served.", metricLabels, nil)
	zoneAgeDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "zone_age_seconds"),
		"How long the zone being served may lag behind Mesos: 0 while the source is connected, else the time since it disconnected.",
		metricLabels, nil)
	lastUpdateDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "last_update_timestamp_seconds"),
		"Unix time of the last zone rebuild.", metricLabels, nil)
	sourceConnectedDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "source_connected"),
		"1 while the plugin's source follows a live Mesos stream, else 0.", metricLabels, nil)

	clusterVIPsDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "cluster_vips"),
		"Number of named VIPs served in the l4lb zone (allocations that are not orphaned).", metricLabels, nil)
	clusterAgeDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "cluster_zone_age_seconds"),
		"How long the l4lb zone may lag behind the cluster: 0 while the watch is connected, else the time since it disconnected.",
		metricLabels, nil)
	clusterLastUpdateDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "cluster_last_update_timestamp_seconds"),
		"Unix time of the last l4lb zone rebuild.", metricLabels, nil)
	clusterConnectedDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "cluster_connected"),
		"1 while the plugin follows a live watch stream of the cluster API, else 0.", metricLabels, nil)
)

// instances is the collector of the gauges: it reads the running plugin
// instances at scrape time, so the zone age is current and an instance that
// stopped leaves no series behind. During a Corefile reload the new
// instance replaces the old one under the same labels.
var instances = &registry{running: make(map[[2]string]*Mesos)}

// registry holds the running instances by their metric labels.
type registry struct {
	mu      sync.Mutex
	running map[[2]string]*Mesos
}

// add makes m the instance reported under its labels.
func (r *registry) add(m *Mesos) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[m.metricLabels] = m
}

// get returns the instance reported under labels, nil if none.
func (r *registry) get(labels [2]string) *Mesos {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[labels]
}

// remove stops reporting m, unless another instance took its labels.
func (r *registry) remove(m *Mesos) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[m.metricLabels] == m {
		delete(r.running, m.metricLabels)
	}
}

// Describe implements prometheus.Collector.
func (r *registry) Describe(ch chan<- *prometheus.Desc) {
	ch <- zoneRecordsDesc
	ch <- zoneAgeDesc
	ch <- lastUpdateDesc
	ch <- sourceConnectedDesc
	ch <- clusterVIPsDesc
	ch <- clusterAgeDesc
	ch <- clusterLastUpdateDesc
	ch <- clusterConnectedDesc
}

// Collect implements prometheus.Collector.
func (r *registry) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	running := make([]*Mesos, 0, len(r.running))
	for _, m := range r.running {
		running = append(running, m)
	}
	r.mu.Unlock()
	for _, m := range running {
		labels := m.metricLabels[:]
		if len(m.cfg.masters) > 0 {
			st := m.status()
			ch <- prometheus.MustNewConstMetric(sourceConnectedDesc, prometheus.GaugeValue, gauge(st.Source.Connected), labels...)
			if st.Loaded {
				ch <- prometheus.MustNewConstMetric(zoneRecordsDesc, prometheus.GaugeValue, float64(st.Records), labels...)
				ch <- prometheus.MustNewConstMetric(zoneAgeDesc, prometheus.GaugeValue, st.Age.Seconds(), labels...)
				ch <- prometheus.MustNewConstMetric(lastUpdateDesc, prometheus.GaugeValue, float64(st.Updated.UnixNano())/1e9, labels...)
			}
		}
		if m.l4lbBuilder != nil {
			st := m.clusterStatus()
			ch <- prometheus.MustNewConstMetric(clusterConnectedDesc, prometheus.GaugeValue, gauge(st.Source.Connected), labels...)
			if st.Loaded {
				ch <- prometheus.MustNewConstMetric(clusterVIPsDesc, prometheus.GaugeValue, float64(st.VIPs), labels...)
				ch <- prometheus.MustNewConstMetric(clusterAgeDesc, prometheus.GaugeValue, st.Age.Seconds(), labels...)
				ch <- prometheus.MustNewConstMetric(clusterLastUpdateDesc, prometheus.GaugeValue, float64(st.Updated.UnixNano())/1e9, labels...)
			}
		}
	}
}

// gauge returns 1 for true, 0 for false.
func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
