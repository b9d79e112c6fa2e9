package zone

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/miekg/dns"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// mutator drives a store through random Mesos events: tasks launched
// (often under names other tasks use, with colliding IPs), updated to new
// states and addresses, killed; agents removed, re-registered (sometimes at
// a new address); frameworks renamed, re-homed and removed.
type mutator struct {
	rng     *rand.Rand
	s       *state.Store
	removed []master.Response_GetAgents_Agent
	ts      float64
	seq     int
}

var (
	mutNames = []string{"web", "api", "Big.Dog", "db.prod", "123", "$$$", "a-very-long-task-name-that-goes-on-and-on-and-on-beyond-63-chars"}
	mutIPs   = []string{"198.19.0.1", "198.19.0.2", "198.19.0.3", "fd01:b::1", "fd01:b::2", "198.18.32.1"}
	mutFws   = []string{"marathon", "marathon-user", "Chronos 2.0", "kafka"}
)

func (m *mutator) pick(xs []string) string { return xs[m.rng.IntN(len(xs))] }

// status returns a status with random container IPs and docker label.
func (m *mutator) status(id mesos.TaskID, agent mesos.AgentID, st mesos.TaskState) mesos.TaskStatus {
	m.ts += 1
	ts := m.ts
	s := mesos.TaskStatus{TaskID: id, State: st.Enum(), AgentID: &agent, Timestamp: &ts}
	var ni mesos.NetworkInfo
	for range m.rng.IntN(3) {
		ni.IPAddresses = append(ni.IPAddresses, mesos.NetworkInfo_IPAddress{IPAddress: str(m.pick(mutIPs))})
	}
	s.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{ni}}
	if m.rng.IntN(3) == 0 {
		s.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: dockerIPLabel, Value: str(m.pick(mutIPs))}}}
	}
	return s
}

// step applies one random event, ignoring events the store rejects.
func (m *mutator) step() {
	snap := m.s.Current()
	tasks := snap.Tasks()
	agents := snap.Agents()
	frameworks := snap.Frameworks()
	var ev *master.Event
	switch r := m.rng.IntN(100); {
	case r < 30 && len(tasks) > 0 && len(agents) > 0:
		// Launch a copy of a task under a new id, maybe a shared name.
		raw, _ := snap.RawTask(tasks[m.rng.IntN(len(tasks))].Key)
		t := *raw
		m.seq++
		t.TaskID = mesos.TaskID{Value: fmt.Sprintf("new-%d", m.seq)}
		t.AgentID = mesos.AgentID{Value: agents[m.rng.IntN(len(agents))].ID}
		if m.rng.IntN(2) == 0 {
			t.Name = m.pick(mutNames)
			if t.Discovery != nil {
				d := *t.Discovery
				d.Name = str(m.pick(mutNames))
				t.Discovery = &d
			}
		}
		st := mesos.TASK_RUNNING
		if m.rng.IntN(4) == 0 {
			st = mesos.TASK_STAGING
		}
		t.State = st.Enum()
		t.Statuses = []mesos.TaskStatus{m.status(t.TaskID, t.AgentID, st)}
		ev = eventTaskAdded(t)
	case r < 65 && len(tasks) > 0:
		t := tasks[m.rng.IntN(len(tasks))]
		states := []mesos.TaskState{mesos.TASK_RUNNING, mesos.TASK_RUNNING, mesos.TASK_STARTING, mesos.TASK_KILLING,
			mesos.TASK_UNREACHABLE, mesos.TASK_FINISHED, mesos.TASK_KILLED}
		st := states[m.rng.IntN(len(states))]
		status := m.status(mesos.TaskID{Value: t.Key.TaskID}, mesos.AgentID{Value: t.AgentID}, st)
		if m.rng.IntN(5) == 0 {
			status.Healthy = new(bool) // a health flap: no DNS change
		}
		ev = &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: mesos.FrameworkID{Value: t.Key.FrameworkID}, Status: status, State: st.Enum()}}
	case r < 75 && len(agents) > 0:
		a := agents[m.rng.IntN(len(agents))]
		raw, _ := snap.RawAgent(a.ID)
		m.removed = append(m.removed, *raw)
		ev = &master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: a.ID}}}
	case r < 85 && len(m.removed) > 0:
		i := m.rng.IntN(len(m.removed))
		a := m.removed[i]
		m.removed = slices.Delete(m.removed, i, i+1)
		if m.rng.IntN(2) == 0 {
			ip := netip.AddrFrom4([4]byte{198, 18, 200, byte(m.rng.IntN(250) + 1)}).String()
			a.AgentInfo.Hostname = ip
			a.PID = str("slave(1)@" + ip + ":5051")
		}
		ev = &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: a}}
	case r < 97 && len(frameworks) > 0:
		f := frameworks[m.rng.IntN(len(frameworks))]
		raw, _ := snap.RawFramework(f.ID)
		fw := *raw
		if m.rng.IntN(2) == 0 {
			fw.FrameworkInfo.Name = m.pick(mutFws)
		} else {
			fw.FrameworkInfo.Hostname = str(m.pick(append([]string{"scheduler.example.com"}, mutIPs...)))
		}
		ev = &master.Event{Type: master.Event_FRAMEWORK_UPDATED, FrameworkUpdated: &master.Event_FrameworkUpdated{Framework: fw}}
	case len(frameworks) > 1:
		f := frameworks[m.rng.IntN(len(frameworks))]
		raw, _ := snap.RawFramework(f.ID)
		ev = &master.Event{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{FrameworkInfo: raw.FrameworkInfo}}
	default:
		return
	}
	_ = m.s.Apply(ev)
}

