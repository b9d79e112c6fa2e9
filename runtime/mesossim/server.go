package mesossim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
	"github.com/mesosnet/mesosnet/runtime/mesossim/v0"
)

// Defaults.
const (
	// DefaultVersion is the Mesos version the simulator reports.
	DefaultVersion = "1.11.0"
	// DefaultHeartbeatInterval is Mesos's SUBSCRIBE heartbeat interval.
	DefaultHeartbeatInterval = 15 * time.Second
	// DefaultSubscriberBuffer is the number of events queued for a
	// subscriber that is not reading before it is disconnected.
	DefaultSubscriberBuffer = 4096
	// maxRequestBody bounds /api/v1 and /sim/v1 request bodies.
	maxRequestBody = 16 << 20
)

// Options configure a Server. The zero value is a leading master with an
// empty cluster.
type Options struct {
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// Scenario is the initial state and the events to replay (New copies
	// it); nil starts with an empty cluster.
	Scenario *Scenario
	// ID is the master ID; by default the scenario's master ID, else a
	// random UUID.
	ID string
	// Hostname is the master's hostname; by default its IP address.
	Hostname string
	// Advertise is the ip:port the master reports as its own (GET_MASTER,
	// pids, /master/redirect). By default it is the local address of the
	// connection each request arrived on.
	Advertise string
	// Version is the reported Mesos version (DefaultVersion).
	Version string
	// Leader, when set, makes this master a non-leading one: every
	// operator API and state request is redirected (307) to this leading
	// master, given as a URL or host:port.
	Leader string
	// HeartbeatInterval is the SUBSCRIBE heartbeat interval
	// (DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	// ReplayInterval paces the scenario's events; 0 emits them back to back.
	ReplayInterval time.Duration
	// SubscriberBuffer is the number of events queued per subscriber
	// before a subscriber that does not keep up is disconnected
	// (DefaultSubscriberBuffer).
	SubscriberBuffer int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Random is the source of UUIDs (crypto/rand.Reader).
	Random io.Reader
}

// Server is a simulated Mesos master: it serves the v1 operator API
// (/api/v1), the v0 state endpoint (/master/state) and a control API
// (/sim/v1/) that drives cluster events. It implements http.Handler.
type Server struct {
	log        *zap.Logger
	opts       Options
	leader     string // host:port of the leading master; empty when leading
	mux        *http.ServeMux
	startTime  time.Time
	heartbeats map[string][]byte // HEARTBEAT event per message format

	mu     sync.Mutex
	c      *cluster
	subs   map[*subscriber]struct{}
	closed bool

	firstSub   chan struct{}
	firstOnce  sync.Once
	done       chan struct{}
	closeOnce  sync.Once
	replayDone chan struct{}
}

// New returns a Server for opts and starts replaying the scenario's events
// (they wait for the first subscriber). Call Close to stop it.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.HeartbeatInterval < 0 || opts.ReplayInterval < 0 || opts.SubscriberBuffer < 0 {
		return nil, errors.New("create simulator: negative heartbeat interval, replay interval or subscriber buffer")
	}
	if opts.SubscriberBuffer == 0 {
		opts.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if opts.Advertise != "" {
		if _, err := netip.ParseAddrPort(opts.Advertise); err != nil {
			return nil, fmt.Errorf("create simulator: advertise address %q: %w", opts.Advertise, err)
		}
	}
	s := &Server{
		log:        opts.Logger.Named("mesossim"),
		opts:       opts,
		subs:       map[*subscriber]struct{}{},
		firstSub:   make(chan struct{}),
		done:       make(chan struct{}),
		replayDone: make(chan struct{}),
		heartbeats: map[string][]byte{},
	}
	if opts.Leader != "" {
		leader, err := parseLeader(opts.Leader)
		if err != nil {
			return nil, fmt.Errorf("create simulator: %w", err)
		}
		s.leader = leader
	}
	var events []master.Event
	var state *master.Response_GetState
	if sc := opts.Scenario; sc != nil {
		// The cluster updates its state in place: work on a copy, so
		// that one Scenario can start several servers.
		if sc.State != nil {
			state = proto.Clone(sc.State).(*master.Response_GetState)
		}
		for i := range sc.Events {
			events = append(events, *proto.Clone(&sc.Events[i]).(*master.Event))
		}
		if s.opts.ID == "" {
			s.opts.ID = sc.MasterID
		}
	}
	if s.opts.ID == "" {
		s.opts.ID = s.uuidString()
	}
	s.c = newCluster(state)
	s.startTime = opts.Now()
	for _, f := range []string{mediaJSON, mediaProtobuf} {
		b, err := encode(&master.Event{Type: master.Event_HEARTBEAT}, f)
		if err != nil {
			return nil, fmt.Errorf("create simulator: %w", err)
		}
		s.heartbeats[f] = b
	}
	s.routes()
	go s.replay(events)
	return s, nil
}

