package zone

import (
	"runtime"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// benchConfig is DC/OS's configuration with both zones.
var benchConfig = Config{IPSources: []string{SourceHost, SourceNetInfo}, DCOS: true}

// syntheticStore loads mesossim.Synthetic(n, 1) into a store.
func syntheticStore(tb testing.TB, n int) *state.Store {
	tb.Helper()
	s := newStore(tb)
	if err := s.LoadState(mesossim.Synthetic(n, 1), masterInfo("198.18.0.2", 5050)); err != nil {
		tb.Fatal(err)
	}
	return s
}

// moveTask returns the snapshot after one running task of s got a new
// container IP, and the task's key.
func moveTask(tb testing.TB, s *state.Store, ip string) (*state.Snapshot, v1.TaskKey) {
	tb.Helper()
	sub := s.Subscribe()
	defer s.Unsubscribe(sub)
	<-sub.C()
	var key v1.TaskKey
	for _, t := range s.Current().Tasks() {
		if t.State == v1.TaskRunning && !t.HostNetworked() && len(t.IPs) > 0 {
			key = t.Key
			break
		}
	}
	raw, _ := s.Current().RawTask(key)
	st := raw.Statuses[len(raw.Statuses)-1]
	ts := st.GetTimestamp() + 1
	st.Timestamp = &ts
	st.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: &ip}}}}}
	if err := s.Apply(&master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: key.FrameworkID}, Status: st, State: mesos.TASK_RUNNING.Enum()}}); err != nil {
		tb.Fatal(err)
	}
	n := <-sub.C()
	return n.Snapshot, key
}

// BenchmarkBuild10k builds both zones of a synthetic 10,000-task cluster
// from scratch and reports the heap the zone retains per task.
func BenchmarkBuild10k(b *testing.B) {
	const n = 10000
	snap := syntheticStore(b, n).Current()
	bld, err := NewBuilder(benchConfig, nil)
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	z := bld.Build(snap)
	bld = nil // the builder's scratch state is not part of the zone
	runtime.GC()
	runtime.ReadMemStats(&after)
	retained := float64(after.HeapAlloc-before.HeapAlloc) / n
	names := z.Len()
	runtime.KeepAlive(z)

	bld2, _ := NewBuilder(benchConfig, nil)
	b.ReportAllocs()
	for b.Loop() {
		bld2.Build(snap)
	}
	// After the loop: ResetTimer and b.Loop drop metrics reported before.
	b.ReportMetric(retained, "bytes/task")
	b.ReportMetric(float64(names), "names")
}

// BenchmarkUpdateOneTask10k updates the zones of a 10,000-task cluster for
// one task whose IP changes (so its names really change), alternating
// between the two snapshots.
func BenchmarkUpdateOneTask10k(b *testing.B) {
	s := syntheticStore(b, 10000)
	s0 := s.Current()
	s1, key := moveTask(b, s, "198.19.255.254")
	bld, _ := NewBuilder(benchConfig, nil)
	bld.Build(s0)
	changed := []v1.TaskKey{key}
	snaps := [2]*state.Snapshot{s1, s0}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bld.Update(snaps[i&1], changed)
		i++
	}
}

// BenchmarkLookup looks up existing and missing names in a 10,000-task
// zone; it must not allocate.
func BenchmarkLookup(b *testing.B) {
	z := newTestBuilder(b, benchConfig).Build(syntheticStore(b, 10000).Current())
	all := names(z)
	lookups := make([]string, 0, 1024)
	for i := 0; i < len(all) && len(lookups) < 1000; i += len(all) / 1000 {
		lookups = append(lookups, all[i])
	}
	lookups = append(lookups, "missing.marathon.mesos.", "x.y.z.")
	if allocs := testing.AllocsPerRun(10, func() {
		for _, n := range lookups {
			z.Lookup(n)
		}
	}); allocs != 0 {
		b.Fatalf("Lookup allocates %v times", allocs)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		z.Lookup(lookups[i%len(lookups)])
		i++
	}
}

// TestUpdateTouchesOnlyChangedNames checks that Update is incremental: one
// task whose IP changes replaces only the record sets of its own names and
// those it shares, and shares every other set with the previous zone.
func TestUpdateTouchesOnlyChangedNames(t *testing.T) {
	s := syntheticStore(t, 1000)
	s0 := s.Current()
	s1, key := moveTask(t, s, "198.19.255.254")
	b := newTestBuilder(t, benchConfig)
	z0 := b.Build(s0)
	z1 := b.Update(s1, []v1.TaskKey{key})
	replaced := 0
	for itr := z1.names.Iterator(); !itr.Done(); {
		name, rs1, _ := itr.Next()
		if rs0, ok := z0.Lookup(name); !ok || rs0 != rs1 {
			replaced++
		}
	}
	// T.F.D, T-H-S.F.D, containerip and autoip (the canonical name of the
	// task is new, the old one gone); everything else is shared.
	if replaced == 0 || replaced > 8 {
		t.Errorf("Update replaced %d of %d record sets", replaced, z1.Len())
	}
	if z0.Len() != z1.Len() {
		t.Errorf("names %d -> %d", z0.Len(), z1.Len())
	}
}
