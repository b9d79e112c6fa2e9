// Package v0 converts between the JSON state endpoints of Mesos before the v1
// operator API (the master's /master/state, the agent's /state, as served by
// Mesos 0.19 through 1.x and read by Mesos-DNS and early dcos-net) and the v1
// operator API types of github.com/mesos/mesos-go.
//
// Decode turns a captured v0 document into a v1 GET_STATE, keeping what a
// networking or DNS system needs: task, framework and agent identities,
// states, statuses (state, timestamp, healthy, labels, container_status
// network_infos), DiscoveryInfo, ContainerInfo (type, docker network and port
// mappings, network_infos, image), labels, resources (cpus, mem, disk, gpus,
// port ranges, sets) and health checks. Volumes, executors, offers and flags
// are dropped. Unknown members are ignored; a member of the wrong type is an
// error naming its JSON path ($.frameworks[1].tasks[3].statuses[0].timestamp).
//
// Render does the reverse for the simulator's /master/state endpoint.
package v0

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Kind tells which endpoint a v0 document came from.
type Kind int

const (
	// KindMaster is a master's /master/state (or /state.json) document.
	KindMaster Kind = iota + 1
	// KindAgent is an agent's /state (or /slave(1)/state.json) document.
	KindAgent
)

// String returns "master" or "agent".
func (k Kind) String() string {
	switch k {
	case KindMaster:
		return "master"
	case KindAgent:
		return "agent"
	default:
		return "unknown"
	}
}

// State is a v0 document converted to the v1 operator API.
type State struct {
	// Kind is the endpoint the document came from.
	Kind Kind
	// Master identifies the master that served a KindMaster document (id,
	// pid, hostname, ip, port, version); nil for agent documents.
	Master *mesos.MasterInfo
	// Leader is the leading master's pid (master@ip:port) as the document
	// reported it, empty when absent.
	Leader string
	// GetState holds agents, frameworks and tasks. Tasks of an agent
	// document are reported as the master would list them: running and
	// queued tasks under tasks, finished ones under completed_tasks.
	GetState *master.Response_GetState
}

// ErrNotState is returned (wrapped) by Decode for JSON documents that are not
// a Mesos v0 state.
var ErrNotState = errors.New("not a Mesos v0 state document")

// Detect reports which v0 endpoint produced the top-level JSON object whose
// member names are keys, or 0 when it is not a v0 state. A master document
// lists slaves or a leader; an agent document has a slave(N)@ pid or the
// master_hostname member.
func Detect(keys map[string]json.RawMessage) Kind {
	var pid string
	if raw, ok := keys["pid"]; ok {
		_ = json.Unmarshal(raw, &pid)
	}
	return detect(func(k string) bool { _, ok := keys[k]; return ok }, pid)
}

func detect(has func(string) bool, pid string) Kind {
	switch {
	case !has("frameworks"):
		return 0
	case strings.HasPrefix(pid, "master@") || has("slaves") || has("leader"):
		return KindMaster
	case strings.HasPrefix(pid, "slave(") || has("master_hostname"):
		return KindAgent
	default:
		return 0
	}
}

// Decode converts a v0 master or agent state document.
func Decode(data []byte) (*State, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("parse JSON: unexpected data after the top-level value at offset %d", dec.InputOffset())
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: top-level value is %s, want object", ErrNotState, kindOf(root))
	}
	pid, _ := obj["pid"].(string)
	w := &walker{}
	r := node{path: "$", v: root}
	var st *State
	switch detect(func(k string) bool { _, ok := obj[k]; return ok }, pid) {
	case KindMaster:
		st = w.master(r)
	case KindAgent:
		st = w.agent(r)
	default:
		return nil, fmt.Errorf("%w: no frameworks with slaves, leader or agent pid", ErrNotState)
	}
	if w.err != nil {
		return nil, w.err
	}
	return st, nil
}

func emptyState() *master.Response_GetState {
	return &master.Response_GetState{
		GetTasks:      &master.Response_GetTasks{},
		GetExecutors:  &master.Response_GetExecutors{},
		GetFrameworks: &master.Response_GetFrameworks{},
		GetAgents:     &master.Response_GetAgents{},
	}
}