// parseLeader accepts http://host:port, //host:port, host:port or host and
// returns host:port (port 5050 by default).
func parseLeader(raw string) (string, error) {
	s := raw
	if !strings.Contains(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("leader %q: want a URL or host:port", raw)
	}
	port := u.Port()
	if port == "" {
		port = "5050"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("leader %q: invalid port", raw)
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// Close disconnects every subscriber and stops the replay. It does not
// close listeners: shut the http.Server down after calling it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for sub := range s.subs {
			s.dropLocked(sub)
		}
		s.mu.Unlock()
		close(s.done)
	})
	<-s.replayDone
}

// ReplayDone is closed once every scenario event has been emitted (or the
// server was closed first).
func (s *Server) ReplayDone() <-chan struct{} { return s.replayDone }

// Subscribers returns the number of connected SUBSCRIBE streams.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (s *Server) replay(events []master.Event) {
	defer close(s.replayDone)
	if len(events) == 0 {
		return
	}
	select {
	case <-s.firstSub:
	case <-s.done:
		return
	}
	for i := range events {
		if s.opts.ReplayInterval > 0 {
			t := time.NewTimer(s.opts.ReplayInterval)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
		}
		s.mu.Lock()
		err := s.publishLocked(&events[i])
		s.mu.Unlock()
		if err != nil {
			s.log.Error("Failed to replay event", zap.Int("event", i+2), zap.Error(err))
		}
	}
	s.log.Info("Replayed scenario", zap.Int("events", len(events)))
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/api/v1", s.serveAPI)
	for _, p := range []string{"/master/state", "/master/state.json", "/state", "/state.json"} {
		m.HandleFunc(p, s.serveV0State)
	}
	for _, p := range []string{"/health", "/master/health"} {
		m.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	for _, p := range []string{"/redirect", "/master/redirect"} {
		m.HandleFunc(p, s.serveRedirect)
	}
	s.controlRoutes(m)
	s.mux = m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) now() time.Time { return s.opts.Now() }

// uuid returns a random (version 4) UUID.
func (s *Server) uuid() []byte {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.opts.Random, b); err != nil {
		// A broken entropy source must not stop the simulation; fall
		// back to the clock.
		n := s.now().UnixNano()
		for i := range b {
			b[i] = byte(n >> (8 * (i % 8)))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

func (s *Server) uuidString() string {
	b := s.uuid()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// self returns this master's address: Options.Advertise, else the local
// address of the request's connection (0.0.0.0 becomes 127.0.0.1).
func (s *Server) self(r *http.Request) netip.AddrPort {
	if s.opts.Advertise != "" {
		return netip.MustParseAddrPort(s.opts.Advertise)
	}
	if r != nil {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip := ap.Addr().Unmap()
				if ip.IsUnspecified() {
					ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
				}
				return netip.AddrPortFrom(ip, ap.Port())
			}
		}
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 5050)
}

// masterInfo describes this master the way Mesos does in GET_MASTER.
func (s *Server) masterInfo(r *http.Request) mesos.MasterInfo {
	ap := s.self(r)
	ip := ap.Addr().String()
	hostname := s.opts.Hostname
	if hostname == "" {
		hostname = ip
	}
	port := uint32(ap.Port())
	pid := "master@" + ap.String()
	version := s.opts.Version
	return mesos.MasterInfo{
		ID:       s.opts.ID,
		IP:       v0.PackIPv4(ap.Addr()),
		Port:     &port,
		PID:      &pid,
		Hostname: &hostname,
		Version:  &version,
		Address:  &mesos.Address{Hostname: &hostname, IP: &ip, Port: int32(port)},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
		},
	}
}

