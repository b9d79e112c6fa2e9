package mesos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

// waitTimeout bounds every wait of the tests; conditions are polled, never
// slept on.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it holds, waking on wake (may be nil) or every few
// milliseconds, and fails the test after waitTimeout.
func waitFor(t *testing.T, what string, wake <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
	}
}

// fakeCall is one request received by a fakeMaster.
type fakeCall struct {
	Type          string
	Authorization string
	UserAgent     string
	ContentType   string
	Accept        string
}

// handlerFunc answers one call; n counts the calls of this type so far,
// starting at 1.
type handlerFunc func(w http.ResponseWriter, r *http.Request, call string, n int)

// fakeMaster plays the /api/v1 endpoint of a Mesos master on loopback.
type fakeMaster struct {
	t      *testing.T
	srv    *httptest.Server
	handle handlerFunc
	done   chan struct{} // closed at cleanup: held-open streams end

	mu     sync.Mutex
	calls  []fakeCall
	counts map[string]int
}

func newFakeMaster(t *testing.T, handle handlerFunc) *fakeMaster {
	m := newUnstartedFakeMaster(t, handle)
	m.srv.Start()
	return m
}

func newUnstartedFakeMaster(t *testing.T, handle handlerFunc) *fakeMaster {
	m := &fakeMaster{t: t, handle: handle, done: make(chan struct{}), counts: map[string]int{}}
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(m.serveHTTP))
	t.Cleanup(func() {
		close(m.done)
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

// URL is the master's base URL (without /api/v1).
func (m *fakeMaster) URL() string { return m.srv.URL }

// HostPort is the master's listening address.
func (m *fakeMaster) HostPort() string { return m.srv.Listener.Addr().String() }

func (m *fakeMaster) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1" {
		http.Error(w, "fake master: only POST /api/v1", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var call master.Call
	if err := json.Unmarshal(body, &call); err != nil {
		http.Error(w, "fake master: bad call: "+err.Error(), http.StatusBadRequest)
		return
	}
	typ := call.Type.String()
	m.mu.Lock()
	m.calls = append(m.calls, fakeCall{
		Type:          typ,
		Authorization: r.Header.Get("Authorization"),
		UserAgent:     r.Header.Get("User-Agent"),
		ContentType:   r.Header.Get("Content-Type"),
		Accept:        r.Header.Get("Accept"),
	})
	m.counts[typ]++
	n := m.counts[typ]
	m.mu.Unlock()
	m.handle(w, r, typ, n)
}

// Calls returns the requests received so far.
func (m *fakeMaster) Calls() []fakeCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]fakeCall(nil), m.calls...)
}

// Count returns how many calls of type typ were received.
func (m *fakeMaster) Count(typ string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[typ]
}

// hold keeps a stream open until the client leaves or the test ends.
func (m *fakeMaster) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-m.done:
	}
}

