package vipalloc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// kinds are the kinds of a test cluster: the tasks and ours.
var kinds = map[string]raftstore.ValidateFunc{
	taskstate.Kind: taskstate.Validate,
	KindVIP:        ValidateVIP,
	KindVIPFence:   ValidateFence,
}

func newCluster(tb testing.TB, size int, logger *zap.Logger) *raftstoretest.Cluster {
	tb.Helper()
	return raftstoretest.NewCluster(tb, size, raftstoretest.Options{Kinds: kinds, Logger: logger})
}

// namedTask is a running task of framework fw with container IPs addrs
// and the named VIP label:80 on tcp 8080.
func namedTask(id, label, fw string, addrs ...string) v1.Task {
	t := overlayTask(id, "9.0.0.1", label+":80")
	t.Framework = fw
	t.IPs = nil
	for _, a := range addrs {
		t.IPs = append(t.IPs, ip(a))
	}
	return t
}

// putTasks writes tasks (puts) through s, as taskstate would.
func putTasks(tb testing.TB, s *raftstore.Store, tasks ...v1.Task) {
	tb.Helper()
	var ops []raftstore.Op
	for _, task := range tasks {
		value, err := json.Marshal(task)
		if err != nil {
			tb.Fatal(err)
		}
		ops = append(ops, raftstore.PutOp(raftstore.Put{Kind: taskstate.Kind, Key: task.Key.String(), Value: value}))
	}
	apply(tb, s, raftstore.Batch{Ops: ops})
}

// deleteTasks deletes the tasks with the given ids.
func deleteTasks(tb testing.TB, s *raftstore.Store, ids ...string) {
	tb.Helper()
	var ops []raftstore.Op
	for _, id := range ids {
		ops = append(ops, raftstore.DeleteOp(raftstore.Delete{Kind: taskstate.Kind, Key: tk(id).String()}))
	}
	apply(tb, s, raftstore.Batch{Ops: ops})
}

func apply(tb testing.TB, s *raftstore.Store, cmd raftstore.Command) raftstore.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), raftstoretest.Timeout)
	defer cancel()
	res, err := s.Apply(ctx, cmd)
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	return res
}

// records returns the VIP allocations in s by name.
func records(tb testing.TB, s *raftstore.Store) map[string]v1.VIPAllocation {
	tb.Helper()
	out := map[string]v1.VIPAllocation{}
	for _, o := range s.List(KindVIP) {
		var a v1.VIPAllocation
		if err := json.Unmarshal(o.Value, &a); err != nil {
			tb.Fatalf("decode VIP %s: %v", o.Key, err)
		}
		out[o.Key] = a
	}
	return out
}

// waitRecords waits until cond holds for the records of s and returns them.
func waitRecords(tb testing.TB, s *raftstore.Store, what string, cond func(map[string]v1.VIPAllocation) bool) map[string]v1.VIPAllocation {
	tb.Helper()
	var got map[string]v1.VIPAllocation
	raftstoretest.WaitFor(tb, what, func() bool {
		got = records(tb, s)
		return cond(got)
	})
	return got
}

// hasNames reports whether recs holds exactly names.
func hasNames(names ...string) func(map[string]v1.VIPAllocation) bool {
	return func(recs map[string]v1.VIPAllocation) bool {
		if len(recs) != len(names) {
			return false
		}
		for _, n := range names {
			if _, ok := recs[n]; !ok {
				return false
			}
		}
		return true
	}
}

// checkUnique fails tb when two records share an address.
func checkUnique(tb testing.TB, recs map[string]v1.VIPAllocation) {
	tb.Helper()
	seen := map[netip.Addr]string{}
	for name, a := range recs {
		for _, addr := range []netip.Addr{a.IP4, a.IP6} {
			if !addr.IsValid() {
				continue
			}
			if other, dup := seen[addr]; dup {
				tb.Errorf("address %s recorded for both %s and %s", addr, other, name)
			}
			seen[addr] = name
		}
	}
}

