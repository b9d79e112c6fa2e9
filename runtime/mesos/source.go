package mesos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

// Sink receives the Mesos event stream. Implementations must not block for long.
type Sink interface {
	// Subscribed starts a new stream: ev is the SUBSCRIBED snapshot, leader the leading master's
	// MasterInfo (from GET_MASTER; may be nil if unknown).
	Subscribed(ev *master.Event_Subscribed, leader *mesos.MasterInfo) error
	// Apply applies one event that followed SUBSCRIBED (HEARTBEAT is not passed).
	Apply(ev *master.Event) error
	// Disconnected reports that the current stream ended with err; the sink keeps its last state.
	Disconnected(err error)
}

// Defaults of SourceOptions.
const (
	DefaultInitialBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
	DefaultBackoffResetAfter = time.Minute
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultMissedHeartbeats  = 3
)

// maxUnknownEventTypesLoggedAtInfo bounds the memory of logUnknown against a
// master sending ever new types.
const maxUnknownEventTypesLoggedAtInfo = 64

// SourceOptions configures a Source. Zero values mean the defaults.
type SourceOptions struct {
	// Logger receives the source's logs; nil discards them.
	Logger *zap.Logger
	// Registerer, when set, gets the source's metrics (mesosnet_mesos_*).
	// NewSource panics if they are already registered there.
	Registerer prometheus.Registerer

	// InitialBackoff is the first reconnect delay (500 ms); each failure
	// doubles it up to MaxBackoff (30 s). Every delay is jittered to between
	// half and all of its value.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// BackoffResetAfter: a stream that lived at least this long (1 min)
	// resets the delay to InitialBackoff.
	BackoffResetAfter time.Duration
	// DefaultHeartbeatInterval is assumed when SUBSCRIBED announces none
	// (15 s), and while SUBSCRIBED itself is being received.
	DefaultHeartbeatInterval time.Duration
	// MissedHeartbeats is how many heartbeat intervals without any data
	// make the stream dead (3).
	MissedHeartbeats int

	// Rand returns a number in [0, 1) for the jitter; nil means
	// math/rand/v2.Float64.
	Rand func() float64
	// Now is the clock of stream lifetimes and the last-event metric; nil
	// means time.Now.
	Now func() time.Time
	// After waits before a reconnect; nil means time.After.
	After func(time.Duration) <-chan time.Time
}

func (o *SourceOptions) setDefaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.BackoffResetAfter <= 0 {
		o.BackoffResetAfter = DefaultBackoffResetAfter
	}
	if o.DefaultHeartbeatInterval <= 0 {
		o.DefaultHeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.MissedHeartbeats <= 0 {
		o.MissedHeartbeats = DefaultMissedHeartbeats
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
}

// Stream error reasons, the values of the reason label of
// mesosnet_mesos_stream_errors_total.
const (
	ReasonSubscribe  = "subscribe"       // SUBSCRIBE not accepted by any master
	ReasonHeartbeat  = "heartbeat"       // no data for MissedHeartbeats intervals
	ReasonTooLarge   = "frame_too_large" // frame over Config.MaxFrame
	ReasonMalformed  = "malformed"       // bad RecordIO header or event JSON
	ReasonProtocol   = "protocol"        // SUBSCRIBED missing or repeated
	ReasonEOF        = "eof"             // master closed the stream
	ReasonTruncated  = "truncated"       // master closed the stream inside a frame
	ReasonSink       = "sink"            // the sink refused the snapshot
	ReasonConnection = "connection"      // any other read error
)

// reason classifies the error that ended a stream.
func reason(err error) string {
	var (
		idle     *IdleTimeoutError
		tooLarge *recordio.FrameTooLargeError
	)
	switch {
	case errors.As(err, &idle):
		return ReasonHeartbeat
	case errors.As(err, &tooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrMalformedEvent), errors.Is(err, recordio.ErrInvalidHeader),
		errors.Is(err, recordio.ErrHeaderTooLong), errors.Is(err, recordio.ErrEmptyRecord):
		return ReasonMalformed
	case errors.Is(err, ErrNotSubscribed):
		return ReasonProtocol
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonTruncated
	case errors.Is(err, io.EOF):
		return ReasonEOF
	}
	return ReasonConnection
}

// metrics are the Prometheus metrics of a Source.
type metrics struct {
	subscriptions prometheus.Counter
	streamErrors  *prometheus.CounterVec
	events        *prometheus.CounterVec
	connected     prometheus.Gauge
	lastEvent     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		subscriptions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mesosnet", Subsystem: "mesos", Name: "subscriptions_total",
			Help: "SUBSCRIBE streams established with a Mesos master (SUBSCRIBED received).",
		}),
		streamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mesosnet", Subsystem: "mesos", Name: "stream_errors_total",
			Help: "Failed subscription attempts and lost Mesos streams, by reason.",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mesosnet", Subsystem: "mesos", Name: "events_total",
			Help: "Mesos events received, by type (\"unknown\" for types this build does not know).",
		}, []string{"type"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mesosnet", Subsystem: "mesos", Name: "connected",
			Help: "1 while a SUBSCRIBE stream with the leading Mesos master is up.",
		}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mesosnet", Subsystem: "mesos", Name: "last_event_timestamp_seconds",
			Help: "Unix time of the last Mesos event received (heartbeats included).",
		}),
	}
	for _, r := range []string{ReasonSubscribe, ReasonHeartbeat, ReasonTooLarge, ReasonMalformed,
		ReasonProtocol, ReasonEOF, ReasonTruncated, ReasonSink, ReasonConnection} {
		m.streamErrors.WithLabelValues(r) // export zeros, so rate() works from the start
	}
	if reg != nil {
		reg.MustRegister(m.subscriptions, m.streamErrors, m.events, m.connected, m.lastEvent)
	}
	return m
}