func (w *walker) master(r node) *State {
	st := &State{Kind: KindMaster, GetState: emptyState()}
	gs := st.GetState
	for _, n := range w.array(r, "slaves") {
		gs.GetAgents.Agents = append(gs.GetAgents.Agents, w.agentInfo(n))
	}
	for _, n := range w.array(r, "recovered_slaves") {
		a := w.agentInfo(n)
		gs.GetAgents.RecoveredAgents = append(gs.GetAgents.RecoveredAgents, a.AgentInfo)
	}
	tasks := gs.GetTasks
	for _, n := range w.array(r, "frameworks") {
		fw := w.framework(n, true)
		gs.GetFrameworks.Frameworks = append(gs.GetFrameworks.Frameworks, fw)
		id := fw.FrameworkInfo.GetID().GetValue()
		tasks.Tasks = append(tasks.Tasks, w.tasks(n, "tasks", id, "")...)
		tasks.PendingTasks = append(tasks.PendingTasks, w.tasks(n, "pending_tasks", id, "")...)
		tasks.UnreachableTasks = append(tasks.UnreachableTasks, w.tasks(n, "unreachable_tasks", id, "")...)
		tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(n, "completed_tasks", id, "")...)
	}
	for _, n := range w.array(r, "completed_frameworks") {
		fw := w.framework(n, false)
		gs.GetFrameworks.CompletedFrameworks = append(gs.GetFrameworks.CompletedFrameworks, fw)
		id := fw.FrameworkInfo.GetID().GetValue()
		tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(n, "tasks", id, "")...)
		tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(n, "completed_tasks", id, "")...)
	}
	tasks.OrphanTasks = append(tasks.OrphanTasks, w.tasks(r, "orphan_tasks", "", "")...)

	id, _ := w.str(r, "id")
	pid, _ := w.str(r, "pid")
	hostname := w.strPtr(r, "hostname")
	version := w.strPtr(r, "version")
	st.Leader, _ = w.str(r, "leader")
	if id != "" || pid != "" {
		info := &mesos.MasterInfo{ID: id, Hostname: hostname, Version: version}
		if pid != "" {
			info.PID = &pid
		}
		if ip, port, ok := ParsePID(pid); ok {
			info.IP = PackIPv4(ip)
			p := uint32(port)
			info.Port = &p
			ipStr := ip.String()
			info.Address = &mesos.Address{Hostname: hostname, IP: &ipStr, Port: int32(port)}
		}
		st.Master = info
	}
	return st
}

func (w *walker) agent(r node) *State {
	st := &State{Kind: KindAgent, GetState: emptyState()}
	gs := st.GetState
	a := w.agentInfo(r)
	gs.GetAgents.Agents = append(gs.GetAgents.Agents, a)
	agentID := a.AgentInfo.GetID().GetValue()
	tasks := gs.GetTasks
	executorTasks := func(fn node, executors string, done bool) {
		for _, en := range w.array(fn, executors) {
			fwID, _ := w.str(fn, "id")
			if done {
				tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(en, "queued_tasks", fwID, agentID)...)
				tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(en, "tasks", fwID, agentID)...)
			} else {
				tasks.Tasks = append(tasks.Tasks, w.tasks(en, "queued_tasks", fwID, agentID)...)
				tasks.Tasks = append(tasks.Tasks, w.tasks(en, "tasks", fwID, agentID)...)
			}
			tasks.CompletedTasks = append(tasks.CompletedTasks, w.tasks(en, "completed_tasks", fwID, agentID)...)
		}
	}
	for _, n := range w.array(r, "frameworks") {
		gs.GetFrameworks.Frameworks = append(gs.GetFrameworks.Frameworks, w.framework(n, true))
		executorTasks(n, "executors", false)
		executorTasks(n, "completed_executors", true)
	}
	for _, n := range w.array(r, "completed_frameworks") {
		gs.GetFrameworks.CompletedFrameworks = append(gs.GetFrameworks.CompletedFrameworks, w.framework(n, false))
		executorTasks(n, "executors", true)
		executorTasks(n, "completed_executors", true)
	}
	return st
}

// ParsePID splits a libprocess pid (name@ip:port) into its IP and port.
func ParsePID(pid string) (netip.Addr, uint16, bool) {
	_, hostport, ok := strings.Cut(pid, "@")
	if !ok {
		return netip.Addr{}, 0, false
	}
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	return ap.Addr(), ap.Port(), true
}

