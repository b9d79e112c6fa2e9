// Package master is mesosnet-master, the service every Mesos master runs: a
// raft node of the cluster state (runtime/raftstore), the cluster API
// (runtime/api plus the agent, VIP, task, status and raft endpoints of this
// package), and, while it is the raft leader, the controllers that write
// the desired state: taskstate (Mesos tasks), subnetalloc (agent VTEPs and
// subnets) and vipalloc (VIP addresses).
//
// Followers serve every read and watch from their own replica; writes that
// need the leader (agent registration and deletion) are forwarded to it, so
// a client may talk to any master.
package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Config configures a Master. Zero values take the defaults named per field.
type Config struct {
	// ID is this master's raft server ID, unique in the cluster. Required.
	ID string
	// DataDir holds the raft log, stable store and snapshots. Required.
	DataDir string
	// RaftAddress is where raft listens (host:port); RaftListener, when not
	// nil, is used instead. RaftAdvertise is the address peers dial
	// (default: the listener's address).
	RaftAddress   string
	RaftListener  net.Listener
	RaftAdvertise string
	// APIAddress is where the cluster API listens (host:port);
	// APIListener, when not nil, is used instead. APIAdvertise is the
	// address other masters and clients reach it on (default: the
	// listener's address).
	APIAddress   string
	APIListener  net.Listener
	APIAdvertise string
	// Peers are the voters a new cluster is bootstrapped with (this master
	// included, with its advertised addresses); ignored once the data dir
	// holds a cluster. Join starts without bootstrapping, to be added by an
	// operator (mesosnetctl raft peers add).
	Peers []raftstore.Peer
	Join  bool
	// TokenFile holds the bearer token of the cluster API (the same on
	// every master, agent and mesosnetctl); empty disables authentication.
	TokenFile string
	// TLS, when not nil, serves the API and raft over TLS; ClientTLS is
	// what this master dials other masters with.
	TLS, ClientTLS *tls.Config
	// Mesos is the Mesos operator API client configuration; no Masters
	// means no Mesos: tasks are not followed (a cluster used for overlay
	// and allocations only, or tests).
	Mesos mesos.Config
	// RecoveredAgentsWait and RecoveredTasksWait bound the publication
	// hold of the Mesos state after a Mesos failover (dcos-net's
	// await_agents and await_tasks; state.Options, defaults 10 min and
	// 10 s): while agents re-register, nothing is flushed.
	RecoveredAgentsWait, RecoveredTasksWait time.Duration
	// Overlay is the overlay configuration (DC/OS dcos_overlay_network);
	// the zero value means v1.DefaultOverlayNetwork.
	Overlay v1.OverlayNetwork
	// DisableIPv6 disables the IPv6-only overlays (DC/OS enable_ipv6=false)
	// and IPv6 VIP addresses.
	DisableIPv6 bool
	// VIPRange4 and VIPRange6 are the named-VIP ranges (default DC/OS's
	// 11.0.0.0/8 and fd01:c::/64).
	VIPRange4, VIPRange6 vipalloc.Range
	// RemovedAgentGrace (24h) is how long the allocation of an agent Mesos
	// reports removed is kept; VIPGrace (1h) how long a VIP address is
	// kept after its last backend went.
	RemovedAgentGrace, VIPGrace time.Duration
	// Logger receives the logs; nil discards them.
	Logger *zap.Logger
	// Registry receives the metrics and is served on /metrics; nil means a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Raft tunes the raft store (timeouts, snapshots); its ID, addresses,
	// data dir, peers, TLS, logger and registerer are set from the fields
	// above.
	Raft raftstore.Config
}

// Master is one mesosnet-master.
type Master struct {
	cfg   Config
	log   *zap.Logger
	reg   *prometheus.Registry
	store *raftstore.Store
	api   *api.Server

	agents *subnetalloc.Controller
	vips   *vipalloc.Controller

	apiLn  net.Listener
	server *http.Server
	proxy  *forwarder

	mu      sync.Mutex
	leading *leadership // nil while following
}

// leadership is the state of one term as leader.
type leadership struct {
	since time.Time
	mesos *state.Store // nil without Mesos
	src   *mesos.Source
}