// recordingRaft wraps a Raft: it counts the batches applied and the
// conflicts, runs hook (once) before the first Apply, and with noBarrier
// skips the barrier (a deposed leader that passed it before losing
// leadership).
type recordingRaft struct {
	Raft
	noBarrier bool

	mu        sync.Mutex
	batches   []raftstore.Batch
	conflicts int
	hook      func()
}

func (r *recordingRaft) Barrier(ctx context.Context) error {
	if r.noBarrier {
		return nil
	}
	return r.Raft.Barrier(ctx)
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
		r.batches = append(r.batches, cmd.(raftstore.Batch))
	}
	return res, err
}

func (r *recordingRaft) stats() (batches []raftstore.Batch, conflicts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches), r.conflicts
}

// start runs c until the end of the test; the returned func stops it and
// checks that Run returned context.Canceled.
func start(tb testing.TB, c *Controller) (stop func()) {
	tb.Helper()
	return raftstoretest.RunInBackground(tb, c.Run, context.Canceled)
}

func newController(tb testing.TB, r Raft, opts ControllerOptions) *Controller {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(tb)
	}
	c, err := NewController(r, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestControllerSpecAddresses checks the addresses of spec dcos-net.md
// §3.2 in the DC/OS ranges, the services they give, and the metrics.
func TestControllerSpecAddresses(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	reg := prometheus.NewRegistry()
	c := newController(t, s, ControllerOptions{Registerer: reg})
	start(t, c)

	tasks := []v1.Task{
		namedTask("l4lbtest", "/l4lbtest", "marathon", "9.0.1.2"),
		namedTask("foo", "foo", "bar", "9.0.1.3", "fd01:b::3"),
		namedTask("ipvip", "198.18.200.1", "marathon", "9.0.1.4"), // IP VIP: no record
	}
	putTasks(t, s, tasks...)
	got := waitRecords(t, s, "the two named VIPs", hasNames("l4lbtest.marathon", "foo.bar"))
	want := map[string]v1.VIPAllocation{
		"l4lbtest.marathon": {Name: "l4lbtest.marathon", Label: "/l4lbtest", Framework: "marathon", IP4: ip("11.128.73.162")},
		"foo.bar":           {Name: "foo.bar", Label: "foo", Framework: "bar", IP4: ip("11.138.58.156"), IP6: ip("fd01:c::6d7:a93:e041:647f")},
	}
	if diff := cmp.Diff(want, got, cmpV1); diff != "" {
		t.Fatalf("VIP records (-want +got):\n%s", diff)
	}

	services, unres := Services(tasks, got, ServiceOptions{})
	var vips []string
	for _, s := range services {
		vips = append(vips, string(s.Protocol)+" "+s.VIP+" "+s.IP.String())
	}
	wantVIPs := []string{
		"tcp 198.18.200.1:80 198.18.200.1",
		"tcp foo.bar.l4lb.thisdcos.directory:80 11.138.58.156",
		"tcp foo.bar.l4lb.thisdcos.directory:80 fd01:c::6d7:a93:e041:647f",
		"tcp l4lbtest.marathon.l4lb.thisdcos.directory:80 11.128.73.162",
	}
	if diff := cmp.Diff(wantVIPs, vips); diff != "" || len(unres.Unallocated) != 0 {
		t.Errorf("services (-want +got):\n%s\nunresolved %v", diff, unres)
	}

	// The pass after the write sets the gauges; the counters count
	// addresses.
	raftstoretest.WaitFor(t, "the vips gauge", func() bool { return testutil.ToFloat64(c.m.vips) == 2 })
	for family, want := range map[string]float64{familyIPv4: 2, familyIPv6: 1} {
		if got := testutil.ToFloat64(c.m.allocations.WithLabelValues(family)); got != want {
			t.Errorf("allocations_total{family=%q} = %v, want %v", family, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "mesosnet_vipalloc_pass_duration_seconds"); err != nil || n != 1 {
		t.Errorf("pass duration histogram: %d series, %v", n, err)
	}
}

// TestControllerCollision: foo.bar and merp.marathon hash to the same
// address of the upstream unit range (spec §3.2); whichever is recorded
// first keeps it, the other takes the next address.
func TestControllerCollision(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	c := newController(t, s, ControllerOptions{Range4: unitRange})
	start(t, c)

	// Together: allocated in name order, foo.bar first.
	putTasks(t, s, namedTask("foo", "foo", "bar", "9.0.1.1"), namedTask("merp", "merp", "marathon", "9.0.1.2"))
	got := waitRecords(t, s, "both VIPs", hasNames("foo.bar", "merp.marathon"))
	if got["foo.bar"].IP4 != ip("11.0.0.37") || got["merp.marathon"].IP4 != ip("11.0.0.38") {
		t.Errorf("foo.bar = %s, merp.marathon = %s, want 11.0.0.37 and 11.0.0.38", got["foo.bar"].IP4, got["merp.marathon"].IP4)
	}

	// merp alone first: it keeps .37 and foo.bar, arriving later, probes.
	s2 := newCluster(t, 1, nil).Leader(t).Store()
	start(t, newController(t, s2, ControllerOptions{Range4: unitRange}))
	putTasks(t, s2, namedTask("merp", "merp", "marathon", "9.0.1.2"))
	waitRecords(t, s2, "merp.marathon", hasNames("merp.marathon"))
	putTasks(t, s2, namedTask("foo", "foo", "bar", "9.0.1.1"))
	got = waitRecords(t, s2, "both VIPs", hasNames("foo.bar", "merp.marathon"))
	if got["merp.marathon"].IP4 != ip("11.0.0.37") || got["foo.bar"].IP4 != ip("11.0.0.38") {
		t.Errorf("merp.marathon = %s, foo.bar = %s, want 11.0.0.37 and 11.0.0.38", got["merp.marathon"].IP4, got["foo.bar"].IP4)
	}
}

// TestControllerAddsFamily: an allocation keeps its IPv4 address and gains
// an IPv6 one when IPv6 backends appear; with IPv6 disabled it does not.
func TestControllerAddsFamily(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableIPv6=%v", disable), func(t *testing.T) {
			s := newCluster(t, 1, nil).Leader(t).Store()
			start(t, newController(t, s, ControllerOptions{DisableIPv6: disable}))
			putTasks(t, s, namedTask("a", "foo", "bar", "9.0.1.1"))
			waitRecords(t, s, "foo.bar", hasNames("foo.bar"))
			putTasks(t, s, namedTask("b", "foo", "bar", "fd01:b::2"), namedTask("c", "/other", "marathon", "9.0.1.3"))
			got := waitRecords(t, s, "other.marathon", hasNames("foo.bar", "other.marathon"))
			want := v1.VIPAllocation{Name: "foo.bar", Label: "foo", Framework: "bar", IP4: ip("11.138.58.156")}
			if !disable {
				want.IP6 = ip("fd01:c::6d7:a93:e041:647f")
			}
			if diff := cmp.Diff(want, got["foo.bar"], cmpV1); diff != "" {
				t.Errorf("foo.bar (-want +got):\n%s", diff)
			}
		})
	}
}

