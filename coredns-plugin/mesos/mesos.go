// Package mesos is the CoreDNS plugin `mesos`: it serves the Mesos-DNS zone
// (`*.mesos`) and DC/OS's `dcos.thisdcos.directory` from an immutable,
// in-memory zone built from Mesos state, and optionally the Mesos-DNS HTTP
// API (/v1/hosts, /v1/services, /v1/axfr, ...) from the same zone; and,
// with the `cluster` option, the named VIPs of `l4lb.thisdcos.directory`
// (and its DC/OS aliases) from the mesosnet cluster API.
//
// The l4lb zone has its own source (ClusterSource: a watch of the VIP
// allocations, kind "vip"), goroutine, atomic pointer and reply cache; a
// query picks the zone by its origin. It is rebuilt from the whole VIP set
// after each change, coalescing bursts (see zone.L4LBBuilder).
//
// Design notes. A Source (the Mesos operator API directly, or the mesosnet
// cluster API) keeps a state.Store up to date and announces each published
// snapshot. One goroutine per plugin instance turns every notification into
// a zone with the zone.Builder (Build on a Reset, Update with the changed
// task keys otherwise) and swaps it into an atomic pointer. Queries load that
// pointer and answer from the zone alone: no query waits on the network or
// on a lock, and a query costs the reply message and, for an answer of
// several records, their rotated copy (the zone's record slices, and the
// additional sections it prepares for SRV records, are shared), or, once a
// name has been asked, a copy of its reply packed in the zone's reply cache
// (replycache.go), which is dropped with the zone.
// Until the first zone is built the plugin is not ready and answers SERVFAIL
// for its zones; when Mesos becomes unreachable it keeps serving the last
// zone and reports its age (metrics, /readyz of the API listener).
package mesos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// pluginName is the name of the plugin in Corefiles, logs and metrics.
const pluginName = "mesos"

// Mesos is the plugin handler.
type Mesos struct {
	Next plugin.Handler
	// Zones are the zones the plugin is authoritative for (normalised,
	// from its arguments or the server block).
	Zones []string
	// Fall holds the zones where an NXDOMAIN passes the query on to the
	// next plugin.
	Fall fall.F

	cfg     config
	origins []string
	builder *zone.Builder
	log     *zap.Logger
	now     func() time.Time
	// newSource creates the backend at start-up.
	newSource func() (Source, error)
	// metricLabels are the server and zone labels of this instance's
	// metrics.
	metricLabels [2]string

	zone atomic.Pointer[zone.Zone]
	// cache holds the packed replies of the zone being served (see
	// replycache.go); it is replaced on the first query of a new zone.
	cache atomic.Pointer[replyCache]
	// built is set once the builder has built a zone; only the goroutine
	// that calls apply uses it.
	built bool
	// updated is when the zone was last swapped, in Unix nanoseconds.
	updated atomic.Int64
	// apiAddr is the address the HTTP API listens on, once started.
	apiAddr atomic.Value

	// source is the running backend, for status reports; nil when
	// stopped or without master. An atomic, so that metrics and /readyz
	// never wait for start or stop.
	source atomic.Pointer[sourceRef]

	// The l4lb zone, fed by the cluster API (the `cluster` option); all
	// nil or empty without it. l4lbOrigins are its origins,
	// l4lbBuilder builds it (only followVIPs calls it), newVIPSource
	// creates the source at start-up, vipSource is the running one.
	l4lbOrigins  []string
	l4lbBuilder  *zone.L4LBBuilder
	newVIPSource func() (VIPSource, error)
	vipSource    atomic.Pointer[vipSourceRef]
	l4lb         atomic.Pointer[zone.Zone]
	l4lbCache    atomic.Pointer[replyCache]
	// l4lbUpdated is when the l4lb zone was last built, in Unix
	// nanoseconds.
	l4lbUpdated atomic.Int64

	// Set by start, cleared by stop.
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	api    *http.Server
}

// Name implements plugin.Handler.
func (m *Mesos) Name() string { return pluginName }

