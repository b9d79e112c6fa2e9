package raftstore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/logging"
)

// PeerKind is the kind under which the store records the masters added at
// run time (key: the peer ID, value: the Peer as JSON), so that every master
// can map a leader's raft ID to its API address for forwarding.
const PeerKind = "raftPeer"

// Peer is a master of the raft cluster.
type Peer struct {
	// ID is the raft server ID, stable across restarts.
	ID string `json:"id"`
	// RaftAddress is the host:port peers dial for raft.
	RaftAddress string `json:"raftAddress"`
	// APIAddress is the host:port of the master's API, where followers
	// forward writes (see Handler).
	APIAddress string `json:"apiAddress"`
}

func (p Peer) validate() error {
	if p.ID == "" {
		return errors.New("empty peer ID")
	}
	if _, _, err := net.SplitHostPort(p.RaftAddress); err != nil {
		return fmt.Errorf("peer %s: raft address %q: %w", p.ID, p.RaftAddress, err)
	}
	if p.APIAddress != "" {
		if _, _, err := net.SplitHostPort(p.APIAddress); err != nil {
			return fmt.Errorf("peer %s: API address %q: %w", p.ID, p.APIAddress, err)
		}
	}
	return nil
}

// Config configures a Store. Zero durations and sizes take the defaults
// given per field, which are hashicorp/raft's.
type Config struct {
	// ID is this master's raft server ID. Required.
	ID string
	// DataDir holds the raft log and stable store (raft.db) and the
	// snapshots (snapshots/). Required; created if missing.
	DataDir string

	// RaftAddress is the host:port to listen on for raft when RaftListener
	// is nil.
	RaftAddress string
	// RaftListener, when set, is used instead of listening on RaftAddress.
	// The store owns it from Start on.
	RaftListener net.Listener
	// RaftAdvertise is the address peers dial. Empty means this master's
	// entry in Peers, or the listener's address.
	RaftAdvertise string
	// ServerTLS and ClientTLS, when set, secure the raft connections (see
	// NewStreamLayer); masters normally use mutual TLS.
	ServerTLS, ClientTLS *tls.Config

	// Peers is the initial cluster: 1, 3 or 5 masters including this one.
	// When the data dir holds no raft state (and Join is false) the cluster
	// is bootstrapped with them as voters; a master that has state never
	// bootstraps again. Peers also maps raft IDs to API addresses.
	Peers []Peer
	// Join starts a master that waits to be added with AddVoter instead of
	// bootstrapping; Peers then only serves as the address map.
	Join bool

	// Forwarder carries writes from a follower to the leader; nil means an
	// HTTPForwarder with http.DefaultClient.
	Forwarder Forwarder

	// Logger is the store's logger (raft logs through a child named
	// "raft"); nil discards logs.
	Logger *zap.Logger
	// Registerer, when set, receives the mesosnet_raft_ metrics; they are
	// unregistered on Shutdown.
	Registerer prometheus.Registerer

	// HeartbeatTimeout (1s), ElectionTimeout (1s), LeaderLeaseTimeout
	// (500ms) and CommitTimeout (50ms) are raft's timers; tests use
	// ~100-200ms. LeaderLeaseTimeout must not exceed HeartbeatTimeout.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	// MaxAppendEntries (64) bounds the entries per append RPC, and with it
	// how many concurrent Apply calls the leader groups into one disk write.
	MaxAppendEntries int
	// DisableApplyBatching turns off raft's grouping of concurrent Apply
	// calls (raft.Config.BatchApplyCh); for measurements.
	DisableApplyBatching bool
	// SnapshotThreshold (8192 entries), SnapshotInterval (2m), TrailingLogs
	// (10240) and SnapshotRetain (2) control log compaction.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	SnapshotRetain    int
	// NoSync skips fsync on the raft log: only for tests and benchmarks
	// that do not measure the disk.
	NoSync bool

	// WatchHistory (10,000 events) and WatchBuffer (1,024 events): see
	// FSMOptions.
	WatchHistory, WatchBuffer int
	// MaxCommandBytes (16 MiB) bounds an encoded command.
	MaxCommandBytes int

	// SkipLeadershipTransfer makes Shutdown of a leader skip handing
	// leadership over first, as a crash would; for failover tests.
	SkipLeadershipTransfer bool
}