// redirect answers like a non-leading Mesos master: 307 to the same path on
// the leader, as a protocol-relative URL, with an empty body.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", "//"+s.leader+r.URL.Path)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// serveRedirect answers /master/redirect: 307 to the leading master.
func (s *Server) serveRedirect(w http.ResponseWriter, r *http.Request) {
	target := s.leader
	if target == "" {
		target = s.self(r).String()
	}
	w.Header().Set("Location", "//"+target)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// textError writes a plain-text error response as libprocess does.
func textError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// writeBody writes a complete (non-streaming) response with its length, so
// that clients can tell it from a RecordIO stream.
func writeBody(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// encode marshals a protobuf message for the given media type.
func encode(m interface{ Marshal() ([]byte, error) }, mediaType string) ([]byte, error) {
	if mediaType == mediaProtobuf {
		b, err := m.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encode protobuf: %w", err)
		}
		return b, nil
	}
	b, err := mesosjson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return b, nil
}

func (s *Server) serveV0State(w http.ResponseWriter, r *http.Request) {
	if s.leader != "" {
		s.redirect(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		textError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting one of { 'GET', 'HEAD' }, but received '%s'", r.Method))
		return
	}
	info := s.masterInfo(r)
	start := float64(s.startTime.UnixNano()) / 1e9
	s.mu.Lock()
	body, err := v0.Render(v0.Master{Info: info, Leader: &info, StartTime: start, ElectedTime: start}, s.c.state())
	s.mu.Unlock()
	if err != nil {
		s.log.Error("Failed to render v0 state", zap.Error(err))
		textError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeBody(w, mediaJSON, body)
}

// requiredMessage names the message each call type must carry, as Mesos's
// validation::master::call::validate checks.
var requiredMessage = map[master.Call_Type]struct {
	name string
	set  func(*master.Call) bool
}{
	master.Call_SET_LOGGING_LEVEL:           {"set_logging_level", func(c *master.Call) bool { return c.SetLoggingLevel != nil }},
	master.Call_LIST_FILES:                  {"list_files", func(c *master.Call) bool { return c.ListFiles != nil }},
	master.Call_READ_FILE:                   {"read_file", func(c *master.Call) bool { return c.ReadFile != nil }},
	master.Call_UPDATE_WEIGHTS:              {"update_weights", func(c *master.Call) bool { return c.UpdateWeights != nil }},
	master.Call_RESERVE_RESOURCES:           {"reserve_resources", func(c *master.Call) bool { return c.ReserveResources != nil }},
	master.Call_UNRESERVE_RESOURCES:         {"unreserve_resources", func(c *master.Call) bool { return c.UnreserveResources != nil }},
	master.Call_CREATE_VOLUMES:              {"create_volumes", func(c *master.Call) bool { return c.CreateVolumes != nil }},
	master.Call_DESTROY_VOLUMES:             {"destroy_volumes", func(c *master.Call) bool { return c.DestroyVolumes != nil }},
	master.Call_GROW_VOLUME:                 {"grow_volume", func(c *master.Call) bool { return c.GrowVolume != nil }},
	master.Call_SHRINK_VOLUME:               {"shrink_volume", func(c *master.Call) bool { return c.ShrinkVolume != nil }},
	master.Call_UPDATE_MAINTENANCE_SCHEDULE: {"update_maintenance_schedule", func(c *master.Call) bool { return c.UpdateMaintenanceSchedule != nil }},
	master.Call_START_MAINTENANCE:           {"start_maintenance", func(c *master.Call) bool { return c.StartMaintenance != nil }},
	master.Call_STOP_MAINTENANCE:            {"stop_maintenance", func(c *master.Call) bool { return c.StopMaintenance != nil }},
	master.Call_DRAIN_AGENT:                 {"drain_agent", func(c *master.Call) bool { return c.DrainAgent != nil }},
	master.Call_DEACTIVATE_AGENT:            {"deactivate_agent", func(c *master.Call) bool { return c.DeactivateAgent != nil }},
	master.Call_REACTIVATE_AGENT:            {"reactivate_agent", func(c *master.Call) bool { return c.ReactivateAgent != nil }},
	master.Call_UPDATE_QUOTA:                {"update_quota", func(c *master.Call) bool { return c.UpdateQuota != nil }},
	master.Call_SET_QUOTA:                   {"set_quota", func(c *master.Call) bool { return c.SetQuota != nil }},
	master.Call_REMOVE_QUOTA:                {"remove_quota", func(c *master.Call) bool { return c.RemoveQuota != nil }},
	master.Call_TEARDOWN:                    {"teardown", func(c *master.Call) bool { return c.Teardown != nil }},
	master.Call_MARK_AGENT_GONE:             {"mark_agent_gone", func(c *master.Call) bool { return c.MarkAgentGone != nil }},
}

// validateCall checks a call like Mesos's validation::master::call::validate:
// a type, and the message the call type needs.
func validateCall(c *master.Call) error {
	if c.Type == master.Call_UNKNOWN {
		//lint:ignore ST1005 the exact wording of a Mesos master
		return errors.New("Expecting 'type' to be present")
	}
	if req, ok := requiredMessage[c.Type]; ok && !req.set(c) {
		//lint:ignore ST1005 the exact wording of a Mesos master
		return fmt.Errorf("Expecting '%s' to be present", req.name)
	}
	return nil
}

// serveAPI handles /api/v1 with the checks and messages of Master::Http::api,
// in its order: redirect when not leading, 405, Content-Type (400 when
// absent, 415 when unsupported), decoding (400), validation (400), Accept
// (406), then the call.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if s.leader != "" {
		s.redirect(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		textError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting one of { 'POST' }, but received '%s'", r.Method))
		return
	}
	// Like libprocess, the last of repeated header fields counts.
	var contentType string
	if v := r.Header.Values("Content-Type"); len(v) > 0 {
		contentType = v[len(v)-1]
	}
	if contentType == "" {
		textError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return
	}
	if contentType != mediaJSON && contentType != mediaProtobuf {
		textError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Expecting 'Content-Type' of %s or %s", mediaJSON, mediaProtobuf))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		textError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return
	}
	if len(body) > maxRequestBody {
		textError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds %d bytes", maxRequestBody))
		return
	}
	var call master.Call
	if contentType == mediaProtobuf {
		if err := call.Unmarshal(body); err != nil {
			textError(w, http.StatusBadRequest, "Failed to parse body into Call protobuf: "+err.Error())
			return
		}
	} else {
		var syntax any
		if err := json.Unmarshal(body, &syntax); err != nil {
			textError(w, http.StatusBadRequest, "Failed to parse body into JSON: "+err.Error())
			return
		}
		if _, isObject := syntax.(map[string]any); !isObject {
			textError(w, http.StatusBadRequest, "Failed to convert JSON into Call protobuf: Expecting a JSON object")
			return
		}
		if err := json.Unmarshal(body, &call); err != nil {
			msg := ffjsonPrefix.ReplaceAllString(err.Error(), "")
			msg = ffjsonOffset.ReplaceAllString(msg, "")
			textError(w, http.StatusBadRequest, "Failed to convert JSON into Call protobuf: "+msg)
			return
		}
	}
	if err := validateCall(&call); err != nil {
		textError(w, http.StatusBadRequest, "Failed to validate master::Call: "+err.Error())
		return
	}

	var respType string
	switch {
	case accepts(r.Header, "Accept", mediaJSON):
		respType = mediaJSON
	case accepts(r.Header, "Accept", mediaProtobuf):
		respType = mediaProtobuf
	case accepts(r.Header, "Accept", mediaRecordIO):
		respType = mediaRecordIO
	default:
		textError(w, http.StatusNotAcceptable, fmt.Sprintf("Expecting 'Accept' to allow '%s' or '%s' or '%s'",
			mediaJSON, mediaProtobuf, mediaRecordIO))
		return
	}
	msgType := respType
	if respType == mediaRecordIO {
		if call.Type != master.Call_SUBSCRIBE {
			textError(w, http.StatusNotAcceptable, fmt.Sprintf("Streaming response is not supported for %s", call.Type))
			return
		}
		switch {
		case accepts(r.Header, "Message-Accept", mediaJSON):
			msgType = mediaJSON
		case accepts(r.Header, "Message-Accept", mediaProtobuf):
			msgType = mediaProtobuf
		default:
			textError(w, http.StatusNotAcceptable, fmt.Sprintf("Expecting 'Message-Accept' to allow '%s' or '%s'",
				mediaJSON, mediaProtobuf))
			return
		}
	}
	s.log.Debug("Received call", zap.Stringer("call", call.Type))
	s.call(w, r, &call, respType, msgType)
}

func (s *Server) call(w http.ResponseWriter, r *http.Request, call *master.Call, respType, msgType string) {
	var resp *master.Response
	switch call.Type {
	case master.Call_SUBSCRIBE:
		s.serveSubscribe(w, r, respType, msgType)
		return
	case master.Call_GET_HEALTH:
		resp = &master.Response{Type: master.Response_GET_HEALTH,
			GetHealth: &master.Response_GetHealth{Healthy: true}}
	case master.Call_GET_VERSION:
		user := "mesosnet-sim"
		resp = &master.Response{Type: master.Response_GET_VERSION,
			GetVersion: &master.Response_GetVersion{VersionInfo: mesos.VersionInfo{Version: s.opts.Version, BuildUser: &user}}}
	case master.Call_GET_MASTER:
		info := s.masterInfo(r)
		start := float64(s.startTime.UnixNano()) / 1e9
		resp = &master.Response{Type: master.Response_GET_MASTER,
			GetMaster: &master.Response_GetMaster{MasterInfo: &info, StartTime: &start, ElectedTime: &start}}
	case master.Call_GET_STATE, master.Call_GET_AGENTS, master.Call_GET_FRAMEWORKS,
		master.Call_GET_TASKS, master.Call_GET_EXECUTORS:
		s.mu.Lock()
		st := s.c.state()
		switch call.Type {
		case master.Call_GET_STATE:
			resp = &master.Response{Type: master.Response_GET_STATE, GetState: st}
		case master.Call_GET_AGENTS:
			resp = &master.Response{Type: master.Response_GET_AGENTS, GetAgents: st.GetAgents}
		case master.Call_GET_FRAMEWORKS:
			resp = &master.Response{Type: master.Response_GET_FRAMEWORKS, GetFrameworks: st.GetFrameworks}
		case master.Call_GET_TASKS:
			resp = &master.Response{Type: master.Response_GET_TASKS, GetTasks: st.GetTasks}
		default:
			resp = &master.Response{Type: master.Response_GET_EXECUTORS, GetExecutors: st.GetExecutors}
		}
		// Encode while the state cannot change; write after unlocking.
		body, err := encode(resp, respType)
		s.mu.Unlock()
		s.writeResponse(w, call.Type, respType, body, err)
		return
	case master.Call_TEARDOWN:
		if err := s.RemoveFramework(call.Teardown.FrameworkID.Value); err != nil {
			textError(w, http.StatusBadRequest, "No framework found with specified ID")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case master.Call_MARK_AGENT_GONE:
		id := call.MarkAgentGone.AgentID.Value
		if err := s.removeAgent(id, true); err != nil {
			textError(w, http.StatusNotFound, fmt.Sprintf("Agent '%s' not found", id))
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	default:
		// A real master implements every call; the simulator answers the
		// calls it does not model as Mesos answers calls it does not know.
		textError(w, http.StatusNotImplemented, fmt.Sprintf("mesosnet-sim does not implement %s", call.Type))
		return
	}
	body, err := encode(resp, respType)
	s.writeResponse(w, call.Type, respType, body, err)
}

func (s *Server) writeResponse(w http.ResponseWriter, call master.Call_Type, respType string, body []byte, err error) {
	if err != nil {
		s.log.Error("Failed to encode response", zap.Stringer("call", call), zap.Error(err))
		textError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeBody(w, respType, body)
}
