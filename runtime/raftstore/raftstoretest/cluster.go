// Package raftstoretest runs real raftstore clusters inside one test
// process: real raft, real bolt files in the test's temp dir, loopback TCP
// for raft and for write forwarding, and small raft timeouts so elections
// take a fraction of a second.
package raftstoretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Timeout bounds every wait of this package.
const Timeout = 15 * time.Second

// Options configures a test cluster.
type Options struct {
	// Kinds are registered on every master; a nil validator accepts any
	// value.
	Kinds map[string]raftstore.ValidateFunc
	// TLS secures raft between the masters with mutual TLS from a
	// throwaway CA.
	TLS bool
	// Sync makes the raft log fsync as in production; by default it does
	// not, to keep tests fast.
	Sync bool
	// Logger, when set, replaces the per-master zaptest loggers (use
	// zap.NewNop in benchmarks, whose logs are always printed).
	Logger *zap.Logger
	// Configure, when set, edits each master's Config before New.
	Configure func(*raftstore.Config)
}

// Cluster is a set of masters. Everything is shut down by tb.Cleanup.
type Cluster struct {
	opts Options
	tls  *TLSConfigs

	mu    sync.Mutex
	nodes []*Node
}

// Node is one master. Its data dir, addresses, registry and logs survive
// Stop and Start.
type Node struct {
	Peer    raftstore.Peer
	DataDir string
	// Join: the node was added after bootstrap and never bootstraps.
	Join bool
	// Logs records everything the node logged, across restarts.
	Logs *observer.ObservedLogs

	c        *Cluster
	logger   *zap.Logger
	api      *http.Server
	raftLn   net.Listener // pre-bound for the first Start
	store    atomic.Pointer[raftstore.Store]
	registry atomic.Pointer[prometheus.Registry]
}

// NewCluster bootstraps and starts a cluster of size masters (1, 3 or 5)
// and waits for a leader.
func NewCluster(tb testing.TB, size int, opts Options) *Cluster {
	tb.Helper()
	c := &Cluster{opts: opts}
	if opts.TLS {
		c.tls = NewTLSConfigs(tb)
	}
	var nodes []*Node
	for i := range size {
		nodes = append(nodes, c.newNode(tb, fmt.Sprintf("m%d", i+1), false))
	}
	c.nodes = nodes
	for _, n := range nodes {
		n.Start(tb)
	}
	c.Leader(tb)
	return c
}

// newNode binds the node's raft and API listeners and serves the API.
func (c *Cluster) newNode(tb testing.TB, id string, join bool) *Node {
	tb.Helper()
	raftLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	logger := c.opts.Logger
	if logger == nil {
		logger = zaptest.NewLogger(tb, zaptest.Level(zapcore.InfoLevel))
	}
	logger = zap.New(zapcore.NewTee(logger.Core(), core)).Named(id)
	n := &Node{
		Peer:    raftstore.Peer{ID: id, RaftAddress: raftLn.Addr().String(), APIAddress: apiLn.Addr().String()},
		DataDir: filepath.Join(tb.TempDir(), id),
		Join:    join,
		Logs:    logs,
		c:       c,
		logger:  logger,
		raftLn:  raftLn,
	}
	n.api = &http.Server{Handler: http.HandlerFunc(n.serveAPI), ReadHeaderTimeout: Timeout}
	go func() { _ = n.api.Serve(apiLn) }()
	tb.Cleanup(func() {
		n.Stop(tb)
		_ = n.api.Close()
		if n.raftLn != nil {
			_ = n.raftLn.Close()
		}
	})
	return n
}

func (n *Node) serveAPI(w http.ResponseWriter, r *http.Request) {
	s := n.store.Load()
	if s == nil {
		http.Error(w, "master stopped", http.StatusServiceUnavailable)
		return
	}
	s.Handler().ServeHTTP(w, r)
}

// Nodes returns every node, running or not, in creation order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Running returns the nodes that are started.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Store() != nil {
			out = append(out, n)
		}
	}
	return out
}

// Peers returns the bootstrap peers.
func (c *Cluster) Peers() []raftstore.Peer {
	var out []raftstore.Peer
	for _, n := range c.Nodes() {
		if !n.Join {
			out = append(out, n.Peer)
		}
	}
	return out
}

