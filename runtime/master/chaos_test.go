package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// vipTask is a running task with one named VIP on port 80, its container
// IP in the test overlay.
func vipTask(i int) v1.Task {
	vip, err := v1.ParseVIPLabel(fmt.Sprintf("/chaos%d:80", i))
	if err != nil {
		panic(err)
	}
	return v1.Task{
		Key:        v1.TaskKey{FrameworkID: "fw-1", TaskID: fmt.Sprintf("chaos%d.1", i)},
		Name:       fmt.Sprintf("chaos%d", i),
		Framework:  "marathon",
		AgentID:    "agent-1",
		AgentIP:    netip.MustParseAddr("198.18.32.1"),
		Runtime:    v1.RuntimeMesos,
		IPs:        []netip.Addr{netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})},
		State:      v1.TaskRunning,
		MesosState: "TASK_RUNNING",
		Ports:      []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, VIPs: []v1.VIP{vip}}},
	}
}

// agentIP is the i-th test agent address (data only: nothing is sent to it).
func agentIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, 64 + byte(i>>8), byte(i)})
}

// TestChaosLeaderKills registers agents and creates VIPs concurrently, from
// clients that talk to any master, while the raft leader is killed and
// restarted 20 times. No VTEP IP, VTEP MAC, agent subnet or VIP address may
// ever be handed out twice, and every allocation a client was given must be
// the one the cluster holds at the end.
func TestChaosLeaderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the leader 20 times")
	}
	const kills = 20
	c := newTestCluster(t, 3, clusterOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var (
		mu      sync.Mutex
		given   = map[netip.Addr]v1.AgentRecord{} // what clients were answered
		nextIP  atomic.Int64
		nextVIP atomic.Int64
		regOK   atomic.Int64
		vipOK   atomic.Int64
		wg      sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		cancel()
	}
	// Registration clients: new agents, and re-registrations that must get
	// the very same allocation.
	for w := range 4 {
		wg.Go(func() {
			cl := c.client(w)
			for ctx.Err() == nil {
				i := int(nextIP.Add(1))
				if i%5 == 0 { // re-register an earlier agent
					i = i / 2
				}
				ip := agentIP(i)
				var rec v1.AgentRecord
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				err := cl.Do(rctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: ip}, &rec)
				rcancel()
				if err != nil {
					continue // no leader at the moment, or a lost answer: retry
				}
				mu.Lock()
				prev, seen := given[ip]
				given[ip] = rec
				mu.Unlock()
				if seen && !cmp.Equal(prev.AgentAllocation, rec.AgentAllocation, cmpNet) {
					fail("agent %s re-registered and got another allocation:\n%s", ip, cmp.Diff(prev.AgentAllocation, rec.AgentAllocation, cmpNet))
				}
				regOK.Add(1)
			}
		})
	}
	// VIP writers: tasks with new named VIPs, for the leader's vipalloc.
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				task := vipTask(int(nextVIP.Add(1)))
				b, err := json.Marshal(task)
				if err != nil {
					fail("encode task: %v", err)
					return
				}
				actx, acancel := context.WithTimeout(ctx, 5*time.Second)
				_, err = c.apply(actx, raftstore.Put{Kind: taskstate.Kind, Key: task.Key.String(), Value: b})
				acancel()
				if err == nil {
					vipOK.Add(1)
				}
			}
		})
	}
	// Every VIP record put over the whole run, followed through the watch
	// API across masters: an address may only ever belong to one name.
	vipOwners := map[netip.Addr]string{}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		record := func(o raftstore.Object) error {
			var a v1.VIPAllocation
			if err := json.Unmarshal(o.Value, &a); err != nil {
				return fmt.Errorf("decode VIP %s: %w", o.Key, err)
			}
			for _, ip := range []netip.Addr{a.IP4, a.IP6} {
				if !ip.IsValid() {
					continue
				}
				if owner, ok := vipOwners[ip]; ok && owner != a.Name {
					return fmt.Errorf("VIP address %s handed to %s and to %s", ip, owner, a.Name)
				}
				vipOwners[ip] = a.Name
			}
			return nil
		}
		err := c.client(0).WatchKind(ctx, 0, vipalloc.KindVIP, func(e api.Event) error {
			switch e.Type {
			case api.EventReset:
				for _, o := range e.Objects {
					if err := record(o); err != nil {
						return err
					}
				}
			case api.EventPut:
				return record(*e.Object)
			}
			return nil
		})
		if ctx.Err() == nil {
			fail("watch VIPs: %v", err)
		}
	}()

	for k := range kills {
		if ctx.Err() != nil {
			break
		}
		before := regOK.Load()
		l := c.leader()
		c.stop(l)
		raftstoretest.WaitFor(t, fmt.Sprintf("registrations after kill %d", k+1), func() bool { return regOK.Load() > before+5 })
		c.start(l)
	}
	cancel()
	wg.Wait()
	<-watchDone
	if t.Failed() {
		return
	}

	// The end state, read from a fresh replica after catching up.
	l := c.leader()
	store := c.master(l).Store()
	if err := store.Barrier(t.Context()); err != nil {
		t.Fatal(err)
	}
	var records []v1.AgentAllocation
	held := map[netip.Addr]v1.AgentRecord{}
	for _, o := range store.List(subnetalloc.KindAgent) {
		var r v1.AgentRecord
		if err := json.Unmarshal(o.Value, &r); err != nil {
			t.Fatalf("decode agent %s: %v", o.Key, err)
		}
		held[r.AgentIP] = r
		records = append(records, r.AgentAllocation)
	}
	if err := subnetalloc.Check(records); err != nil {
		t.Errorf("final allocations overlap: %v", err)
	}
	for ip, rec := range given {
		h, ok := held[ip]
		if !ok {
			t.Errorf("agent %s was answered an allocation the cluster lost", ip)
			continue
		}
		if diff := cmp.Diff(rec.AgentAllocation, h.AgentAllocation, cmpNet); diff != "" {
			t.Errorf("agent %s: answered (-) and held (+) differ:\n%s", ip, diff)
		}
	}
	// Every task written has its VIP once the leader's vipalloc caught up.
	raftstoretest.WaitFor(t, "a VIP for every task", func() bool {
		return len(store.List(vipalloc.KindVIP)) == len(store.List(taskstate.Kind))
	})
	vips := store.List(vipalloc.KindVIP)
	seen := map[netip.Addr]string{}
	for _, o := range vips {
		var a v1.VIPAllocation
		if err := json.Unmarshal(o.Value, &a); err != nil {
			t.Fatalf("decode VIP %s: %v", o.Key, err)
		}
		if other, dup := seen[a.IP4]; dup {
			t.Errorf("VIP %s has the address %s of %s", a.Name, a.IP4, other)
		}
		seen[a.IP4] = a.Name
	}
	t.Logf("%d kills: %d registrations answered (%d agents), %d VIP tasks written, %d VIPs allocated",
		kills, regOK.Load(), len(given), vipOK.Load(), len(vips))
	if len(given) == 0 || len(vips) == 0 {
		t.Errorf("no progress: %d agents, %d VIPs", len(given), len(vips))
	}
}
