package subnetalloc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// newCluster starts a raft cluster of size masters with the kinds of the
// controller registered.
func newCluster(tb testing.TB, size int, logger *zap.Logger) *raftstoretest.Cluster {
	tb.Helper()
	return raftstoretest.NewCluster(tb, size, raftstoretest.Options{
		Kinds:  map[string]raftstore.ValidateFunc{KindAgent: ValidateAgent, KindAgentFence: ValidateFence},
		Logger: logger,
		// Timeouts a little above raftstoretest's: hundreds of concurrent
		// registrations under the race detector on a shared machine must
		// not cost the leader its lease.
		Configure: func(c *raftstore.Config) {
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 250*time.Millisecond
		},
	})
}

// bigPlan is the test address plan with a /26 per agent, so that 1,024
// agents fit (4,094 VTEPs).
func bigPlan() v1.OverlayNetwork {
	cfg := v1.TestPlanOverlayNetwork()
	cfg.Overlays[0].Prefix = 26
	return cfg
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// newController returns a controller with a test logger and the defaults
// of the tests (a registry, a settable clock at t0 unless opts has one).
func newController(t testing.TB, r Raft, m Mesos, cfg v1.OverlayNetwork, opts ControllerOptions) *Controller {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if opts.Now == nil {
		opts.Now = (&clock{now: t0}).Now
	}
	c, err := NewController(r, m, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serving reports whether a Run of c serves requests.
func (c *Controller) serving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active != nil
}

// start runs c until the end of the test, or until the returned stop, and
// waits until it serves. stop checks that Run returned context.Canceled.
func start(t testing.TB, c *Controller) (stop func()) {
	t.Helper()
	stop = runAsync(t, c, context.Canceled)
	raftstoretest.WaitFor(t, "the controller to serve", c.serving)
	return stop
}

// runAsync runs c in the background; the returned func cancels it and
// checks that Run returned an error wrapping want.
func runAsync(t testing.TB, c *Controller, want error) (stop func()) {
	t.Helper()
	return raftstoretest.RunInBackground(t, c.Run, want)
}

// records decodes the agent records of a replica, by key.
func records(t testing.TB, s *raftstore.Store) map[string]v1.AgentRecord {
	t.Helper()
	out := make(map[string]v1.AgentRecord)
	for _, o := range s.List(KindAgent) {
		var r v1.AgentRecord
		if err := json.Unmarshal(o.Value, &r); err != nil {
			t.Fatalf("decode agent record %s: %v", o.Key, err)
		}
		out[o.Key] = r
	}
	return out
}

// allocationsOf returns the allocations of recs, for Check.
func allocationsOf(recs map[string]v1.AgentRecord) []v1.AgentAllocation {
	var out []v1.AgentAllocation
	for _, r := range recs {
		out = append(out, r.AgentAllocation)
	}
	return out
}

// mustRegister registers an agent, failing the test on error.
func mustRegister(t testing.TB, c *Controller, ip netip.Addr, hostname string) v1.AgentRecord {
	t.Helper()
	rec, err := c.Register(context.Background(), v1.AgentRegistration{IP: ip, Hostname: hostname})
	if err != nil {
		t.Fatalf("Register(%s): %v", ip, err)
	}
	return rec
}

// registerAll registers the agents concurrently and returns the answers in
// order.
func registerAll(c *Controller, ips []netip.Addr) ([]v1.AgentRecord, []error) {
	recs := make([]v1.AgentRecord, len(ips))
	errs := make([]error, len(ips))
	var wg sync.WaitGroup
	for i, ip := range ips {
		wg.Go(func() {
			recs[i], errs[i] = c.Register(context.Background(), v1.AgentRegistration{IP: ip, Hostname: fmt.Sprintf("agent-%d", i)})
		})
	}
	wg.Wait()
	return recs, errs
}

func agentIPs(from, to int) []netip.Addr {
	var out []netip.Addr
	for i := from; i <= to; i++ {
		out = append(out, agentIP(i))
	}
	return out
}

// mac returns the MAC with DC/OS's OUI and the given last 3 bytes.
func mac(b0, b1, b2 byte) v1.MAC { return v1.MAC{0x70, 0xb3, 0xd5, b0, b1, b2} }

func TestControllerRegister(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	clk := &clock{now: t0}
	reg := prometheus.NewRegistry()
	c := newController(t, s, nil, v1.TestPlanOverlayNetwork(), ControllerOptions{Now: clk.Now, Registerer: reg})
	stop := start(t, c)

	// spec dcos-net.md §4.2 in the test address plan: the first agent gets
	// the first VTEP host, its MAC the OUI and the VTEP's last 3 bytes
	// (198.18.16.1 = c6.12.10.01), the first /24 of the overlay and the
	// first /80 of the IPv6 overlay.
	first := mustRegister(t, c, addr("198.18.0.10"), "agent-1.example.com")
	wantFirst := v1.AgentRecord{
		AgentAllocation: want("198.18.0.10", "198.18.16.1/20", "fd01:a::1/64", mac(0x12, 0x10, 0x01),
			[3]string{"dcos", "198.19.0.0/24", ""}, [3]string{"dcos6", "", "fd01:b::/80"}),
		Hostname:     "agent-1.example.com",
		RegisteredAt: t0,
	}
	if diff := cmp.Diff(wantFirst, first, cmpNet); diff != "" {
		t.Errorf("first registration (-want +got):\n%s", diff)
	}
	if got := first.Overlays[0].MesosBridge.String() + ", " + first.Overlays[0].DockerBridge.String(); got != "m-dcos 198.19.0.0/25, d-dcos 198.19.0.128/25" {
		t.Errorf("bridges of the first agent: %s", got)
	}
	clk.Advance(time.Minute)
	second := mustRegister(t, c, addr("198.18.0.11"), "")
	wantSecond := v1.AgentRecord{
		AgentAllocation: want("198.18.0.11", "198.18.16.2/20", "fd01:a::2/64", mac(0x12, 0x10, 0x02),
			[3]string{"dcos", "198.19.1.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:1::/80"}),
		RegisteredAt: t0.Add(time.Minute),
	}
	if diff := cmp.Diff(wantSecond, second, cmpNet); diff != "" {
		t.Errorf("second registration (-want +got):\n%s", diff)
	}
	wantRaft := map[string]v1.AgentRecord{"198.18.0.10": wantFirst, "198.18.0.11": wantSecond}
	if diff := cmp.Diff(wantRaft, records(t, s), cmpNet); diff != "" {
		t.Errorf("raft records (-want +got):\n%s", diff)
	}
	fence, ok := s.Get(KindAgentFence, FenceKey)
	if !ok || string(fence.Value) != `{"agents":2}` {
		t.Errorf("fence = %s (present %v), want {\"agents\":2}", fence.Value, ok)
	}

	// Registering again, without or with the same hostname, returns the
	// record and writes nothing.
	index := s.Index()
	clk.Advance(time.Hour)
	for _, h := range []string{"", "agent-1.example.com"} {
		again := mustRegister(t, c, addr("198.18.0.10"), h)
		if diff := cmp.Diff(wantFirst, again, cmpNet); diff != "" {
			t.Errorf("re-registration with hostname %q (-want +got):\n%s", h, diff)
		}
	}
	if got := s.Index(); got != index {
		t.Errorf("raft index %d after re-registrations, want %d: something was written", got, index)
	}
	// A new hostname is recorded; the allocation and registration time stay.
	renamed := mustRegister(t, c, addr("198.18.0.10"), "agent-1b")
	wantFirst.Hostname = "agent-1b"
	if diff := cmp.Diff(wantFirst, renamed, cmpNet); diff != "" {
		t.Errorf("registration with a new hostname (-want +got):\n%s", diff)
	}
	if got := records(t, s)["198.18.0.10"]; got.Hostname != "agent-1b" {
		t.Errorf("raft hostname %q after renaming, want agent-1b", got.Hostname)
	}
	stop()

	// An overlay added to the configuration: the next leader's controller
	// adds its subnet to registered agents when they register again,
	// keeping the rest.
	cfg := v1.TestPlanOverlayNetwork()
	cfg.Overlays = append(cfg.Overlays, v1.Overlay{Name: "blue", Subnet: pfx("198.18.64.0/18"), Prefix: 26})
	c2 := newController(t, s, nil, cfg, ControllerOptions{Now: clk.Now, Registerer: reg})
	start(t, c2)
	wantSecond.Overlays = append(wantSecond.Overlays, v1.NewOverlayAllocation("blue", pfx("198.18.64.0/26"), netip.Prefix{}))
	if diff := cmp.Diff(wantSecond, mustRegister(t, c2, addr("198.18.0.11"), ""), cmpNet); diff != "" {
		t.Errorf("re-registration with a new overlay (-want +got):\n%s", diff)
	}
	wantFirst.Overlays = append(wantFirst.Overlays, v1.NewOverlayAllocation("blue", pfx("198.18.64.64/26"), netip.Prefix{}))
	if diff := cmp.Diff(wantFirst, mustRegister(t, c2, addr("198.18.0.10"), ""), cmpNet); diff != "" {
		t.Errorf("re-registration with a new overlay (-want +got):\n%s", diff)
	}
	wantRaft = map[string]v1.AgentRecord{"198.18.0.10": wantFirst, "198.18.0.11": wantSecond}
	if diff := cmp.Diff(wantRaft, records(t, s), cmpNet); diff != "" {
		t.Errorf("raft records (-want +got):\n%s", diff)
	}

	// The metrics of both controllers add up in the same registry.
	for result, want := range map[string]float64{
		resultCreated: 2, resultUnchanged: 2, resultUpdated: 3, resultExhausted: 0, resultNotLeading: 0,
	} {
		if got := testutil.ToFloat64(c2.metrics.registrations.WithLabelValues(result)); got != want {
			t.Errorf("registrations_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(c2.metrics.allocations); got != 4 {
		t.Errorf("allocations_total = %v, want 4 (2 agents, then 2 new overlay subnets)", got)
	}
	if got := testutil.ToFloat64(c2.metrics.agents); got != 2 {
		t.Errorf("agents = %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "mesosnet_subnetalloc_registration_duration_seconds", "mesosnet_subnetalloc_batch_size"); err != nil || n != 2 {
		t.Errorf("histograms gathered: %d, %v; want 2", n, err)
	}
}

func TestControllerInvalid(t *testing.T) {
	if _, err := NewController(nil, nil, v1.TestPlanOverlayNetwork(), ControllerOptions{}); err == nil {
		t.Error("NewController without raft succeeded")
	}
	bad := v1.TestPlanOverlayNetwork()
	bad.VTEPSubnet = pfx("198.18.16.0/31")
	if _, err := NewController(&recordingRaft{}, nil, bad, ControllerOptions{}); err == nil || !strings.Contains(err.Error(), "vtep_subnet: 198.18.16.0/31") {
		t.Errorf("NewController with a /31 vtep_subnet = %v, want an error naming it", err)
	}

	s := newCluster(t, 1, nil).Leader(t).Store()
	c := newController(t, s, nil, v1.TestPlanOverlayNetwork(), ControllerOptions{})
	start(t, c)
	for _, ip := range []netip.Addr{{}, addr("127.0.0.1"), addr("::ffff:198.18.0.10"), addr("fe80::1%eth0")} {
		_, err := c.Register(t.Context(), v1.AgentRegistration{IP: ip})
		if !errors.Is(err, ErrInvalidRegistration) || !strings.Contains(err.Error(), "ip: ") {
			t.Errorf("Register(%v) = %v, want ErrInvalidRegistration naming the ip", ip, err)
		}
	}
	if err := c.Delete(t.Context(), addr("198.18.0.10")); !errors.Is(err, ErrAgentNotFound) || !strings.Contains(err.Error(), "198.18.0.10") {
		t.Errorf("Delete of an unknown agent = %v, want ErrAgentNotFound naming it", err)
	}
	if n := len(s.List(KindAgent)); n != 0 {
		t.Errorf("%d agent records after invalid requests, want 0", n)
	}
}

// recordingRaft wraps a Raft: it runs hook (once) before the first Apply,
// gates Barrier and Get when told to, and records what was applied.
type recordingRaft struct {
	Raft
	hook func()

	barrierGate, getGate chan struct{} // when non-nil, the call waits for a close
	barrierEntered       chan struct{} // when non-nil, closed by Barrier

	mu        sync.Mutex
	batches   [][]raftstore.Op // the successful batches
	conflicts int
}

func (r *recordingRaft) Barrier(ctx context.Context) error {
	r.mu.Lock()
	entered := r.barrierEntered
	r.barrierEntered = nil
	r.mu.Unlock()
	if entered != nil {
		close(entered)
	}
	if r.barrierGate != nil {
		<-r.barrierGate
	}
	return r.Raft.Barrier(ctx)
}

func (r *recordingRaft) Get(kind, key string) (raftstore.Object, bool) {
	r.mu.Lock()
	gate := r.getGate
	r.getGate = nil
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return r.Raft.Get(kind, key)
}

func (r *recordingRaft) Apply(ctx context.Context, cmd raftstore.Command) (raftstore.Result, error) {
	r.mu.Lock()
	hook := r.hook
	r.hook = nil
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	res, err := r.Raft.Apply(ctx, cmd)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, raftstore.ErrConflict):
		r.conflicts++
	case err == nil:
		r.batches = append(r.batches, cmd.(raftstore.Batch).Ops)
	}
	return res, err
}

func (r *recordingRaft) stats() (batches [][]raftstore.Op, conflicts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches), r.conflicts
}

// checkFenced checks that every batch starts with a conditional put of the
// fence.
func checkFenced(t *testing.T, batches [][]raftstore.Op) {
	t.Helper()
	for i, ops := range batches {
		if len(ops) < 2 || ops[0].Put == nil || ops[0].Put.Kind != KindAgentFence || ops[0].Put.Key != FenceKey || ops[0].Put.ExpectModIndex == nil {
			t.Errorf("batch %d does not start with a conditional put of the fence: %+v", i, ops[0])
		}
	}
}

func TestControllerConcurrentRegistrations(t *testing.T) {
	cl := newCluster(t, 3, nil)
	leader := cl.Leader(t)
	rec := &recordingRaft{Raft: leader.Store()}
	c := newController(t, rec, nil, bigPlan(), ControllerOptions{})
	start(t, c)

	const n = 500
	ips := agentIPs(1, n)
	got, errs := registerAll(c, ips)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	stored := records(t, leader.Store())
	if len(stored) != n {
		t.Fatalf("%d records in raft, want %d", len(stored), n)
	}
	if err := Check(allocationsOf(stored)); err != nil {
		t.Fatalf("conflicting allocations: %v", err)
	}
	// Every answer is what raft holds, and together they are the lowest
	// n VTEP hosts and the lowest n /26 subnets: nothing was skipped.
	var vteps, subnets []netip.Addr
	for i, ip := range ips {
		if diff := cmp.Diff(stored[ip.String()], got[i], cmpNet); diff != "" {
			t.Errorf("answer to %s differs from raft (-raft +answer):\n%s", ip, diff)
		}
		vteps = append(vteps, got[i].VTEPIP.Addr())
		subnets = append(subnets, got[i].Overlays[0].Subnet.Addr())
	}
	slices.SortFunc(vteps, netip.Addr.Compare)
	slices.SortFunc(subnets, netip.Addr.Compare)
	if first, last := vteps[0], vteps[n-1]; first != addr("198.18.16.1") || last != addr("198.18.17.244") {
		t.Errorf("VTEPs from %s to %s, want 198.18.16.1 to 198.18.17.244", first, last)
	}
	if first, last := subnets[0], subnets[n-1]; first != addr("198.19.0.0") || last != addr("198.19.124.192") {
		t.Errorf("subnets from %s to %s, want 198.19.0.0 to 198.19.124.192", first, last)
	}
	batches, conflicts := rec.stats()
	checkFenced(t, batches)
	puts := 0
	for _, ops := range batches {
		puts += len(ops) - 1
	}
	if puts != n || conflicts != 0 {
		t.Errorf("%d records written in %d batches with %d conflicts, want each of the %d agents written once, no conflict", puts, len(batches), conflicts, n)
	}
	t.Logf("%d registrations in %d raft entries", n, len(batches))

	// The followers hold the same.
	cl.WaitReplicated(t, leader.Store().Index())
	for _, f := range cl.Followers(t) {
		if diff := cmp.Diff(stored, records(t, f.Store()), cmpNet); diff != "" {
			t.Errorf("follower %s records (-leader +follower):\n%s", f.Peer.ID, diff)
		}
	}

	// Registering all again writes nothing.
	index := leader.Store().Index()
	again, errs := registerAll(c, ips)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again, cmpNet); diff != "" {
		t.Errorf("re-registrations (-first +again):\n%s", diff)
	}
	if i := leader.Store().Index(); i != index {
		t.Errorf("raft index moved from %d to %d on re-registrations", index, i)
	}
}

// waitQueued waits until n requests wait for c's loop.
func waitQueued(t *testing.T, c *Controller, n int) {
	t.Helper()
	raftstoretest.WaitFor(t, fmt.Sprintf("%d queued requests", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.active != nil && len(c.active.reqs) == n
	})
}

func TestControllerExhausted(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	cfg := v1.TestPlanOverlayNetwork()
	cfg.VTEPSubnet = pfx("198.18.16.0/29") // 6 hosts
	rec := &recordingRaft{Raft: s}
	c := newController(t, rec, nil, cfg, ControllerOptions{Registerer: prometheus.NewRegistry()})
	start(t, c)
	for i := 1; i <= 5; i++ {
		mustRegister(t, c, agentIP(i), "")
	}

	// Hold the loop on a registration, queue a batch of three new agents
	// for the last VTEP, an agent registering again and one with a new
	// hostname, then let it go: they are handled together.
	gate := make(chan struct{})
	rec.mu.Lock()
	rec.getGate = gate
	rec.mu.Unlock()
	held := make(chan error, 1)
	go func() {
		_, err := c.Register(context.Background(), v1.AgentRegistration{IP: agentIP(3)})
		held <- err
	}()
	raftstoretest.WaitFor(t, "the loop to take the first registration", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.getGate == nil
	})
	type answer struct {
		rec v1.AgentRecord
		err error
	}
	reqs := []v1.AgentRegistration{
		{IP: agentIP(100)}, {IP: agentIP(101)}, {IP: agentIP(102)},
		{IP: agentIP(1)}, {IP: agentIP(2), Hostname: "renamed"},
	}
	answers := make([]answer, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			answers[i].rec, answers[i].err = c.Register(context.Background(), r)
		})
	}
	waitQueued(t, c, len(reqs))
	close(gate)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}

	won := 0
	for i, a := range answers[:3] {
		var ex *ExhaustedError
		switch {
		case a.err == nil:
			won++
			if a.rec.VTEPIP != pfx("198.18.16.6/29") {
				t.Errorf("%s got VTEP %s, want the last one, 198.18.16.6/29", reqs[i].IP, a.rec.VTEPIP)
			}
		case errors.As(a.err, &ex):
			if diff := cmp.Diff(&ExhaustedError{Range: pfx("198.18.16.0/29"), What: "VTEP IP"}, ex, cmpNet); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if msg := a.err.Error(); !strings.Contains(msg, "198.18.16.0/29") || !strings.Contains(msg, reqs[i].IP.String()) {
				t.Errorf("error %q names neither the range nor the agent", msg)
			}
		default:
			t.Errorf("Register(%s) = %v, want success or *ExhaustedError", reqs[i].IP, a.err)
		}
	}
	if won != 1 {
		t.Errorf("%d of the 3 new agents got the last VTEP, want 1", won)
	}
	if answers[3].err != nil || answers[4].err != nil {
		t.Fatalf("registrations beside the exhausted ones failed: %v, %v", answers[3].err, answers[4].err)
	}
	stored := records(t, s)
	if got := stored[agentIP(2).String()].Hostname; got != "renamed" || answers[4].rec.Hostname != "renamed" {
		t.Errorf("hostname in raft %q, answered %q; want renamed", got, answers[4].rec.Hostname)
	}
	if len(stored) != 6 {
		t.Errorf("%d records, want 6", len(stored))
	}
	if err := Check(allocationsOf(stored)); err != nil {
		t.Error(err)
	}
	// The batch was one raft entry: the fence, the winner, the rename.
	batches, _ := rec.stats()
	checkFenced(t, batches)
	if last := batches[len(batches)-1]; len(last) != 3 {
		t.Errorf("last batch has %d ops, want 3 (fence, new agent, renamed agent)", len(last))
	}
	if got := testutil.ToFloat64(c.metrics.registrations.WithLabelValues(resultExhausted)); got != 2 {
		t.Errorf("registrations_total{result=exhausted} = %v, want 2", got)
	}
}

