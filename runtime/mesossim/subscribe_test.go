package mesossim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

// eventually polls cond until it holds, failing the test after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// streamCtx bounds a test's stream reads: reads fail instead of hanging.
func streamCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubscribeFramingAndHeartbeats(t *testing.T) {
	sc := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/hello-world.json")
	want := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/hello-world.json").State
	for _, tc := range []struct {
		name, format, contentType, messageType string
		recordio                               bool
	}{
		{"json", jsonType, jsonType, "", false},
		{"protobuf", protoType, protoType, "", false},
		{"recordio json", jsonType, mesossimtest.RecordIO, jsonType, true},
		{"recordio protobuf", protoType, mesossimtest.RecordIO, protoType, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No replay here: hold the events back by not using them.
			quiet := *sc
			quiet.Events = nil
			_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: &quiet, HeartbeatInterval: 20 * time.Millisecond})
			start := time.Now() // the heartbeat ticker starts after this
			s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, tc.format, tc.recordio)
			h := s.Resp.Header
			if h.Get("Content-Type") != tc.contentType || h.Get("Message-Content-Type") != tc.messageType {
				t.Errorf("Content-Type %q Message-Content-Type %q, want %q %q",
					h.Get("Content-Type"), h.Get("Message-Content-Type"), tc.contentType, tc.messageType)
			}
			if s.Resp.ContentLength != -1 || h.Get("Content-Length") != "" {
				t.Errorf("streaming response has a Content-Length (%d)", s.Resp.ContentLength)
			}
			if diff := cmp.Diff([]string{"chunked"}, s.Resp.TransferEncoding); diff != "" {
				t.Errorf("Transfer-Encoding (-want +got):\n%s", diff)
			}
			first := s.Next(t)
			if first.GetType() != master.Event_SUBSCRIBED {
				t.Fatalf("first event %s, want SUBSCRIBED", first.GetType())
			}
			if got := first.GetSubscribed().GetHeartbeatIntervalSeconds(); got != 0.02 {
				t.Errorf("heartbeat_interval_seconds = %v, want 0.02", got)
			}
			if diff := cmp.Diff(want, first.GetSubscribed().GetGetState()); diff != "" {
				t.Errorf("SUBSCRIBED get_state differs from the capture (-want +got):\n%s", diff)
			}
			// An immediate HEARTBEAT, then one per interval.
			for i := range 4 {
				if ev := s.Next(t); ev.GetType() != master.Event_HEARTBEAT {
					t.Fatalf("event %d after SUBSCRIBED is %s, want HEARTBEAT", i+1, ev.GetType())
				}
			}
			if elapsed := time.Since(start); elapsed < 60*time.Millisecond {
				t.Errorf("4 heartbeats arrived %v after subscribing; the 3 periodic ones take at least 3 intervals (60ms)", elapsed)
			}
		})
	}
}

func TestSubscribeJSONIsMesosShaped(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: loadScenario(t, "mesos-api/v1-operator-api/dcos-net/tcp-and-udp.json"),
		HeartbeatInterval: time.Hour})
	s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
	rec, err := s.NextRecord()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"null", "e+0"} {
		if bytes.Contains(rec, []byte(bad)) {
			t.Errorf("SUBSCRIBED contains %q, which Mesos never writes", bad)
		}
	}
	for _, good := range []string{`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":[{"name":"app"`,
		`"heartbeat_interval_seconds":3600.0}}`, `"failover_timeout":604800000.0`} {
		if !bytes.Contains(rec, []byte(good)) {
			t.Errorf("SUBSCRIBED lacks %s", good)
		}
	}
	hb, err := s.NextRecord()
	if err != nil || string(hb) != `{"type":"HEARTBEAT"}` {
		t.Errorf("HEARTBEAT record %q, %v", hb, err)
	}
}

// v1Streams are the captured SUBSCRIBE streams.
var v1Streams = []string{
	"mesos-api/v1-operator-api/dcos-net/operator-api.json",
	"mesos-api/v1-operator-api/dcos-net/hello-world.json",
	"mesos-api/v1-operator-api/dcos-net/hello-overlay.json",
	"mesos-api/v1-operator-api/dcos-net/pod-tasks.json",
	"mesos-api/v1-operator-api/dcos-net/recovered-agents.json",
}

