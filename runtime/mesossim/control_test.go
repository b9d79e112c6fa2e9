package mesossim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

// countingReader is a deterministic entropy source: 0, 1, 2, ...
type countingReader struct {
	mu sync.Mutex
	n  byte
}

func (r *countingReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range b {
		b[i] = r.n
		r.n++
	}
	return len(b), nil
}

// epoch is the fixed clock of deterministic tests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// control calls the control API with a JSON body (nil for none).
func control(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, out := post(t, method, url, b, map[string]string{"Content-Type": jsonType})
	return resp.StatusCode, out
}

func mustControl(t *testing.T, method, url string, body any, code int) []byte {
	t.Helper()
	got, out := control(t, method, url, body)
	if got != code {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, url, got, code, out)
	}
	return out
}

// jsonPaths lists the leaf paths of a JSON document in order of first
// appearance, with array indices dropped: the shape of a document.
func jsonPaths(t *testing.T, b []byte) []string {
	t.Helper()
	type frame struct {
		object bool
		key    string
		empty  bool
	}
	var stack []frame
	seen := map[string]bool{}
	var out []string
	path := func() string {
		var sb strings.Builder
		for _, f := range stack {
			if f.object {
				if f.key != "" {
					sb.WriteString("." + f.key)
				}
			} else {
				sb.WriteString("[]")
			}
		}
		return sb.String()
	}
	leaf := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	wantKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tokenize: %v", err)
		}
		if n := len(stack); n > 0 {
			stack[n-1].empty = false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, frame{object: v == '{', empty: true})
				wantKey = v == '{'
				continue
			default:
				p := path()
				if stack[len(stack)-1].empty {
					leaf(p + string(map[json.Delim]string{'}': "{}", ']': "[]"}[v]))
				}
				stack = stack[:len(stack)-1]
			}
		case string:
			if wantKey {
				stack[len(stack)-1].key = v
				wantKey = false
				continue
			}
			leaf(path())
		default:
			leaf(path())
		}
		wantKey = len(stack) > 0 && stack[len(stack)-1].object
	}
}

// captureTask returns the TASK_ADDED and TASK_UPDATED events of one task of
// operator-api.json, by name.
func captureTask(t *testing.T, name string) []master.Event {
	t.Helper()
	var id string
	var out []master.Event
	for _, ev := range fixtureEvents(t, "mesos-api/v1-operator-api/dcos-net/operator-api.json") {
		switch ev.GetType() {
		case master.Event_TASK_ADDED:
			if ev.GetTaskAdded().Task.Name == name {
				id = ev.GetTaskAdded().Task.TaskID.Value
				out = append(out, ev)
			}
		case master.Event_TASK_UPDATED:
			if id != "" && ev.GetTaskUpdated().Status.TaskID.Value == id {
				out = append(out, ev)
			}
		}
	}
	if len(out) != 3 {
		t.Fatalf("capture has %d events for %s, want 3", len(out), name)
	}
	return out
}

func eventJSON(t *testing.T, ev *master.Event) []byte {
	t.Helper()
	b, err := mesosjson.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLaunchedTasksLookLikeCaptured launches the DC/OS networking matrix of
// operator-api.json through the control API and checks that TASK_ADDED and
// the STARTING and RUNNING TASK_UPDATED events have exactly the shape (the
// same fields, in the same order) as the captured ones.
func TestLaunchedTasksLookLikeCaptured(t *testing.T) {
	for _, tc := range []struct {
		capture string
		spec    mesossim.TaskSpec
	}{
		{"docker-on-bridge", mesossim.TaskSpec{Container: "DOCKER", Network: "bridge", Image: "python:3-alpine",
			Ports: []mesossim.PortSpec{{Name: "http", ContainerPort: 8080}}}},
		{"docker-on-dcos", mesossim.TaskSpec{Container: "DOCKER", Network: "container", Image: "python:3-alpine",
			Ports: []mesossim.PortSpec{{Name: "http", ContainerPort: 8080}}}},
		{"docker-on-host", mesossim.TaskSpec{Container: "DOCKER", Image: "python:3-alpine",
			Ports: []mesossim.PortSpec{{Name: "http"}}}},
		{"none-on-host", mesossim.TaskSpec{Container: "MESOS", Ports: []mesossim.PortSpec{{Name: "http"}}}},
		{"none-on-dcos", mesossim.TaskSpec{Container: "MESOS", Network: "container"}},
		{"ucr-on-host", mesossim.TaskSpec{Container: "MESOS", Image: "python:3-alpine", Ports: []mesossim.PortSpec{{Name: "http"}}}},
		{"ucr-on-dcos", mesossim.TaskSpec{Container: "MESOS", Network: "container", Image: "python:3-alpine"}},
		{"ucr-on-bridge", mesossim.TaskSpec{Container: "MESOS", Network: "bridge", Image: "python:3-alpine",
			Ports: []mesossim.PortSpec{{Name: "http", ContainerPort: 8080}}}},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			sim, ts := mesossimtest.Start(t, mesossim.Options{HeartbeatInterval: time.Hour})
			if _, err := sim.AddAgent(mesossim.AgentSpec{Hostname: "198.18.32.1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := sim.AddFramework(mesossim.FrameworkSpec{Name: "marathon", Role: "slave_public"}); err != nil {
				t.Fatal(err)
			}
			s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
			s.Next(t) // SUBSCRIBED
			s.Next(t) // HEARTBEAT
			spec := tc.spec
			spec.Name = tc.capture
			mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks", spec, http.StatusCreated)
			want := captureTask(t, tc.capture)
			for i, w := range want {
				got := s.NextNonHeartbeat(t)
				if diff := cmp.Diff(jsonPaths(t, eventJSON(t, &w)), jsonPaths(t, eventJSON(t, got))); diff != "" {
					t.Errorf("%s event %d has another shape than the capture (-capture +sim):\n%s", w.GetType(), i, diff)
				}
				if got.GetType() == master.Event_TASK_UPDATED && got.GetTaskUpdated().GetState() != w.GetTaskUpdated().GetState() {
					t.Errorf("event %d: state %s, want %s", i, got.GetTaskUpdated().GetState(), w.GetTaskUpdated().GetState())
				}
			}
		})
	}
}