// PackIPv4 returns ip the way MasterInfo.ip carries it: the four bytes in
// network order read as a little-endian uint32 (Mesos stores in_addr.s_addr;
// 127.0.1.1 is 16842879). It returns 0 for IPv6 addresses.
func PackIPv4(ip netip.Addr) uint32 {
	if !ip.Is4() && !ip.Is4In6() {
		return 0
	}
	b := ip.Unmap().As4()
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (w *walker) agentInfo(n node) master.Response_GetAgents_Agent {
	id := w.required(n, "id")
	info := mesos.AgentInfo{
		Hostname:   w.required(n, "hostname"),
		ID:         &mesos.AgentID{Value: id},
		Resources:  w.resources(n, "resources", nil),
		Attributes: w.attributes(n),
	}
	a := master.Response_GetAgents_Agent{Active: true}
	if pid, ok := w.str(n, "pid"); ok {
		a.PID = &pid
		if _, port, ok := ParsePID(pid); ok {
			p := int32(port)
			info.Port = &p
		}
	}
	if port, ok := w.uint(n, "port", 65535); ok {
		p := int32(port)
		info.Port = &p
	}
	if active, ok := w.boolean(n, "active"); ok {
		a.Active = active
	}
	a.Deactivated = w.boolPtr(n, "deactivated")
	a.Version, _ = w.str(n, "version")
	a.RegisteredTime = w.time(n, "registered_time")
	a.ReregisteredTime = w.time(n, "reregistered_time")
	star := "*"
	a.TotalResources = w.resources(n, "resources", nil)
	for i := range a.TotalResources {
		a.TotalResources[i].Role = &star
	}
	for _, c := range w.array(n, "capabilities") {
		name, _ := c.v.(string)
		if t, known := mesos.AgentInfo_Capability_Type_value[name]; known {
			a.Capabilities = append(a.Capabilities, mesos.AgentInfo_Capability{Type: mesos.AgentInfo_Capability_Type(t)})
		}
	}
	a.AgentInfo = info
	return a
}

func (w *walker) framework(n node, active bool) master.Response_GetFrameworks_Framework {
	id := w.required(n, "id")
	user, _ := w.str(n, "user")
	name, _ := w.str(n, "name")
	info := mesos.FrameworkInfo{
		User:            user,
		Name:            name,
		ID:              &mesos.FrameworkID{Value: id},
		FailoverTimeout: w.floatPtr(n, "failover_timeout"),
		Checkpoint:      w.boolPtr(n, "checkpoint"),
		Role:            w.strPtr(n, "role"),
		Hostname:        w.strPtr(n, "hostname"),
		Principal:       w.strPtr(n, "principal"),
		WebUiURL:        w.strPtr(n, "webui_url"),
		Labels:          w.labels(n, "labels"),
	}
	for _, r := range w.array(n, "roles") {
		if s, ok := r.v.(string); ok {
			info.Roles = append(info.Roles, s)
		} else {
			w.failf(r.path, "expected string, got %s", kindOf(r.v))
		}
	}
	for _, c := range w.array(n, "capabilities") {
		s, ok := c.v.(string)
		if !ok {
			w.failf(c.path, "expected string, got %s", kindOf(c.v))
			continue
		}
		if t, known := mesos.FrameworkInfo_Capability_Type_value[s]; known {
			info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_Type(t)})
		}
	}
	fw := master.Response_GetFrameworks_Framework{FrameworkInfo: info, Active: active, Connected: active}
	if b, ok := w.boolean(n, "active"); ok {
		fw.Active = b
		fw.Connected = b
	}
	if b, ok := w.boolean(n, "connected"); ok {
		fw.Connected = b
	}
	fw.Recovered, _ = w.boolean(n, "recovered")
	fw.RegisteredTime = w.time(n, "registered_time")
	fw.ReregisteredTime = w.time(n, "reregistered_time")
	fw.UnregisteredTime = w.time(n, "unregistered_time")
	return fw
}

// time converts a v0 timestamp (seconds as a double) to a TimeInfo; zero
// (Mesos's "never") and absent give nil.
func (w *walker) time(n node, key string) *mesos.TimeInfo {
	f, ok := w.float(n, key)
	if !ok || f == 0 {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: int64(f * 1e9)}
}

func (w *walker) tasks(n node, key, frameworkID, agentID string) []mesos.Task {
	var out []mesos.Task
	for _, tn := range w.array(n, key) {
		if w.err != nil {
			return nil
		}
		out = append(out, w.task(tn, frameworkID, agentID))
	}
	return out
}