// fixtureEvents decodes every line of a captured stream.
func fixtureEvents(t *testing.T, rel string) []master.Event {
	t.Helper()
	var out []master.Event
	for i, line := range bytes.Split(bytes.TrimSpace(fixtures.Read(t, rel)), []byte("\n")) {
		var ev master.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("%s line %d: %v", rel, i+1, err)
		}
		out = append(out, ev)
	}
	return out
}

// taskStates summarises the tasks of a state, sorted: "framework/task
// state" for active ones, "completed framework/task state" for the others.
func taskStates(st *master.Response_GetState) []string {
	var out []string
	for _, t := range st.GetGetTasks().GetTasks() {
		out = append(out, fmt.Sprintf("%s/%s %s", t.FrameworkID.Value, t.TaskID.Value, t.GetState()))
	}
	for _, t := range st.GetGetTasks().GetCompletedTasks() {
		out = append(out, fmt.Sprintf("completed %s/%s %s", t.FrameworkID.Value, t.TaskID.Value, t.GetState()))
	}
	sort.Strings(out)
	return out
}

// expectedTasks replays a capture's events on its own, independently of the
// simulator: the last state of every task, terminal ones completed (sorted
// like taskStates).
func expectedTasks(events []master.Event) []string {
	var order []string
	states := map[string]mesos.TaskState{}
	add := func(fw, id string, s mesos.TaskState) {
		k := fw + "/" + id
		if _, ok := states[k]; !ok {
			order = append(order, k)
		}
		states[k] = s
	}
	for _, t := range events[0].GetSubscribed().GetGetState().GetGetTasks().GetTasks() {
		add(t.FrameworkID.Value, t.TaskID.Value, t.GetState())
	}
	for _, ev := range events[1:] {
		switch ev.GetType() {
		case master.Event_TASK_ADDED:
			t := ev.GetTaskAdded().Task
			add(t.FrameworkID.Value, t.TaskID.Value, t.GetState())
		case master.Event_TASK_UPDATED:
			u := ev.GetTaskUpdated()
			if _, ok := states[u.FrameworkID.Value+"/"+u.Status.TaskID.Value]; ok {
				add(u.FrameworkID.Value, u.Status.TaskID.Value, u.GetState())
			}
		}
	}
	var out []string
	for _, k := range order {
		if mesossim.IsTerminal(states[k]) {
			out = append(out, fmt.Sprintf("completed %s %s", k, states[k]))
		} else {
			out = append(out, fmt.Sprintf("%s %s", k, states[k]))
		}
	}
	sort.Strings(out)
	return out
}

func TestReplayEveryStream(t *testing.T) {
	for _, rel := range v1Streams {
		for _, format := range []string{jsonType, protoType} {
			t.Run(rel+" "+format, func(t *testing.T) {
				want := fixtureEvents(t, rel)
				sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: loadScenario(t, rel), HeartbeatInterval: time.Hour})
				s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, format, true)
				first := s.Next(t)
				if diff := cmp.Diff(want[0].GetSubscribed().GetGetState(), first.GetSubscribed().GetGetState()); diff != "" {
					t.Fatalf("SUBSCRIBED (-capture +sim):\n%s", diff)
				}
				if ev := s.Next(t); ev.GetType() != master.Event_HEARTBEAT {
					t.Fatalf("second event %s, want HEARTBEAT", ev.GetType())
				}
				for i, w := range want[1:] {
					got := s.Next(t)
					if diff := cmp.Diff(&w, got); diff != "" {
						t.Fatalf("event %d (line %d) differs (-capture +sim):\n%s", i+1, i+2, diff)
					}
				}
				select {
				case <-sim.ReplayDone():
				case <-streamCtx(t).Done():
					t.Fatal("replay did not finish")
				}
				r := callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_STATE}, jsonType, jsonType)
				if diff := cmp.Diff(expectedTasks(want), taskStates(r.GetGetState())); diff != "" {
					t.Errorf("tasks after the replay (-want +got):\n%s", diff)
				}
				// A later subscriber starts from the replayed state.
				late := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, format, false)
				if diff := cmp.Diff(r.GetGetState(), late.Next(t).GetSubscribed().GetGetState()); diff != "" {
					t.Errorf("late SUBSCRIBED differs from GET_STATE (-get_state +subscribed):\n%s", diff)
				}
			})
		}
	}
}

