package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

// TestSourceReplaysFixture replays the real dcos-net capture through a fake
// master and checks that the sink sees SUBSCRIBED and the 37 events after it.
func TestSourceReplaysFixture(t *testing.T) {
	lines := jsonLines(fixtures.Read(t, "mesos-api/v1-operator-api/dcos-net/operator-api.json"))
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch call {
		case "GET_MASTER":
			writeJSON(w, getMasterJSON("fixture-leader"))
		case "SUBSCRIBE":
			writeFrames(w, lines...)
			m.hold(r)
		}
	})
	sink := newFakeSink()
	reg := prometheus.NewRegistry()
	opts := fastOptions(t)
	opts.Registerer = reg
	src := NewSource(newTestClient(t, Config{}, m), sink, opts)
	startSource(t, src)

	// The expected calls come from an independent reading of the capture.
	want := []string{"subscribed"}
	counts := map[string]int{}
	for _, line := range lines[1:] {
		var probe struct{ Type string }
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			t.Fatal(err)
		}
		want = append(want, "apply "+probe.Type)
		counts[probe.Type]++
	}
	if diff := cmp.Diff(map[string]int{"FRAMEWORK_UPDATED": 1, "TASK_ADDED": 12, "TASK_UPDATED": 24}, counts); diff != "" {
		t.Fatalf("fixture event types (-want +got):\n%s", diff)
	}
	sink.waitLog(t, want...)
	if diff := cmp.Diff(want, sink.Log()); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}

	sink.mu.Lock()
	snap, leader := sink.snapshots[0], sink.leaders[0]
	sink.mu.Unlock()
	if leader == nil || leader.ID != "fixture-leader" {
		t.Errorf("Subscribed got leader %+v, want fixture-leader", leader)
	}
	agents, frameworks, tasks := snapshotSize(snap)
	if diff := cmp.Diff([]int{2, 1, 0}, []int{agents, frameworks, tasks}); diff != "" {
		t.Errorf("snapshot agents, frameworks, tasks (-want +got):\n%s", diff)
	}
	if !src.Connected() {
		t.Error("Connected() = false with the stream up")
	}
	if src.Leader() != m.URL() {
		t.Errorf("Leader() = %q, want %q", src.Leader(), m.URL())
	}

	gotMetrics := map[string]float64{
		"subscriptions": testutil.ToFloat64(src.metrics.subscriptions),
		"connected":     testutil.ToFloat64(src.metrics.connected),
		"SUBSCRIBED":    testutil.ToFloat64(src.metrics.events.WithLabelValues("SUBSCRIBED")),
		"TASK_ADDED":    testutil.ToFloat64(src.metrics.events.WithLabelValues("TASK_ADDED")),
		"TASK_UPDATED":  testutil.ToFloat64(src.metrics.events.WithLabelValues("TASK_UPDATED")),
	}
	wantMetrics := map[string]float64{"subscriptions": 1, "connected": 1, "SUBSCRIBED": 1, "TASK_ADDED": 12, "TASK_UPDATED": 24}
	if diff := cmp.Diff(wantMetrics, gotMetrics); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if ts := testutil.ToFloat64(src.metrics.lastEvent); ts < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last_event_timestamp_seconds = %v, want about now", ts)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	wantNames := []string{
		"mesosnet_mesos_connected",
		"mesosnet_mesos_events_total",
		"mesosnet_mesos_last_event_timestamp_seconds",
		"mesosnet_mesos_stream_errors_total",
		"mesosnet_mesos_subscriptions_total",
	}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("registered metrics (-want +got):\n%s", diff)
	}
}