func (c *Config) setDefaults() {
	d := raft.DefaultConfig()
	setDefault(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&c.ElectionTimeout, d.ElectionTimeout)
	setDefault(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDefault(&c.CommitTimeout, d.CommitTimeout)
	setDefault(&c.MaxAppendEntries, d.MaxAppendEntries)
	setDefault(&c.SnapshotThreshold, d.SnapshotThreshold)
	setDefault(&c.SnapshotInterval, d.SnapshotInterval)
	setDefault(&c.TrailingLogs, d.TrailingLogs)
	setDefault(&c.SnapshotRetain, 2)
	setDefault(&c.MaxCommandBytes, 16<<20)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Forwarder == nil {
		c.Forwarder = &HTTPForwarder{}
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) validate() error {
	if c.ID == "" {
		return errors.New("empty ID")
	}
	if c.DataDir == "" {
		return errors.New("empty data dir")
	}
	if c.RaftListener == nil && c.RaftAddress == "" {
		return errors.New("neither raft address nor raft listener set")
	}
	ids := map[string]bool{}
	addrs := map[string]bool{}
	self := false
	for _, p := range c.Peers {
		if err := p.validate(); err != nil {
			return err
		}
		if ids[p.ID] || addrs[p.RaftAddress] {
			return fmt.Errorf("peer %s (%s) listed twice", p.ID, p.RaftAddress)
		}
		ids[p.ID], addrs[p.RaftAddress] = true, true
		self = self || p.ID == c.ID
	}
	if !c.Join && len(c.Peers) > 0 {
		if n := len(c.Peers); n != 1 && n != 3 && n != 5 {
			return fmt.Errorf("%d peers: a cluster bootstraps with 1, 3 or 5 masters", n)
		}
		if !self {
			return fmt.Errorf("peers do not include this master %q", c.ID)
		}
	}
	return nil
}

// Store is the replicated object store of a mesosnet master: a raft node
// whose state machine is an FSM. Reads are served from the local replica;
// writes go to the leader, forwarded when this master is a follower.
type Store struct {
	cfg     Config
	log     *zap.Logger
	fsm     *FSM
	metrics *metrics

	mu      sync.Mutex // guards started and closed
	started bool
	closed  bool

	raft     *raft.Raft
	trans    *raft.NetworkTransport
	bolt     *raftboltdb.BoltStore
	observer *raft.Observer

	handler http.Handler
	leaders leadership
	// changed is closed and replaced whenever raft reports a new leader.
	changedMu sync.Mutex
	changed   chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a store that is not started yet: register the kinds, then
// call Start.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("raft store config: %w", err)
	}
	cfg.setDefaults()
	cfg.Peers = slices.Clone(cfg.Peers)
	s := &Store{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newMetrics(),
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	s.handler = s.newHandler()
	s.fsm = NewFSM(FSMOptions{Logger: cfg.Logger, WatchHistory: cfg.WatchHistory, WatchBuffer: cfg.WatchBuffer})
	s.fsm.metrics = s.metrics
	if err := s.fsm.RegisterKind(PeerKind, validatePeer); err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := s.metrics.register(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validatePeer(key string, value json.RawMessage) error {
	var p Peer
	if err := json.Unmarshal(value, &p); err != nil {
		return fmt.Errorf("decode peer: %w", err)
	}
	if p.ID != key {
		return fmt.Errorf("peer ID %q differs from key", p.ID)
	}
	return p.validate()
}

// RegisterKind makes kind storable, its values checked by validate (nil
// accepts any JSON value). Register every kind before Start, identically
// on every master: the validators are part of the replicated state machine.
func (s *Store) RegisterKind(kind string, validate ValidateFunc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("register kind %q: store already started", kind)
	}
	return s.fsm.RegisterKind(kind, validate)
}

// KindRegistry is where kinds are registered: a *Store or an *FSM. The
// controllers' RegisterKinds functions take one.
type KindRegistry interface {
	RegisterKind(kind string, validate ValidateFunc) error
}

var (
	_ KindRegistry = (*Store)(nil)
	_ KindRegistry = (*FSM)(nil)
)

// Start opens the data dir, starts raft and, on first start, bootstraps
// the cluster from Config.Peers.
func (s *Store) Start() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("start raft store: already started")
	}
	var cleanup []func() error
	defer func() {
		if err != nil {
			for _, c := range slices.Backward(cleanup) {
				_ = c()
			}
		}
	}()

	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("start raft store: %w", err)
	}
	hlog := newHCLog(s.log.Named("raft"))
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(s.cfg.DataDir, "raft.db"),
		// Fail instead of waiting forever when another process holds the
		// file lock.
		BoltOptions: &bbolt.Options{Timeout: time.Second},
		NoSync:      s.cfg.NoSync,
	})
	if err != nil {
		return fmt.Errorf("start raft store: open raft log: %w", err)
	}
	cleanup = append(cleanup, bolt.Close)
	logs, err := raft.NewLogCache(512, bolt)
	if err != nil {
		return fmt.Errorf("start raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, s.cfg.SnapshotRetain, hlog.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("start raft store: open snapshots: %w", err)
	}
	trans, err := s.transport(hlog.Named("transport"))
	if err != nil {
		return fmt.Errorf("start raft store: %w", err)
	}
	cleanup = append(cleanup, trans.Close)
	existing, err := raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		return fmt.Errorf("start raft store: read raft state: %w", err)
	}

	notify := make(chan bool, 1)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.ID)
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.CommitTimeout
	rc.MaxAppendEntries = s.cfg.MaxAppendEntries
	rc.BatchApplyCh = !s.cfg.DisableApplyBatching
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.NotifyCh = notify
	rc.Logger = hlog
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("start raft store: %w", err)
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, bolt, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft store: %w", err)
	}
	cleanup = append(cleanup, func() error { return r.Shutdown().Error() })

	switch {
	case existing:
		s.log.Info("Recovered raft state from the data dir", logging.RaftIndex(r.LastIndex()))
	case s.cfg.Join || len(s.cfg.Peers) == 0:
		s.log.Info("Started without raft state, waiting to be added to a cluster")
	default:
		var conf raft.Configuration
		for _, p := range s.cfg.Peers {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddress)})
		}
		if err := r.BootstrapCluster(conf).Error(); err != nil {
			return fmt.Errorf("start raft store: bootstrap: %w", err)
		}
		s.log.Info("Bootstrapped the raft cluster")
	}

	obsCh := make(chan raft.Observation, 16)
	s.observer = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(s.observer)
	s.raft, s.trans, s.bolt = r, trans, bolt
	s.started = true

	s.wg.Add(3)
	go s.watchLeadership(notify)
	go s.watchLeader(obsCh)
	go s.watchFailure()
	return nil
}