// TestUpdateEqualsBuild is the property test of incremental updates: after
// every notification of random event sequences, the zone Update returns is
// exactly (records and reference counts) the zone Build returns for the
// same snapshot.
func TestUpdateEqualsBuild(t *testing.T) {
	for seed := range int64(6) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			cfg := Config{DCOS: true, IPMode: []IPMode{IPModeDCOS, IPModeFirst, IPModeAll}[seed%3], RFC952: seed == 4,
				IPSources: []string{SourceNetInfo, SourceDocker, SourceHost},
				Masters:   []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")}}
			s := newStore(t)
			sub := s.Subscribe()
			if err := s.LoadState(mesossim.Synthetic(60, seed), masterInfo("198.18.0.2", 5050)); err != nil {
				t.Fatal(err)
			}
			m := &mutator{rng: rand.New(rand.NewPCG(uint64(seed), 7)), s: s, ts: 2e9}
			b := newTestBuilder(t, cfg)
			var z *Zone
			updates := 0
			for i := range 250 {
				if i > 0 {
					m.step()
				}
				for len(sub.C()) > 0 {
					n := <-sub.C()
					if n.Reset {
						z = b.Build(n.Snapshot)
					} else {
						z = b.Update(n.Snapshot, n.Changed)
						updates++
					}
					fresh, err := NewBuilder(cfg, nil)
					if err != nil {
						t.Fatal(err)
					}
					want := fresh.Build(n.Snapshot)
					if diff := diffZones(want, z); diff != "" {
						t.Fatalf("step %d (revision %d, changed %v): incremental zone differs from a fresh build (-build +update):\n%s",
							i, n.Snapshot.Revision(), n.Changed, diff)
					}
					if i%25 == 0 {
						checkServable(t, z)
					}
				}
			}
			if updates < 150 {
				t.Errorf("only %d incremental updates", updates)
			}
		})
	}
}

// TestUpdateBetweenUnrelatedSnapshots updates across snapshots of
// different clusters (new leader, agents, frameworks), declaring every task
// of either as changed: the result must equal a fresh build.
func TestUpdateBetweenUnrelatedSnapshots(t *testing.T) {
	snaps := []*state.Snapshot{
		loadV0(t, fakeJSON),
		replay(t, "operator-api.json", masterInfo("172.17.0.2", 5050), -1, nil).Current(),
		loadV0(t, stateDIJSON),
		replay(t, "pod-tasks.json", nil, -1, nil).Current(),
		loadV0(t, fakeJSON),
	}
	cfg := Config{DCOS: true, Masters: []netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("10.0.5.163")}}
	b := newTestBuilder(t, cfg)
	b.Build(snaps[0])
	for i, snap := range snaps[1:] {
		var keys []v1.TaskKey
		for _, s := range []*state.Snapshot{snaps[i], snap} {
			for _, task := range s.Tasks() {
				keys = append(keys, task.Key)
			}
		}
		z := b.Update(snap, keys)
		if diff := diffZones(newTestBuilder(t, cfg).Build(snap), z); diff != "" {
			t.Errorf("update %d: differs from a fresh build (-build +update):\n%s", i+1, diff)
		}
	}
}