func TestControllerNotLeading(t *testing.T) {
	cl := newCluster(t, 3, nil)
	leader := cl.Leader(t)
	ctx := t.Context()

	// Never run.
	c := newController(t, leader.Store(), nil, v1.TestPlanOverlayNetwork(), ControllerOptions{})
	if _, err := c.Register(ctx, v1.AgentRegistration{IP: agentIP(1)}); !errors.Is(err, ErrNotLeading) {
		t.Errorf("Register before Run = %v, want ErrNotLeading", err)
	}
	if err := c.Delete(ctx, agentIP(1)); !errors.Is(err, ErrNotLeading) {
		t.Errorf("Delete before Run = %v, want ErrNotLeading", err)
	}

	// On a follower, Run fails at the barrier and never serves.
	follower := cl.Followers(t)[0]
	cf := newController(t, follower.Store(), nil, v1.TestPlanOverlayNetwork(), ControllerOptions{})
	if err := cf.Run(ctx); !errors.Is(err, raftstore.ErrNotLeader) {
		t.Errorf("Run on a follower = %v, want ErrNotLeader", err)
	}
	if _, err := cf.Register(ctx, v1.AgentRegistration{IP: agentIP(1)}); !errors.Is(err, ErrNotLeading) {
		t.Errorf("Register after a failed Run = %v, want ErrNotLeading", err)
	}

	// Not before the barrier completed.
	entered := make(chan struct{})
	rec := &recordingRaft{Raft: leader.Store(), barrierGate: make(chan struct{}), barrierEntered: entered}
	c = newController(t, rec, nil, v1.TestPlanOverlayNetwork(), ControllerOptions{Registerer: prometheus.NewRegistry()})
	stop := runAsync(t, c, context.Canceled)
	<-entered
	if _, err := c.Register(ctx, v1.AgentRegistration{IP: agentIP(1)}); !errors.Is(err, ErrNotLeading) {
		t.Errorf("Register during the barrier = %v, want ErrNotLeading", err)
	}
	close(rec.barrierGate)
	raftstoretest.WaitFor(t, "the controller to serve", c.serving)
	mustRegister(t, c, agentIP(1), "")
	// A second Run of the same controller refuses to start.
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v, want an error", err)
	}
	stop()
	if _, err := c.Register(ctx, v1.AgentRegistration{IP: agentIP(1)}); !errors.Is(err, ErrNotLeading) {
		t.Errorf("Register after Run stopped = %v, want ErrNotLeading", err)
	}
	if got := testutil.ToFloat64(c.metrics.registrations.WithLabelValues(resultNotLeading)); got != 2 {
		t.Errorf("registrations_total{result=not_leading} = %v, want 2", got)
	}
}