// transport returns raft's TCP transport, through StreamLayer when a
// listener or TLS is configured.
func (s *Store) transport(h hclog.Logger) (*raft.NetworkTransport, error) {
	advertise := s.cfg.RaftAdvertise
	if advertise == "" {
		for _, p := range s.cfg.Peers {
			if p.ID == s.cfg.ID {
				advertise = p.RaftAddress
			}
		}
	}
	var adv *net.TCPAddr
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, fmt.Errorf("resolve raft advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	tc := &raft.NetworkTransportConfig{MaxPool: 3, Timeout: 10 * time.Second, Logger: h}
	if s.cfg.RaftListener == nil && s.cfg.ServerTLS == nil && s.cfg.ClientTLS == nil {
		var advAddr net.Addr
		if adv != nil {
			advAddr = adv
		}
		t, err := raft.NewTCPTransportWithConfig(s.cfg.RaftAddress, advAddr, tc)
		if err != nil {
			return nil, fmt.Errorf("listen for raft on %s: %w", s.cfg.RaftAddress, err)
		}
		return t, nil
	}
	ln := s.cfg.RaftListener
	if ln == nil {
		l, err := net.Listen("tcp", s.cfg.RaftAddress)
		if err != nil {
			return nil, fmt.Errorf("listen for raft: %w", err)
		}
		ln = l
	}
	var advAddr net.Addr
	if adv != nil {
		advAddr = adv
	}
	stream := NewStreamLayer(ln, advAddr, s.cfg.ServerTLS, s.cfg.ClientTLS)
	if a, ok := stream.Addr().(*net.TCPAddr); !ok || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("raft address %s is not advertisable: set RaftAdvertise", stream.Addr())
	}
	tc.Stream = stream
	return raft.NewNetworkTransportWithConfig(tc), nil
}