// Source keeps a SUBSCRIBE stream with the leading Mesos master and feeds it
// into a Sink, reconnecting with jittered exponential backoff whenever the
// stream fails.
type Source struct {
	client  *Client
	sink    Sink
	opts    SourceOptions
	log     *zap.Logger
	metrics *metrics

	running   atomic.Bool
	connected atomic.Bool
	// unknownLogged holds the unknown event types already logged at Info.
	unknownLogged map[string]bool
	// infoFrom is the URL of the master whose MasterInfo was last handed
	// to the sink, "" before any. Owned by Run.
	infoFrom string
}

// NewSource returns a Source that subscribes through client and feeds sink.
func NewSource(client *Client, sink Sink, opts SourceOptions) *Source {
	opts.setDefaults()
	return &Source{
		client:        client,
		sink:          sink,
		opts:          opts,
		log:           opts.Logger.Named("mesos"),
		metrics:       newMetrics(opts.Registerer),
		unknownLogged: make(map[string]bool),
	}
}

// Connected reports whether a stream is up (SUBSCRIBED received and handed to
// the sink, and not yet lost).
func (s *Source) Connected() bool { return s.connected.Load() }

// Leader returns the URL of the Mesos master that answered last, "" before
// any did.
func (s *Source) Leader() string { return s.client.Leader() }

// Run subscribes and feeds the sink until ctx is done, reconnecting forever;
// it then returns ctx's error. Run must not be called concurrently.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("mesos source already running")
	}
	defer s.running.Store(false)
	attempt := 0
	for {
		lived, subscribed, err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if subscribed && lived >= s.opts.BackoffResetAfter {
			attempt = 0
		}
		delay := s.backoff(attempt)
		attempt++
		if subscribed {
			s.log.Warn("Lost Mesos stream", zap.Error(err), zap.Duration("lived", lived), zap.Duration("retryIn", delay))
		} else {
			s.log.Warn("Failed to subscribe to Mesos master", zap.Error(err), zap.Duration("retryIn", delay))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.opts.After(delay):
		}
	}
}