func TestSourceFollowsRedirect(t *testing.T) {
	var leader *fakeMaster
	leader = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch call {
		case "GET_MASTER":
			writeJSON(w, getMasterJSON("leader"))
		case "SUBSCRIBE":
			writeFrames(w, subscribedJSON(15))
			leader.hold(r)
		}
	})
	follower := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		redirectTo(w, leader)
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, follower, leader), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed")

	if got := sink.Leaders(); len(got) != 1 || got[0] == nil || got[0].ID != "leader" {
		t.Errorf("Subscribed got leaders %+v, want the leader's info", got)
	}
	if src.Leader() != leader.URL() {
		t.Errorf("Leader() = %q, want %q", src.Leader(), leader.URL())
	}
	// GET_MASTER found the leader through the redirect; SUBSCRIBE went
	// straight to it.
	var followerCalls []string
	for _, c := range follower.Calls() {
		followerCalls = append(followerCalls, c.Type)
	}
	if diff := cmp.Diff([]string{"GET_MASTER"}, followerCalls); diff != "" {
		t.Errorf("calls on the follower (-want +got):\n%s", diff)
	}
}

// TestSourceDropsStaleLeaderInfo: GET_MASTER answered by one master while
// SUBSCRIBE lands on another means leadership moved; the info is not passed.
func TestSourceDropsStaleLeaderInfo(t *testing.T) {
	var newLeader *fakeMaster
	newLeader = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeFrames(w, subscribedJSON(15))
		newLeader.hold(r)
	})
	oldLeader := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch call {
		case "GET_MASTER":
			writeJSON(w, getMasterJSON("old"))
		default:
			redirectTo(w, newLeader)
		}
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, oldLeader, newLeader), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed")
	if got := sink.Leaders(); len(got) != 1 || got[0] != nil {
		t.Errorf("Subscribed got leaders %+v, want [nil]", got)
	}
}

func TestSourceRetries503(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch {
		case call == "GET_MASTER":
			writeJSON(w, getMasterJSON("m"))
		case n == 1:
			http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		default:
			writeFrames(w, subscribedJSON(15))
			m.hold(r)
		}
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed")
	if got := m.Count("SUBSCRIBE"); got != 2 {
		t.Errorf("SUBSCRIBE calls = %d, want 2", got)
	}
	if got := testutil.ToFloat64(src.metrics.streamErrors.WithLabelValues(ReasonSubscribe)); got != 1 {
		t.Errorf("stream_errors_total{reason=subscribe} = %v, want 1", got)
	}
	if got := sink.Log(); len(got) != 1 {
		t.Errorf("sink calls %q, want only subscribed (a failed SUBSCRIBE is no disconnect)", got)
	}
}

func TestSourceAuthHeaders(t *testing.T) {
	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"token", Auth{Token: "secret-token"}, "token=secret-token"},
		{"basic", Auth{Username: "u", Password: "p"}, "Basic dTpw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m *fakeMaster
			m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				if r.Header.Get("Authorization") != tc.want {
					http.Error(w, "bad credentials", http.StatusUnauthorized)
					return
				}
				if call == "GET_MASTER" {
					writeJSON(w, getMasterJSON("m"))
					return
				}
				writeFrames(w, subscribedJSON(15))
				m.hold(r)
			})
			sink := newFakeSink()
			startSource(t, NewSource(newTestClient(t, Config{Auth: tc.auth}, m), sink, fastOptions(t)))
			sink.waitLog(t, "subscribed")
			for _, c := range m.Calls() {
				if c.Authorization != tc.want {
					t.Errorf("%s sent Authorization %q, want %q", c.Type, c.Authorization, tc.want)
				}
			}
		})
	}
}