// task converts a v0 task. frameworkID is the enclosing framework, which
// wins over the task's own framework_id: v0 consumers such as Mesos-DNS go by
// the nesting (Mesos-DNS's hand-edited fake.json has a task whose
// framework_id does not match its framework). agentID is the enclosing agent
// of an agent document, used when the task has no slave_id.
func (w *walker) task(n node, frameworkID, agentID string) mesos.Task {
	id := w.required(n, "id")
	if fw, ok := w.str(n, "framework_id"); ok && fw != "" && frameworkID == "" {
		frameworkID = fw
	}
	if a, ok := w.str(n, "slave_id"); ok && a != "" {
		agentID = a
	}
	if frameworkID == "" && w.err == nil {
		w.failf(n.path+".framework_id", "missing")
	}
	if agentID == "" && w.err == nil {
		w.failf(n.path+".slave_id", "missing")
	}
	name, _ := w.str(n, "name")
	t := mesos.Task{
		Name:        name,
		TaskID:      mesos.TaskID{Value: id},
		FrameworkID: mesos.FrameworkID{Value: frameworkID},
		AgentID:     mesos.AgentID{Value: agentID},
		Labels:      w.labels(n, "labels"),
		Discovery:   w.discovery(n),
		Container:   w.container(n),
		HealthCheck: w.healthCheck(n),
		User:        w.strPtr(n, "user"),
	}
	if s, ok := w.enum(n, "state", mesos.TaskState_value); ok {
		state := mesos.TaskState(s)
		t.State = &state
	} else if w.err == nil {
		w.failf(n.path+".state", "missing")
	}
	if e, ok := w.str(n, "executor_id"); ok && e != "" {
		t.ExecutorID = &mesos.ExecutorID{Value: e}
	}
	var alloc *mesos.Resource_AllocationInfo
	if role, ok := w.str(n, "role"); ok && role != "" {
		alloc = &mesos.Resource_AllocationInfo{Role: &role}
	}
	t.Resources = w.resources(n, "resources", alloc)
	for _, sn := range w.array(n, "statuses") {
		t.Statuses = append(t.Statuses, w.status(sn, t.TaskID))
	}
	return t
}

func (w *walker) status(n node, taskID mesos.TaskID) mesos.TaskStatus {
	s := mesos.TaskStatus{
		TaskID:    taskID,
		Message:   w.strPtr(n, "message"),
		Timestamp: w.floatPtr(n, "timestamp"),
		Healthy:   w.boolPtr(n, "healthy"),
		Labels:    w.labels(n, "labels"),
	}
	if v, ok := w.enum(n, "state", mesos.TaskState_value); ok {
		state := mesos.TaskState(v)
		s.State = &state
	} else if w.err == nil {
		w.failf(n.path+".state", "missing")
	}
	if v, ok := w.enum(n, "source", mesos.TaskStatus_Source_value); ok {
		src := mesos.TaskStatus_Source(v)
		s.Source = &src
	}
	if v, ok := w.enum(n, "reason", mesos.TaskStatus_Reason_value); ok {
		r := mesos.TaskStatus_Reason(v)
		s.Reason = &r
	}
	if cs, ok := w.object(n, "container_status"); ok {
		c := &mesos.ContainerStatus{}
		if cid, ok := w.object(cs, "container_id"); ok {
			c.ContainerID = &mesos.ContainerID{Value: w.required(cid, "value")}
		}
		for _, ni := range w.array(cs, "network_infos") {
			c.NetworkInfos = append(c.NetworkInfos, w.networkInfo(ni))
		}
		if pid, ok := w.uint(cs, "executor_pid", 1<<32-1); ok {
			p := uint32(pid)
			c.ExecutorPID = &p
		}
		s.ContainerStatus = c
	}
	return s
}

// labels reads member key in either shape Mesos used: an array of
// {key, value} (v0 model) or the protobuf {"labels": [...]} object.
func (w *walker) labels(n node, key string) *mesos.Labels {
	c, ok := w.get(n, key)
	if !ok {
		return nil
	}
	items := c
	if _, isObj := c.v.(map[string]any); isObj {
		l, ok := w.get(c, "labels")
		if !ok {
			return &mesos.Labels{}
		}
		items = l
	}
	out := &mesos.Labels{}
	for _, ln := range w.elems(items) {
		l := mesos.Label{Key: w.required(ln, "key"), Value: w.strPtr(ln, "value")}
		out.Labels = append(out.Labels, l)
	}
	return out
}

