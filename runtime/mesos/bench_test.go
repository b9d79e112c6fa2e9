package mesos_test

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
)

// syntheticSubscribed returns the RecordIO-framed SUBSCRIBED event of an
// n-task synthetic cluster, encoded exactly as a Mesos master encodes it.
func syntheticSubscribed(b *testing.B, n int) (framed []byte, gs *master.Response_GetState) {
	b.Helper()
	gs = mesossim.Synthetic(n, 1)
	ev := &master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{
		GetState: gs, HeartbeatIntervalSeconds: func() *float64 { f := 15.0; return &f }(),
	}}
	body, err := mesosjson.Marshal(ev)
	if err != nil {
		b.Fatalf("encode SUBSCRIBED: %v", err)
	}
	var buf bytes.Buffer
	if err := recordio.NewWriter(&buf).WriteFrame(body); err != nil {
		b.Fatalf("frame SUBSCRIBED: %v", err)
	}
	return buf.Bytes(), gs
}

// peakHeap samples the heap while it runs and reports the largest
// HeapAlloc seen; stop ends the sampling and returns it.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkSubscribed10k reads, decodes and applies the SUBSCRIBED snapshot
// of a 10,000-task cluster (~30 MB) exactly as the Source does: RecordIO
// frame -> mesos.DecodeEvent -> state.Store.Subscribed (normalising every
// task). Reported: peak-heap-MB (largest HeapAlloc seen during one
// iteration, including the frame and the decoded mesos-go structs) and
// retained-MB (live heap after GC with only the Store kept).
func BenchmarkSubscribed10k(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			framed, _ := syntheticSubscribed(b, n)
			b.SetBytes(int64(len(framed)))
			var peak, retained uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				stop := peakHeap()
				b.StartTimer()

				st := state.New(state.Options{RecoveredAgentsWait: -1})
				frame, err := recordio.NewReader(bytes.NewReader(framed), 0).ReadFrame()
				if err != nil {
					b.Fatal(err)
				}
				ev, err := mesos.DecodeEvent(frame)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Subscribed(ev.Subscribed, nil); err != nil {
					b.Fatal(err)
				}

				b.StopTimer()
				p := stop() - base.HeapAlloc
				frame, ev = nil, nil
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if got := st.Current().TaskCount(); got != n {
					b.Fatalf("published %d tasks, want %d", got, n)
				}
				peak = max(peak, p)
				retained = max(retained, after.HeapAlloc-base.HeapAlloc)
				runtime.KeepAlive(st)
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
		})
	}
}

// BenchmarkTaskUpdated10k decodes and applies one TASK_UPDATED frame to a
// store holding 10,000 tasks: the per-event cost of the stream.
func BenchmarkTaskUpdated10k(b *testing.B) {
	framed, gs := syntheticSubscribed(b, 10000)
	frame, err := recordio.NewReader(bytes.NewReader(framed), 0).ReadFrame()
	if err != nil {
		b.Fatal(err)
	}
	ev, err := mesos.DecodeEvent(frame)
	if err != nil {
		b.Fatal(err)
	}
	st := state.New(state.Options{RecoveredAgentsWait: -1})
	if err := st.Subscribed(ev.Subscribed, nil); err != nil {
		b.Fatal(err)
	}
	// Alternate one running task between TASK_RUNNING and TASK_KILLING
	// with a fresh status each time, as Mesos would report it.
	task := gs.GetTasks.Tasks[len(gs.GetTasks.Tasks)/2]
	frames := make([][]byte, 2)
	for i, s := range []mesoslib.TaskState{mesoslib.TASK_KILLING, mesoslib.TASK_RUNNING} {
		status := task.Statuses[len(task.Statuses)-1]
		status.State = &s
		ts := *status.Timestamp + float64(i+1)
		status.Timestamp = &ts
		up := &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: task.FrameworkID, Status: status, State: &s,
		}}
		if frames[i], err = mesosjson.Marshal(up); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, err := mesos.DecodeEvent(frames[i%2])
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Apply(ev); err != nil {
			b.Fatal(err)
		}
	}
}
