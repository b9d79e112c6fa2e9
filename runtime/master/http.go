package master

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// maxBodyBytes bounds a request body of the master's endpoints.
const maxBodyBytes = 64 << 10

// forwardedHeader marks a request one master forwarded to the leader, so
// that a leader that lost its leadership meanwhile answers 503 instead of
// forwarding again.
const forwardedHeader = "X-Mesosnet-Forwarded-By"

// Status is the body of GET /v1/status.
type Status struct {
	// ID is the master that answered.
	ID string `json:"id"`
	// Leader is the raft leader as this master knows it; empty if none.
	Leader raftstore.Peer `json:"leader,omitzero"`
	// Leading is whether the answering master leads (runs the
	// controllers).
	Leading bool `json:"leading"`
	// LeadingSince is when it started leading.
	LeadingSince time.Time `json:"leadingSince,omitzero"`
	// Revision is the raft index of the answering replica's state.
	Revision uint64 `json:"revision"`
	// Servers is the raft configuration.
	Servers []raftstore.Server `json:"servers"`
	// Mesos is the Mesos stream of the leader, when this master leads.
	Mesos *MesosStatus `json:"mesos,omitempty"`
	// Counts are the numbers of objects by kind.
	Counts map[string]int `json:"counts"`
}

// MesosStatus is the leader's view of Mesos.
type MesosStatus struct {
	Connected bool   `json:"connected"`
	Leader    string `json:"leader,omitempty"`
	Tasks     int    `json:"tasks"`
	Agents    int    `json:"agents"`
}

func (m *Master) routes() {
	h := func(pattern string, f http.HandlerFunc) { m.api.Handle(pattern, f) }
	h("GET /v1/status", m.status)
	h("GET /v1/agents", m.listAgents)
	h("GET /v1/agents/{ip}", m.getAgent)
	h("POST /v1/agents", m.registerAgent)
	h("DELETE /v1/agents/{ip}", m.deleteAgent)
	h("GET /v1/vips", m.listVIPs)
	h("GET /v1/tasks", m.listTasks)
	h("GET /v1/overlay", m.overlay)
	h("GET /v1/raft/peers", m.listPeers)
	h("POST /v1/raft/peers", m.addPeer)
	h("DELETE /v1/raft/peers/{id}", m.removePeer)
	// The raft store's own forwarding endpoints, behind the same token.
	m.api.Handle("/raft/", m.store.Handler())
}

// consistentParam is the query parameter of the read endpoints that asks a
// follower to catch up with the leader's state first, so that a client
// reads its own writes whichever master it asks (mesosnetctl sets it).
const consistentParam = "consistent"

// catchUp makes a follower wait until it has applied what the leader had
// applied when asked, when the request has ?consistent. It answers 503 and
// returns false when that cannot be done in time.
func (m *Master) catchUp(w http.ResponseWriter, r *http.Request) bool {
	if !r.URL.Query().Has(consistentParam) || m.store.IsLeader() {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	rev, err := m.proxy.leaderRevision(ctx)
	if err == nil {
		err = m.store.WaitIndex(ctx, rev)
	}
	if err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "behind",
			fmt.Sprintf("master %s cannot catch up with the leader: %v", m.cfg.ID, err))
		return false
	}
	return true
}

func (m *Master) status(w http.ResponseWriter, r *http.Request) {
	st := Status{ID: m.cfg.ID, Revision: m.store.Index(), Counts: map[string]int{}}
	if p, ok := m.store.Leader(); ok {
		st.Leader = p
	}
	servers, err := m.store.Servers()
	if err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "raft", err.Error())
		return
	}
	st.Servers = servers
	m.mu.Lock()
	term := m.leading
	m.mu.Unlock()
	if term != nil {
		st.Leading, st.LeadingSince = true, term.since
		if term.mesos != nil {
			snap := term.mesos.Current()
			ms := &MesosStatus{Connected: snap.Connected(), Tasks: snap.TaskCount(), Agents: len(snap.Agents())}
			if term.src != nil {
				ms.Leader = term.src.Leader()
			}
			st.Mesos = ms
		}
	}
	for _, k := range []string{taskstate.Kind, subnetalloc.KindAgent, vipalloc.KindVIP, raftstore.PeerKind} {
		st.Counts[k] = len(m.store.List(k))
	}
	api.WriteJSON(w, http.StatusOK, st)
}