// TestControllerOrphanGrace follows an allocation through its life: kept
// with OrphanedAt when its backends go, adopted again on the same address,
// its address not reused while orphaned, deleted once Grace has passed.
func TestControllerOrphanGrace(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := newController(t, s, ControllerOptions{
		Range4: unitRange, Grace: time.Hour, Now: clock.Now,
		ResyncInterval: 10 * time.Millisecond, // the fake clock wakes no timer
	})
	start(t, c)
	foo := v1.VIPAllocation{Name: "foo.bar", Label: "foo", Framework: "bar", IP4: ip("11.0.0.37")}

	putTasks(t, s, namedTask("foo", "foo", "bar", "9.0.1.1"), namedTask("foo-killing", "foo", "bar", "9.0.1.2"))
	got := waitRecords(t, s, "foo.bar", hasNames("foo.bar"))
	if diff := cmp.Diff(foo, got["foo.bar"], cmpV1); diff != "" {
		t.Fatalf("foo.bar (-want +got):\n%s", diff)
	}

	// A killing task is still a (draining) backend: nothing changes.
	putTasks(t, s, with(namedTask("foo-killing", "foo", "bar", "9.0.1.2"), state_(v1.TaskKilling)))
	deleteTasks(t, s, "foo")
	putTasks(t, s, namedTask("unrelated", "/x", "marathon", "9.0.1.9")) // a later change to wait for
	waitRecords(t, s, "x.marathon", func(r map[string]v1.VIPAllocation) bool { _, ok := r["x.marathon"]; return ok })
	if got := records(t, s)["foo.bar"]; !got.OrphanedAt.IsZero() {
		t.Fatalf("foo.bar orphaned at %s while a killing task backs it", got.OrphanedAt)
	}

	// The last backend goes: orphaned, same address.
	orphanedAt := clock.Now()
	deleteTasks(t, s, "foo-killing")
	got = waitRecords(t, s, "foo.bar orphaned", func(r map[string]v1.VIPAllocation) bool { return !r["foo.bar"].OrphanedAt.IsZero() })
	want := foo
	want.OrphanedAt = orphanedAt
	if diff := cmp.Diff(want, got["foo.bar"], cmpV1); diff != "" {
		t.Fatalf("orphaned foo.bar (-want +got):\n%s", diff)
	}
	raftstoretest.WaitFor(t, "the orphaned gauge", func() bool { return testutil.ToFloat64(c.m.orphaned) == 1 })

	// Its address stays taken: merp.marathon, whose first choice it is,
	// probes past it.
	putTasks(t, s, namedTask("merp", "merp", "marathon", "9.0.1.3"))
	got = waitRecords(t, s, "merp.marathon", func(r map[string]v1.VIPAllocation) bool { _, ok := r["merp.marathon"]; return ok })
	if got["merp.marathon"].IP4 != ip("11.0.0.38") {
		t.Errorf("merp.marathon = %s, want 11.0.0.38 (11.0.0.37 is orphaned, not free)", got["merp.marathon"].IP4)
	}

	// A backend comes back within the grace: adopted, same address.
	clock.Advance(30 * time.Minute)
	putTasks(t, s, namedTask("foo2", "foo", "bar", "9.0.1.4"))
	got = waitRecords(t, s, "foo.bar adopted", func(r map[string]v1.VIPAllocation) bool { return r["foo.bar"].OrphanedAt.IsZero() })
	if diff := cmp.Diff(foo, got["foo.bar"], cmpV1); diff != "" {
		t.Fatalf("adopted foo.bar (-want +got):\n%s", diff)
	}

	// Gone again: the grace counts from the new orphaning.
	deleteTasks(t, s, "foo2")
	orphanedAt = clock.Now()
	waitRecords(t, s, "foo.bar orphaned again", func(r map[string]v1.VIPAllocation) bool { return r["foo.bar"].OrphanedAt.Equal(orphanedAt) })
	clock.Advance(time.Hour - time.Second)
	// Several resync passes at the new time keep it.
	count := func() uint64 { return histogramCount(t, c.m.passDuration) }
	n := count()
	raftstoretest.WaitFor(t, "three more passes", func() bool { return count() >= n+3 })
	if _, ok := records(t, s)["foo.bar"]; !ok {
		t.Fatal("foo.bar deleted before its grace ended")
	}
	clock.Advance(time.Second)
	waitRecords(t, s, "foo.bar deleted", func(r map[string]v1.VIPAllocation) bool { _, ok := r["foo.bar"]; return !ok })
	// The record is gone from the replica a moment before the
	// controller's Apply returns and counts it.
	raftstoretest.WaitFor(t, "deletes_total 1", func() bool { return testutil.ToFloat64(c.m.deletes) == 1 })
	if got := records(t, s)["merp.marathon"].IP4; got != ip("11.0.0.38") {
		t.Errorf("merp.marathon moved to %s", got)
	}
}