// Zone returns the zone being served, nil before the first load.
func (m *Mesos) Zone() *zone.Zone { return m.zone.Load() }

// start creates the source and begins following it, and starts the HTTP API
// when configured.
func (m *Mesos) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return errors.New("mesos plugin already started")
	}
	var src Source
	if len(m.cfg.masters) > 0 {
		var err error
		if src, err = m.newSource(); err != nil {
			return err
		}
	}
	var vsrc VIPSource
	if m.newVIPSource != nil {
		var err error
		if vsrc, err = m.newVIPSource(); err != nil {
			return err
		}
	}
	var api *http.Server
	var err error
	if m.cfg.api != "" {
		if api, err = m.serveAPI(); err != nil {
			return err
		}
	}
	if prev := instances.get(m.metricLabels); prev != nil {
		// A Corefile reload: serve the previous instance's zones until
		// this one has built its own, rather than SERVFAIL meanwhile.
		if z := prev.zone.Load(); z != nil && src != nil && reflect.DeepEqual(prev.cfg.zone, m.cfg.zone) {
			m.zone.Store(z)
			m.updated.Store(prev.updated.Load())
		}
		if z := prev.l4lb.Load(); z != nil && vsrc != nil && slices.Equal(z.Origins(), m.l4lbOrigins) {
			m.l4lb.Store(z)
			m.l4lbUpdated.Store(prev.l4lbUpdated.Load())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.cancel, m.done, m.api = cancel, done, api
	var wg sync.WaitGroup
	if src != nil {
		m.source.Store(&sourceRef{src})
		notes, unsubscribe := src.Subscribe()
		wg.Go(func() {
			if err := src.Run(ctx); err != nil {
				m.log.Error("Stopped following Mesos", zap.Error(err))
			}
		})
		wg.Go(func() {
			defer unsubscribe()
			m.follow(ctx, notes)
		})
	}
	if vsrc != nil {
		m.vipSource.Store(&vipSourceRef{vsrc})
		wg.Go(func() {
			if err := vsrc.Run(ctx); err != nil {
				m.log.Error("Stopped following the cluster API", zap.Error(err))
			}
		})
		wg.Go(func() { m.followVIPs(ctx, vsrc) })
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	instances.add(m)
	m.log.Info("Started", zap.Strings("zones", m.Zones), zap.Strings("l4lbZones", m.l4lbOrigins), zap.String("api", m.cfg.api))
	return nil
}

// stop ends what start began and waits for it.
func (m *Mesos) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel == nil {
		return nil
	}
	instances.remove(m)
	m.cancel()
	<-m.done
	var err error
	if m.api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = m.api.Shutdown(ctx); err != nil {
			err = fmt.Errorf("stop API listener %s: %w", m.cfg.api, err)
		}
	}
	m.source.Store(nil)
	m.vipSource.Store(nil)
	m.cancel, m.done, m.api = nil, nil, nil
	return err
}

// sourceRef boxes a Source for an atomic pointer.
type sourceRef struct{ Source }

// vipSourceRef boxes a VIPSource for an atomic pointer.
type vipSourceRef struct{ VIPSource }

// followVIPs rebuilds the l4lb zone after every update of src until ctx is
// done. Updates that arrive during a build coalesce into the next one.
func (m *Mesos) followVIPs(ctx context.Context, src VIPSource) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-src.Updates():
			if vips, ok := src.VIPs(); ok {
				m.applyVIPs(vips)
			}
		}
	}
}

// applyVIPs builds the l4lb zone of the whole set vips and swaps it in.
// Only followVIPs calls it (and tests, before start).
func (m *Mesos) applyVIPs(vips []v1.VIPAllocation) {
	start := m.now()
	prev := m.l4lb.Load()
	z := m.l4lbBuilder.Build(vips)
	end := m.now()
	clusterRebuildDuration.WithLabelValues(m.metricLabels[0], m.metricLabels[1]).Observe(end.Sub(start).Seconds())
	if z != prev {
		m.l4lb.Store(z)
	}
	m.l4lbUpdated.Store(end.UnixNano())
	if prev == nil {
		m.log.Info("Loaded the first l4lb zone", zap.Int("vips", len(vips)), zap.Int("names", z.Len()),
			zap.Uint32("serial", z.Serial()), zap.Duration("took", end.Sub(start)))
	}
}