// resourceOrder is the order resources are listed in (v0 documents are
// objects, whose member order carries no meaning).
var resourceOrder = map[string]int{"cpus": 0, "mem": 1, "disk": 2, "gpus": 3, "ports": 4}

// resources converts a v0 resources object ({"cpus": 0.1, "ports":
// "[31000-31001]"}) to v1 resources. Zero scalars are dropped (Mesos always
// lists cpus, gpus, mem and disk in v0, even when none are used).
func (w *walker) resources(n node, key string, alloc *mesos.Resource_AllocationInfo) []mesos.Resource {
	c, ok := w.object(n, key)
	if !ok {
		return nil
	}
	m := c.v.(map[string]any)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, iok := resourceOrder[names[i]]
		oj, jok := resourceOrder[names[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		default:
			return names[i] < names[j]
		}
	})
	var out []mesos.Resource
	for _, name := range names {
		v, _ := w.get(c, name)
		if v.v == nil {
			continue
		}
		r := mesos.Resource{Name: name, AllocationInfo: alloc}
		switch val := v.v.(type) {
		case json.Number:
			f, ok := w.floatOf(v)
			if !ok || f == 0 {
				continue
			}
			r.Type = mesos.SCALAR.Enum()
			r.Scalar = &mesos.Value_Scalar{Value: f}
		case string:
			ranges, set, err := ParseValue(val)
			if err != nil {
				w.failf(v.path, "%v", err)
				continue
			}
			switch {
			case ranges != nil:
				if len(ranges.Range) == 0 {
					continue
				}
				r.Type = mesos.RANGES.Enum()
				r.Ranges = ranges
			case set != nil:
				if len(set.Item) == 0 {
					continue
				}
				r.Type = mesos.SET.Enum()
				r.Set = set
			}
		default:
			w.failf(v.path, "expected number or string, got %s", kindOf(v.v))
			continue
		}
		out = append(out, r)
	}
	return out
}

// ParseValue parses the v0 text form of a ranges ("[31000-31001, 31005-31005]")
// or set ("{a, b}") value. Exactly one of the results is non-nil on success.
func ParseValue(s string) (*mesos.Value_Ranges, *mesos.Value_Set, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		r, err := ParseRanges(s)
		return r, nil, err
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		set := &mesos.Value_Set{}
		for _, item := range strings.Split(s[1:len(s)-1], ",") {
			if item = strings.TrimSpace(item); item != "" {
				set.Item = append(set.Item, item)
			}
		}
		return nil, set, nil
	default:
		return nil, nil, fmt.Errorf(`expected ranges "[begin-end, ...]" or set "{item, ...}", got %q`, s)
	}
}

// ParseRanges parses "[31000-31001, 31005-31005]" (brackets optional).
func ParseRanges(s string) (*mesos.Value_Ranges, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	out := &mesos.Value_Ranges{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		b, e, isRange := strings.Cut(part, "-")
		if !isRange {
			e = b
		}
		begin, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		end, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil || begin > end {
			return nil, fmt.Errorf("invalid range %q in %q", part, s)
		}
		out.Range = append(out.Range, mesos.Value_Range{Begin: begin, End: end})
	}
	return out, nil
}

