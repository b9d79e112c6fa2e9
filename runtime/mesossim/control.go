package mesossim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesossim/v0"
)

// Errors of the control API, matched with errors.Is.
var (
	// ErrNotFound: the agent, framework or task does not exist (or the
	// task is no longer active).
	ErrNotFound = errors.New("not found")
	// ErrConflict: an object with that ID already exists.
	ErrConflict = errors.New("already exists")
)

// SpecError reports an invalid field of a control request.
type SpecError struct {
	// Field is the JSON name of the field, e.g. "ports[1].protocol".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *SpecError) Error() string { return e.Field + ": " + e.Reason }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Label is a key/value pair of a task or a port.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Labels accepts either a JSON object ({"VIP_0": "/web:80"}, ordered by key)
// or an array of {"key", "value"} objects (order kept).
type Labels []Label

// UnmarshalJSON implements json.Unmarshaler.
func (l *Labels) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err == nil {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		*l = (*l)[:0]
		for _, k := range keys {
			*l = append(*l, Label{Key: k, Value: m[k]})
		}
		return nil
	}
	var a []Label
	if err := json.Unmarshal(b, &a); err != nil {
		return errors.New(`labels: want an object of strings or an array of {"key", "value"}`)
	}
	*l = a
	return nil
}

func (l Labels) mesos() []mesos.Label {
	out := make([]mesos.Label, 0, len(l))
	for _, lb := range l {
		v := lb.Value
		out = append(out, mesos.Label{Key: lb.Key, Value: &v})
	}
	return out
}