// watchLeadership follows raft's "this node is leader" notifications.
func (s *Store) watchLeadership(notify <-chan bool) {
	defer s.wg.Done()
	for {
		select {
		case v := <-notify:
			s.leaders.set(v)
			s.metrics.leader(v)
			if v {
				s.log.Info("Became the raft leader")
			} else {
				s.log.Info("Lost raft leadership")
			}
		case <-s.stop:
			return
		}
	}
}

// watchLeader wakes operations waiting for a leader whenever raft reports
// a leader change.
func (s *Store) watchLeader(obs <-chan raft.Observation) {
	defer s.wg.Done()
	for {
		select {
		case o := <-obs:
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
				s.log.Debug("Observed a raft leader", logging.Peer(string(lo.LeaderID)))
			}
			s.changedMu.Lock()
			close(s.changed)
			s.changed = make(chan struct{})
			s.changedMu.Unlock()
		case <-s.stop:
			return
		}
	}
}

// watchFailure shuts the raft node down when the FSM stops: a replica
// that cannot apply the log must neither vote nor lead.
func (s *Store) watchFailure() {
	defer s.wg.Done()
	select {
	case <-s.fsm.Failed():
		s.log.Error("Shut down the raft node after the state machine stopped", zap.Error(s.fsm.Err()))
		if err := s.raft.Shutdown().Error(); err != nil {
			s.log.Error("Failed to shut down the raft node", zap.Error(err))
		}
	case <-s.stop:
	}
}

func (s *Store) leaderChanged() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

// running returns nil when raft is started and not shut down.
func (s *Store) running() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case !s.started:
		return ErrNotStarted
	}
	return nil
}

// Get returns the object (kind, key) from the local replica.
func (s *Store) Get(kind, key string) (Object, bool) { return s.fsm.Get(kind, key) }

// List returns the objects of kind from the local replica, sorted by key.
func (s *Store) List(kind string) []Object { return s.fsm.List(kind) }

// Index returns the raft index of the last entry applied locally: the
// revision of what Get, List and Watch return.
func (s *Store) Index() uint64 { return s.fsm.Index() }

// WaitIndex waits until the local replica has applied index, or ctx ends.
func (s *Store) WaitIndex(ctx context.Context, index uint64) error {
	for {
		st := s.fsm.root.Load()
		if st.index >= index {
			return nil
		}
		select {
		case <-st.next:
		case <-ctx.Done():
			return fmt.Errorf("wait for raft index %d (applied %d): %w", index, st.index, ctx.Err())
		}
	}
}

// Watch returns a watcher of the local replica's changes after fromIndex;
// see FSM.Watch. A master that is behind the client answers a fromIndex
// ahead of it with a reset at its own, lower, index: call WaitIndex first
// to avoid sending a client an older state than it has seen.
func (s *Store) Watch(fromIndex uint64) *Watcher { return s.fsm.Watch(fromIndex) }

// Err returns why this master stopped applying the raft log (an entry it
// cannot decode, typically written by a newer version), or nil. A failed
// master serves its last good state; report it unready.
func (s *Store) Err() error { return s.fsm.Err() }