// FormatRanges writes ranges the way v0 endpoints do: "[31000-31001, 31005-31005]".
func FormatRanges(r *mesos.Value_Ranges) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, rg := range r.GetRange() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(rg.Begin, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(rg.End, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// attributes converts the v0 attributes object: numbers are scalars, strings
// in range or set form are ranges or sets, other strings are text.
func (w *walker) attributes(n node) []mesos.Attribute {
	c, ok := w.object(n, "attributes")
	if !ok {
		return nil
	}
	m := c.v.(map[string]any)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []mesos.Attribute
	for _, name := range names {
		v, _ := w.get(c, name)
		a := mesos.Attribute{Name: name}
		switch val := v.v.(type) {
		case json.Number:
			f, _ := w.floatOf(v)
			a.Type = mesos.SCALAR
			a.Scalar = &mesos.Value_Scalar{Value: f}
		case string:
			if ranges, set, err := ParseValue(val); err == nil && ranges != nil {
				a.Type, a.Ranges = mesos.RANGES, ranges
			} else if err == nil && set != nil {
				a.Type, a.Set = mesos.SET, set
			} else {
				a.Type, a.Text = mesos.TEXT, &mesos.Value_Text{Value: val}
			}
		case nil:
			continue
		default:
			w.failf(v.path, "expected number or string, got %s", kindOf(v.v))
			continue
		}
		out = append(out, a)
	}
	return out
}

func (w *walker) networkInfo(n node) mesos.NetworkInfo {
	ni := mesos.NetworkInfo{
		Name:   w.strPtr(n, "name"),
		Labels: w.labels(n, "labels"),
	}
	for _, an := range w.array(n, "ip_addresses") {
		ip := mesos.NetworkInfo_IPAddress{IPAddress: w.strPtr(an, "ip_address")}
		if p, ok := w.enum(an, "protocol", mesos.NetworkInfo_Protocol_value); ok {
			proto := mesos.NetworkInfo_Protocol(p)
			ip.Protocol = &proto
		}
		ni.IPAddresses = append(ni.IPAddresses, ip)
	}
	// Mesos before 0.26 had a single ip_address (and protocol) per network.
	if legacy, ok := w.str(n, "ip_address"); ok && legacy != "" {
		dup := false
		for _, ip := range ni.IPAddresses {
			dup = dup || ip.GetIPAddress() == legacy
		}
		if !dup {
			ip := mesos.NetworkInfo_IPAddress{IPAddress: &legacy}
			if p, ok := w.enum(n, "protocol", mesos.NetworkInfo_Protocol_value); ok {
				proto := mesos.NetworkInfo_Protocol(p)
				ip.Protocol = &proto
			}
			ni.IPAddresses = append(ni.IPAddresses, ip)
		}
	}
	for _, g := range w.array(n, "groups") {
		if s, ok := g.v.(string); ok {
			ni.Groups = append(ni.Groups, s)
		} else {
			w.failf(g.path, "expected string, got %s", kindOf(g.v))
		}
	}
	for _, pm := range w.array(n, "port_mappings") {
		hp, _ := w.uint(pm, "host_port", 65535)
		cp, _ := w.uint(pm, "container_port", 65535)
		ni.PortMappings = append(ni.PortMappings, mesos.NetworkInfo_PortMapping{
			HostPort: uint32(hp), ContainerPort: uint32(cp), Protocol: w.strPtr(pm, "protocol"),
		})
	}
	return ni
}

func (w *walker) discovery(n node) *mesos.DiscoveryInfo {
	d, ok := w.object(n, "discovery")
	if !ok {
		return nil
	}
	di := &mesos.DiscoveryInfo{
		Visibility:  mesos.FRAMEWORK,
		Name:        w.strPtr(d, "name"),
		Environment: w.strPtr(d, "environment"),
		Location:    w.strPtr(d, "location"),
		Version:     w.strPtr(d, "version"),
		Labels:      w.labels(d, "labels"),
	}
	if v, ok := w.enum(d, "visibility", mesos.DiscoveryInfo_Visibility_value); ok {
		di.Visibility = mesos.DiscoveryInfo_Visibility(v)
	}
	if ports, ok := w.object(d, "ports"); ok {
		di.Ports = &mesos.Ports{}
		for _, pn := range w.array(ports, "ports") {
			num, _ := w.uint(pn, "number", 1<<32-1)
			p := mesos.Port{
				Number:   uint32(num),
				Name:     w.strPtr(pn, "name"),
				Protocol: w.strPtr(pn, "protocol"),
				Labels:   w.labels(pn, "labels"),
			}
			if v, ok := w.enum(pn, "visibility", mesos.DiscoveryInfo_Visibility_value); ok {
				vis := mesos.DiscoveryInfo_Visibility(v)
				p.Visibility = &vis
			}
			di.Ports.Ports = append(di.Ports.Ports, p)
		}
	}
	return di
}

func (w *walker) container(n node) *mesos.ContainerInfo {
	c, ok := w.object(n, "container")
	if !ok {
		return nil
	}
	ci := &mesos.ContainerInfo{Hostname: w.strPtr(c, "hostname")}
	typ := mesos.ContainerInfo_MESOS
	if w.has(c, "docker") {
		typ = mesos.ContainerInfo_DOCKER
	}
	if v, ok := w.enum(c, "type", mesos.ContainerInfo_Type_value); ok {
		typ = mesos.ContainerInfo_Type(v)
	}
	ci.Type = &typ
	if d, ok := w.object(c, "docker"); ok {
		image, _ := w.str(d, "image")
		di := &mesos.ContainerInfo_DockerInfo{
			Image:          image,
			Privileged:     w.boolPtr(d, "privileged"),
			ForcePullImage: w.boolPtr(d, "force_pull_image"),
			VolumeDriver:   w.strPtr(d, "volume_driver"),
		}
		if v, ok := w.enum(d, "network", mesos.ContainerInfo_DockerInfo_Network_value); ok {
			net := mesos.ContainerInfo_DockerInfo_Network(v)
			di.Network = &net
		}
		for _, pm := range w.array(d, "port_mappings") {
			hp, _ := w.uint(pm, "host_port", 65535)
			cp, _ := w.uint(pm, "container_port", 65535)
			di.PortMappings = append(di.PortMappings, mesos.ContainerInfo_DockerInfo_PortMapping{
				HostPort: uint32(hp), ContainerPort: uint32(cp), Protocol: w.strPtr(pm, "protocol"),
			})
		}
		for _, p := range w.array(d, "parameters") {
			k, _ := w.str(p, "key")
			v, _ := w.str(p, "value")
			di.Parameters = append(di.Parameters, mesos.Parameter{Key: k, Value: v})
		}
		ci.Docker = di
	}
	if m, ok := w.object(c, "mesos"); ok {
		mi := &mesos.ContainerInfo_MesosInfo{}
		if img, ok := w.object(m, "image"); ok {
			image := &mesos.Image{Cached: w.boolPtr(img, "cached")}
			if v, ok := w.enum(img, "type", mesos.Image_Type_value); ok {
				t := mesos.Image_Type(v)
				image.Type = &t
			}
			if d, ok := w.object(img, "docker"); ok {
				name, _ := w.str(d, "name")
				image.Docker = &mesos.Image_Docker{Name: name}
			}
			if a, ok := w.object(img, "appc"); ok {
				name, _ := w.str(a, "name")
				image.Appc = &mesos.Image_Appc{Name: name}
			}
			mi.Image = image
		}
		ci.Mesos = mi
	}
	for _, ni := range w.array(c, "network_infos") {
		ci.NetworkInfos = append(ci.NetworkInfos, w.networkInfo(ni))
	}
	return ci
}

func (w *walker) healthCheck(n node) *mesos.HealthCheck {
	h, ok := w.object(n, "health_check")
	if !ok {
		return nil
	}
	hc := &mesos.HealthCheck{
		DelaySeconds:       w.floatPtr(h, "delay_seconds"),
		IntervalSeconds:    w.floatPtr(h, "interval_seconds"),
		TimeoutSeconds:     w.floatPtr(h, "timeout_seconds"),
		GracePeriodSeconds: w.floatPtr(h, "grace_period_seconds"),
	}
	if f, ok := w.uint(h, "consecutive_failures", 1<<32-1); ok {
		v := uint32(f)
		hc.ConsecutiveFailures = &v
	}
	if v, ok := w.enum(h, "type", mesos.HealthCheck_Type_value); ok {
		hc.Type = mesos.HealthCheck_Type(v)
	}
	if hn, ok := w.object(h, "http"); ok {
		port, _ := w.uint(hn, "port", 65535)
		hc.HTTP = &mesos.HealthCheck_HTTPCheckInfo{Port: uint32(port), Path: w.strPtr(hn, "path"), Scheme: w.strPtr(hn, "scheme")}
		if hc.Type == mesos.HealthCheck_UNKNOWN {
			hc.Type = mesos.HealthCheck_HTTP
		}
	}
	if tn, ok := w.object(h, "tcp"); ok {
		port, _ := w.uint(tn, "port", 65535)
		hc.TCP = &mesos.HealthCheck_TCPCheckInfo{Port: uint32(port)}
		if hc.Type == mesos.HealthCheck_UNKNOWN {
			hc.Type = mesos.HealthCheck_TCP
		}
	}
	if cn, ok := w.object(h, "command"); ok {
		hc.Command = &mesos.CommandInfo{Value: w.strPtr(cn, "value"), Shell: w.boolPtr(cn, "shell")}
		if hc.Type == mesos.HealthCheck_UNKNOWN {
			hc.Type = mesos.HealthCheck_COMMAND
		}
	}
	return hc
}