// histogramCount returns the number of observations of h.
func histogramCount(tb testing.TB, h prometheus.Histogram) uint64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(h); err != nil {
		tb.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		tb.Fatalf("gather histogram: %v", err)
	}
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}

// TestControllerBatches: bounded batches, each carrying the fence put that
// chains on the previous one; a restart writes nothing.
func TestControllerBatches(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	var tasks []v1.Task
	var names []string
	for i := range 10 {
		tasks = append(tasks, namedTask(fmt.Sprintf("t%d", i), fmt.Sprintf("/app%d", i), "marathon", fmt.Sprintf("9.0.1.%d", i+1)))
		names = append(names, fmt.Sprintf("app%d.marathon", i))
	}
	putTasks(t, s, tasks...)
	fenceBefore := s.Index()
	rec := &recordingRaft{Raft: s}
	stop := start(t, newController(t, rec, ControllerOptions{MaxBatchOps: 4}))
	got := waitRecords(t, s, "ten VIPs", hasNames(names...))
	checkUnique(t, got)
	stop()

	batches, conflicts := rec.stats()
	if conflicts != 0 {
		t.Errorf("%d conflicts, want 0", conflicts)
	}
	var sizes []int
	var prevIndex uint64
	for i, b := range batches {
		sizes = append(sizes, len(b.Ops))
		last := b.Ops[len(b.Ops)-1].Put
		if last == nil || last.Kind != KindVIPFence || last.Key != FenceKey || last.ExpectModIndex == nil {
			t.Fatalf("batch %d does not end with a fence put: %+v", i, b.Ops[len(b.Ops)-1])
		}
		if i == 0 {
			if *last.ExpectModIndex != 0 {
				t.Errorf("first batch expects fence %d, want 0 (absent)", *last.ExpectModIndex)
			}
		} else if *last.ExpectModIndex != prevIndex || prevIndex <= fenceBefore {
			t.Errorf("batch %d expects fence %d, want %d (the previous batch)", i, *last.ExpectModIndex, prevIndex)
		}
		prevIndex = batchIndex(t, s, b)
	}
	if diff := cmp.Diff([]int{4, 4, 4, 2}, sizes); diff != "" {
		t.Errorf("ops per batch, fence included (-want +got):\n%s", diff)
	}

	// A new controller over the same state writes nothing.
	index := s.Index()
	rec2 := &recordingRaft{Raft: s}
	c2 := newController(t, rec2, ControllerOptions{MaxBatchOps: 4})
	start(t, c2)
	raftstoretest.WaitFor(t, "a pass", func() bool { return histogramCount(t, c2.m.passDuration) >= 1 })
	if b, _ := rec2.stats(); len(b) != 0 || s.Index() != index {
		t.Errorf("restarted controller applied %d batches (index %d -> %d), want none", len(b), index, s.Index())
	}
}