// TestFenceRejectsStaleWrite checks the FSM side of the fence: a batch
// computed before another fenced write is rejected as a whole.
func TestFenceRejectsStaleWrite(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	c := newController(t, s, nil, v1.TestPlanOverlayNetwork(), ControllerOptions{})
	start(t, c)
	mustRegister(t, c, agentIP(1), "")

	// A writer reads the fence and the records, and computes an
	// allocation...
	fence, _ := s.Get(KindAgentFence, FenceKey)
	var existing []v1.AgentAllocation
	for _, r := range records(t, s) {
		existing = append(existing, r.AgentAllocation)
	}
	stale, err := Allocate(v1.TestPlanOverlayNetwork(), existing, agentIP(9))
	if err != nil {
		t.Fatal(err)
	}
	// ...meanwhile the controller hands out the same addresses.
	other := mustRegister(t, c, agentIP(2), "")
	if !equalAllocations(other.AgentAllocation, func() v1.AgentAllocation { a := stale; a.AgentIP = agentIP(2); return a }()) {
		t.Fatalf("the controller allocated %+v, the stale writer %+v: the test needs them to collide", other.AgentAllocation, stale)
	}
	value, err := json.Marshal(v1.AgentRecord{AgentAllocation: stale, RegisteredAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	index := s.Index()
	_, err = s.Apply(t.Context(), raftstore.Batch{Ops: []raftstore.Op{
		raftstore.PutOp(raftstore.Put{Kind: KindAgentFence, Key: FenceKey, Value: json.RawMessage(`{"agents":3}`), ExpectModIndex: raftstore.Expect(fence.ModIndex)}),
		raftstore.PutOp(raftstore.Put{Kind: KindAgent, Key: agentIP(9).String(), Value: value, ExpectModIndex: raftstore.Expect(0)}),
	}})
	var rej *raftstore.RejectedError
	if !errors.Is(err, raftstore.ErrConflict) || !errors.As(err, &rej) || rej.Kind != KindAgentFence || rej.OpIndex != 0 {
		t.Fatalf("stale batch = %v, want a conflict on the fence", err)
	}
	if _, ok := s.Get(KindAgent, agentIP(9).String()); ok {
		t.Error("the stale batch recorded its agent")
	}
	if err := Check(allocationsOf(records(t, s))); err != nil {
		t.Error(err)
	}
	if s.Index() <= index {
		t.Error("the rejected batch did not reach the raft log")
	}
}

// TestControllerRetriesAfterConflict checks the controller side: a write
// computed before a concurrent fenced write is rejected, computed again and
// gets the next free addresses.
func TestControllerRetriesAfterConflict(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	cfg := v1.TestPlanOverlayNetwork()
	var intruder v1.AgentAllocation
	rec := &recordingRaft{Raft: s}
	rec.hook = func() {
		// Another writer records the addresses the controller is about
		// to write, with the fence.
		var err error
		intruder, err = Allocate(cfg, nil, agentIP(99))
		if err != nil {
			t.Error(err)
			return
		}
		value, _ := json.Marshal(v1.AgentRecord{AgentAllocation: intruder, RegisteredAt: t0})
		if _, err := s.Apply(context.Background(), raftstore.Batch{Ops: []raftstore.Op{
			raftstore.PutOp(raftstore.Put{Kind: KindAgentFence, Key: FenceKey, Value: json.RawMessage(`{"agents":1}`), ExpectModIndex: raftstore.Expect(0)}),
			raftstore.PutOp(raftstore.Put{Kind: KindAgent, Key: agentIP(99).String(), Value: value, ExpectModIndex: raftstore.Expect(0)}),
		}}); err != nil {
			t.Error(err)
		}
	}
	c := newController(t, rec, nil, cfg, ControllerOptions{Registerer: prometheus.NewRegistry()})
	start(t, c)
	got := mustRegister(t, c, agentIP(1), "")
	if got.VTEPIP != pfx("198.18.16.2/20") || got.Overlays[0].Subnet != pfx("198.19.1.0/24") {
		t.Errorf("after the conflict: VTEP %s, subnet %s; want the second ones, 198.18.16.2/20 and 198.19.1.0/24", got.VTEPIP, got.Overlays[0].Subnet)
	}
	if intruder.VTEPIP != pfx("198.18.16.1/20") {
		t.Errorf("intruder VTEP %s, want 198.18.16.1/20", intruder.VTEPIP)
	}
	if _, conflicts := rec.stats(); conflicts != 1 {
		t.Errorf("%d conflicts, want 1", conflicts)
	}
	if got := testutil.ToFloat64(c.metrics.conflicts); got != 1 {
		t.Errorf("conflicts_total = %v, want 1", got)
	}
	stored := records(t, s)
	if len(stored) != 2 {
		t.Errorf("%d records, want 2", len(stored))
	}
	if err := Check(allocationsOf(stored)); err != nil {
		t.Error(err)
	}
}

// fakeMesos is a Mesos state model fed with agent lists.
type fakeMesos struct {
	*state.Store
	t testing.TB
}

func newFakeMesos(t testing.TB) *fakeMesos {
	return &fakeMesos{
		Store: state.New(state.Options{Logger: zaptest.NewLogger(t), Resolver: statetest.Resolver{}, RecoveredAgentsWait: -1}),
		t:     t,
	}
}

// setAgents loads a Mesos state with the agents, given as id and IP.
func (m *fakeMesos) setAgents(agents ...[2]string) {
	m.t.Helper()
	gs := &master.Response_GetState{GetAgents: &master.Response_GetAgents{}}
	for _, a := range agents {
		gs.GetAgents.Agents = append(gs.GetAgents.Agents, master.Response_GetAgents_Agent{
			AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: a[0]}, Hostname: a[1]},
			Active:    true,
		})
	}
	if err := m.LoadState(gs, nil); err != nil {
		m.t.Fatal(err)
	}
}