// AgentSpec describes an agent to register (POST /sim/v1/agents).
type AgentSpec struct {
	// ID defaults to "<master id>-S<n>".
	ID string `json:"id,omitempty"`
	// Hostname is required; it is also the agent's IP when it is one.
	Hostname string `json:"hostname"`
	// IP is the agent's address in its pid; required when Hostname is not
	// an IP address.
	IP string `json:"ip,omitempty"`
	// Port defaults to 5051.
	Port int `json:"port,omitempty"`
	// Attributes are text attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// FrameworkSpec describes a framework (POST /sim/v1/frameworks, PUT
// /sim/v1/frameworks/{id}). On update, empty fields keep their value.
type FrameworkSpec struct {
	// ID defaults to "<master id>-<nnnn>".
	ID string `json:"id,omitempty"`
	// Name is required on creation.
	Name      string `json:"name,omitempty"`
	User      string `json:"user,omitempty"`      // default root
	Role      string `json:"role,omitempty"`      // default *
	Principal string `json:"principal,omitempty"` // default none
	Hostname  string `json:"hostname,omitempty"`
	WebUIURL  string `json:"webui_url,omitempty"`
	// Capabilities are FrameworkInfo capability names; default
	// TASK_KILLING_STATE and PARTITION_AWARE (as Marathon).
	Capabilities []string `json:"capabilities,omitempty"`
}

// PortSpec is one port of a task.
type PortSpec struct {
	// Name defaults to "default" for the first port, "port<i>" after.
	Name string `json:"name,omitempty"`
	// Protocol is tcp (default), udp, or "udp,tcp" for both.
	Protocol string `json:"protocol,omitempty"`
	// ContainerPort is required for bridge and container networking and
	// unused with host networking.
	ContainerPort uint32 `json:"container_port,omitempty"`
	// HostPort is allocated from the agent's port range when 0 (host and
	// bridge networking); with container networking a port mapping is only
	// created when it is set.
	HostPort uint32 `json:"host_port,omitempty"`
	// Labels are DiscoveryInfo port labels, such as VIP_0: /web:80 or
	// VIP_0: 198.18.1.1:80.
	Labels Labels `json:"labels,omitempty"`
}

// HealthCheckSpec describes a task health check.
type HealthCheckSpec struct {
	// Type is HTTP (default when the task has ports), TCP or COMMAND.
	Type string `json:"type,omitempty"`
	// Port defaults to the task's first port.
	Port uint32 `json:"port,omitempty"`
	// Path of an HTTP check, default "/".
	Path string `json:"path,omitempty"`
	// Command of a COMMAND check, default "true".
	Command string `json:"command,omitempty"`
}

// TaskSpec describes a task to launch (POST /sim/v1/tasks). The simulator
// fills in what Marathon and Mesos would: resources, DiscoveryInfo with
// network-scope labels, ContainerInfo, statuses with container IPs.
type TaskSpec struct {
	// ID defaults to "<name>.<uuid>" (Marathon style).
	ID string `json:"id,omitempty"`
	// Name is required.
	Name string `json:"name"`
	// DiscoveryName defaults to Name (pods use the pod's name).
	DiscoveryName string `json:"discovery_name,omitempty"`
	// Framework is a framework ID or name; optional when exactly one
	// framework is registered.
	Framework string `json:"framework,omitempty"`
	// Agent is an agent ID or hostname; by default the agent running the
	// fewest tasks.
	Agent string `json:"agent,omitempty"`
	// Container is "" (a command task without ContainerInfo), MESOS or
	// DOCKER.
	Container string `json:"container,omitempty"`
	// Image is the container image (DOCKER default nginx; MESOS none).
	Image string `json:"image,omitempty"`
	// Network is host (default), bridge or container.
	Network string `json:"network,omitempty"`
	// NetworkName is the CNI network for container networking (default
	// dcos).
	NetworkName string `json:"network_name,omitempty"`
	// Ports are the task's ports.
	Ports []PortSpec `json:"ports,omitempty"`
	// IPs are the container's IP addresses (bridge and container
	// networking); by default one is allocated from 198.19.<agent>.0/24.
	IPs []string `json:"ips,omitempty"`
	// Labels are task labels.
	Labels Labels `json:"labels,omitempty"`
	// CPUs and Mem default to 0.1 and 128.
	CPUs float64 `json:"cpus,omitempty"`
	Mem  float64 `json:"mem,omitempty"`
	// HealthCheck adds a health check to the task.
	HealthCheck *HealthCheckSpec `json:"health_check,omitempty"`
	// Healthy, with a health check, is reported in a TASK_RUNNING status
	// after the first one (reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED).
	Healthy *bool `json:"healthy,omitempty"`
	// State is how far the launch goes: TASK_STAGING, TASK_STARTING or
	// TASK_RUNNING (default).
	State string `json:"state,omitempty"`
}

// StatusSpec is a status update for a task (POST /sim/v1/tasks/{id}/status).
type StatusSpec struct {
	// State is a task state (TASK_RUNNING, TASK_FAILED, ...); empty keeps
	// the current state.
	State string `json:"state,omitempty"`
	// Healthy is the health check result; unset keeps the last one.
	Healthy *bool `json:"healthy,omitempty"`
	// Message is the status message.
	Message string `json:"message,omitempty"`
	// Reason is a TaskStatus reason (REASON_...).
	Reason string `json:"reason,omitempty"`
}

// Default agent resources (a DC/OS agent's defaults).
var (
	defaultAgentPorts = []mesos.Value_Range{{Begin: 1025, End: 2180}, {Begin: 2182, End: 3887},
		{Begin: 3889, End: 5049}, {Begin: 5052, End: 8079}, {Begin: 8082, End: 8180}, {Begin: 8182, End: 32000}}
	agentCapabilities = []mesos.AgentInfo_Capability_Type{
		mesos.AgentInfo_Capability_MULTI_ROLE, mesos.AgentInfo_Capability_HIERARCHICAL_ROLE,
		mesos.AgentInfo_Capability_RESERVATION_REFINEMENT, mesos.AgentInfo_Capability_RESOURCE_PROVIDER,
		mesos.AgentInfo_Capability_RESIZE_VOLUME, mesos.AgentInfo_Capability_AGENT_OPERATION_FEEDBACK,
		mesos.AgentInfo_Capability_AGENT_DRAINING,
	}
)

func scalar(name string, v float64, role *string, alloc *mesos.Resource_AllocationInfo) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v},
		Role: role, AllocationInfo: alloc}
}