// batchIndex returns the raft index a batch was written at: the ModIndex
// its VIP puts left, read back from the store (the records are not written
// twice in the test).
func batchIndex(tb testing.TB, s *raftstore.Store, b raftstore.Batch) uint64 {
	tb.Helper()
	o, ok := s.Get(KindVIP, b.Ops[0].Put.Key)
	if !ok {
		tb.Fatalf("record %s of a committed batch missing", b.Ops[0].Put.Key)
	}
	return o.ModIndex
}

// TestFenceRejectsStaleWrite: a write computed before another writer
// allocated is rejected as a whole, even for a key nobody else touched.
func TestFenceRejectsStaleWrite(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	fenceOp := func(expect uint64) raftstore.Op {
		return raftstore.PutOp(raftstore.Put{Kind: KindVIPFence, Key: FenceKey, Value: json.RawMessage(`{"vips":1}`), ExpectModIndex: raftstore.Expect(expect)})
	}
	vipOp := func(name string, addr string) raftstore.Op {
		v, _ := json.Marshal(v1.VIPAllocation{Name: name, Label: name, Framework: "x", IP4: ip(addr)})
		return raftstore.PutOp(raftstore.Put{Kind: KindVIP, Key: name, Value: v, ExpectModIndex: raftstore.Expect(0)})
	}
	// Writer A and writer B both read the fence absent.
	apply(t, s, raftstore.Batch{Ops: []raftstore.Op{vipOp("a.x", "11.0.0.1"), fenceOp(0)}})
	ctx, cancel := context.WithTimeout(t.Context(), raftstoretest.Timeout)
	defer cancel()
	_, err := s.Apply(ctx, raftstore.Batch{Ops: []raftstore.Op{vipOp("b.x", "11.0.0.1"), fenceOp(0)}})
	var rej *raftstore.RejectedError
	if !errors.Is(err, raftstore.ErrConflict) || !errors.As(err, &rej) || rej.Kind != KindVIPFence {
		t.Fatalf("stale write = %v, want a fence conflict", err)
	}
	if _, ok := s.Get(KindVIP, "b.x"); ok {
		t.Error("the stale batch's VIP was written")
	}

	// The controller's own stale write: another writer takes foo.bar's
	// first choice (and moves the fence) after the controller read the
	// state. Its batch is rejected; it re-plans and probes.
	rec := &recordingRaft{Raft: s}
	rec.hook = func() {
		f, _ := s.Get(KindVIPFence, FenceKey)
		apply(t, s, raftstore.Batch{Ops: []raftstore.Op{vipOp("intruder.x", "11.138.58.156"), fenceOp(f.ModIndex)}})
	}
	start(t, newController(t, rec, ControllerOptions{}))
	putTasks(t, s, namedTask("foo", "foo", "bar", "9.0.1.1"))
	got := waitRecords(t, s, "foo.bar", func(r map[string]v1.VIPAllocation) bool { _, ok := r["foo.bar"]; return ok })
	if got["foo.bar"].IP4 != ip("11.138.58.157") {
		t.Errorf("foo.bar = %s, want 11.138.58.157 (its first choice was taken)", got["foo.bar"].IP4)
	}
	if _, conflicts := rec.stats(); conflicts != 1 {
		t.Errorf("%d conflicts, want 1", conflicts)
	}
	checkUnique(t, got)
}