// waitRecord waits until the record of ip satisfies cond; a nil record
// means absent.
func waitRecord(t *testing.T, s *raftstore.Store, ip netip.Addr, what string, cond func(r *v1.AgentRecord) bool) {
	t.Helper()
	raftstoretest.WaitFor(t, fmt.Sprintf("agent %s: %s", ip, what), func() bool {
		r, ok := records(t, s)[ip.String()]
		if !ok {
			return cond(nil)
		}
		return cond(&r)
	})
}

// waitResyncs waits until c handled two more resyncs, the second of which
// started after the call.
func waitResyncs(t *testing.T, c *Controller) {
	t.Helper()
	n := c.resyncs.Load()
	raftstoretest.WaitFor(t, "two resyncs", func() bool { return c.resyncs.Load() >= n+2 })
}

func TestControllerFollowsMesos(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	m := newFakeMesos(t)
	agent, gone, masterIP := addr("198.18.0.11"), addr("198.18.0.12"), addr("198.18.0.1")
	m.setAgents([2]string{"S1", agent.String()}, [2]string{"S2", gone.String()})
	clk := &clock{now: t0}
	c := newController(t, s, m, v1.TestPlanOverlayNetwork(), ControllerOptions{
		Now: clk.Now, RemovedGrace: time.Hour, ResyncInterval: 5 * time.Millisecond, Registerer: prometheus.NewRegistry(),
	})
	start(t, c)
	mustRegister(t, c, agent, "")
	mustRegister(t, c, gone, "")
	mustRegister(t, c, masterIP, "master-1")
	waitRecord(t, s, agent, "Mesos agent S1", func(r *v1.AgentRecord) bool { return r != nil && r.MesosAgentID == "S1" })
	waitRecord(t, s, gone, "Mesos agent S2", func(r *v1.AgentRecord) bool { return r != nil && r.MesosAgentID == "S2" })

	// Gone from Mesos: marked.
	removedAt := clk.Advance(10 * time.Minute)
	m.setAgents([2]string{"S1", agent.String()})
	waitRecord(t, s, gone, "marked removed", func(r *v1.AgentRecord) bool { return r != nil && r.RemovedAt.Equal(removedAt) })
	// Back under another agent ID: unmarked.
	clk.Advance(10 * time.Minute)
	m.setAgents([2]string{"S1", agent.String()}, [2]string{"S3", gone.String()})
	waitRecord(t, s, gone, "back as S3", func(r *v1.AgentRecord) bool { return r != nil && r.RemovedAt.IsZero() && r.MesosAgentID == "S3" })
	// Still a Mesos agent, whose hostname no longer resolves: not taken for
	// gone.
	m.setAgents([2]string{"S1", agent.String()}, [2]string{"S3", "agent-3.unresolvable.example"})
	clk.Advance(10 * time.Minute)
	waitResyncs(t, c)
	if r := records(t, s)[gone.String()]; !r.RemovedAt.IsZero() || r.MesosAgentID != "S3" {
		t.Fatalf("record of an agent with an unresolved hostname: Mesos agent %q, removed at %v; want S3, not removed", r.MesosAgentID, r.RemovedAt)
	}
	// Gone again.
	removedAt = clk.Advance(10 * time.Minute)
	m.setAgents([2]string{"S1", agent.String()})
	waitRecord(t, s, gone, "marked removed again", func(r *v1.AgentRecord) bool { return r != nil && r.RemovedAt.Equal(removedAt) })

	// Within the grace period, kept.
	clk.Advance(59 * time.Minute)
	waitResyncs(t, c)
	if r, ok := records(t, s)[gone.String()]; !ok || !r.RemovedAt.Equal(removedAt) {
		t.Fatalf("record within the grace period: %+v (present %v)", r, ok)
	}
	// Past it, but Mesos is disconnected: kept, Mesos may know better.
	m.Disconnected(errors.New("test"))
	clk.Advance(2 * time.Minute)
	waitResyncs(t, c)
	if _, ok := records(t, s)[gone.String()]; !ok {
		t.Fatal("record deleted while Mesos was disconnected")
	}
	// Connected again: deleted.
	m.setAgents([2]string{"S1", agent.String()})
	waitRecord(t, s, gone, "deleted", func(r *v1.AgentRecord) bool { return r == nil })
	// The record is gone from the replica a moment before the loop's
	// Apply returns and counts it.
	raftstoretest.WaitFor(t, "removals_total{reason=grace} 1", func() bool {
		return testutil.ToFloat64(c.metrics.removals.WithLabelValues(reasonGrace)) == 1
	})

	// The master was never a Mesos agent: never marked nor deleted, however
	// long it is absent from Mesos.
	clk.Advance(100 * time.Hour)
	waitResyncs(t, c)
	stored := records(t, s)
	if r, ok := stored[masterIP.String()]; !ok || r.MesosAgentID != "" || !r.RemovedAt.IsZero() || r.Hostname != "master-1" {
		t.Errorf("master record %+v (present %v), want it unchanged", r, ok)
	}
	if r, ok := stored[agent.String()]; !ok || r.MesosAgentID != "S1" || !r.RemovedAt.IsZero() {
		t.Errorf("present agent record %+v (present %v), want it unchanged", r, ok)
	}

	// An operator deletes the master's record; its addresses and the
	// deleted agent's are handed out again, lowest first.
	if err := c.Delete(t.Context(), masterIP); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), masterIP); !errors.Is(err, ErrAgentNotFound) {
		t.Errorf("second Delete = %v, want ErrAgentNotFound", err)
	}
	if _, ok := records(t, s)[masterIP.String()]; ok {
		t.Error("master record still present after Delete")
	}
	if got := testutil.ToFloat64(c.metrics.removals.WithLabelValues(reasonOperator)); got != 1 {
		t.Errorf("removals_total{reason=operator} = %v, want 1", got)
	}
	for _, w := range []struct {
		ip   netip.Addr
		vtep netip.Prefix
	}{{agentIP(7), pfx("198.18.16.2/20")}, {agentIP(8), pfx("198.18.16.3/20")}} {
		if got := mustRegister(t, c, w.ip, ""); got.VTEPIP != w.vtep {
			t.Errorf("%s got VTEP %s, want the freed %s", w.ip, got.VTEPIP, w.vtep)
		}
	}
	if err := Check(allocationsOf(records(t, s))); err != nil {
		t.Error(err)
	}
}