// New checks cfg, opens the listeners and prepares the raft store and the
// controllers. Run starts them.
func New(cfg Config) (m *Master, err error) {
	if cfg.ID == "" {
		return nil, errors.New("master: no ID")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("master: no data dir")
	}
	if cfg.Overlay.VTEPSubnet == (v1.OverlayNetwork{}).VTEPSubnet && len(cfg.Overlay.Overlays) == 0 {
		cfg.Overlay = v1.DefaultOverlayNetwork()
	}
	if err := cfg.Overlay.Validate(!cfg.DisableIPv6); err != nil {
		return nil, fmt.Errorf("master: overlay configuration: %w", err)
	}
	cfg.Overlay = cfg.Overlay.Effective(!cfg.DisableIPv6)
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m = &Master{cfg: cfg, log: log, reg: reg}
	built := m // m is nil on the error returns
	defer func() {
		if err != nil {
			built.closeListeners()
		}
	}()

	m.apiLn = cfg.APIListener
	if m.apiLn == nil {
		if m.apiLn, err = net.Listen("tcp", cfg.APIAddress); err != nil {
			return nil, fmt.Errorf("master: api listener: %w", err)
		}
	}
	apiAdvertise := cfg.APIAdvertise
	if apiAdvertise == "" {
		apiAdvertise = m.apiLn.Addr().String()
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	token, err := readToken(cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	httpClient := &http.Client{Transport: &tokenTransport{token: token, base: transport(cfg.ClientTLS)}}

	rc := cfg.Raft
	rc.ID = cfg.ID
	rc.DataDir = cfg.DataDir
	rc.RaftAddress, rc.RaftListener, rc.RaftAdvertise = cfg.RaftAddress, cfg.RaftListener, cfg.RaftAdvertise
	rc.ServerTLS, rc.ClientTLS = cfg.TLS, cfg.ClientTLS
	rc.Peers, rc.Join = cfg.Peers, cfg.Join
	rc.Forwarder = &raftstore.HTTPForwarder{Client: httpClient, Scheme: scheme, Logger: log.Named("forward")}
	rc.Logger = log.Named("raft")
	rc.Registerer = reg
	for i, p := range rc.Peers {
		if p.ID == cfg.ID && p.APIAddress == "" {
			rc.Peers[i].APIAddress = apiAdvertise
		}
	}
	if m.store, err = raftstore.New(rc); err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	for _, err := range []error{
		taskstate.RegisterKinds(m.store), subnetalloc.RegisterKinds(m.store), vipalloc.RegisterKinds(m.store),
	} {
		if err != nil {
			return nil, fmt.Errorf("master: %w", err)
		}
	}

	m.agents, err = subnetalloc.NewController(m.store, m, cfg.Overlay, subnetalloc.ControllerOptions{
		RemovedGrace: cfg.RemovedAgentGrace,
		Logger:       log.Named("subnetalloc"),
		Registerer:   reg,
	})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m.vips, err = vipalloc.NewController(m.store, vipalloc.ControllerOptions{
		Range4:      cfg.VIPRange4,
		Range6:      cfg.VIPRange6,
		DisableIPv6: cfg.DisableIPv6,
		Grace:       cfg.VIPGrace,
		Logger:      log.Named("vipalloc"),
		Registerer:  reg,
	})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}

	m.api, err = api.NewServer(api.ServerOptions{Store: m.store, TokenFile: cfg.TokenFile, Logger: log.Named("api")})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m.proxy = &forwarder{self: cfg.ID, scheme: scheme, store: m.store, client: httpClient}
	m.routes()
	m.server = &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         cfg.TLS.Clone(), // net/http adds its ALPN protocols to it
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	return m, nil
}

// Handler is the master's whole HTTP surface: /metrics, /healthz and
// /readyz without authentication, the raft forwarding endpoints and the
// cluster API behind the bearer token.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", m.healthz)
	mux.HandleFunc("GET /readyz", m.readyz)
	mux.Handle("/", m.api)
	return mux
}

// APIAddress is the address the cluster API listens on.
func (m *Master) APIAddress() string { return m.apiLn.Addr().String() }

// Store is the master's raft store.
func (m *Master) Store() *raftstore.Store { return m.store }

// Run starts raft and the API, runs the controllers whenever this master
// leads, and stops everything when ctx ends. It returns nil after a clean
// shutdown, or why the master cannot go on (the raft store failed: an
// undecodable log entry stops the node loudly).
func (m *Master) Run(ctx context.Context) error {
	if err := m.store.Start(); err != nil {
		m.closeListeners()
		return fmt.Errorf("master: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if m.cfg.TLS != nil {
			err = m.server.ServeTLS(m.apiLn, "", "")
		} else {
			err = m.server.Serve(m.apiLn)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
		close(serveErr)
	}()
	m.log.Info("Started mesosnet-master", zap.String("id", m.cfg.ID), zap.String("api", m.APIAddress()))

	runErr := m.followLeadership(ctx)

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.server.Shutdown(sctx)
	if err := m.store.Shutdown(); err != nil && runErr == nil {
		runErr = fmt.Errorf("master: shutdown: %w", err)
	}
	if err, ok := <-serveErr; ok && err != nil && runErr == nil {
		runErr = fmt.Errorf("master: api server: %w", err)
	}
	return runErr
}

// followLeadership runs the leader-only work for as long as this master
// leads, and stops it on the first sign of lost leadership.
func (m *Master) followLeadership(ctx context.Context) error {
	leaderCh := m.store.LeaderCh()
	term := &termRunner{m: m}
	defer term.stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
			if err := m.store.Err(); err != nil {
				return fmt.Errorf("master: raft store failed: %w", err)
			}
		case leader, ok := <-leaderCh:
			switch {
			case !ok:
				return nil
			case leader:
				term.start(ctx)
			default:
				term.stop()
			}
		}
	}
}