// IsLeader reports whether this master is the raft leader.
func (s *Store) IsLeader() bool {
	return s.running() == nil && s.raft.State() == raft.Leader
}

// LeaderCh returns a channel that receives whether this master is the
// leader: the current value first, then every change. It never blocks
// raft: a reader that falls behind sees the changes compressed, but never
// misses a loss of leadership (it may miss a short leadership it would
// not have acted on). Leader-only work starts with Barrier. The channel is
// closed on Shutdown.
func (s *Store) LeaderCh() <-chan bool { return s.leaders.subscribe() }

// Leader returns the current leader as known locally.
func (s *Store) Leader() (Peer, bool) {
	if s.running() != nil {
		return Peer{}, false
	}
	addr, id := s.raft.LeaderWithID()
	if id == "" {
		return Peer{}, false
	}
	p := s.peer(string(id))
	p.RaftAddress = string(addr)
	return p, true
}

// peer returns what is known of the peer id: its record under PeerKind,
// else its entry in Config.Peers.
func (s *Store) peer(id string) Peer {
	if o, ok := s.fsm.Get(PeerKind, id); ok {
		var p Peer
		if err := json.Unmarshal(o.Value, &p); err == nil {
			return p
		}
	}
	for _, p := range s.cfg.Peers {
		if p.ID == id {
			return p
		}
	}
	return Peer{ID: id}
}

// Apply writes cmd through raft and returns its result once committed and
// applied, from any master: a follower forwards it to the leader, retrying
// while a leader is being elected, until ctx ends. A rejected command
// returns a *RejectedError (the state is unchanged); ErrUnknownOutcome
// means it may have been applied. On a follower Apply also waits, bounded
// by ctx, until the local replica has applied the result, so a read after
// Apply sees the write.
func (s *Store) Apply(ctx context.Context, cmd Command) (Result, error) {
	start := time.Now()
	defer func() { s.metrics.applyDuration.Observe(time.Since(start).Seconds()) }()
	data, err := EncodeCommand(cmd)
	if err != nil {
		return Result{}, err
	}
	if len(data) > s.cfg.MaxCommandBytes {
		return Result{}, fmt.Errorf("apply: %w: command is %d bytes, more than %d", ErrBadCommand, len(data), s.cfg.MaxCommandBytes)
	}
	if err := s.fsm.precheck(cmd); err != nil {
		return Result{}, err
	}
	var (
		res       Result
		forwarded bool
	)
	err = s.onLeader(ctx, "apply",
		func(ctx context.Context) (err error) {
			res, err = s.applyLocal(ctx, data)
			return err
		},
		func(ctx context.Context, leader Peer) (err error) {
			s.metrics.forwarded.Inc()
			res, err = s.cfg.Forwarder.Apply(ctx, leader, data)
			forwarded = err == nil
			return err
		})
	if err != nil {
		return Result{}, err
	}
	if forwarded {
		// Best effort: the write is committed whatever happens here.
		_ = s.WaitIndex(ctx, res.Index)
	}
	return res, nil
}

// applyLocal proposes an encoded command on this master.
func (s *Store) applyLocal(ctx context.Context, data []byte) (Result, error) {
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	f := s.raft.Apply(data, timeout)
	if err := s.wait(ctx, "apply", f); err != nil {
		return Result{}, err
	}
	switch r := f.Response().(type) {
	case Result:
		return r, nil
	case *RejectedError:
		return Result{}, r
	case error:
		// The entry is in the log but this master's state machine stopped.
		return Result{}, fmt.Errorf("apply: %w: %w", ErrUnknownOutcome, r)
	default:
		return Result{}, fmt.Errorf("apply: unexpected state machine response %T", r)
	}
}

// enqueueTimeout turns ctx's deadline into raft's enqueue timeout.
func enqueueTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond), nil
	}
	return 0, nil
}