// TestControllerMesosNotification checks that a change of the Mesos agents
// is followed at once, without waiting for a resync, and that an agent
// registering while Mesos knows it is recorded with its Mesos agent ID.
func TestControllerMesosNotification(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	m := newFakeMesos(t)
	m.setAgents([2]string{"S1", "198.18.0.11"})
	c := newController(t, s, m, v1.TestPlanOverlayNetwork(), ControllerOptions{ResyncInterval: time.Hour})
	start(t, c)
	waitRecord(t, s, addr("198.18.0.20"), "absent", func(r *v1.AgentRecord) bool { return r == nil })
	mustRegister(t, c, addr("198.18.0.20"), "")
	m.setAgents([2]string{"S1", "198.18.0.11"}, [2]string{"S2", "198.18.0.20"})
	waitRecord(t, s, addr("198.18.0.20"), "Mesos agent S2", func(r *v1.AgentRecord) bool { return r != nil && r.MesosAgentID == "S2" })
	// Known to Mesos at registration: recorded in the same write.
	index := s.Index()
	if got := mustRegister(t, c, addr("198.18.0.11"), ""); got.MesosAgentID != "S1" {
		t.Errorf("new record's Mesos agent ID %q, want S1", got.MesosAgentID)
	}
	if got := s.Index(); got != index+1 {
		t.Errorf("raft index %d after registering a Mesos agent, want %d: one write", got, index+1)
	}
}