// TestTwoWritersNoDuplicates runs two controllers at once on different
// masters (one a deposed leader that passed its barrier) over a small range
// while tasks arrive: every VIP gets an address, none twice.
func TestTwoWritersNoDuplicates(t *testing.T) {
	cl := newCluster(t, 3, zap.NewNop())
	leader := cl.Leader(t)
	follower := cl.Followers(t)[0]
	recs := []*recordingRaft{{Raft: leader.Store()}, {Raft: follower.Store(), noBarrier: true}}
	for _, r := range recs {
		start(t, newController(t, r, ControllerOptions{Range4: unitRange, MaxBatchOps: 8, Logger: zap.NewNop()}))
	}
	const n = 200 // of the 255 addresses
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("app%d.marathon", i))
	}
	for i := 0; i < n; i += 20 {
		var tasks []v1.Task
		for j := i; j < i+20; j++ {
			tasks = append(tasks, namedTask(fmt.Sprintf("t%d", j), fmt.Sprintf("/app%d", j), "marathon", "9.0.1.1"))
		}
		putTasks(t, cl.Nodes()[i/20%3].Store(), tasks...)
	}
	got := waitRecords(t, leader.Store(), "every VIP", hasNames(names...))
	checkUnique(t, got)
	for name, a := range got {
		if !unitRange.Contains(a.IP4) {
			t.Errorf("%s = %s, outside %s", name, a.IP4, unitRange)
		}
	}
	_, c1 := recs[0].stats()
	_, c2 := recs[1].stats()
	t.Logf("conflicts: leader %d, deposed %d", c1, c2)
}