func rangesResource(name string, rs []mesos.Value_Range, role *string, alloc *mesos.Resource_AllocationInfo) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: rs},
		Role: role, AllocationInfo: alloc}
}

func timeInfo(ns int64) *mesos.TimeInfo { return &mesos.TimeInfo{Nanoseconds: ns} }

// nextSuffix returns 1 + the highest n among ids of the form prefix+n.
func nextSuffix(ids []string, prefix string) int {
	next := 0
	for _, id := range ids {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= next {
				next = n + 1
			}
		}
	}
	return next
}

// AddAgent registers an agent (AGENT_ADDED) and returns it.
func (s *Server) AddAgent(spec AgentSpec) (master.Response_GetAgents_Agent, error) {
	if spec.Hostname == "" {
		return master.Response_GetAgents_Agent{}, specErr("hostname", "required")
	}
	ipText := spec.IP
	if ipText == "" {
		ipText = spec.Hostname
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		if spec.IP != "" {
			return master.Response_GetAgents_Agent{}, specErr("ip", "%q is not an IP address", spec.IP)
		}
		return master.Response_GetAgents_Agent{}, specErr("ip", "required when hostname %q is not an IP address", spec.Hostname)
	}
	port := spec.Port
	if port == 0 {
		port = 5051
	}
	if port < 1 || port > 65535 {
		return master.Response_GetAgents_Agent{}, specErr("port", "%d is not in [1, 65535]", port)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := spec.ID
	if id == "" {
		var ids []string
		for _, a := range s.c.agents {
			ids = append(ids, a.AgentInfo.GetID().GetValue())
		}
		for _, a := range s.c.recoveredAgents {
			ids = append(ids, a.GetID().GetValue())
		}
		id = fmt.Sprintf("%s-S%d", s.opts.ID, nextSuffix(ids, s.opts.ID+"-S"))
	}
	if _, ok := s.c.agent(id); ok {
		return master.Response_GetAgents_Agent{}, fmt.Errorf("agent %q: %w", id, ErrConflict)
	}
	p32 := int32(port)
	resources := func(role *string) []mesos.Resource {
		return []mesos.Resource{
			rangesResource("ports", defaultAgentPorts, role, nil),
			scalar("disk", 47170, role, nil),
			scalar("cpus", 4, role, nil),
			scalar("mem", 14336, role, nil),
		}
	}
	var attrs []mesos.Attribute
	keys := make([]string, 0, len(spec.Attributes))
	for k := range spec.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, mesos.Attribute{Name: k, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: spec.Attributes[k]}})
	}
	star := "*"
	pid := fmt.Sprintf("slave(1)@%s", netip.AddrPortFrom(ip, uint16(port)))
	now := s.now().UnixNano()
	deactivated := false
	agent := master.Response_GetAgents_Agent{
		AgentInfo: mesos.AgentInfo{
			Hostname:   spec.Hostname,
			Port:       &p32,
			Resources:  resources(nil),
			Attributes: attrs,
			ID:         &mesos.AgentID{Value: id},
		},
		Active:           true,
		Deactivated:      &deactivated,
		Version:          s.opts.Version,
		PID:              &pid,
		RegisteredTime:   timeInfo(now),
		ReregisteredTime: timeInfo(now),
		TotalResources:   resources(&star),
	}
	for _, c := range agentCapabilities {
		agent.Capabilities = append(agent.Capabilities, mesos.AgentInfo_Capability{Type: c})
	}
	err = s.publishLocked(&master.Event{Type: master.Event_AGENT_ADDED,
		AgentAdded: &master.Event_AgentAdded{Agent: agent}})
	return agent, err
}

// RemoveAgent removes an agent: its active tasks are reported lost
// (TASK_GONE for partition-aware frameworks), then AGENT_REMOVED.
func (s *Server) RemoveAgent(id string) error {
	return s.removeAgent(id, false)
}

