package raftstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

var errNotCIDR = errors.New("not a CIDR")

var kinds = map[string]raftstore.ValidateFunc{
	"vip": nil,
	"subnet": func(_ string, v json.RawMessage) error {
		var s string
		if json.Unmarshal(v, &s) != nil || !strings.Contains(s, "/") {
			return errNotCIDR
		}
		return nil
	},
}

func put(key, value string) raftstore.Put {
	return raftstore.Put{Kind: "vip", Key: key, Value: json.RawMessage(value)}
}

// metric returns the value of a gauge or counter, 0 if absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func keys(objs []raftstore.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key+"="+string(o.Value))
	}
	return out
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), raftstoretest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func TestClusterWritesFromAnyMaster(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{Kinds: kinds})
	leader := c.Leader(t)
	followers := c.Followers(t)
	f := followers[0]

	r1 := leader.Apply(t, put("a", `1`))
	r2 := f.Apply(t, put("b", `2`)) // forwarded
	if r2.Index <= r1.Index {
		t.Errorf("forwarded write at index %d, not after %d", r2.Index, r1.Index)
	}
	// Read-your-writes on the follower that forwarded.
	if o, ok := f.Store().Get("vip", "b"); !ok || o.ModIndex != r2.Index {
		t.Errorf("Get on the forwarding follower = %+v, %v; want modIndex %d", o, ok, r2.Index)
	}

	c.WaitReplicated(t, r2.Index)
	for _, n := range c.Running() {
		if diff := cmp.Diff([]string{"a=1", "b=2"}, keys(n.Store().List("vip"))); diff != "" {
			t.Errorf("master %s: List (-want +got):\n%s", n.Peer.ID, diff)
		}
	}

	// A conflict found by the leader reaches the follower typed.
	_, err := f.Store().Apply(ctxTimeout(t), raftstore.Put{Kind: "vip", Key: "a", Value: json.RawMessage(`3`), ExpectModIndex: raftstore.Expect(r1.Index + 100)})
	var rej *raftstore.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, raftstore.ErrConflict) || rej.Reason != raftstore.ReasonConflict || rej.Key != "a" {
		t.Errorf("conflicting forwarded put: %v, want a conflict rejection of vip/a", err)
	}
	// A validator rejection is found before anything is proposed.
	_, err = f.Store().Apply(ctxTimeout(t), raftstore.Put{Kind: "subnet", Key: "agent-1", Value: json.RawMessage(`"nope"`)})
	if !errors.Is(err, errNotCIDR) || !errors.Is(err, raftstore.ErrInvalid) {
		t.Errorf("invalid put: %v, want the validator's error", err)
	}
	_, err = f.Store().Apply(ctxTimeout(t), put("", `1`))
	if !errors.Is(err, raftstore.ErrInvalid) {
		t.Errorf("put with an empty key: %v, want ErrInvalid", err)
	}
	// An atomic batch through the follower.
	r3 := f.Apply(t, raftstore.Batch{Ops: []raftstore.Op{
		raftstore.PutOp(raftstore.Put{Kind: "subnet", Key: "agent-1", Value: json.RawMessage(`"198.19.1.0/24"`), ExpectModIndex: raftstore.Expect(0)}),
		raftstore.DeleteOp(raftstore.Delete{Kind: "vip", Key: "a", ExpectModIndex: raftstore.Expect(r1.Index)}),
	}})
	if len(r3.Objects) != 2 || r3.Objects[0].ModIndex != r3.Index {
		t.Errorf("batch result %+v", r3)
	}
	c.WaitReplicated(t, r3.Index)

	for _, n := range c.Running() {
		reg := n.Registry()
		isLeader := 0.0
		if n == leader {
			isLeader = 1
		}
		got := map[string]float64{
			"is_leader":         metric(t, reg, "mesosnet_raft_is_leader"),
			"conflicts":         metric(t, reg, "mesosnet_raft_rejections_total", "reason", "conflict"),
			"applied_index_set": float64(min(1, metric(t, reg, "mesosnet_raft_applied_index"))),
		}
		want := map[string]float64{"is_leader": isLeader, "conflicts": 1, "applied_index_set": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("master %s: metrics (-want +got):\n%s", n.Peer.ID, diff)
		}
	}
	if got := metric(t, f.Registry(), "mesosnet_raft_forwarded_total"); got != 3 {
		t.Errorf("forwarded_total on %s = %v, want 3", f.Peer.ID, got)
	}
	if got := metric(t, leader.Registry(), "mesosnet_raft_forwarded_total"); got != 0 {
		t.Errorf("forwarded_total on the leader = %v, want 0", got)
	}

	// Leader-only operations and what every master knows of the leader.
	if err := leader.Store().Barrier(ctxTimeout(t)); err != nil {
		t.Errorf("Barrier on the leader: %v", err)
	}
	if err := f.Store().Barrier(ctxTimeout(t)); !errors.Is(err, raftstore.ErrNotLeader) {
		t.Errorf("Barrier on a follower: %v, want ErrNotLeader", err)
	}
	for _, n := range c.Running() {
		p, ok := n.Store().Leader()
		if diff := cmp.Diff(leader.Peer, p); !ok || diff != "" {
			t.Errorf("master %s: Leader() (-want +got):\n%s", n.Peer.ID, diff)
		}
		if got, want := <-n.Store().LeaderCh(), n == leader; got != want {
			t.Errorf("master %s: LeaderCh first value %v, want %v", n.Peer.ID, got, want)
		}
	}
	servers, err := f.Store().Servers()
	if err != nil {
		t.Fatal(err)
	}
	var want []raftstore.Server
	for _, n := range c.Nodes() {
		want = append(want, raftstore.Server{Peer: n.Peer, Voter: true, Leader: n == leader})
	}
	if diff := cmp.Diff(want, servers); diff != "" {
		t.Errorf("Servers (-want +got):\n%s", diff)
	}
}