// TestControllerLeaderChange: addresses survive a controller restart and
// the loss of the leader; the new leader's controller writes nothing for
// the known VIPs and goes on allocating without duplicates.
func TestControllerLeaderChange(t *testing.T) {
	cl := newCluster(t, 3, nil)
	leader := cl.Leader(t)
	stop := start(t, newController(t, leader.Store(), ControllerOptions{Range4: unitRange}))
	var first []v1.Task
	var names []string
	for i := range 30 {
		first = append(first, namedTask(fmt.Sprintf("t%d", i), fmt.Sprintf("/app%d", i), "marathon", "9.0.1.1", "fd01:b::1"))
		names = append(names, fmt.Sprintf("app%d.marathon", i))
	}
	putTasks(t, leader.Store(), first...)
	before := waitRecords(t, leader.Store(), "the first VIPs", hasNames(names...))
	checkUnique(t, before)
	stop()

	// The leader goes away with its controller.
	leader.Stop(t)
	next := cl.Leader(t)
	rec := &recordingRaft{Raft: next.Store()}
	c := newController(t, rec, ControllerOptions{Range4: unitRange})
	start(t, c)
	raftstoretest.WaitFor(t, "a pass of the new leader", func() bool { return histogramCount(t, c.m.passDuration) >= 1 })
	if b, _ := rec.stats(); len(b) != 0 {
		t.Errorf("new leader's controller applied %d batches for known VIPs, want 0", len(b))
	}
	if diff := cmp.Diff(before, records(t, next.Store()), cmpV1); diff != "" {
		t.Fatalf("records after the leader change (-before +after):\n%s", diff)
	}

	// New VIPs on the new leader, colliding with the old ones in the small
	// range.
	for i := 30; i < 60; i++ {
		putTasks(t, next.Store(), namedTask(fmt.Sprintf("t%d", i), fmt.Sprintf("/app%d", i), "marathon", "9.0.1.1"))
		names = append(names, fmt.Sprintf("app%d.marathon", i))
	}
	after := waitRecords(t, next.Store(), "all VIPs", hasNames(names...))
	checkUnique(t, after)
	for name, a := range before {
		if diff := cmp.Diff(a, after[name], cmpV1); diff != "" {
			t.Errorf("%s changed (-before +after):\n%s", name, diff)
		}
	}

	// The old leader comes back as a follower and replicates the same.
	leader.Start(t)
	waitRecords(t, leader.Store(), "the old leader to catch up", func(r map[string]v1.VIPAllocation) bool {
		return cmp.Diff(after, r, cmpV1) == ""
	})
}