// removeAgent removes agent id; byOperator is MARK_AGENT_GONE.
func (s *Server) removeAgent(id string, byOperator bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.c.agent(id); !ok {
		return fmt.Errorf("agent %q: %w", id, ErrNotFound)
	}
	reason := mesos.REASON_AGENT_REMOVED
	if byOperator {
		reason = mesos.REASON_AGENT_REMOVED_BY_OPERATOR
	}
	for _, t := range append([]*mesos.Task(nil), s.c.tasks...) {
		if t.AgentID.Value != id {
			continue
		}
		state := mesos.TASK_LOST
		if s.frameworkHas(t.FrameworkID.Value, mesos.FrameworkInfo_Capability_PARTITION_AWARE) {
			state = mesos.TASK_GONE
			if byOperator {
				state = mesos.TASK_GONE_BY_OPERATOR
			}
		}
		st := s.statusFor(t, state, mesos.SOURCE_MASTER, &reason, fmt.Sprintf("Agent %s removed", id), nil)
		if err := s.publishLocked(taskUpdated(t, st)); err != nil {
			return err
		}
	}
	return s.publishLocked(&master.Event{Type: master.Event_AGENT_REMOVED,
		AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: id}}})
}

func (s *Server) frameworkHas(id string, c mesos.FrameworkInfo_Capability_Type) bool {
	i, ok := s.c.framework(id)
	if !ok {
		return false
	}
	for _, have := range s.c.frameworks[i].FrameworkInfo.Capabilities {
		if have.Type == c {
			return true
		}
	}
	return false
}

func parseCapabilities(names []string) ([]mesos.FrameworkInfo_Capability, error) {
	var out []mesos.FrameworkInfo_Capability
	for i, n := range names {
		v, ok := mesos.FrameworkInfo_Capability_Type_value[strings.ToUpper(n)]
		if !ok || v == 0 {
			return nil, specErr(fmt.Sprintf("capabilities[%d]", i), "unknown capability %q", n)
		}
		out = append(out, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_Type(v)})
	}
	return out, nil
}