func TestSourceHeartbeatLoss(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch {
		case call == "GET_MASTER":
			writeJSON(w, getMasterJSON("m"))
		case n == 1:
			// Announces 20ms heartbeats, then falls silent.
			writeFrames(w, subscribedJSON(0.02), heartbeatJSON, taskAddedJSON("t1"))
			m.hold(r)
		default:
			writeFrames(w, subscribedJSON(15))
			m.hold(r)
		}
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed", "apply TASK_ADDED", "disconnected", "subscribed")

	errs := sink.Disconnects()
	var idle *IdleTimeoutError
	if !errors.As(errs[0], &idle) || idle.Idle != 60*time.Millisecond {
		t.Errorf("Disconnected(%v), want an idle timeout of 3 x 20ms", errs[0])
	}
	if got := testutil.ToFloat64(src.metrics.streamErrors.WithLabelValues(ReasonHeartbeat)); got != 1 {
		t.Errorf("stream_errors_total{reason=heartbeat} = %v, want 1", got)
	}
	// The sink has the second snapshot a moment before the source counts
	// the subscription.
	waitFor(t, "subscriptions_total 2", nil, func() bool { return testutil.ToFloat64(src.metrics.subscriptions) >= 2 })
	if got := testutil.ToFloat64(src.metrics.subscriptions); got != 2 {
		t.Errorf("subscriptions_total = %v, want 2", got)
	}
}

// TestSourceStreamFailures breaks the first stream in various ways and checks
// that the source reports it, applies nothing partial, and reconnects.
func TestSourceStreamFailures(t *testing.T) {
	big := taskAddedJSON(strings.Repeat("x", 5000))
	tests := []struct {
		name string
		// first writes the first stream; returning ends the response.
		first      func(w http.ResponseWriter)
		wantLog    []string
		wantErr    func(error) bool
		wantReason string
	}{
		{
			name: "oversized frame",
			first: func(w http.ResponseWriter) {
				writeFrames(w, subscribedJSON(15), taskAddedJSON("t1"), big, taskAddedJSON("t2"))
			},
			wantLog:    []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.As(err, new(*recordio.FrameTooLargeError)) },
			wantReason: ReasonTooLarge,
		},
		{
			name: "oversized SUBSCRIBED",
			first: func(w http.ResponseWriter) {
				writeFrames(w, `{"type":"SUBSCRIBED","subscribed":{"get_state":{}},"pad":"`+strings.Repeat("p", 5000)+`"}`)
			},
			wantLog:    []string{"subscribed"},
			wantReason: ReasonTooLarge,
		},
		{
			name: "closed mid-frame",
			first: func(w http.ResponseWriter) {
				writeFrames(w, subscribedJSON(15), taskAddedJSON("t1"))
				writeRaw(w, "300\n"+taskAddedJSON("t2")[:50])
			},
			wantLog:    []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
			wantReason: ReasonTruncated,
		},
		{
			name: "connection aborted mid-frame",
			first: func(w http.ResponseWriter) {
				writeFrames(w, subscribedJSON(15), taskAddedJSON("t1"))
				writeRaw(w, "300\n"+taskAddedJSON("t2")[:50])
				panic(http.ErrAbortHandler) // drops the TCP connection
			},
			wantLog: []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr: func(err error) bool { return err != nil },
		},
		{
			name: "garbage JSON frame",
			first: func(w http.ResponseWriter) {
				writeFrames(w, subscribedJSON(15), taskAddedJSON("t1"), "<html>oops</html>")
			},
			wantLog:    []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrMalformedEvent) },
			wantReason: ReasonMalformed,
		},
		{
			name: "garbage framing",
			first: func(w http.ResponseWriter) {
				writeFrames(w, subscribedJSON(15), taskAddedJSON("t1"))
				writeRaw(w, "-12\n{}")
			},
			wantLog:    []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, recordio.ErrInvalidHeader) },
			wantReason: ReasonMalformed,
		},
		{
			name:       "empty record",
			first:      func(w http.ResponseWriter) { writeFrames(w, subscribedJSON(15)); writeRaw(w, "0\n") },
			wantLog:    []string{"subscribed", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, recordio.ErrEmptyRecord) },
			wantReason: ReasonMalformed,
		},
		{
			name:       "clean end of stream",
			first:      func(w http.ResponseWriter) { writeFrames(w, subscribedJSON(15), taskAddedJSON("t1")) },
			wantLog:    []string{"subscribed", "apply TASK_ADDED", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, io.EOF) },
			wantReason: ReasonEOF,
		},
		{
			name:       "second SUBSCRIBED",
			first:      func(w http.ResponseWriter) { writeFrames(w, subscribedJSON(15), subscribedJSON(15)) },
			wantLog:    []string{"subscribed", "disconnected", "subscribed"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrNotSubscribed) },
			wantReason: ReasonProtocol,
		},
		{
			name:       "event before SUBSCRIBED",
			first:      func(w http.ResponseWriter) { writeFrames(w, taskAddedJSON("t1")) },
			wantLog:    []string{"subscribed"},
			wantReason: ReasonProtocol,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m *fakeMaster
			m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				switch {
				case call == "GET_MASTER":
					writeJSON(w, getMasterJSON("m"))
				case n == 1:
					tc.first(w)
				default:
					writeFrames(w, subscribedJSON(15))
					m.hold(r)
				}
			})
			sink := newFakeSink()
			src := NewSource(newTestClient(t, Config{MaxFrame: 4096}, m), sink, fastOptions(t))
			startSource(t, src)
			sink.waitLog(t, tc.wantLog...)
			if diff := cmp.Diff(tc.wantLog, sink.Log()); diff != "" {
				t.Errorf("sink calls (-want +got):\n%s", diff)
			}
			var applied []string
			for _, ev := range sink.Applied() {
				applied = append(applied, ev.TaskAdded.Task.TaskID.Value)
			}
			for _, id := range applied {
				if id != "t1" {
					t.Errorf("applied task %q from the broken part of the stream", id)
				}
			}
			if tc.wantErr != nil {
				if errs := sink.Disconnects(); !tc.wantErr(errs[0]) {
					t.Errorf("Disconnected(%v): not the expected %s error", errs[0], tc.name)
				}
			}
			if tc.wantReason != "" {
				if got := testutil.ToFloat64(src.metrics.streamErrors.WithLabelValues(tc.wantReason)); got != 1 {
					t.Errorf("stream_errors_total{reason=%s} = %v, want 1", tc.wantReason, got)
				}
			}
			if got := m.Count("SUBSCRIBE"); got != 2 {
				t.Errorf("SUBSCRIBE calls = %d, want 2", got)
			}
		})
	}
}