func TestReplayWaitsForFirstSubscriberAndPaces(t *testing.T) {
	rel := "mesos-api/v1-operator-api/dcos-net/pod-tasks.json"
	sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: loadScenario(t, rel),
		HeartbeatInterval: time.Hour, ReplayInterval: 10 * time.Millisecond})
	before := callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_TASKS}, jsonType, jsonType)
	if n := len(before.GetGetTasks().GetTasks()); n != 0 {
		t.Fatalf("%d tasks before any subscriber; the replay must wait", n)
	}
	select {
	case <-sim.ReplayDone():
		t.Fatal("replay finished without a subscriber")
	default:
	}
	start := time.Now() // the replay starts after this
	s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
	s.Next(t) // SUBSCRIBED
	s.Next(t) // HEARTBEAT
	events := len(fixtureEvents(t, rel)) - 1
	for range events {
		s.NextNonHeartbeat(t)
	}
	if elapsed, min := time.Since(start), time.Duration(events)*10*time.Millisecond; elapsed < min {
		t.Errorf("%d events paced at 10ms arrived in %v, want at least %v", events, elapsed, min)
	}
}

// blockingWriter is a ResponseWriter whose writes block until released, a
// subscriber that stopped reading.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
	mu      sync.Mutex
	written int
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written += len(b)
	return len(b), nil
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{SubscriberBuffer: 4, HeartbeatInterval: time.Hour})
	good := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
	good.Next(t)
	good.Next(t)

	slow := &blockingWriter{header: http.Header{}, release: make(chan struct{})}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", jsonType)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sim.ServeHTTP(slow, req)
	}()
	eventually(t, "the slow subscriber registers", func() bool { return sim.Subscribers() == 2 })
	// The slow stream is stuck writing SUBSCRIBED: the first 4 events fill
	// its queue, the 5th drops it. Publishing never blocks.
	for i := range 5 {
		if err := sim.Publish(&master.Event{Type: master.Event_AGENT_REMOVED,
			AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after overflowing the slow one, want 1", n)
	}
	close(slow.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dropped subscriber's handler did not return")
	}
	// The well-behaved subscriber got everything.
	for i := range 5 {
		ev := good.Next(t)
		if ev.GetAgentRemoved().AgentID.Value != fmt.Sprint(i) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
}

func TestSlowTCPSubscriberIsDisconnected(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{SubscriberBuffer: 8, HeartbeatInterval: time.Hour})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"type":"SUBSCRIBE"}`
	fmt.Fprintf(conn, "POST /api/v1 HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	eventually(t, "the subscriber registers", func() bool { return sim.Subscribers() == 1 })
	deadline := time.Now().Add(20 * time.Second)
	// Publish large events without reading until the kernel buffers and
	// the queue are full and the simulator lets go of the subscriber.
	big := strings.Repeat("x", 64<<10)
	published := 0
	for sim.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("subscriber still connected after %d events", published)
		}
		ev := &master.Event{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{
			FrameworkInfo: mesos.FrameworkInfo{Name: big, ID: &mesos.FrameworkID{Value: fmt.Sprint(published)}}}}
		if err := sim.Publish(ev); err != nil {
			t.Fatal(err)
		}
		published++
	}
	// The connection ends: reading drains what was buffered, then stops.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if _, err := r.Discard(1 << 30); err == nil {
		t.Fatal("read 1 GiB from a dropped subscriber")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("dropped subscriber's connection stayed open: %v", err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	sim, err := mesossim.New(mesossim.Options{Logger: zaptest.NewLogger(t), HeartbeatInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	defer ts.Close()
	s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
	s.Next(t)
	s.Next(t)
	sim.Close()
	if _, err := s.NextRecord(); err == nil {
		t.Fatal("stream still open after Close")
	}
	resp, body := post(t, http.MethodPost, ts.URL+"/api/v1", []byte(`{"type":"SUBSCRIBE"}`), map[string]string{"Content-Type": jsonType})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("SUBSCRIBE after Close: HTTP %d %s", resp.StatusCode, body)
	}
}