// AddFramework registers a framework (FRAMEWORK_ADDED) and returns it.
func (s *Server) AddFramework(spec FrameworkSpec) (master.Response_GetFrameworks_Framework, error) {
	var none master.Response_GetFrameworks_Framework
	if spec.Name == "" {
		return none, specErr("name", "required")
	}
	caps := []mesos.FrameworkInfo_Capability{
		{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
	}
	if spec.Capabilities != nil {
		var err error
		if caps, err = parseCapabilities(spec.Capabilities); err != nil {
			return none, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := spec.ID
	if id == "" {
		var ids []string
		for _, f := range append(append([]master.Response_GetFrameworks_Framework(nil), s.c.frameworks...), s.c.completedFrameworks...) {
			ids = append(ids, f.FrameworkInfo.GetID().GetValue())
		}
		id = fmt.Sprintf("%s-%04d", s.opts.ID, nextSuffix(ids, s.opts.ID+"-"))
	}
	if _, ok := s.c.framework(id); ok {
		return none, fmt.Errorf("framework %q: %w", id, ErrConflict)
	}
	user := spec.User
	if user == "" {
		user = "root"
	}
	failover := 604800.0
	checkpoint := true
	info := mesos.FrameworkInfo{
		User:            user,
		Name:            spec.Name,
		ID:              &mesos.FrameworkID{Value: id},
		FailoverTimeout: &failover,
		Checkpoint:      &checkpoint,
		Capabilities:    caps,
	}
	setFrameworkStrings(&info, spec)
	now := s.now().UnixNano()
	fw := master.Response_GetFrameworks_Framework{
		FrameworkInfo:    info,
		Active:           true,
		Connected:        true,
		RegisteredTime:   timeInfo(now),
		ReregisteredTime: timeInfo(now),
	}
	err := s.publishLocked(&master.Event{Type: master.Event_FRAMEWORK_ADDED,
		FrameworkAdded: &master.Event_FrameworkAdded{Framework: fw}})
	return fw, err
}

func setFrameworkStrings(info *mesos.FrameworkInfo, spec FrameworkSpec) {
	set := func(dst **string, v string) {
		if v != "" {
			*dst = &v
		}
	}
	set(&info.Role, spec.Role)
	set(&info.Principal, spec.Principal)
	set(&info.Hostname, spec.Hostname)
	set(&info.WebUiURL, spec.WebUIURL)
}

// UpdateFramework changes a framework (FRAMEWORK_UPDATED); empty fields of
// spec keep their value.
func (s *Server) UpdateFramework(id string, spec FrameworkSpec) (master.Response_GetFrameworks_Framework, error) {
	var none master.Response_GetFrameworks_Framework
	if spec.ID != "" && spec.ID != id {
		return none, specErr("id", "%q does not match the framework %q being updated", spec.ID, id)
	}
	var caps []mesos.FrameworkInfo_Capability
	if spec.Capabilities != nil {
		var err error
		if caps, err = parseCapabilities(spec.Capabilities); err != nil {
			return none, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.c.framework(id)
	if !ok {
		return none, fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	fw := *proto.Clone(&s.c.frameworks[i]).(*master.Response_GetFrameworks_Framework)
	if spec.Name != "" {
		fw.FrameworkInfo.Name = spec.Name
	}
	if spec.User != "" {
		fw.FrameworkInfo.User = spec.User
	}
	if spec.Capabilities != nil {
		fw.FrameworkInfo.Capabilities = caps
	}
	setFrameworkStrings(&fw.FrameworkInfo, spec)
	fw.ReregisteredTime = timeInfo(s.now().UnixNano())
	err := s.publishLocked(&master.Event{Type: master.Event_FRAMEWORK_UPDATED,
		FrameworkUpdated: &master.Event_FrameworkUpdated{Framework: fw}})
	return fw, err
}

// RemoveFramework tears a framework down: its active tasks are killed
// (TASK_KILLED, reason REASON_FRAMEWORK_REMOVED), then FRAMEWORK_REMOVED.
func (s *Server) RemoveFramework(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.c.framework(id)
	if !ok {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	info := s.c.frameworks[i].FrameworkInfo
	reason := mesos.REASON_FRAMEWORK_REMOVED
	for _, t := range append([]*mesos.Task(nil), s.c.tasks...) {
		if t.FrameworkID.Value != id {
			continue
		}
		st := s.statusFor(t, mesos.TASK_KILLED, mesos.SOURCE_MASTER, &reason, fmt.Sprintf("Framework %s removed", id), nil)
		if err := s.publishLocked(taskUpdated(t, st)); err != nil {
			return err
		}
	}
	return s.publishLocked(&master.Event{Type: master.Event_FRAMEWORK_REMOVED,
		FrameworkRemoved: &master.Event_FrameworkRemoved{FrameworkInfo: info}})
}

// taskUpdated builds a TASK_UPDATED event as Mesos sends it: framework_id,
// status and the task's latest state.
func taskUpdated(t *mesos.Task, st mesos.TaskStatus) *master.Event {
	return &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: t.FrameworkID,
		Status:      st,
		State:       st.State,
	}}
}

// statusFor builds the next status of t, keeping the container status of
// the latest one. healthy nil keeps the last reported health.
func (s *Server) statusFor(t *mesos.Task, state mesos.TaskState, source mesos.TaskStatus_Source,
	reason *mesos.TaskStatus_Reason, message string, healthy *bool) mesos.TaskStatus {
	ts := float64(s.now().UnixNano()) / 1e9
	st := mesos.TaskStatus{
		TaskID:     t.TaskID,
		State:      state.Enum(),
		Source:     source.Enum(),
		Reason:     reason,
		AgentID:    &mesos.AgentID{Value: t.AgentID.Value},
		ExecutorID: t.ExecutorID,
		Timestamp:  &ts,
		UUID:       s.uuid(),
		Healthy:    healthy,
	}
	if message != "" {
		st.Message = &message
	}
	if st.ExecutorID == nil {
		st.ExecutorID = &mesos.ExecutorID{Value: t.TaskID.Value}
	}
	if n := len(t.Statuses); n > 0 {
		last := t.Statuses[n-1]
		if st.Healthy == nil && last.Healthy != nil && !IsTerminal(state) {
			h := *last.Healthy
			st.Healthy = &h
		}
		if last.ContainerStatus != nil {
			st.ContainerStatus = proto.Clone(last.ContainerStatus).(*mesos.ContainerStatus)
		}
	}
	return st
}

// parseState accepts TASK_RUNNING, task_running or RUNNING.
func parseState(field, s string) (mesos.TaskState, error) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "TASK_") {
		u = "TASK_" + u
	}
	v, ok := mesos.TaskState_value[u]
	if !ok {
		return 0, specErr(field, "unknown task state %q", s)
	}
	return mesos.TaskState(v), nil
}

// resolveFramework finds a framework by ID or name.
func (s *Server) resolveFramework(ref string) (*master.Response_GetFrameworks_Framework, error) {
	fws := s.c.frameworks
	if ref == "" {
		switch len(fws) {
		case 0:
			return nil, specErr("framework", "no frameworks are registered")
		case 1:
			return &fws[0], nil
		default:
			return nil, specErr("framework", "required when %d frameworks are registered", len(fws))
		}
	}
	var byName []*master.Response_GetFrameworks_Framework
	for i := range fws {
		if fws[i].FrameworkInfo.GetID().GetValue() == ref {
			return &fws[i], nil
		}
		if fws[i].FrameworkInfo.Name == ref {
			byName = append(byName, &fws[i])
		}
	}
	switch len(byName) {
	case 0:
		return nil, specErr("framework", "no framework with ID or name %q", ref)
	case 1:
		return byName[0], nil
	default:
		return nil, specErr("framework", "%d frameworks are named %q; use the ID", len(byName), ref)
	}
}

// resolveAgent finds an agent by ID or hostname, or picks the one running
// the fewest tasks.
func (s *Server) resolveAgent(ref string) (int, error) {
	agents := s.c.agents
	if len(agents) == 0 {
		return -1, specErr("agent", "no agents are registered")
	}
	if ref == "" {
		load := map[string]int{}
		for _, t := range s.c.tasks {
			load[t.AgentID.Value]++
		}
		best := 0
		for i := range agents {
			if load[agents[i].AgentInfo.GetID().GetValue()] < load[agents[best].AgentInfo.GetID().GetValue()] {
				best = i
			}
		}
		return best, nil
	}
	for i := range agents {
		if agents[i].AgentInfo.GetID().GetValue() == ref {
			return i, nil
		}
	}
	for i := range agents {
		if agents[i].AgentInfo.Hostname == ref {
			return i, nil
		}
	}
	return -1, specErr("agent", "no agent with ID or hostname %q", ref)
}

// agentIP returns the IP of an agent: from its pid, else its hostname.
func agentIP(a *master.Response_GetAgents_Agent) (netip.Addr, bool) {
	if ip, _, ok := v0.ParsePID(a.GetPID()); ok {
		return ip, true
	}
	ip, err := netip.ParseAddr(a.AgentInfo.Hostname)
	return ip, err == nil
}

// hostPorts returns the host ports used by active tasks on an agent.
func (s *Server) hostPorts(agentID string) map[uint64]bool {
	used := map[uint64]bool{}
	for _, t := range s.c.tasks {
		if t.AgentID.Value != agentID {
			continue
		}
		for _, r := range t.Resources {
			if r.Name == "ports" {
				for _, rg := range r.GetRanges().GetRange() {
					for p := rg.Begin; p <= rg.End && p-rg.Begin < 65536; p++ {
						used[p] = true
					}
				}
			}
		}
	}
	return used
}

// containerIPs returns the IPs reported by active tasks.
func (s *Server) containerIPs() map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, t := range s.c.tasks {
		for _, st := range t.Statuses {
			for _, ni := range st.GetContainerStatus().GetNetworkInfos() {
				for _, a := range ni.IPAddresses {
					if ip, err := netip.ParseAddr(a.GetIPAddress()); err == nil {
						used[ip] = true
					}
				}
			}
		}
	}
	return used
}

// findTask returns the single active task with that ID (in framework, when
// given).
func (s *Server) findTask(id, framework string) (*mesos.Task, error) {
	ts := s.c.findTasks(id, framework)
	switch len(ts) {
	case 0:
		return nil, fmt.Errorf("active task %q: %w", id, ErrNotFound)
	case 1:
		return ts[0], nil
	default:
		return nil, specErr("framework", "%d frameworks run a task %q; name the framework", len(ts), id)
	}
}

// lookup returns a copy of the task with key k, active or completed.
func (s *Server) lookup(k taskKey) mesos.Task {
	if i, ok := s.c.index[k]; ok {
		return *proto.Clone(s.c.tasks[i]).(*mesos.Task)
	}
	for _, list := range [][]mesos.Task{s.c.unreachable, s.c.completed} {
		for i := len(list) - 1; i >= 0; i-- {
			if keyOf(&list[i]) == k {
				return *proto.Clone(&list[i]).(*mesos.Task)
			}
		}
	}
	return mesos.Task{}
}

// UpdateTaskStatus sends a status update for an active task (TASK_UPDATED)
// and returns the task after it. framework may be empty when the task ID is
// unique.
func (s *Server) UpdateTaskStatus(id, framework string, spec StatusSpec) (mesos.Task, error) {
	if spec.State == "" && spec.Healthy == nil && spec.Message == "" {
		return mesos.Task{}, specErr("state", "state, healthy or message required")
	}
	var reason *mesos.TaskStatus_Reason
	if spec.Reason != "" {
		u := strings.ToUpper(spec.Reason)
		if !strings.HasPrefix(u, "REASON_") {
			u = "REASON_" + u
		}
		v, ok := mesos.TaskStatus_Reason_value[u]
		if !ok {
			return mesos.Task{}, specErr("reason", "unknown reason %q", spec.Reason)
		}
		reason = mesos.TaskStatus_Reason(v).Enum()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findTask(id, framework)
	if err != nil {
		return mesos.Task{}, err
	}
	state := taskState(t)
	if spec.State != "" {
		if state, err = parseState("state", spec.State); err != nil {
			return mesos.Task{}, err
		}
	}
	if reason == nil && spec.Healthy != nil && state == taskState(t) {
		reason = mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()
	}
	source := mesos.SOURCE_EXECUTOR
	switch state {
	case mesos.TASK_LOST, mesos.TASK_UNREACHABLE, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR,
		mesos.TASK_DROPPED, mesos.TASK_UNKNOWN:
		source = mesos.SOURCE_MASTER
	}
	k := keyOf(t)
	st := s.statusFor(t, state, source, reason, spec.Message, spec.Healthy)
	if err := s.publishLocked(taskUpdated(t, st)); err != nil {
		return mesos.Task{}, err
	}
	return s.lookup(k), nil
}

// KillTask kills an active task: TASK_KILLING (for frameworks with the
// TASK_KILLING_STATE capability) then TASK_KILLED. It returns the killed
// task.
func (s *Server) KillTask(id, framework string) (mesos.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findTask(id, framework)
	if err != nil {
		return mesos.Task{}, err
	}
	k := keyOf(t)
	if s.frameworkHas(t.FrameworkID.Value, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) && taskState(t) != mesos.TASK_KILLING {
		st := s.statusFor(t, mesos.TASK_KILLING, mesos.SOURCE_EXECUTOR, nil, "", nil)
		if err := s.publishLocked(taskUpdated(t, st)); err != nil {
			return mesos.Task{}, err
		}
	}
	if i, ok := s.c.index[k]; ok {
		t = s.c.tasks[i] // an unreachable task became active again
	}
	st := s.statusFor(t, mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR, nil, "Command terminated with signal Terminated", nil)
	if err := s.publishLocked(taskUpdated(t, st)); err != nil {
		return mesos.Task{}, err
	}
	return s.lookup(k), nil
}

// State returns a deep copy of the simulated cluster's GET_STATE.
func (s *Server) State() *master.Response_GetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.c.state()).(*master.Response_GetState)
}