func TestSourceSkipsUnknownEvents(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		if call == "GET_MASTER" {
			writeJSON(w, getMasterJSON("m"))
			return
		}
		writeFrames(w, subscribedJSON(15),
			`{"type":"OPERATION_UPDATED","operation_updated":{"framework_id":{"value":"F1"}}}`,
			taskAddedJSON("t1"),
			`{"type":"AGENT_UPDATED","agent_updated":{}}`,
			taskAddedJSON("t2"))
		m.hold(r)
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed", "apply TASK_ADDED", "apply TASK_ADDED")
	if got := testutil.ToFloat64(src.metrics.events.WithLabelValues("unknown")); got != 2 {
		t.Errorf("events_total{type=unknown} = %v, want 2", got)
	}
	if !src.Connected() || m.Count("SUBSCRIBE") != 1 {
		t.Errorf("Connected() = %v after %d SUBSCRIBE calls, want one live stream", src.Connected(), m.Count("SUBSCRIBE"))
	}
}

func TestSourceApplyErrorKeepsStream(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		if call == "GET_MASTER" {
			writeJSON(w, getMasterJSON("m"))
			return
		}
		writeFrames(w, subscribedJSON(15), taskAddedJSON("bad"), heartbeatJSON, taskAddedJSON("t1"),
			`{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"S1"}}}`)
		m.hold(r)
	})
	sink := newFakeSink()
	sink.applyErr = func(ev *master.Event) error {
		if ev.TaskAdded != nil && ev.TaskAdded.Task.TaskID.Value == "bad" {
			return errors.New("task refused")
		}
		return nil
	}
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	want := []string{"subscribed", "refused TASK_ADDED", "apply TASK_ADDED", "apply AGENT_REMOVED"}
	sink.waitLog(t, want...)
	if diff := cmp.Diff(want, sink.Log()); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(src.metrics.events.WithLabelValues("HEARTBEAT")); got != 1 {
		t.Errorf("events_total{type=HEARTBEAT} = %v, want 1 (counted, not applied)", got)
	}
	if m.Count("SUBSCRIBE") != 1 {
		t.Errorf("SUBSCRIBE calls = %d, want 1", m.Count("SUBSCRIBE"))
	}
}