// decodeAll decodes the values of every object of kind.
func decodeAll[T any](s *raftstore.Store, kind string) ([]T, error) {
	objs := s.List(kind)
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		var v T
		if err := json.Unmarshal(o.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", kind, o.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (m *Master) listAgents(w http.ResponseWriter, r *http.Request) {
	if !m.catchUp(w, r) {
		return
	}
	agents, err := decodeAll[v1.AgentRecord](m.store, subnetalloc.KindAgent)
	if err != nil {
		api.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, agents)
}

func parseAgentIP(w http.ResponseWriter, r *http.Request) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("agent IP %q: %v", r.PathValue("ip"), err))
		return netip.Addr{}, false
	}
	return ip, true
}

func (m *Master) getAgent(w http.ResponseWriter, r *http.Request) {
	ip, ok := parseAgentIP(w, r)
	if !ok || !m.catchUp(w, r) {
		return
	}
	o, found := m.store.Get(subnetalloc.KindAgent, ip.String())
	if !found {
		api.WriteError(w, http.StatusNotFound, "notFound", fmt.Sprintf("agent %s is not registered", ip))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(bytes.Clone(o.Value), '\n'))
}

func (m *Master) registerAgent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("read body: %v", err))
		return
	}
	var req v1.AgentRegistration
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		api.WriteError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("decode agent registration: %v", err))
		return
	}
	if dec.More() {
		api.WriteError(w, http.StatusBadRequest, "badRequest", "decode agent registration: data after the JSON object")
		return
	}
	if err := req.Validate(); err != nil {
		api.WriteError(w, http.StatusBadRequest, "badRequest", err.Error())
		return
	}
	rec, err := m.agents.Register(r.Context(), req)
	if errors.Is(err, subnetalloc.ErrNotLeading) {
		m.proxy.forward(w, r, body)
		return
	}
	if err != nil {
		writeControllerError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, rec)
}