// follow turns notifications into zones until ctx is done or the channel is
// closed.
func (m *Mesos) follow(ctx context.Context, notes <-chan state.Notification) {
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-notes:
			if !ok {
				return
			}
			m.apply(n)
		}
	}
}

// apply builds the zone of one notification and swaps it in. Only follow
// calls it (the Builder is not safe for concurrent use).
func (m *Mesos) apply(n state.Notification) {
	if n.Snapshot == nil {
		return
	}
	start := m.now()
	prev := m.zone.Load()
	var z *zone.Zone
	if n.Reset || !m.built {
		z = m.builder.Build(n.Snapshot)
	} else {
		z = m.builder.Update(n.Snapshot, n.Changed)
	}
	end := m.now()
	rebuildDuration.WithLabelValues(m.metricLabels[0], m.metricLabels[1]).Observe(end.Sub(start).Seconds())
	m.built = true
	m.zone.Store(z)
	m.updated.Store(end.UnixNano())
	if prev == nil {
		m.log.Info("Loaded the first zone", zap.Int("records", z.Len()), zap.Uint32("serial", z.Serial()),
			zap.Int("tasks", n.Snapshot.TaskCount()), zap.Duration("took", end.Sub(start)))
	}
}

// status is what the metrics and /readyz report about the zone.
type status struct {
	// Loaded is false before the first zone.
	Loaded  bool
	Records int
	Serial  uint32
	// Updated is when the zone was last rebuilt.
	Updated time.Time
	// Age is how long the zone may lag behind Mesos: zero while the
	// source is connected, else the time since it disconnected.
	Age    time.Duration
	Source SourceStatus
}

// clusterStatus is what the metrics and /readyz report about the l4lb zone.
type clusterStatus struct {
	// Loaded is false before the first zone.
	Loaded bool
	// VIPs is the number of VIPs served (allocations not orphaned).
	VIPs   int
	Serial uint32
	// Updated is when the zone was last rebuilt.
	Updated time.Time
	// Age is how long the zone may lag behind the cluster: zero while
	// the watch is connected, else the time since it disconnected.
	Age    time.Duration
	Source SourceStatus
}

// clusterStatus reports the l4lb zone and the cluster source state.
func (m *Mesos) clusterStatus() clusterStatus {
	var st clusterStatus
	if src := m.vipSource.Load(); src != nil {
		st.Source = src.Status()
	}
	z := m.l4lb.Load()
	if z == nil {
		return st
	}
	st.Loaded, st.Serial = true, z.Serial()
	st.VIPs = z.Len() / max(len(z.Origins()), 1) // one owner name per VIP and origin
	st.Updated = time.Unix(0, m.l4lbUpdated.Load())
	st.Age = m.age(st.Source, st.Updated)
	return st
}

// age is how long a zone updated at updated may lag behind a source in
// state src: zero while connected, else the time since it disconnected
// (since the update when it never connected).
func (m *Mesos) age(src SourceStatus, updated time.Time) time.Duration {
	if src.Connected {
		return 0
	}
	since := src.Since
	if since.IsZero() {
		since = updated
	}
	return max(m.now().Sub(since), 0)
}

// status reports the zone and source state.
func (m *Mesos) status() status {
	var st status
	if src := m.source.Load(); src != nil {
		st.Source = src.Status()
	}
	z := m.zone.Load()
	if z == nil {
		return st
	}
	st.Loaded, st.Records, st.Serial = true, z.Len(), z.Serial()
	st.Updated = time.Unix(0, m.updated.Load())
	st.Age = m.age(st.Source, st.Updated)
	return st
}