func TestSourceSinkRefusesSnapshot(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		if call == "GET_MASTER" {
			writeJSON(w, getMasterJSON("m"))
			return
		}
		writeFrames(w, subscribedJSON(15))
		m.hold(r)
	})
	sink := newFakeSink()
	sink.subscribedErr = func(n int) error {
		if n == 1 {
			return errors.New("snapshot refused")
		}
		return nil
	}
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "refused subscribed", "subscribed")
	if got := testutil.ToFloat64(src.metrics.streamErrors.WithLabelValues(ReasonSink)); got != 1 {
		t.Errorf("stream_errors_total{reason=sink} = %v, want 1", got)
	}
	// The sink has the snapshot a moment before the source counts the
	// subscription.
	waitFor(t, "subscriptions_total 1", nil, func() bool { return testutil.ToFloat64(src.metrics.subscriptions) == 1 })
	if got := testutil.ToFloat64(src.metrics.subscriptions); got != 1 {
		t.Errorf("subscriptions_total = %v, want 1", got)
	}
}

func TestSourceStopsOnCancel(t *testing.T) {
	t.Run("while streaming", func(t *testing.T) {
		var m *fakeMaster
		m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
			if call == "GET_MASTER" {
				writeJSON(w, getMasterJSON("m"))
				return
			}
			writeFrames(w, subscribedJSON(15))
			m.hold(r)
		})
		sink := newFakeSink()
		src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
		ctx, cancel := context.WithCancel(t.Context())
		result := startSourceCtx(t, ctx, src)
		sink.waitLog(t, "subscribed")
		cancel()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return after cancel")
		}
		if diff := cmp.Diff([]string{"subscribed", "disconnected"}, sink.Log()); diff != "" {
			t.Errorf("sink calls (-want +got):\n%s", diff)
		}
		if src.Connected() || testutil.ToFloat64(src.metrics.connected) != 0 {
			t.Error("source still connected after Run returned")
		}
		if got := testutil.CollectAndCount(src.metrics.streamErrors); got != 9 {
			t.Errorf("stream_errors_total has %d series, want the 9 reasons", got)
		}
		for _, r := range []string{ReasonConnection, ReasonEOF, ReasonTruncated} {
			if got := testutil.ToFloat64(src.metrics.streamErrors.WithLabelValues(r)); got != 0 {
				t.Errorf("stopping counted a stream error %s", r)
			}
		}
	})
	t.Run("while backing off", func(t *testing.T) {
		down := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
			http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		})
		waiting := make(chan struct{})
		var once sync.Once
		opts := fastOptions(t)
		opts.After = func(time.Duration) <-chan time.Time {
			once.Do(func() { close(waiting) })
			return nil // never fires
		}
		src := NewSource(newTestClient(t, Config{}, down), newFakeSink(), opts)
		ctx, cancel := context.WithCancel(t.Context())
		result := startSourceCtx(t, ctx, src)
		select {
		case <-waiting:
		case <-time.After(waitTimeout):
			t.Fatal("Run never backed off")
		}
		cancel()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return after cancel")
		}
	})
}