// collect reads events from w until one for key arrives, returning the
// events of kind "vip".
func collect(t *testing.T, w *raftstore.Watcher, untilKey string) []raftstore.Event {
	t.Helper()
	var out []raftstore.Event
	for {
		e, err := w.Next(ctxTimeout(t))
		if err != nil {
			t.Fatalf("watch: %v (after %d events)", err, len(out))
		}
		if e.Type != raftstore.EventReset && e.Object.Kind != "vip" {
			continue
		}
		out = append(out, e)
		if e.Object.Key == untilKey {
			return out
		}
	}
}

func TestClusterWatchAcrossLeaderChange(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{
		Kinds:     kinds,
		Configure: func(cfg *raftstore.Config) { cfg.SkipLeadershipTransfer = true },
	})
	leader := c.Leader(t)
	followers := c.Followers(t)
	f, other := followers[0], followers[1]

	r0 := leader.Apply(t, put("k00", `0`))
	c.WaitReplicated(t, r0.Index)
	w := f.Store().Watch(0)
	defer w.Close()
	first, err := w.Next(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	if first.Type != raftstore.EventReset || first.Index < r0.Index || len(first.Objects) != 1 {
		t.Fatalf("first event %+v, want a reset holding k00", first)
	}
	// A second watcher resumes from the reset's index on another master.
	w2 := other.Store().Watch(first.Index)
	defer w2.Close()

	for i := 1; i <= 5; i++ {
		f.Apply(t, put(fmt.Sprintf("k%02d", i), fmt.Sprint(i)))
	}
	leader.Stop(t)
	start := time.Now()
	newLeader := c.Leader(t)
	t.Logf("new leader %s elected %v after the old one stopped", newLeader.Peer.ID, time.Since(start))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("new leader after %v, want within a few seconds", elapsed)
	}
	for i := 6; i <= 10; i++ {
		f.Apply(t, put(fmt.Sprintf("k%02d", i), fmt.Sprint(i)))
	}

	for _, tw := range []*raftstore.Watcher{w, w2} {
		events := collect(t, tw, "k10")
		var got []string
		last := first.Index
		for _, e := range events {
			if e.Index <= last {
				t.Errorf("event %s at index %d after index %d", e.Object.Key, e.Index, last)
			}
			last = e.Index
			got = append(got, string(e.Type)+" "+e.Object.Key)
		}
		var want []string
		for i := 1; i <= 10; i++ {
			want = append(want, fmt.Sprintf("put k%02d", i))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	}
}