// writeFrames starts a stream response if needed and writes each frame,
// RecordIO-encoded, flushing after each.
func writeFrames(w http.ResponseWriter, frames ...string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	rw := recordio.NewWriter(w)
	for _, f := range frames {
		if err := rw.WriteFrame([]byte(f)); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

// writeRaw writes bytes as they are (to break the framing on purpose).
func writeRaw(w http.ResponseWriter, raw string) {
	_, _ = io.WriteString(w, raw)
	w.(http.Flusher).Flush()
}

// redirectTo answers 307 to target's protocol-relative API URL, as a Mesos
// master that does not lead does.
func redirectTo(w http.ResponseWriter, target *fakeMaster) {
	w.Header().Set("Location", "//"+target.HostPort()+"/api/v1")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// getMasterJSON is a GET_MASTER answer for a master with the given ID.
func getMasterJSON(id string) string {
	return fmt.Sprintf(`{"type":"GET_MASTER","get_master":{"master_info":{"id":%q,"ip":16777343,"port":5050,"hostname":"%s.example","address":{"ip":"127.0.0.1","port":5050}},"start_time":1520884800.5,"elected_time":1520884801.5}}`, id, id)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// subscribedJSON is a small SUBSCRIBED event; heartbeat <= 0 omits the
// interval.
func subscribedJSON(heartbeat float64) string {
	hb := ""
	if heartbeat > 0 {
		hb = fmt.Sprintf(`,"heartbeat_interval_seconds":%g`, heartbeat)
	}
	return `{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_agents":{"agents":[{"agent_info":{"hostname":"10.0.0.1","id":{"value":"S1"}},"active":true,"pid":"slave(1)@10.0.0.1:5051","version":"1.9.0"}]}}` + hb + `}}`
}

// taskAddedJSON is a TASK_ADDED event for task id.
func taskAddedJSON(id string) string {
	return fmt.Sprintf(`{"type":"TASK_ADDED","task_added":{"task":{"name":%q,"task_id":{"value":%q},"framework_id":{"value":"F1"},"agent_id":{"value":"S1"},"state":"TASK_STAGING"}}}`, id, id)
}

const heartbeatJSON = `{"type":"HEARTBEAT"}`

// newTestClient builds a client of the given masters with a test logger.
func newTestClient(t *testing.T, cfg Config, masters ...*fakeMaster) *Client {
	t.Helper()
	for _, m := range masters {
		cfg.Masters = append(cfg.Masters, m.URL())
	}
	cfg.Logger = zaptest.NewLogger(t)
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// fakeSink records what a Source hands it.
type fakeSink struct {
	mu          sync.Mutex
	log         []string
	snapshots   []*master.Event_Subscribed
	leaders     []*mesos.MasterInfo
	applied     []*master.Event
	disconnects []error

	subscribedErr func(n int) error
	applyErr      func(ev *master.Event) error
	changed       chan struct{}
}

func newFakeSink() *fakeSink { return &fakeSink{changed: make(chan struct{}, 1)} }

func (s *fakeSink) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSink) Subscribed(ev *master.Event_Subscribed, leader *mesos.MasterInfo) error {
	s.mu.Lock()
	defer s.notify()
	defer s.mu.Unlock()
	s.snapshots = append(s.snapshots, ev)
	s.leaders = append(s.leaders, leader)
	if s.subscribedErr != nil {
		if err := s.subscribedErr(len(s.snapshots)); err != nil {
			s.log = append(s.log, "refused subscribed")
			return err
		}
	}
	s.log = append(s.log, "subscribed")
	return nil
}

func (s *fakeSink) Apply(ev *master.Event) error {
	s.mu.Lock()
	defer s.notify()
	defer s.mu.Unlock()
	if s.applyErr != nil {
		if err := s.applyErr(ev); err != nil {
			s.log = append(s.log, "refused "+ev.Type.String())
			return err
		}
	}
	s.applied = append(s.applied, ev)
	s.log = append(s.log, "apply "+ev.Type.String())
	return nil
}

func (s *fakeSink) Disconnected(err error) {
	s.mu.Lock()
	defer s.notify()
	defer s.mu.Unlock()
	s.disconnects = append(s.disconnects, err)
	s.log = append(s.log, "disconnected")
}

// Log returns the calls so far, one word each.
func (s *fakeSink) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Disconnects returns the errors passed to Disconnected.
func (s *fakeSink) Disconnects() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.disconnects...)
}

// Leaders returns the MasterInfos passed to Subscribed.
func (s *fakeSink) Leaders() []*mesos.MasterInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*mesos.MasterInfo(nil), s.leaders...)
}

// Applied returns the events passed to Apply and accepted.
func (s *fakeSink) Applied() []*master.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*master.Event(nil), s.applied...)
}

// countLog counts the log entries equal to entry.
func (s *fakeSink) countLog(entry string) int {
	n := 0
	for _, e := range s.Log() {
		if e == entry {
			n++
		}
	}
	return n
}

// waitLog waits until the sink's log starts with want.
func (s *fakeSink) waitLog(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("sink calls %q", want), s.changed, func() bool {
		got := s.Log()
		return len(got) >= len(want) && strings.Join(got[:len(want)], "|") == strings.Join(want, "|")
	})
}

// fastOptions are SourceOptions for tests: quick, deterministic retries.
func fastOptions(t *testing.T) SourceOptions {
	return SourceOptions{
		Logger:         zaptest.NewLogger(t),
		InitialBackoff: time.Millisecond,
		MaxBackoff:     4 * time.Millisecond,
		Rand:           func() float64 { return 0.5 },
	}
}

// startSource runs src until the test ends and returns a channel that yields
// Run's result.
func startSource(t *testing.T, src *Source) <-chan error {
	t.Helper()
	return startSourceCtx(t, t.Context(), src)
}

func startSourceCtx(t *testing.T, ctx context.Context, src *Source) <-chan error {
	t.Helper()
	result := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		result <- src.Run(ctx)
	}()
	t.Cleanup(func() {
		select {
		case <-stopped:
		case <-time.After(waitTimeout):
			t.Errorf("Source.Run did not return within %s of the end of the test", waitTimeout)
		}
	})
	return result
}

// jsonLines splits a stream fixture into its events.
func jsonLines(b []byte) []string {
	var out []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}