// TestControllerLeaderChange hands raft leadership over while the old
// leader's controller still runs and registers (its writes are forwarded),
// as happens until its context is cancelled: the fence keeps the two
// writers from handing out anything twice.
func TestControllerLeaderChange(t *testing.T) {
	cl := newCluster(t, 3, nil)
	old := cl.Leader(t)
	opts := ControllerOptions{MaxRetries: 100}
	a := newController(t, old.Store(), nil, bigPlan(), opts)
	stopA := start(t, a)
	firstIPs := agentIPs(1, 100)
	first, errs := registerAll(a, firstIPs)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	if err := old.Store().TransferLeadership(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	leader := cl.Leader(t)
	if leader == old {
		t.Fatal("leadership did not move")
	}
	b := newController(t, leader.Store(), nil, bigPlan(), opts)
	start(t, b)

	// Both write at once: a on the old leader (forwarded), b on the new
	// one, re-registering the first agents too.
	type result struct {
		ip  netip.Addr
		rec v1.AgentRecord
		err error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	run := func(c *Controller, ips []netip.Addr) {
		wg.Go(func() {
			recs, errs := registerAll(c, ips)
			mu.Lock()
			defer mu.Unlock()
			for i := range ips {
				results = append(results, result{ips[i], recs[i], errs[i]})
			}
		})
	}
	run(a, agentIPs(101, 200))
	run(b, agentIPs(201, 300))
	run(b, firstIPs)
	wg.Wait()
	stopA()

	var failed []netip.Addr
	for _, r := range results {
		if r.err != nil {
			if !errors.Is(r.err, raftstore.ErrConflict) {
				t.Errorf("Register(%s) = %v, want success or a conflict", r.ip, r.err)
			}
			failed = append(failed, r.ip)
		}
	}
	t.Logf("%d registrations through the old leader's controller failed with conflicts", len(failed))
	// What failed on the old leader succeeds on the new one.
	retried, errs := registerAll(b, failed)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, ip := range failed {
		results = append(results, result{ip, retried[i], nil})
	}

	stored := records(t, leader.Store())
	if len(stored) != 300 {
		t.Errorf("%d records, want 300", len(stored))
	}
	if err := Check(allocationsOf(stored)); err != nil {
		t.Fatalf("duplicate allocations after the leader change: %v", err)
	}
	// Every answer given is what raft holds: nobody was told an address
	// that is not recorded for it.
	for _, r := range append(results, func() []result {
		var out []result
		for i, ip := range firstIPs {
			out = append(out, result{ip, first[i], nil})
		}
		return out
	}()...) {
		if r.err != nil {
			continue
		}
		if diff := cmp.Diff(stored[r.ip.String()].AgentAllocation, r.rec.AgentAllocation, cmpNet); diff != "" {
			t.Errorf("answer to %s differs from raft (-raft +answer):\n%s", r.ip, diff)
		}
	}
}

func TestValidators(t *testing.T) {
	good := v1.AgentRecord{
		AgentAllocation: want("198.18.0.10", "198.18.16.1/20", "", mac(0x12, 0x10, 0x01), [3]string{"dcos", "198.19.0.0/24", ""}),
		RegisteredAt:    t0,
	}
	value, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	withUnknown := strings.Replace(string(value), "{", `{"futureField":1,`, 1)
	bad := good
	bad.RegisteredAt = time.Time{}
	badValue, _ := json.Marshal(bad)
	for _, tt := range []struct {
		name, kind, key, value, wantErr string
	}{
		{"agent", KindAgent, "198.18.0.10", string(value), ""},
		{"agent with an unknown field", KindAgent, "198.18.0.10", withUnknown, ""},
		{"agent not JSON", KindAgent, "198.18.0.10", "{", `decode agent record "198.18.0.10"`},
		{"agent invalid", KindAgent, "198.18.0.10", string(badValue), `validate agent record "198.18.0.10": agent record 198.18.0.10: registeredAt: missing`},
		{"agent under another key", KindAgent, "198.18.0.11", string(value), `agent record of 198.18.0.10 stored under key "198.18.0.11", want "198.18.0.10"`},
		{"agent under a non-canonical key", KindAgent, "198.018.0.10", string(value), `want "198.18.0.10"`},
		{"fence", KindAgentFence, FenceKey, `{"agents":3}`, ""},
		{"fence under another key", KindAgentFence, "other", `{"agents":3}`, `agent fence stored under key "other", want "agents"`},
		{"fence negative", KindAgentFence, FenceKey, `{"agents":-1}`, "agent fence: agents: -1 is negative"},
		{"fence not JSON", KindAgentFence, FenceKey, `[`, "decode agent fence"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			validate := map[string]raftstore.ValidateFunc{KindAgent: ValidateAgent, KindAgentFence: ValidateFence}[tt.kind]
			err := validate(tt.key, json.RawMessage(tt.value))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("validate = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	// RegisterKinds registers both on an FSM; the second time fails.
	fsm := raftstore.NewFSM(raftstore.FSMOptions{})
	if err := RegisterKinds(fsm); err != nil {
		t.Fatal(err)
	}
	if err := RegisterKinds(fsm); err == nil {
		t.Error("registering the kinds twice succeeded")
	}
}

// BenchmarkRegister registers b.N distinct agents through the leader's
// controller of a 3-master cluster, from 256 concurrent callers (agents
// booting at once), and reports committed allocations per second.
func BenchmarkRegister(b *testing.B) {
	cl := newCluster(b, 3, zap.NewNop())
	s := cl.Leader(b).Store()
	cfg := v1.DefaultOverlayNetwork()
	cfg.VTEPSubnet = pfx("44.128.0.0/14") // room for any b.N
	c := newController(b, s, nil, cfg, ControllerOptions{Logger: zap.NewNop()})
	start(b, c)
	ips := make([]netip.Addr, b.N)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range min(256, b.N) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := c.Register(context.Background(), v1.AgentRegistration{IP: ips[i]}); err != nil {
					failed.Add(1)
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocations/s")
	if n := len(s.List(KindAgent)); n != b.N || failed.Load() != 0 {
		b.Fatalf("%d records committed for %d registrations (%d failed)", n, b.N, failed.Load())
	}
}