func TestClusterLeaderFailover(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{
		Kinds:     kinds,
		Configure: func(cfg *raftstore.Config) { cfg.SkipLeadershipTransfer = true },
	})
	old := c.Leader(t)
	old.Apply(t, put("before", `1`))
	old.Stop(t) // as a crash: no leadership transfer

	start := time.Now()
	leader := c.Leader(t)
	elapsed := time.Since(start)
	t.Logf("new leader %s after %v", leader.Peer.ID, elapsed)
	if elapsed > 5*time.Second {
		t.Errorf("new leader after %v, want within a few seconds", elapsed)
	}
	var last uint64
	for _, n := range c.Running() {
		last = n.Apply(t, put("after-"+n.Peer.ID, `2`)).Index
	}

	// The old leader comes back as a follower and catches up.
	old.Start(t)
	c.WaitReplicated(t, last)
	want := []string{"before=1"}
	for _, n := range c.Running() {
		if n != old {
			want = append(want, "after-"+n.Peer.ID+"=2")
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, keys(old.Store().List("vip"))); diff != "" {
		t.Errorf("restarted old leader: List (-want +got):\n%s", diff)
	}
	if got := c.Leader(t); got == old {
		t.Logf("old leader %s won leadership back", old.Peer.ID)
	}
}

func TestClusterGracefulShutdownTransfersLeadership(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{Kinds: kinds})
	old := c.Leader(t)
	old.Stop(t)
	if got := old.Logs.FilterMessage("Transferred raft leadership before shutting down").Len(); got != 1 {
		t.Errorf("the leader logged %d leadership transfers before shutting down, want 1", got)
	}
	leader := c.Leader(t)
	leader.Apply(t, put("x", `1`))
}

func TestClusterRestartFromDataDir(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{
		Kinds: kinds,
		// Keep few entries after a snapshot, so a master that was down
		// must catch up from the leader's snapshot.
		Configure: func(cfg *raftstore.Config) { cfg.TrailingLogs = 4; cfg.SnapshotThreshold = 1 << 20 },
	})
	leader := c.Leader(t)
	f := c.Followers(t)[0]
	var last uint64
	for i := range 10 {
		last = leader.Apply(t, put(fmt.Sprintf("k%02d", i), fmt.Sprint(i))).Index
	}
	c.WaitReplicated(t, last)
	// A local snapshot, restored when the master starts again.
	if err := f.Store().Snapshot(); err != nil {
		t.Fatal(err)
	}
	f.Stop(t)

	for i := 10; i < 30; i++ {
		last = leader.Apply(t, put(fmt.Sprintf("k%02d", i), fmt.Sprint(i))).Index
	}
	if err := leader.Store().Snapshot(); err != nil {
		t.Fatal(err)
	}
	f.Start(t)
	// Watching from before the restart: the history is gone, so a reset.
	w := f.Store().Watch(5)
	defer w.Close()
	c.WaitReplicated(t, last)
	if diff := cmp.Diff(keys(leader.Store().List("vip")), keys(f.Store().List("vip"))); diff != "" {
		t.Errorf("restarted master: List (-leader +restarted):\n%s", diff)
	}
	if got := f.Logs.FilterMessage("Bootstrapped the raft cluster").Len(); got != 1 {
		t.Errorf("master bootstrapped %d times, want once", got)
	}
	if got := f.Logs.FilterMessage("Recovered raft state from the data dir").Len(); got != 1 {
		t.Errorf("master recovered %d times, want once", got)
	}
	raftstoretest.WaitFor(t, "the restarted master to restore its own and the leader's snapshot", func() bool {
		return f.Logs.FilterMessage("Restored snapshot").Len() == 2
	})
	e, err := w.Next(ctxTimeout(t))
	if err != nil || e.Type != raftstore.EventReset {
		t.Errorf("first event after the restart: %+v, %v; want a reset", e, err)
	}
	servers, err := f.Store().Servers()
	if err != nil || len(servers) != 3 {
		t.Errorf("Servers after the restart = %+v, %v; want the 3 masters", servers, err)
	}
	// And it takes writes again.
	r := f.Apply(t, put("after-restart", `1`))
	c.WaitReplicated(t, r.Index)
}

