package master_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/master"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// cmpNet compares net/netip values by ==.
var cmpNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// testToken is the cluster token of the test clusters.
const testToken = "s3cret-test-token"

// testMaster is one master of a testCluster, restartable on the same
// addresses and data dir.
type testMaster struct {
	peer    raftstore.Peer
	dataDir string
	// join starts it without bootstrapping (not among the initial peers).
	join bool
	// raftLn and apiLn hold its ports from creation to the first start, so
	// that no other socket of a busy test machine takes them.
	raftLn, apiLn net.Listener

	mu     sync.Mutex
	m      *master.Master
	cancel context.CancelFunc
	done   chan error
}

// testCluster is n mesosnet-masters in this process: real raft on disk,
// loopback TCP, the real HTTP API.
type testCluster struct {
	t         testing.TB
	masters   []*testMaster
	tokenFile string
	opts      clusterOptions
}

type clusterOptions struct {
	mesos   []string
	overlay v1.OverlayNetwork
	logger  *zap.Logger
	// configure, when set, edits each master's Config before it starts.
	configure func(*master.Config)
	// tls, when set, serves the API and raft over TLS with these
	// configurations.
	tls *raftstoretest.TLSConfigs
}

// newTestMaster returns master id with listeners on free loopback ports.
func newTestMaster(t testing.TB, id string, join bool) *testMaster {
	t.Helper()
	tm := &testMaster{dataDir: t.TempDir(), join: join}
	for _, ln := range []*net.Listener{&tm.raftLn, &tm.apiLn} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*ln = l
	}
	tm.peer = raftstore.Peer{ID: id, RaftAddress: tm.raftLn.Addr().String(), APIAddress: tm.apiLn.Addr().String()}
	return tm
}

func newTestCluster(t testing.TB, n int, opts clusterOptions) *testCluster {
	t.Helper()
	if !opts.overlay.VTEPSubnet.IsValid() {
		opts.overlay = v1.TestPlanOverlayNetwork()
	}
	if opts.logger == nil {
		opts.logger = zap.NewNop()
		if testing.Verbose() {
			opts.logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
		}
	}
	c := &testCluster{t: t, opts: opts, tokenFile: filepath.Join(t.TempDir(), "token")}
	if err := os.WriteFile(c.tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.masters = append(c.masters, newTestMaster(t, fmt.Sprintf("m%d", i+1), false))
	}
	for i := range c.masters {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.masters {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) peers() []raftstore.Peer {
	var ps []raftstore.Peer
	for _, tm := range c.masters {
		if !tm.join {
			ps = append(ps, tm.peer)
		}
	}
	return ps
}

// addJoiner starts one more master that does not bootstrap: it waits to be
// added with `raft peers add`. It returns its index.
func (c *testCluster) addJoiner() int {
	c.t.Helper()
	c.masters = append(c.masters, newTestMaster(c.t, fmt.Sprintf("m%d", len(c.masters)+1), true))
	i := len(c.masters) - 1
	c.start(i)
	return i
}

// listen listens on addr, retrying while the port is still held by the
// previous incarnation.
func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(raftstoretest.Timeout)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start (re)starts master i.
func (c *testCluster) start(i int) {
	c.t.Helper()
	tm := c.masters[i]
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.m != nil {
		c.t.Fatalf("start %s: already running", tm.peer.ID)
	}
	if tm.raftLn == nil { // a restart: the ports were released at the stop
		tm.raftLn, tm.apiLn = listen(c.t, tm.peer.RaftAddress), listen(c.t, tm.peer.APIAddress)
	}
	defer func() { tm.raftLn, tm.apiLn = nil, nil }()
	cfg := master.Config{
		ID:           tm.peer.ID,
		DataDir:      tm.dataDir,
		RaftListener: tm.raftLn,
		APIListener:  tm.apiLn,
		Peers:        c.peers(),
		Join:         tm.join,
		TokenFile:    c.tokenFile,
		Mesos:        mesos.Config{Masters: c.opts.mesos},
		Overlay:      c.opts.overlay,
		VIPRange4:    vipalloc.RangeOf(v1.TestPlanVIPPrefix),
		Logger:       c.opts.logger.Named(tm.peer.ID),
		Raft: raftstore.Config{
			HeartbeatTimeout:       150 * time.Millisecond,
			ElectionTimeout:        150 * time.Millisecond,
			LeaderLeaseTimeout:     100 * time.Millisecond,
			CommitTimeout:          5 * time.Millisecond,
			SkipLeadershipTransfer: true, // a stop is a kill
			NoSync:                 true,
		},
	}
	if tm.join {
		cfg.Peers = nil
	}
	if c.opts.tls != nil {
		cfg.TLS, cfg.ClientTLS = c.opts.tls.Server, c.opts.tls.Client
	}
	if c.opts.configure != nil {
		c.opts.configure(&cfg)
	}
	m, err := master.New(cfg)
	if err != nil {
		c.t.Fatalf("new master %s: %v", tm.peer.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	tm.m, tm.cancel, tm.done = m, cancel, done
}

// stop stops master i abruptly (no leadership transfer), if it runs.
func (c *testCluster) stop(i int) {
	c.t.Helper()
	tm := c.masters[i]
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.m == nil {
		return
	}
	tm.cancel()
	if err := <-tm.done; err != nil {
		c.t.Errorf("master %s: Run: %v", tm.peer.ID, err)
	}
	tm.m = nil
}

func (c *testCluster) master(i int) *master.Master {
	tm := c.masters[i]
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.m
}

// leader waits for a running master that leads and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	idx := -1
	raftstoretest.WaitFor(c.t, "a leader", func() bool {
		for i := range c.masters {
			if m := c.master(i); m != nil && m.Store().IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// urls are the API URLs of the masters, starting with first (mod n).
func (c *testCluster) urls(first int) []string {
	var out []string
	for k := range c.masters {
		scheme := "http://"
		if c.opts.tls != nil {
			scheme = "https://"
		}
		out = append(out, scheme+c.masters[(first+k)%len(c.masters)].peer.APIAddress)
	}
	return out
}

// client is an API client trying every master from first on.
func (c *testCluster) client(first int) *api.Client {
	c.t.Helper()
	cl, err := api.NewClient(api.ClientOptions{
		URLs:       c.urls(first),
		Token:      testToken,
		HTTPClient: c.httpClient(),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// apply writes cmd through any running master, retrying while there is no
// leader.
func (c *testCluster) apply(ctx context.Context, cmd raftstore.Command) (raftstore.Result, error) {
	for {
		var lastErr error
		for i := range c.masters {
			m := c.master(i)
			if m == nil {
				continue
			}
			res, err := m.Store().Apply(ctx, cmd)
			if err == nil {
				return res, nil
			}
			var rej *raftstore.RejectedError
			if errors.As(err, &rej) {
				return res, err
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return raftstore.Result{}, errors.Join(ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// httpClient is an HTTP client of the masters (TLS when the cluster uses
// it).
func (c *testCluster) httpClient() *http.Client {
	hc := &http.Client{Timeout: 5 * time.Second}
	if c.opts.tls != nil {
		hc.Transport = &http.Transport{TLSClientConfig: c.opts.tls.Client}
	}
	return hc
}