// wait waits for a raft future, bounded by ctx, and maps raft's errors to
// the store's.
func (s *Store) wait(ctx context.Context, op string, f raft.Future) error {
	var err error
	if ctx.Done() == nil {
		err = f.Error()
	} else {
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w: %w", op, ErrUnknownOutcome, ctx.Err())
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%s: %w", op, ErrNotLeader)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w: %w", op, ErrLeaderUnavailable, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%s: %w: %w", op, ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		if ferr := s.fsm.Err(); ferr != nil {
			return fmt.Errorf("%s: %w", op, ferr)
		}
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// retryable reports whether err means the request was not carried out and
// another attempt, maybe on another leader, may succeed.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrLeaderUnavailable)
}

// onLeader runs local when this master leads, otherwise remote with the
// leader, retrying on retryable errors until ctx ends.
func (s *Store) onLeader(ctx context.Context, op string, local func(context.Context) error, remote func(context.Context, Peer) error) error {
	if err := s.running(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	backoff := 5 * time.Millisecond
	for {
		if err := s.fsm.Err(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := s.running(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		changed := s.leaderChanged()
		var err error
		if s.raft.State() == raft.Leader {
			err = local(ctx)
		} else if leader, ok := s.Leader(); ok && leader.ID != s.cfg.ID {
			err = remote(ctx, leader)
		} else {
			err = fmt.Errorf("%s: %w", op, ErrNoLeader)
		}
		if err == nil || !retryable(err) {
			return err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (last error: %w)", op, ctx.Err(), err)
		case <-s.stop:
			timer.Stop()
			return fmt.Errorf("%s: %w", op, ErrClosed)
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
		backoff = min(2*backoff, s.cfg.HeartbeatTimeout)
	}
}

// Barrier waits until every entry committed before it is applied locally.
// Leader only (ErrNotLeader otherwise): a new leader's controllers call it
// before reading the state they act on.
func (s *Store) Barrier(ctx context.Context) error {
	if err := s.running(); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return s.wait(ctx, "barrier", s.raft.Barrier(timeout))
}

// AddVoter adds p to the cluster as a voter, recording its addresses under
// PeerKind first. From any master: a follower forwards it to the leader.
// Adding a voter that is already a member with the same address succeeds.
func (s *Store) AddVoter(ctx context.Context, p Peer) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("add voter: %w: %w", ErrInvalid, err)
	}
	op := "add voter " + p.ID
	return s.onLeader(ctx, op,
		func(ctx context.Context) error { return s.addVoterLocal(ctx, p) },
		func(ctx context.Context, leader Peer) error {
			s.metrics.forwarded.Inc()
			return s.cfg.Forwarder.AddVoter(ctx, leader, p)
		})
}

func (s *Store) addVoterLocal(ctx context.Context, p Peer) error {
	value, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("add voter %s: %w", p.ID, err)
	}
	data, err := EncodeCommand(Put{Kind: PeerKind, Key: p.ID, Value: value})
	if err != nil {
		return fmt.Errorf("add voter %s: %w", p.ID, err)
	}
	if _, err := s.applyLocal(ctx, data); err != nil {
		return fmt.Errorf("add voter %s: record peer: %w", p.ID, err)
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("add voter %s: %w", p.ID, err)
	}
	if err := s.wait(ctx, "add voter "+p.ID, s.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddress), 0, timeout)); err != nil {
		return err
	}
	s.log.Info("Added a raft voter", logging.Peer(p.ID))
	return nil
}

// RemoveServer removes the master id from the cluster and its record
// under PeerKind. From any master: a follower forwards it to the leader. A
// removed master shuts its raft node down. Removing a server that is not a
// member succeeds.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("remove server: empty ID")
	}
	op := "remove server " + id
	return s.onLeader(ctx, op,
		func(ctx context.Context) error { return s.removeServerLocal(ctx, id) },
		func(ctx context.Context, leader Peer) error {
			s.metrics.forwarded.Inc()
			return s.cfg.Forwarder.RemoveServer(ctx, leader, id)
		})
}