// TestUpdateSerialAndSharing checks that an update that changes no record
// keeps the serial (and a repeated snapshot the very zone), that a change
// moves the serial to the build time, and that the previous zone is left
// untouched for readers still holding it.
func TestUpdateSerialAndSharing(t *testing.T) {
	s := replay(t, "operator-api.json", masterInfo("172.17.0.2", 5050), -1, nil)
	sub := s.Subscribe()
	n := <-sub.C()
	b := newTestBuilder(t, Config{})
	z0 := b.Build(n.Snapshot)
	if b.Update(n.Snapshot, nil) != z0 {
		t.Errorf("Update with the same snapshot built a new zone")
	}
	before := dump(z0)
	task := n.Snapshot.Tasks()[0]
	raw, _ := n.Snapshot.RawTask(task.Key)
	latest := raw.Statuses[len(raw.Statuses)-1]
	latest.Healthy = new(bool)
	latest.Timestamp = new(float64)
	*latest.Timestamp = 2e9
	apply := func(ev *master.Event) *Zone {
		t.Helper()
		if err := s.Apply(ev); err != nil {
			t.Fatal(err)
		}
		n := <-sub.C()
		return b.Update(n.Snapshot, n.Changed)
	}
	b.now = func() time.Time { return testNow.Add(time.Hour) }
	z1 := apply(&master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: task.Key.FrameworkID}, Status: latest, State: mesos.TASK_RUNNING.Enum()}})
	if z1.Serial() != z0.Serial() {
		t.Errorf("a health update changed the serial from %d to %d", z0.Serial(), z1.Serial())
	}
	z2 := apply(&master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: task.Key.FrameworkID}, Status: latest, State: mesos.TASK_KILLED.Enum()}})
	if want := uint32(testNow.Add(time.Hour).Unix()); z2.Serial() != want || z2.SOA("mesos.").Serial != want {
		t.Errorf("serial after a removal = %d, want %d", z2.Serial(), want)
	}
	if z2.Len() >= z0.Len() {
		t.Errorf("names %d -> %d after killing a task", z0.Len(), z2.Len())
	}
	if diff := cmp.Diff(before, dump(z0)); diff != "" {
		t.Errorf("the update changed the previous zone (-before +after):\n%s", diff)
	}
}

// TestConcurrentReaders reads zones from several goroutines while the
// builder updates (run with -race): zones are immutable once returned.
func TestConcurrentReaders(t *testing.T) {
	s := newStore(t)
	sub := s.Subscribe()
	if err := s.LoadState(mesossim.Synthetic(100, 3), masterInfo("198.18.0.2", 5050)); err != nil {
		t.Fatal(err)
	}
	b := newTestBuilder(t, Config{DCOS: true})
	var current atomic.Pointer[Zone]
	current.Store(b.Build((<-sub.C()).Snapshot))
	lookups := names(current.Load())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				z := current.Load()
				if rs, ok := z.Lookup(lookups[i%len(lookups)]); ok {
					for _, rr := range rs.SRV {
						z.Extra(rr.(*dns.SRV).Target)
					}
				}
				z.SOA("mesos.")
			}
		})
	}
	m := &mutator{rng: rand.New(rand.NewPCG(3, 3)), s: s, ts: 2e9}
	for range 100 {
		m.step()
		for len(sub.C()) > 0 {
			n := <-sub.C()
			if n.Reset {
				current.Store(b.Build(n.Snapshot))
			} else {
				current.Store(b.Update(n.Snapshot, n.Changed))
			}
		}
	}
	close(stop)
	wg.Wait()
}