// Leader waits until exactly one running node leads and every running
// voter agrees on it, and returns it.
func (c *Cluster) Leader(tb testing.TB) *Node {
	tb.Helper()
	var leader *Node
	WaitFor(tb, "a leader all masters agree on", func() bool {
		leader = nil
		running := c.Running()
		for _, n := range running {
			if n.Store().IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range running {
			p, ok := n.Store().Leader()
			if n.Store().Err() == nil && !n.removed() && (!ok || p.ID != leader.Peer.ID) {
				return false
			}
		}
		return true
	})
	return leader
}

// removed reports whether the node's raft shut down after its removal.
func (n *Node) removed() bool {
	s := n.Store()
	if s == nil {
		return true
	}
	servers, err := s.Servers()
	if err != nil {
		return true
	}
	for _, srv := range servers {
		if srv.ID == n.Peer.ID {
			return false
		}
	}
	return true
}

// Followers returns the running nodes other than the leader.
func (c *Cluster) Followers(tb testing.TB) []*Node {
	tb.Helper()
	leader := c.Leader(tb)
	var out []*Node
	for _, n := range c.Running() {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

// AddNode creates and starts a master that joins instead of
// bootstrapping; add it with AddVoter.
func (c *Cluster) AddNode(tb testing.TB) *Node {
	tb.Helper()
	c.mu.Lock()
	id := fmt.Sprintf("m%d", len(c.nodes)+1)
	c.mu.Unlock()
	n := c.newNode(tb, id, true)
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	n.Start(tb)
	return n
}

// WaitReplicated waits until every running node has applied index.
func (c *Cluster) WaitReplicated(tb testing.TB, index uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for _, n := range c.Running() {
		if err := n.Store().WaitIndex(ctx, index); err != nil {
			tb.Fatalf("master %s: %v", n.Peer.ID, err)
		}
	}
}

// Store returns the node's running store, or nil when stopped.
func (n *Node) Store() *raftstore.Store { return n.store.Load() }

// Registry returns the registry of the node's current (or last) store.
func (n *Node) Registry() *prometheus.Registry { return n.registry.Load() }

// Config returns the Config the node starts with.
func (n *Node) Config() raftstore.Config {
	cfg := raftstore.Config{
		ID:                 n.Peer.ID,
		DataDir:            n.DataDir,
		RaftAddress:        n.Peer.RaftAddress,
		Peers:              n.c.Peers(),
		Join:               n.Join,
		Forwarder:          &raftstore.HTTPForwarder{Client: &http.Client{Timeout: Timeout}},
		Logger:             n.logger,
		HeartbeatTimeout:   150 * time.Millisecond,
		ElectionTimeout:    150 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		NoSync:             !n.c.opts.Sync,
	}
	if n.c.tls != nil {
		cfg.ServerTLS, cfg.ClientTLS = n.c.tls.Server, n.c.tls.Client
	}
	if n.c.opts.Configure != nil {
		n.c.opts.Configure(&cfg)
	}
	return cfg
}

// Start starts the node's store from its data dir.
func (n *Node) Start(tb testing.TB) {
	tb.Helper()
	if n.Store() != nil {
		tb.Fatalf("master %s already running", n.Peer.ID)
	}
	cfg := n.Config()
	if n.raftLn != nil {
		cfg.RaftListener, n.raftLn = n.raftLn, nil
	} else {
		// The previous store closed the listener; take the port again.
		ln, err := listenAgain(n.Peer.RaftAddress)
		if err != nil {
			tb.Fatalf("master %s: %v", n.Peer.ID, err)
		}
		cfg.RaftListener = ln
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, err := raftstore.New(cfg)
	if err != nil {
		tb.Fatalf("master %s: %v", n.Peer.ID, err)
	}
	for kind, v := range n.c.opts.Kinds {
		if err := s.RegisterKind(kind, v); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("master %s: %v", n.Peer.ID, err)
	}
	n.registry.Store(reg)
	n.store.Store(s)
}

func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(Timeout)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		// The port stays busy until the old listener is gone.
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop shuts the node's store down; it does nothing when stopped.
func (n *Node) Stop(tb testing.TB) {
	tb.Helper()
	s := n.store.Swap(nil)
	if s == nil {
		return
	}
	if err := s.Shutdown(); err != nil {
		tb.Errorf("master %s: %v", n.Peer.ID, err)
	}
}

// WaitFor polls cond until it holds, failing tb after Timeout.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
		<-tick.C
	}
}

// TLSConfigs are mutual-TLS configurations signed by one throwaway CA, for
// a certificate valid for 127.0.0.1.
type TLSConfigs struct {
	Server, Client *tls.Config
}

// NewTLSConfigs creates a CA and a certificate for 127.0.0.1 that serves
// as both the server and the client identity of every master.
func NewTLSConfigs(tb testing.TB) *TLSConfigs {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mesosnet test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "mesosnet-master"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &TLSConfigs{
		Server: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS13,
		},
		Client: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			MinVersion:   tls.VersionTLS13,
		},
	}
}

// Apply applies cmd on the node's store within Timeout, failing tb on
// error.
func (n *Node) Apply(tb testing.TB, cmd raftstore.Command) raftstore.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	res, err := n.Store().Apply(ctx, cmd)
	if err != nil {
		tb.Fatalf("apply on %s: %v", n.Peer.ID, err)
	}
	return res
}

// RunInBackground runs run (a controller's Run) until the end of the test,
// or until the returned stop, which cancels its context and checks that
// run returned an error wrapping want (usually context.Canceled) within
// Timeout.
func RunInBackground(tb testing.TB, run func(context.Context) error, want error) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			timer := time.NewTimer(Timeout)
			defer timer.Stop()
			select {
			case err := <-done:
				if !errors.Is(err, want) {
					tb.Errorf("Run returned %v, want %v", err, want)
				}
			case <-timer.C:
				tb.Errorf("Run did not return within %s of its cancellation", Timeout)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}