func (s *Store) removeServerLocal(ctx context.Context, id string) error {
	// Drop the record first: a leader removing itself steps down once the
	// removal commits and could not write afterwards.
	data, err := EncodeCommand(Delete{Kind: PeerKind, Key: id})
	if err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	if _, err := s.applyLocal(ctx, data); err != nil {
		return fmt.Errorf("remove server %s: drop peer record: %w", id, err)
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	if err := s.wait(ctx, "remove server "+id, s.raft.RemoveServer(raft.ServerID(id), 0, timeout)); err != nil {
		return err
	}
	s.log.Info("Removed a raft server", logging.Peer(id))
	return nil
}

// TransferLeadership asks the leader to hand leadership to the voter id,
// or to the most up-to-date voter when id is empty. Leader only.
func (s *Store) TransferLeadership(ctx context.Context, id string) error {
	if err := s.running(); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	if id == "" {
		return s.wait(ctx, "transfer leadership", s.raft.LeadershipTransfer())
	}
	servers, err := s.Servers()
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	for _, srv := range servers {
		if srv.ID == id {
			return s.wait(ctx, "transfer leadership to "+id, s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(srv.RaftAddress)))
		}
	}
	return fmt.Errorf("transfer leadership: %s is not a member", id)
}

// Server is a member of the raft configuration.
type Server struct {
	Peer
	// Voter is false for a non-voting member.
	Voter bool `json:"voter"`
	// Leader is true for the member this master believes leads.
	Leader bool `json:"leader"`
}

// Servers returns the latest raft configuration known locally, sorted by
// ID, with addresses from the peer records.
func (s *Store) Servers() ([]Server, error) {
	if err := s.running(); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	_, leader := s.raft.LeaderWithID()
	var out []Server
	for _, srv := range f.Configuration().Servers {
		p := s.peer(string(srv.ID))
		p.RaftAddress = string(srv.Address)
		out = append(out, Server{Peer: p, Voter: srv.Suffrage == raft.Voter, Leader: srv.ID == leader})
	}
	slices.SortFunc(out, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Snapshot makes raft snapshot the state now and compact its log.
func (s *Store) Snapshot() error {
	if err := s.running(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := s.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// leadershipTransferTimeout bounds the leadership transfer of a shutting
// down leader: a few election timeouts, as raft's own transfer does.
func leadershipTransferTimeout(cfg Config) time.Duration {
	return 3*cfg.ElectionTimeout + cfg.HeartbeatTimeout
}

// Shutdown stops the store: a leader first hands leadership to another
// voter (unless SkipLeadershipTransfer), then raft stops, the data dir is
// closed and every watcher and LeaderCh channel is closed. It is safe to
// call more than once.
func (s *Store) Shutdown() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()

	var errs []error
	if started {
		if s.raft.State() == raft.Leader && !s.cfg.SkipLeadershipTransfer && s.otherVoters() {
			// Bounded: a leader that was just removed from the
			// configuration may never see the transfer complete, and a
			// shutdown must not hang on it.
			transfer := s.raft.LeadershipTransfer()
			done := make(chan error, 1)
			go func() { done <- transfer.Error() }()
			timer := time.NewTimer(leadershipTransferTimeout(s.cfg))
			select {
			case err := <-done:
				if err != nil {
					s.log.Warn("Failed to transfer raft leadership before shutting down", zap.Error(err))
				} else {
					s.log.Info("Transferred raft leadership before shutting down")
				}
			case <-timer.C:
				s.log.Warn("Gave up transferring raft leadership before shutting down", zap.Duration("waited", leadershipTransferTimeout(s.cfg)))
			}
			timer.Stop()
		}
		errs = append(errs, s.raft.Shutdown().Error())
		s.raft.DeregisterObserver(s.observer)
		errs = append(errs, s.trans.Close(), s.bolt.Close())
	}
	close(s.stop)
	s.wg.Wait()
	s.fsm.close()
	s.leaders.close()
	s.metrics.leader(false)
	if s.cfg.Registerer != nil {
		s.metrics.unregister(s.cfg.Registerer)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown raft store: %w", err)
	}
	s.log.Info("Shut down the raft store")
	return nil
}

func (s *Store) otherVoters() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.ID {
			return true
		}
	}
	return false
}