func TestSourceRunTwice(t *testing.T) {
	var m *fakeMaster
	m = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		if call == "GET_MASTER" {
			writeJSON(w, getMasterJSON("m"))
			return
		}
		writeFrames(w, subscribedJSON(15))
		m.hold(r)
	})
	sink := newFakeSink()
	src := NewSource(newTestClient(t, Config{}, m), sink, fastOptions(t))
	startSource(t, src)
	sink.waitLog(t, "subscribed")
	if err := src.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run returned %v, want an already running error", err)
	}
}

func TestSourceBackoff(t *testing.T) {
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{"lowest jitter", 0, []time.Duration{50, 100, 200, 400, 500, 500, 500}},
		{"middle jitter", 0.5, []time.Duration{75, 150, 300, 600, 750, 750, 750}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := NewSource(nil, nil, SourceOptions{
				InitialBackoff: 100 * time.Millisecond,
				MaxBackoff:     time.Second,
				Rand:           func() float64 { return tc.rand },
			})
			var got []time.Duration
			for n := range 7 {
				got = append(got, src.backoff(n)/time.Millisecond)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("delays in ms (-want +got):\n%s", diff)
			}
		})
	}
	src := NewSource(nil, nil, SourceOptions{})
	if got := src.backoff(1000); got < DefaultMaxBackoff/2 || got > DefaultMaxBackoff {
		t.Errorf("backoff(1000) = %s, want within [%s, %s]", got, DefaultMaxBackoff/2, DefaultMaxBackoff)
	}
}

// TestSourceBackoffResets checks that a stream that lived long resets the
// backoff, while short streams make it grow.
func TestSourceBackoffResets(t *testing.T) {
	tests := []struct {
		name string
		// step is how far the fake clock moves on each reading.
		step time.Duration
		want []time.Duration
	}{
		{"short streams back off", 0, []time.Duration{750, 1500, 3000, 6000, 6000}},
		{"long streams reset", 2 * time.Minute, []time.Duration{750, 750, 750, 750, 750}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				if call == "GET_MASTER" {
					writeJSON(w, getMasterJSON("m"))
					return
				}
				writeFrames(w, subscribedJSON(15)) // then the stream ends
			})
			var (
				mu     sync.Mutex
				clock  = time.Unix(1_700_000_000, 0)
				delays []time.Duration
			)
			opts := fastOptions(t)
			opts.InitialBackoff = time.Millisecond
			opts.MaxBackoff = 8 * time.Millisecond
			opts.Now = func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(tc.step)
				return clock
			}
			opts.After = func(d time.Duration) <-chan time.Time {
				mu.Lock()
				delays = append(delays, d)
				mu.Unlock()
				c := make(chan time.Time, 1)
				c <- time.Time{}
				return c
			}
			sink := newFakeSink()
			ctx, cancel := context.WithCancel(t.Context())
			result := startSourceCtx(t, ctx, NewSource(newTestClient(t, Config{}, m), sink, opts))
			// The 6th disconnect comes after the 5th backoff.
			waitFor(t, "6 reconnects", sink.changed, func() bool { return sink.countLog("disconnected") >= 6 })
			cancel()
			<-result
			mu.Lock()
			got := make([]time.Duration, 0, 5)
			for _, d := range delays[:5] {
				got = append(got, d/time.Microsecond)
			}
			mu.Unlock()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("delays in µs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&IdleTimeoutError{Idle: time.Second}, ReasonHeartbeat},
		{&recordio.FrameTooLargeError{Size: 2, Limit: 1}, ReasonTooLarge},
		{ErrMalformedEvent, ReasonMalformed},
		{recordio.ErrHeaderTooLong, ReasonMalformed},
		{ErrNotSubscribed, ReasonProtocol},
		{io.EOF, ReasonEOF},
		{io.ErrUnexpectedEOF, ReasonTruncated},
		{errors.New("connection reset by peer"), ReasonConnection},
	}
	var got, want []string
	for _, tc := range tests {
		got = append(got, reason(tc.err))
		want = append(want, tc.want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}