func TestClusterAddAndRemoveVoter(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{Kinds: kinds})
	leader := c.Leader(t)
	f := c.Followers(t)[0]
	leader.Apply(t, put("before", `1`))

	n4 := c.AddNode(t)
	// From a follower: forwarded to the leader.
	if err := f.Store().AddVoter(ctxTimeout(t), n4.Peer); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	raftstoretest.WaitFor(t, "4 voters on every master", func() bool {
		for _, n := range c.Running() {
			servers, err := n.Store().Servers()
			if err != nil || len(servers) != 4 {
				return false
			}
		}
		return true
	})
	raftstoretest.WaitFor(t, "the new master to catch up", func() bool {
		_, ok := n4.Store().Get("vip", "before")
		return ok
	})
	// The new master writes through the leader it learns from raft.
	r := n4.Apply(t, put("from-m4", `4`))
	c.WaitReplicated(t, r.Index)

	// With the new master leading, the original masters find its API
	// address in the replicated peer records: it is not in their config.
	if err := c.Leader(t).Store().TransferLeadership(ctxTimeout(t), n4.Peer.ID); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	if got := c.Leader(t); got != n4 {
		t.Fatalf("leader %s after the transfer, want %s", got.Peer.ID, n4.Peer.ID)
	}
	if p, ok := f.Store().Leader(); !ok || p != n4.Peer {
		t.Errorf("Leader() on %s = %+v, want %+v", f.Peer.ID, p, n4.Peer)
	}
	r = f.Apply(t, put("via-m4", `5`))
	c.WaitReplicated(t, r.Index)

	// Remove the leader itself, from a follower.
	if err := f.Store().RemoveServer(ctxTimeout(t), n4.Peer.ID); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	// The removed leader steps down once the new configuration commits.
	raftstoretest.WaitFor(t, "a leader other than the removed master", func() bool {
		return !n4.Store().IsLeader()
	})
	leader = c.Leader(t)
	if leader == n4 {
		t.Fatal("the removed master still leads")
	}
	raftstoretest.WaitFor(t, "3 voters", func() bool {
		servers, err := leader.Store().Servers()
		return err == nil && len(servers) == 3
	})
	if _, ok := leader.Store().Get(raftstore.PeerKind, n4.Peer.ID); ok {
		t.Error("the removed master's peer record is still there")
	}
	n4.Stop(t)
	r = f.Apply(t, put("after-removal", `6`))
	c.WaitReplicated(t, r.Index)
}

func TestClusterTLS(t *testing.T) {
	c := raftstoretest.NewCluster(t, 3, raftstoretest.Options{Kinds: kinds, TLS: true})
	f := c.Followers(t)[0]
	r := f.Apply(t, put("secure", `1`))
	c.WaitReplicated(t, r.Index)
	for _, n := range c.Running() {
		if _, ok := n.Store().Get("vip", "secure"); !ok {
			t.Errorf("master %s misses the write", n.Peer.ID)
		}
	}
}

func TestSingleMasterRestart(t *testing.T) {
	c := raftstoretest.NewCluster(t, 1, raftstoretest.Options{Kinds: kinds})
	n := c.Leader(t)
	r := n.Apply(t, put("a", `1`))
	n.Stop(t)
	n.Start(t)
	if got := c.Leader(t); got != n {
		t.Fatal("the single master does not lead after a restart")
	}
	if err := n.Store().WaitIndex(ctxTimeout(t), r.Index); err != nil {
		t.Fatal(err)
	}
	if o, ok := n.Store().Get("vip", "a"); !ok || o.ModIndex != r.Index {
		t.Errorf("Get after restart = %+v, %v", o, ok)
	}
	if got := n.Logs.FilterMessage("Bootstrapped the raft cluster").Len(); got != 1 {
		t.Errorf("bootstrapped %d times, want once", got)
	}
}