func (m *Master) deleteAgent(w http.ResponseWriter, r *http.Request) {
	ip, ok := parseAgentIP(w, r)
	if !ok {
		return
	}
	err := m.agents.Delete(r.Context(), ip)
	switch {
	case errors.Is(err, subnetalloc.ErrNotLeading):
		m.proxy.forward(w, r, nil)
	case errors.Is(err, subnetalloc.ErrAgentNotFound):
		api.WriteError(w, http.StatusNotFound, "notFound", err.Error())
	case err != nil:
		writeControllerError(w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// writeControllerError maps a controller's error to a status: a full range
// is 409 (the request is fine, the cluster cannot satisfy it), a lost
// leadership or an unknown outcome 503 (retry), anything else 500.
func writeControllerError(w http.ResponseWriter, err error) {
	var ex *subnetalloc.ExhaustedError
	switch {
	case errors.As(err, &ex):
		api.WriteError(w, http.StatusConflict, "exhausted", err.Error())
	case errors.Is(err, raftstore.ErrNotLeader), errors.Is(err, raftstore.ErrNoLeader),
		errors.Is(err, raftstore.ErrLeaderUnavailable), errors.Is(err, raftstore.ErrUnknownOutcome),
		errors.Is(err, raftstore.ErrConflict), errors.Is(err, context.DeadlineExceeded):
		api.WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	default:
		api.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func (m *Master) listVIPs(w http.ResponseWriter, r *http.Request) {
	if !m.catchUp(w, r) {
		return
	}
	// The services are a function of the replicated state, so the raft
	// index they were computed at is their entity tag, the same on every
	// master (dcos-net tags /v1/vips with its lashup vector clock).
	etag := func(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag(m.store.Index()) {
		w.Header().Set("ETag", inm)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var (
		tasks  []v1.Task
		allocs []v1.VIPAllocation
		rev    uint64
		stable bool
		err    error
	)
	for range 10 {
		rev = m.store.Index()
		if tasks, err = decodeAll[v1.Task](m.store, taskstate.Kind); err == nil {
			allocs, err = decodeAll[v1.VIPAllocation](m.store, vipalloc.KindVIP)
		}
		if err != nil {
			api.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		if stable = m.store.Index() == rev; stable {
			break
		}
	}
	byName := make(map[string]v1.VIPAllocation, len(allocs))
	for _, a := range allocs {
		byName[a.Name] = a
	}
	services, _ := vipalloc.Services(tasks, byName, vipalloc.ServiceOptions{DisableIPv6: m.cfg.DisableIPv6})
	if services == nil {
		services = []v1.VIPService{}
	}
	if stable {
		w.Header().Set("ETag", etag(rev))
	}
	api.WriteJSON(w, http.StatusOK, services)
}

func (m *Master) listTasks(w http.ResponseWriter, r *http.Request) {
	if !m.catchUp(w, r) {
		return
	}
	tasks, err := decodeAll[v1.Task](m.store, taskstate.Kind)
	if err != nil {
		api.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, tasks)
}

func (m *Master) overlay(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, m.cfg.Overlay)
}

func (m *Master) listPeers(w http.ResponseWriter, _ *http.Request) {
	servers, err := m.store.Servers()
	if err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "raft", err.Error())
		return
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	api.WriteJSON(w, http.StatusOK, servers)
}

func (m *Master) addPeer(w http.ResponseWriter, r *http.Request) {
	var p raftstore.Peer
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		api.WriteError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("decode peer: %v", err))
		return
	}
	if dec.More() {
		api.WriteError(w, http.StatusBadRequest, "badRequest", "decode peer: data after the JSON object")
		return
	}
	if p.ID == "" || p.RaftAddress == "" || p.APIAddress == "" {
		api.WriteError(w, http.StatusBadRequest, "badRequest", "peer: id, raftAddress and apiAddress are required")
		return
	}
	if err := m.store.AddVoter(r.Context(), p); err != nil {
		writeRaftError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Master) removePeer(w http.ResponseWriter, r *http.Request) {
	if err := m.store.RemoveServer(r.Context(), r.PathValue("id")); err != nil {
		writeRaftError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeRaftError(w http.ResponseWriter, err error) {
	var rej *raftstore.RejectedError
	switch {
	case errors.As(err, &rej), errors.Is(err, raftstore.ErrInvalid):
		api.WriteError(w, http.StatusBadRequest, "invalid", err.Error())
	default:
		writeControllerError(w, err)
	}
}

// forwarder sends a leader-only request to the raft leader's API.
type forwarder struct {
	self   string
	scheme string
	store  *raftstore.Store
	client *http.Client
}

// forward proxies r (whose body was read into body) to the leader, or
// answers 503 when there is none to forward to.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	leader, ok := f.store.Leader()
	switch {
	case r.Header.Get(forwardedHeader) != "":
		api.WriteError(w, http.StatusServiceUnavailable, "notLeader",
			fmt.Sprintf("master %s got a request forwarded by %s but does not lead", f.self, r.Header.Get(forwardedHeader)))
		return
	case !ok || leader.APIAddress == "":
		api.WriteError(w, http.StatusServiceUnavailable, "noLeader", "no raft leader known; retry")
		return
	case leader.ID == f.self:
		api.WriteError(w, http.StatusServiceUnavailable, "notLeading", "this master is becoming the leader; retry")
		return
	}
	target := &url.URL{Scheme: f.scheme, Host: leader.APIAddress}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, f.self)
			pr.Out.Body = io.NopCloser(bytes.NewReader(body))
			pr.Out.ContentLength = int64(len(body))
		},
		Transport: f.client.Transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			api.WriteError(w, http.StatusServiceUnavailable, "leaderUnavailable",
				fmt.Sprintf("forward to leader %s at %s: %v", leader.ID, leader.APIAddress, err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// leaderRevision asks the leader for the raft index it has applied.
func (f *forwarder) leaderRevision(ctx context.Context) (uint64, error) {
	leader, ok := f.store.Leader()
	if !ok || leader.APIAddress == "" {
		return 0, raftstore.ErrNoLeader
	}
	// /readyz carries the applied index and, unlike /v1/status, costs the
	// leader nothing: no object counts, no raft configuration.
	u := url.URL{Scheme: f.scheme, Host: leader.APIAddress, Path: "/readyz"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask leader %s: %w", leader.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("ask leader %s: %s", leader.ID, resp.Status)
	}
	var st struct {
		Revision uint64 `json:"revision"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return 0, fmt.Errorf("ask leader %s: decode readiness: %w", leader.ID, err)
	}
	return st.Revision, nil
}

// tokenTransport adds the cluster token to requests that carry none.
type tokenTransport struct {
	token string
	base  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(r)
}

func transport(cfg *tls.Config) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		tr.TLSClientConfig = cfg.Clone()
	}
	return tr
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	t := string(bytes.TrimSpace(b))
	if t == "" {
		return "", fmt.Errorf("read api token: %s is empty", path)
	}
	return t, nil
}