// backoff returns the jittered delay before reconnect attempt n (from 0).
func (s *Source) backoff(n int) time.Duration {
	d := s.opts.InitialBackoff
	for range n {
		if d >= s.opts.MaxBackoff {
			break
		}
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return d/2 + time.Duration(s.opts.Rand()*float64(d/2))
}

// runOnce runs one subscription. It reports how long the stream lived after
// SUBSCRIBED, whether SUBSCRIBED was handed to the sink, and why it ended.
func (s *Source) runOnce(ctx context.Context) (lived time.Duration, subscribed bool, err error) {
	// The leader's identity is nice to have; the stream works without it.
	gm, gmEndpoint, gmErr := s.client.getMaster(ctx)

	st, err := s.client.Subscribe(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.metrics.streamErrors.WithLabelValues(ReasonSubscribe).Inc()
		}
		return 0, false, err
	}
	defer st.Close()
	st.SetIdleTimeout(time.Duration(s.opts.MissedHeartbeats) * s.opts.DefaultHeartbeatInterval)
	if (gmErr != nil || baseURL(gmEndpoint) != st.Master()) && s.infoFrom != "" && s.infoFrom != st.Master() {
		// The stream comes from another master than the sink's leader
		// info, which a nil leader would keep: ask the stream's master,
		// which the client now tries first.
		gm, gmEndpoint, gmErr = s.client.getMaster(ctx)
	}

	ev, err := st.Next()
	if err != nil {
		s.countStreamError(ctx, err)
		return 0, false, err
	}
	s.countEvent(ev)
	heartbeat := st.HeartbeatInterval()
	if heartbeat == 0 {
		heartbeat = s.opts.DefaultHeartbeatInterval
	}
	st.SetIdleTimeout(time.Duration(s.opts.MissedHeartbeats) * heartbeat)

	var leader *mesos.MasterInfo
	switch {
	case gmErr != nil:
		s.log.Warn("Failed to get leading Mesos master info", zap.Error(gmErr))
	case baseURL(gmEndpoint) != st.Master():
		// Leadership moved between the two calls: the info is stale.
		s.log.Info("Dropped stale Mesos leader info", zap.String("infoFrom", baseURL(gmEndpoint)), zap.String("leader", st.Master()))
	default:
		leader = gm.MasterInfo
	}
	if err := s.sink.Subscribed(ev.Subscribed, leader); err != nil {
		if ctx.Err() == nil {
			s.metrics.streamErrors.WithLabelValues(ReasonSink).Inc()
		}
		return 0, false, fmt.Errorf("hand SUBSCRIBED snapshot to sink: %w", err)
	}
	if leader != nil {
		s.infoFrom = st.Master()
	}
	start := s.opts.Now()
	s.connected.Store(true)
	s.metrics.connected.Set(1)
	s.metrics.subscriptions.Inc()
	agents, frameworks, tasks := snapshotSize(ev.Subscribed)
	s.log.Info("Subscribed to Mesos master", zap.String("leader", st.Master()),
		zap.Duration("heartbeatInterval", heartbeat), zap.Int("agents", agents),
		zap.Int("frameworks", frameworks), zap.Int("tasks", tasks))

	err = s.pump(st)
	s.connected.Store(false)
	s.metrics.connected.Set(0)
	lived = s.opts.Now().Sub(start)
	s.countStreamError(ctx, err)
	s.sink.Disconnected(err)
	return lived, true, err
}

// pump feeds the events after SUBSCRIBED into the sink until the stream
// fails, and returns why it did.
func (s *Source) pump(st *Stream) error {
	for {
		ev, err := st.Next()
		if err != nil {
			var unknown *UnknownEventError
			if !errors.As(err, &unknown) {
				return err
			}
			s.metrics.events.WithLabelValues("unknown").Inc()
			s.metrics.lastEvent.Set(unixSeconds(s.opts.Now()))
			s.logUnknown(unknown.Type)
			continue
		}
		s.countEvent(ev)
		if ev.Type == master.Event_HEARTBEAT {
			continue
		}
		if err := s.sink.Apply(ev); err != nil {
			s.log.Warn("Failed to apply Mesos event", zap.Stringer("eventType", ev.Type), zap.Error(err))
		}
	}
}

func (s *Source) logUnknown(typ string) {
	if s.unknownLogged[typ] || len(s.unknownLogged) >= maxUnknownEventTypesLoggedAtInfo {
		s.log.Debug("Skipped unknown Mesos event", zap.String("eventType", typ))
		return
	}
	s.unknownLogged[typ] = true
	s.log.Info("Skipped unknown Mesos event", zap.String("eventType", typ))
}

func (s *Source) countEvent(ev *master.Event) {
	s.metrics.events.WithLabelValues(ev.Type.String()).Inc()
	s.metrics.lastEvent.Set(unixSeconds(s.opts.Now()))
}

// countStreamError counts the end of a stream, unless Run is stopping.
func (s *Source) countStreamError(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	s.metrics.streamErrors.WithLabelValues(reason(err)).Inc()
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / float64(time.Second)
}

func snapshotSize(ev *master.Event_Subscribed) (agents, frameworks, tasks int) {
	gs := ev.GetState
	if gs == nil {
		return 0, 0, 0
	}
	if gs.GetAgents != nil {
		agents = len(gs.GetAgents.Agents)
	}
	if gs.GetFrameworks != nil {
		frameworks = len(gs.GetFrameworks.Frameworks)
	}
	if gs.GetTasks != nil {
		tasks = len(gs.GetTasks.Tasks)
	}
	return agents, frameworks, tasks
}