// termRunner runs the leader-only work of one leadership term at a time.
type termRunner struct {
	m      *Master
	cancel context.CancelFunc
	done   chan struct{}
}

func (t *termRunner) start(ctx context.Context) {
	if t.cancel != nil {
		return
	}
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		t.m.lead(ctx)
	}()
}

func (t *termRunner) stop() {
	if t.cancel == nil {
		return
	}
	t.cancel()
	<-t.done
	t.cancel = nil
	t.m.mu.Lock()
	t.m.leading = nil
	t.m.mu.Unlock()
	t.m.log.Info("Stopped leader controllers")
}

// lead runs the controllers of one leadership term until ctx ends.
func (m *Master) lead(ctx context.Context) {
	log := m.log.With(zap.String("term", time.Now().UTC().Format(time.RFC3339Nano)))
	log.Info("Leading: starting controllers")
	term := &leadership{since: time.Now()}
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := f(ctx)
				if ctx.Err() != nil {
					return
				}
				log.Error("Controller stopped; restarting", zap.String("controller", name), zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	if len(m.cfg.Mesos.Masters) > 0 {
		client, err := mesos.NewClient(m.cfg.Mesos)
		if err != nil {
			// New checked the configuration; only a file that vanished since
			// gets here.
			log.Error("Cannot follow Mesos", zap.Error(err))
		} else {
			term.mesos = state.New(state.Options{
				Logger:              log.Named("mesos-state"),
				RecoveredAgentsWait: m.cfg.RecoveredAgentsWait,
				RecoveredTasksWait:  m.cfg.RecoveredTasksWait,
			})
			term.src = mesos.NewSource(client, term.mesos, mesos.SourceOptions{Logger: log.Named("mesos")})
			run("mesos", term.src.Run)
			ts := taskstate.New(term.mesos, m.store, taskstate.Options{Logger: log.Named("taskstate")})
			run("taskstate", ts.Run)
		}
	}
	m.mu.Lock()
	m.leading = term
	m.mu.Unlock()
	run("subnetalloc", m.agents.Run)
	run("vipalloc", m.vips.Run)
	wg.Wait()
}

// Subscribe implements subnetalloc.Mesos: the Mesos state of the current
// leadership term, or a subscription that never fires without one.
func (m *Master) Subscribe() *state.Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leading != nil && m.leading.mesos != nil {
		return m.leading.mesos.Subscribe()
	}
	return idleMesos.Subscribe()
}

// Unsubscribe implements subnetalloc.Mesos.
func (m *Master) Unsubscribe(sub *state.Subscription) {
	// A subscription belongs to one store; unsubscribing from the wrong one
	// is a no-op there, so try both.
	m.mu.Lock()
	term := m.leading
	m.mu.Unlock()
	if term != nil && term.mesos != nil {
		term.mesos.Unsubscribe(sub)
	}
	idleMesos.Unsubscribe(sub)
}

// Current implements subnetalloc.Mesos: the latest Mesos snapshot of the
// current leadership term (a not-ready one without).
func (m *Master) Current() *state.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leading != nil && m.leading.mesos != nil {
		return m.leading.mesos.Current()
	}
	return idleMesos.Current()
}

// idleMesos is a state store nothing is ever loaded into.
var idleMesos = state.New(state.Options{})

func (m *Master) closeListeners() {
	if m.apiLn != nil && m.cfg.APIListener == nil {
		_ = m.apiLn.Close()
	}
}

func (m *Master) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := m.store.Err(); err != nil {
		api.WriteError(w, http.StatusInternalServerError, "failed", err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is ready when a leader is known and this replica is not failed.
func (m *Master) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := m.store.Err(); err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "failed", err.Error())
		return
	}
	if _, ok := m.store.Leader(); !ok {
		api.WriteError(w, http.StatusServiceUnavailable, "noLeader", "no raft leader known")
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "revision": m.store.Index()})
}