// TestControllerExhausted: a full range skips the VIPs that do not fit,
// logs them once and counts them; the others are allocated.
func TestControllerExhausted(t *testing.T) {
	s := newCluster(t, 1, nil).Leader(t).Store()
	core, logs := observer.New(zapcore.InfoLevel)
	two := Range{Min: ip("198.18.128.0"), Max: ip("198.18.128.1")}
	c := newController(t, s, ControllerOptions{Range4: two, Logger: zap.New(core), ResyncInterval: 10 * time.Millisecond})
	start(t, c)
	putTasks(t, s,
		namedTask("a", "/a", "marathon", "9.0.1.1"),
		namedTask("b", "/b", "marathon", "9.0.1.2"),
		namedTask("c", "/c", "marathon", "9.0.1.3"),
	)
	got := waitRecords(t, s, "two VIPs", hasNames("a.marathon", "b.marathon"))
	checkUnique(t, got)
	raftstoretest.WaitFor(t, "exhaustion counted over several passes", func() bool {
		return testutil.ToFloat64(c.m.exhausted.WithLabelValues(familyIPv4)) >= 3
	})
	entries := logs.FilterMessage("Skipped VIP: range exhausted").All()
	if len(entries) != 1 {
		t.Fatalf("logged exhaustion %d times, want once", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["VIP"] != "c.marathon" || fields["range"] != "198.18.128.0-198.18.128.1" ||
		!strings.Contains(fmt.Sprint(fields["error"]), `no free address for "c.marathon"`) {
		t.Errorf("exhaustion log fields %v, want the VIP, the range and the error", fields)
	}
	if _, ok := records(t, s)["c.marathon"]; ok {
		t.Error("c.marathon recorded without an address")
	}
}

func TestValidateVIP(t *testing.T) {
	good := `{"name":"foo.bar","label":"foo","framework":"bar","ip4":"11.138.58.156"}`
	for _, tt := range []struct {
		name, key, value, wantErr string
	}{
		{"valid", "foo.bar", good, ""},
		{"orphaned", "foo.bar", `{"name":"foo.bar","label":"foo","framework":"bar","ip4":"11.138.58.156","orphanedAt":"2026-01-02T03:04:05Z"}`, ""},
		{"unknown field accepted", "foo.bar", strings.TrimSuffix(good, "}") + `,"future":1}`, ""},
		{"other key", "baz.qux", good, `VIP allocation "foo.bar" stored under key "baz.qux"`},
		{"no address", "foo.bar", `{"name":"foo.bar","label":"foo","framework":"bar"}`, `validate VIP allocation "foo.bar"`},
		{"not an object", "foo.bar", `[1]`, `decode VIP allocation "foo.bar"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateVIP(tt.key, json.RawMessage(tt.value))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ValidateVIP() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateFence(t *testing.T) {
	for _, tt := range []struct {
		name, key, value, wantErr string
	}{
		{"valid", FenceKey, `{"vips":3}`, ""},
		{"empty object", FenceKey, `{}`, ""},
		{"other key", "other", `{"vips":3}`, `VIP fence stored under key "other", want "vips"`},
		{"negative", FenceKey, `{"vips":-1}`, "vips -1 is negative"},
		{"not an object", FenceKey, `"x"`, "decode VIP fence"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFence(tt.key, json.RawMessage(tt.value))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ValidateFence() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterKinds(t *testing.T) {
	f := raftstore.NewFSM(raftstore.FSMOptions{})
	if err := RegisterKinds(f); err != nil {
		t.Fatalf("RegisterKinds() = %v", err)
	}
	if err := RegisterKinds(f); err == nil {
		t.Errorf("second RegisterKinds() = nil, want an error for a kind registered twice")
	}
}

func TestNewControllerOptions(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    ControllerOptions
		wantErr string
	}{
		{"defaults", ControllerOptions{}, ""},
		{"IPv6 range as Range4", ControllerOptions{Range4: dcosRange6}, "Range4: fd01:c::-fd01:c::ffff:ffff:ffff:ffff is not an IPv4 range"},
		{"IPv4 range as Range6", ControllerOptions{Range6: dcosRange}, "Range6: 11.0.0.0-11.255.255.255 is not an IPv6 range"},
		{"empty range", ControllerOptions{Range4: Range{Min: ip("11.0.0.1"), Max: ip("11.0.0.1")}}, "Range4: VIP range 11.0.0.1-11.0.0.1"},
		{"negative grace", ControllerOptions{Grace: -time.Second}, "Grace: -1s is negative"},
		{"one op per batch", ControllerOptions{MaxBatchOps: 1}, "MaxBatchOps: 1 leaves no room"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewController(nil, tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.opts.Range4 != dcosRange || c.opts.Range6 != dcosRange6 || c.opts.Grace != time.Hour || c.opts.MaxBatchOps != 1000 {
					t.Errorf("defaults: %+v", c.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewController() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// BenchmarkAllocate measures VIP allocations per second on a 3-node
// cluster: 10,000 running tasks with distinct VIP names, each with an IPv4
// and an IPv6 backend, get their allocations (20,000 addresses). In
// "preloaded" the tasks are in raft before the controller starts, which
// times the allocator alone (barrier, plan, 11 batches); in "streaming"
// the controller runs while the tasks are written in batches of 1,000, as
// taskstate writes them, and the time runs until the last VIP is recorded.
func BenchmarkAllocate(b *testing.B) {
	const n = 10000
	tasks, _ := benchTasks(n, n)
	for _, streaming := range []bool{false, true} {
		name := "preloaded"
		if streaming {
			name = "streaming"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				cl := newCluster(b, 3, zap.NewNop())
				s := cl.Leader(b).Store()
				write := func() {
					for i := 0; i < n; i += 1000 {
						putTasks(b, s, tasks[i:i+1000]...)
					}
				}
				if !streaming {
					write()
				}
				c := newController(b, s, ControllerOptions{Logger: zap.NewNop()})
				b.StartTimer()
				began := time.Now()
				stop := start(b, c)
				if streaming {
					write()
				}
				for testutil.ToFloat64(c.m.vips) < n {
					time.Sleep(time.Millisecond)
				}
				total += time.Since(began)
				b.StopTimer()
				stop()
				recs := records(b, s)
				if len(recs) != n {
					b.Fatalf("%d VIPs recorded, want %d", len(recs), n)
				}
				checkUnique(b, recs)
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "vips/s")
		})
	}
}