func str(s string) *string { return &s }

// TestControlLifecycle drives a cluster through the control API and checks
// every event against what a real master sends.
func TestControlLifecycle(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{ID: "m", Now: func() time.Time { return epoch }, Random: &countingReader{},
		HeartbeatInterval: time.Hour, Version: "1.9.0"})
	s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, jsonType, false)
	s.Next(t)
	s.Next(t)
	now := epoch.UnixNano()

	// Agents.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/agents", `{"hostname":"198.18.32.1","attributes":{"zone":"a"}}`, http.StatusCreated)
	star := "*"
	res := func(role *string) []mesos.Resource {
		return []mesos.Resource{
			{Name: "ports", Type: mesos.RANGES.Enum(), Role: role, Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{
				{Begin: 1025, End: 2180}, {Begin: 2182, End: 3887}, {Begin: 3889, End: 5049}, {Begin: 5052, End: 8079},
				{Begin: 8082, End: 8180}, {Begin: 8182, End: 32000}}}},
			{Name: "disk", Type: mesos.SCALAR.Enum(), Role: role, Scalar: &mesos.Value_Scalar{Value: 47170}},
			{Name: "cpus", Type: mesos.SCALAR.Enum(), Role: role, Scalar: &mesos.Value_Scalar{Value: 4}},
			{Name: "mem", Type: mesos.SCALAR.Enum(), Role: role, Scalar: &mesos.Value_Scalar{Value: 14336}},
		}
	}
	port := int32(5051)
	deactivated := false
	wantAgent := &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: master.Response_GetAgents_Agent{
		AgentInfo: mesos.AgentInfo{Hostname: "198.18.32.1", Port: &port, Resources: res(nil), ID: &mesos.AgentID{Value: "m-S0"},
			Attributes: []mesos.Attribute{{Name: "zone", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "a"}}}},
		Active: true, Deactivated: &deactivated, Version: "1.9.0", PID: str("slave(1)@198.18.32.1:5051"),
		RegisteredTime: &mesos.TimeInfo{Nanoseconds: now}, ReregisteredTime: &mesos.TimeInfo{Nanoseconds: now},
		TotalResources: res(&star),
		Capabilities: []mesos.AgentInfo_Capability{{Type: mesos.AgentInfo_Capability_MULTI_ROLE}, {Type: mesos.AgentInfo_Capability_HIERARCHICAL_ROLE},
			{Type: mesos.AgentInfo_Capability_RESERVATION_REFINEMENT}, {Type: mesos.AgentInfo_Capability_RESOURCE_PROVIDER},
			{Type: mesos.AgentInfo_Capability_RESIZE_VOLUME}, {Type: mesos.AgentInfo_Capability_AGENT_OPERATION_FEEDBACK},
			{Type: mesos.AgentInfo_Capability_AGENT_DRAINING}},
	}}}
	if diff := cmp.Diff(wantAgent, s.Next(t)); diff != "" {
		t.Errorf("AGENT_ADDED (-want +got):\n%s", diff)
	}
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/agents", mesossim.AgentSpec{Hostname: "agent-2.example", IP: "198.18.32.2", Port: 5052}, http.StatusCreated)
	if ev := s.Next(t); ev.GetAgentAdded().Agent.GetPID() != "slave(1)@198.18.32.2:5052" || ev.GetAgentAdded().Agent.AgentInfo.GetID().GetValue() != "m-S1" {
		t.Errorf("second AGENT_ADDED: %v", ev)
	}

	// Frameworks.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/frameworks", mesossim.FrameworkSpec{Name: "marathon", Role: "slave_public",
		Principal: "dcos_marathon", Hostname: "198.18.32.250", WebUIURL: "http://198.18.32.250:8080"}, http.StatusCreated)
	failover, checkpoint := 604800.0, true
	wantFramework := &master.Event{Type: master.Event_FRAMEWORK_ADDED, FrameworkAdded: &master.Event_FrameworkAdded{Framework: master.Response_GetFrameworks_Framework{
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "marathon", ID: &mesos.FrameworkID{Value: "m-0000"},
			FailoverTimeout: &failover, Checkpoint: &checkpoint, Role: str("slave_public"), Hostname: str("198.18.32.250"),
			Principal: str("dcos_marathon"), WebUiURL: str("http://198.18.32.250:8080"),
			Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
				{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}}},
		Active: true, Connected: true,
		RegisteredTime: &mesos.TimeInfo{Nanoseconds: now}, ReregisteredTime: &mesos.TimeInfo{Nanoseconds: now},
	}}}
	if diff := cmp.Diff(wantFramework, s.Next(t)); diff != "" {
		t.Errorf("FRAMEWORK_ADDED (-want +got):\n%s", diff)
	}
	mustControl(t, http.MethodPut, ts.URL+"/sim/v1/frameworks/m-0000", `{"webui_url":"http://198.18.32.251:8080"}`, http.StatusOK)
	if ev := s.Next(t); ev.GetType() != master.Event_FRAMEWORK_UPDATED || ev.GetFrameworkUpdated().Framework.FrameworkInfo.GetWebUiURL() != "http://198.18.32.251:8080" ||
		ev.GetFrameworkUpdated().Framework.FrameworkInfo.Name != "marathon" {
		t.Errorf("FRAMEWORK_UPDATED: %v", ev)
	}

	// A Docker bridge task with a VIP and a health check.
	healthy := true
	out := mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks", mesossim.TaskSpec{
		ID: "web.1", Name: "web", Agent: "198.18.32.1", Container: "docker", Network: "bridge", Image: "nginx",
		Ports:       []mesossim.PortSpec{{Name: "http", ContainerPort: 80, Labels: mesossim.Labels{{Key: "VIP_0", Value: "/web:80"}}}},
		Labels:      mesossim.Labels{{Key: "DCOS_SPACE", Value: "/web"}},
		HealthCheck: &mesossim.HealthCheckSpec{}, Healthy: &healthy,
	}, http.StatusCreated)
	alloc := &mesos.Resource_AllocationInfo{Role: str("slave_public")}
	f := false
	wantTask := mesos.Task{
		Name: "web", TaskID: mesos.TaskID{Value: "web.1"}, FrameworkID: mesos.FrameworkID{Value: "m-0000"},
		AgentID: mesos.AgentID{Value: "m-S0"}, State: mesos.TASK_STAGING.Enum(),
		Resources: []mesos.Resource{
			{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}, AllocationInfo: alloc},
			{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 128}, AllocationInfo: alloc},
			{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 1025, End: 1025}}}, AllocationInfo: alloc},
		},
		Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "DCOS_SPACE", Value: str("/web")}}},
		Discovery: &mesos.DiscoveryInfo{Visibility: mesos.FRAMEWORK, Name: str("web"), Ports: &mesos.Ports{Ports: []mesos.Port{{
			Number: 1025, Name: str("http"), Protocol: str("tcp"),
			Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "VIP_0", Value: str("/web:80")}, {Key: "network-scope", Value: str("host")}}},
		}}}},
		Container: &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{
			Image: "nginx", Network: mesos.ContainerInfo_DockerInfo_BRIDGE.Enum(),
			PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{{HostPort: 1025, ContainerPort: 80, Protocol: str("tcp")}},
			Privileged:   &f, Parameters: []mesos.Parameter{{Key: "label", Value: "MESOS_TASK_ID=web.1"}}, ForcePullImage: &f,
		}},
		HealthCheck: &mesos.HealthCheck{DelaySeconds: ptr(15.0), IntervalSeconds: ptr(60.0), TimeoutSeconds: ptr(20.0),
			ConsecutiveFailures: ptr(uint32(3)), GracePeriodSeconds: ptr(300.0), Type: mesos.HealthCheck_HTTP,
			HTTP: &mesos.HealthCheck_HTTPCheckInfo{Protocol: mesos.IPv4.Enum(), Scheme: str("http"), Port: 1025, Path: str("/")}},
	}
	if diff := cmp.Diff(&master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: wantTask}}, s.Next(t)); diff != "" {
		t.Errorf("TASK_ADDED (-want +got):\n%s", diff)
	}
	addrs := func(ip string) []mesos.NetworkInfo {
		return []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{Protocol: mesos.IPv4.Enum(), IPAddress: str(ip)}}}}
	}
	var containerID string
	for i, w := range []struct {
		state  mesos.TaskState
		ip     string
		health *bool
	}{
		{mesos.TASK_STARTING, "198.18.32.1", nil},
		{mesos.TASK_RUNNING, "198.19.0.2", nil},
		{mesos.TASK_RUNNING, "198.19.0.2", &healthy},
	} {
		ev := s.Next(t)
		u := ev.GetTaskUpdated()
		if u == nil {
			t.Fatalf("event %d: %v, want TASK_UPDATED", i, ev)
		}
		if containerID == "" {
			containerID = u.Status.GetContainerStatus().GetContainerID().GetValue()
		}
		var reason *mesos.TaskStatus_Reason
		if w.health != nil {
			reason = mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()
		}
		want := &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: mesos.FrameworkID{Value: "m-0000"},
			Status: mesos.TaskStatus{
				TaskID: mesos.TaskID{Value: "web.1"}, State: w.state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), Reason: reason,
				AgentID: &mesos.AgentID{Value: "m-S0"}, ExecutorID: &mesos.ExecutorID{Value: "web.1"},
				Timestamp: ptr(float64(now) / 1e9), UUID: u.Status.UUID, Healthy: w.health,
				ContainerStatus: &mesos.ContainerStatus{ContainerID: &mesos.ContainerID{Value: containerID}, NetworkInfos: addrs(w.ip)},
			},
			State: w.state.Enum(),
		}}
		if diff := cmp.Diff(want, ev); diff != "" {
			t.Errorf("TASK_UPDATED %d (-want +got):\n%s", i, diff)
		}
		if len(u.Status.UUID) != 16 || u.Status.UUID[6]>>4 != 4 {
			t.Errorf("status uuid %x is not a version 4 UUID", u.Status.UUID)
		}
	}
	var launched mesos.Task
	if err := json.Unmarshal(out, &launched); err != nil || launched.GetState() != mesos.TASK_RUNNING || len(launched.Statuses) != 3 {
		t.Errorf("launch response: %v %v", launched, err)
	}

	// Health and state updates.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks/web.1/status", `{"healthy":false}`, http.StatusOK)
	ev := s.Next(t)
	if st := ev.GetTaskUpdated().Status; st.GetHealthy() || st.Healthy == nil || st.GetReason() != mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED ||
		st.GetState() != mesos.TASK_RUNNING || st.GetContainerStatus().GetContainerID().GetValue() != containerID {
		t.Errorf("health update: %v", ev)
	}

	// Kill: TASK_KILLING (Marathon has TASK_KILLING_STATE), TASK_KILLED.
	mustControl(t, http.MethodDelete, ts.URL+"/sim/v1/tasks/web.1", nil, http.StatusOK)
	for _, want := range []mesos.TaskState{mesos.TASK_KILLING, mesos.TASK_KILLED} {
		if ev := s.Next(t); ev.GetTaskUpdated().GetState() != want || ev.GetTaskUpdated().Status.GetState() != want {
			t.Errorf("kill: %v, want %s", ev, want)
		}
	}
	st := sim.State()
	if len(st.GetTasks.Tasks) != 0 || len(st.GetTasks.CompletedTasks) != 1 || st.GetTasks.CompletedTasks[0].GetState() != mesos.TASK_KILLED {
		t.Errorf("after the kill: %d tasks, completed %v", len(st.GetTasks.Tasks), st.GetTasks.CompletedTasks)
	}
	if code, _ := control(t, http.MethodDelete, ts.URL+"/sim/v1/tasks/web.1", nil); code != http.StatusNotFound {
		t.Errorf("killing a killed task: HTTP %d, want 404", code)
	}

	// Overlay task on the second agent, then the agent goes away.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks", `{"name":"db","agent":"m-S1","container":"MESOS","network":"container","ips":["198.19.7.7"],"state":"TASK_STARTING"}`, http.StatusCreated)
	s.Next(t)
	if ev := s.Next(t); ev.GetTaskUpdated().GetState() != mesos.TASK_STARTING ||
		ev.GetTaskUpdated().Status.GetContainerStatus().GetNetworkInfos()[0].IPAddresses[0].GetIPAddress() != "198.19.7.7" {
		t.Errorf("overlay STARTING: %v", ev)
	}
	mustControl(t, http.MethodDelete, ts.URL+"/sim/v1/agents/m-S1", nil, http.StatusNoContent)
	if ev := s.Next(t); ev.GetTaskUpdated().GetState() != mesos.TASK_GONE || ev.GetTaskUpdated().Status.GetSource() != mesos.SOURCE_MASTER ||
		ev.GetTaskUpdated().Status.GetReason() != mesos.REASON_AGENT_REMOVED {
		t.Errorf("task of a removed agent: %v", ev)
	}
	if ev := s.Next(t); ev.GetAgentRemoved().AgentID.Value != "m-S1" {
		t.Errorf("AGENT_REMOVED: %v", ev)
	}

	// Raw events.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/events", `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"ghost"}}}`, http.StatusAccepted)
	if ev := s.Next(t); ev.GetAgentRemoved().AgentID.Value != "ghost" {
		t.Errorf("raw event: %v", ev)
	}

	// Teardown through the operator API kills the framework's tasks first.
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks", `{"name":"cache","framework":"marathon","state":"TASK_STAGING"}`, http.StatusCreated)
	s.Next(t)
	if resp, body := post(t, http.MethodPost, ts.URL+"/api/v1", []byte(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"m-0000"}}}`),
		map[string]string{"Content-Type": jsonType}); resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("TEARDOWN: HTTP %d %s", resp.StatusCode, body)
	}
	if ev := s.Next(t); ev.GetTaskUpdated().GetState() != mesos.TASK_KILLED || ev.GetTaskUpdated().Status.GetReason() != mesos.REASON_FRAMEWORK_REMOVED {
		t.Errorf("teardown kill: %v", ev)
	}
	if ev := s.Next(t); ev.GetFrameworkRemoved().FrameworkInfo.GetID().GetValue() != "m-0000" {
		t.Errorf("FRAMEWORK_REMOVED: %v", ev)
	}
	if resp, _ := post(t, http.MethodPost, ts.URL+"/api/v1", []byte(`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"m-S0"}}}`),
		map[string]string{"Content-Type": jsonType}); resp.StatusCode != http.StatusOK {
		t.Errorf("MARK_AGENT_GONE: HTTP %d", resp.StatusCode)
	}
	if ev := s.Next(t); ev.GetAgentRemoved().AgentID.Value != "m-S0" {
		t.Errorf("AGENT_REMOVED after MARK_AGENT_GONE: %v", ev)
	}
	st = sim.State()
	if len(st.GetAgents.Agents) != 0 || len(st.GetFrameworks.Frameworks) != 0 || len(st.GetFrameworks.CompletedFrameworks) != 1 {
		t.Errorf("final state: %d agents, %d frameworks, %d completed frameworks",
			len(st.GetAgents.Agents), len(st.GetFrameworks.Frameworks), len(st.GetFrameworks.CompletedFrameworks))
	}

	// GET /sim/v1/state is GET_STATE.
	var resp master.Response
	if err := json.Unmarshal(mustControl(t, http.MethodGet, ts.URL+"/sim/v1/state", nil, http.StatusOK), &resp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, resp.GetGetState()); resp.Type != master.Response_GET_STATE || diff != "" {
		t.Errorf("/sim/v1/state (-State() +http):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

func TestControlDefaults(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{ID: "m"})
	for i := range 3 {
		mustControl(t, http.MethodPost, ts.URL+"/sim/v1/agents", fmt.Sprintf(`{"hostname":"198.18.32.%d"}`, i+1), http.StatusCreated)
	}
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/frameworks", `{"name":"marathon"}`, http.StatusCreated)
	agents := map[string]int{}
	for i := range 6 {
		var task mesos.Task
		out := mustControl(t, http.MethodPost, ts.URL+"/sim/v1/tasks", fmt.Sprintf(`{"name":"app%d","network":"host","ports":[{}, {"protocol":"udp,tcp"}]}`, i), http.StatusCreated)
		if err := json.Unmarshal(out, &task); err != nil {
			t.Fatal(err)
		}
		agents[task.AgentID.Value]++
		if !strings.HasPrefix(task.TaskID.Value, fmt.Sprintf("app%d.", i)) || task.FrameworkID.Value != "m-0000" {
			t.Errorf("task %s of %s", task.TaskID.Value, task.FrameworkID.Value)
		}
		ports := task.GetDiscovery().GetPorts().GetPorts()
		if len(ports) != 3 || ports[0].GetName() != "default" || ports[1].GetProtocol() != "udp" || ports[2].GetProtocol() != "tcp" || ports[1].Number != ports[2].Number {
			t.Errorf("discovery ports %v", ports)
		}
	}
	if diff := cmp.Diff(map[string]int{"m-S0": 2, "m-S1": 2, "m-S2": 2}, agents); diff != "" {
		t.Errorf("tasks per agent (-want +got):\n%s", diff)
	}
	// Host ports are unique per agent.
	seen := map[string]bool{}
	for _, task := range sim.State().GetTasks.Tasks {
		for _, r := range task.Resources {
			for _, rg := range r.GetRanges().GetRange() {
				for p := rg.Begin; p <= rg.End; p++ {
					k := task.AgentID.Value + ":" + strconv.FormatUint(p, 10)
					if seen[k] {
						t.Errorf("host port %s used twice", k)
					}
					seen[k] = true
				}
			}
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d host ports allocated, want 12", len(seen))
	}
}

func TestControlErrors(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{ID: "m"})
	empty := ts.URL + "/sim/v1/tasks"
	if code, out := control(t, http.MethodPost, empty, `{"name":"x"}`); code != 400 || !strings.Contains(string(out), "framework: no frameworks are registered") {
		t.Errorf("launch without frameworks: %d %s", code, out)
	}
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/frameworks", `{"name":"marathon"}`, http.StatusCreated)
	if code, out := control(t, http.MethodPost, empty, `{"name":"x"}`); code != 400 || !strings.Contains(string(out), "agent: no agents are registered") {
		t.Errorf("launch without agents: %d %s", code, out)
	}
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/agents", `{"hostname":"198.18.32.1","id":"a1"}`, http.StatusCreated)
	mustControl(t, http.MethodPost, ts.URL+"/sim/v1/frameworks", `{"name":"marathon","id":"fw2"}`, http.StatusCreated)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"empty body", "POST", "/sim/v1/agents", "", 400, `"body: empty; want a JSON object"`},
		{"invalid JSON", "POST", "/sim/v1/agents", `{"hostname":`, 400, `body: invalid JSON`},
		{"not an object", "POST", "/sim/v1/agents", `[]`, 400, `body: want a JSON object, got array`},
		{"trailing data", "POST", "/sim/v1/agents", `{"hostname":"198.18.32.9"} {}`, 400, `body: unexpected data after the JSON object`},
		{"missing hostname", "POST", "/sim/v1/agents", `{}`, 400, `hostname: required`},
		{"hostname without ip", "POST", "/sim/v1/agents", `{"hostname":"agent.example"}`, 400, `ip: required when hostname \"agent.example\" is not an IP address`},
		{"bad ip", "POST", "/sim/v1/agents", `{"hostname":"h","ip":"1.2.3"}`, 400, `ip: \"1.2.3\" is not an IP address`},
		{"port type", "POST", "/sim/v1/agents", `{"hostname":"198.18.32.9","port":"x"}`, 400, `port: want int, got string`},
		{"port range", "POST", "/sim/v1/agents", `{"hostname":"198.18.32.9","port":70000}`, 400, `port: 70000 is not in [1, 65535]`},
		{"unknown field", "POST", "/sim/v1/agents", `{"hostname":"198.18.32.9","cpu":4}`, 400, `cpu: unknown field`},
		{"duplicate agent", "POST", "/sim/v1/agents", `{"hostname":"198.18.32.9","id":"a1"}`, 409, `agent \"a1\": already exists`},
		{"unknown agent", "DELETE", "/sim/v1/agents/nope", "", 404, `agent \"nope\": not found`},
		{"framework without name", "POST", "/sim/v1/frameworks", `{}`, 400, `name: required`},
		{"bad capability", "POST", "/sim/v1/frameworks", `{"name":"x","capabilities":["FLYING"]}`, 400, `capabilities[0]: unknown capability \"FLYING\"`},
		{"duplicate framework", "POST", "/sim/v1/frameworks", `{"name":"x","id":"fw2"}`, 409, `framework \"fw2\": already exists`},
		{"update unknown framework", "PUT", "/sim/v1/frameworks/nope", `{"name":"y"}`, 404, `framework \"nope\": not found`},
		{"remove unknown framework", "DELETE", "/sim/v1/frameworks/nope", "", 404, `framework \"nope\": not found`},
		{"task without name", "POST", "/sim/v1/tasks", `{}`, 400, `name: required`},
		{"ambiguous framework", "POST", "/sim/v1/tasks", `{"name":"x"}`, 400, `framework: required when 2 frameworks are registered`},
		{"same-named frameworks", "POST", "/sim/v1/tasks", `{"name":"x","framework":"marathon"}`, 400, `framework: 2 frameworks are named \"marathon\"; use the ID`},
		{"unknown framework", "POST", "/sim/v1/tasks", `{"name":"x","framework":"chronos"}`, 400, `framework: no framework with ID or name \"chronos\"`},
		{"unknown agent for task", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","agent":"a9"}`, 400, `agent: no agent with ID or hostname \"a9\"`},
		{"bad container", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","container":"rkt"}`, 400, `container: want MESOS, DOCKER or empty, got \"rkt\"`},
		{"bad network", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","network":"overlay"}`, 400, `network: want host, bridge or container, got \"overlay\"`},
		{"bridge without container", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","network":"bridge"}`, 400, `network: bridge networking needs container MESOS or DOCKER`},
		{"network name on host", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","network_name":"dcos"}`, 400, `network_name: only used with container networking`},
		{"bad protocol", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","ports":[{"protocol":"sctp"}]}`, 400, `ports[0].protocol: want tcp, udp or udp,tcp, got \"sctp\"`},
		{"container port on host", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","ports":[{"container_port":80}]}`, 400, `ports[0].container_port: not used with host networking; set host_port`},
		{"missing container port", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","container":"DOCKER","network":"bridge","ports":[{"name":"a","container_port":80},{"name":"b"}]}`, 400, `ports[1].container_port: required with bridge networking`},
		{"port labels type", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","ports":[{"labels":5}]}`, 400, `labels: want an object of strings or an array of {\"key\", \"value\"}`},
		{"ips with host networking", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","ips":["198.19.0.9"]}`, 400, `ips: host networking uses the agent's IP`},
		{"bad ip", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","container":"MESOS","network":"container","ips":["nope"]}`, 400, `ips[0]: \"nope\" is not an IP address`},
		{"healthy without check", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","healthy":true}`, 400, `healthy: requires health_check`},
		{"http check without port", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","health_check":{"type":"HTTP"}}`, 400, `health_check.port: required for an HTTP check of a task without ports`},
		{"bad check type", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","health_check":{"type":"PING"}}`, 400, `health_check.type: want HTTP, TCP or COMMAND, got \"PING\"`},
		{"launch state", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","state":"TASK_FINISHED"}`, 400, `state: a launch stops at TASK_STAGING, TASK_STARTING or TASK_RUNNING, not TASK_FINISHED`},
		{"unknown launch state", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","state":"dancing"}`, 400, `state: unknown task state \"dancing\"`},
		{"cpus", "POST", "/sim/v1/tasks", `{"name":"x","framework":"fw2","cpus":-1}`, 400, `cpus: must not be negative`},
		{"status of unknown task", "POST", "/sim/v1/tasks/nope/status", `{"state":"TASK_FAILED"}`, 404, `active task \"nope\": not found`},
		{"empty status", "POST", "/sim/v1/tasks/nope/status", `{}`, 400, `state: state, healthy or message required`},
		{"bad reason", "POST", "/sim/v1/tasks/nope/status", `{"reason":"BORED","message":"m"}`, 400, `reason: unknown reason \"BORED\"`},
		{"kill unknown task", "DELETE", "/sim/v1/tasks/nope", "", 404, `active task \"nope\": not found`},
		{"raw event without type", "POST", "/sim/v1/events", `{}`, 400, `body: publish: $.type: missing or UNKNOWN event type`},
		{"raw SUBSCRIBED", "POST", "/sim/v1/events", `{"type":"SUBSCRIBED","subscribed":{}}`, 400, `SUBSCRIBED is sent by the master`},
		{"raw event of the wrong shape", "POST", "/sim/v1/events", `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":7}}`, 400, `body: $.agent_removed.agent_id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code, out := control(t, tc.method, ts.URL+tc.path, body)
			if code != tc.code || !strings.Contains(string(out), tc.want) {
				t.Errorf("HTTP %d %s; want %d with %s", code, out, tc.code, tc.want)
			}
			if code >= 400 && !json.Valid(out) {
				t.Errorf("error body is not JSON: %s", out)
			}
		})
	}
	// A duplicate task ID in the same framework is a conflict.
	mustControl(t, http.MethodPost, empty, `{"id":"t1","name":"x","framework":"fw2"}`, http.StatusCreated)
	if code, out := control(t, http.MethodPost, empty, `{"id":"t1","name":"x","framework":"fw2"}`); code != 409 {
		t.Errorf("duplicate task: %d %s", code, out)
	}
	// Taken host ports are refused.
	mustControl(t, http.MethodPost, empty, `{"name":"p","framework":"fw2","ports":[{"host_port":31000}]}`, http.StatusCreated)
	if code, out := control(t, http.MethodPost, empty, `{"name":"q","framework":"fw2","ports":[{"host_port":31000}]}`); code != 400 ||
		!strings.Contains(string(out), `ports[0].host_port: port 31000 is in use on agent a1`) {
		t.Errorf("taken host port: %d %s", code, out)
	}
	if code, _ := control(t, http.MethodGet, ts.URL+"/sim/v1/agents", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /sim/v1/agents: HTTP %d, want 405", code)
	}
}

func FuzzTaskSpec(f *testing.F) {
	f.Add(`{"name":"web","container":"DOCKER","network":"bridge","ports":[{"container_port":80,"labels":{"VIP_0":"/web:80"}}],"health_check":{},"healthy":true}`)
	f.Add(`{"name":"db","container":"MESOS","network":"container","ips":["198.19.1.1","fd01:b::1"],"ports":[{"container_port":5432,"host_port":31000,"protocol":"udp,tcp"}]}`)
	f.Add(`{"name":"x","state":"TASK_STAGING","labels":[{"key":"a","value":"b"}]}`)
	sim, err := mesossim.New(mesossim.Options{ID: "m"})
	if err != nil {
		f.Fatal(err)
	}
	defer sim.Close()
	if _, err := sim.AddAgent(mesossim.AgentSpec{Hostname: "198.18.32.1"}); err != nil {
		f.Fatal(err)
	}
	if _, err := sim.AddFramework(mesossim.FrameworkSpec{Name: "marathon"}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := http.NewRequest(http.MethodPost, "/sim/v1/tasks", strings.NewReader(body))
		if err != nil {
			return
		}
		rec := &recorder{header: http.Header{}}
		sim.ServeHTTP(rec, req)
		switch rec.code {
		case http.StatusCreated:
			var task mesos.Task
			if err := json.Unmarshal(rec.body.Bytes(), &task); err != nil || task.TaskID.Value == "" {
				t.Fatalf("created task does not decode: %v %s", err, rec.body.Bytes())
			}
			if _, err := sim.KillTask(task.TaskID.Value, task.FrameworkID.Value); err != nil {
				t.Fatalf("kill %s: %v", task.TaskID.Value, err)
			}
		case http.StatusBadRequest, http.StatusConflict:
			if !json.Valid(rec.body.Bytes()) {
				t.Fatalf("error is not JSON: %s", rec.body.Bytes())
			}
		default:
			t.Fatalf("HTTP %d: %s", rec.code, rec.body.Bytes())
		}
	})
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

func TestUnreachableTaskComesBack(t *testing.T) {
	sim, _ := mesossimtest.Start(t, mesossim.Options{ID: "m"})
	if _, err := sim.AddAgent(mesossim.AgentSpec{Hostname: "198.18.32.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddFramework(mesossim.FrameworkSpec{Name: "marathon"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := sim.LaunchTask(mesossim.TaskSpec{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sim.UpdateTaskStatus("a", "", mesossim.StatusSpec{State: "UNREACHABLE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.UpdateTaskStatus("b", "", mesossim.StatusSpec{State: "TASK_UNREACHABLE"}); err != nil {
		t.Fatal(err)
	}
	if st := sim.State(); len(st.GetTasks.Tasks) != 0 || len(st.GetTasks.UnreachableTasks) != 2 {
		t.Fatalf("%d tasks, %d unreachable", len(st.GetTasks.Tasks), len(st.GetTasks.UnreachableTasks))
	}
	killed, err := sim.KillTask("a", "")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, s := range killed.Statuses {
		states = append(states, s.GetState().String())
	}
	if diff := cmp.Diff([]string{"TASK_STARTING", "TASK_RUNNING", "TASK_UNREACHABLE", "TASK_KILLING", "TASK_KILLED"}, states); diff != "" {
		t.Errorf("statuses of the killed task (-want +got):\n%s", diff)
	}
	back, err := sim.UpdateTaskStatus("b", "", mesossim.StatusSpec{State: "RUNNING"})
	if err != nil || back.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("b back: %v %v", back.GetState(), err)
	}
	st := sim.State()
	if len(st.GetTasks.Tasks) != 1 || st.GetTasks.Tasks[0].TaskID.Value != "b" || len(st.GetTasks.UnreachableTasks) != 0 ||
		len(st.GetTasks.CompletedTasks) != 1 || st.GetTasks.CompletedTasks[0].TaskID.Value != "a" {
		t.Errorf("final state: tasks %d unreachable %d completed %d", len(st.GetTasks.Tasks), len(st.GetTasks.UnreachableTasks), len(st.GetTasks.CompletedTasks))
	}
}
