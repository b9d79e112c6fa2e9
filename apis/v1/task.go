package v1

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// TaskKey identifies a Mesos task. Task ids are unique only within a
// framework, so a task is identified by the pair (dcos-net PR #95).
type TaskKey struct {
	FrameworkID string `json:"frameworkID"`
	TaskID      string `json:"taskID"`
}

// String returns "<framework id>/<task id>".
func (k TaskKey) String() string { return k.FrameworkID + "/" + k.TaskID }

// Compare orders keys by framework id, then task id, returning -1, 0 or +1.
func (k TaskKey) Compare(o TaskKey) int {
	if c := cmp.Compare(k.FrameworkID, o.FrameworkID); c != 0 {
		return c
	}
	return cmp.Compare(k.TaskID, o.TaskID)
}

// Validate checks that both ids are set.
func (k TaskKey) Validate() error {
	switch {
	case k.FrameworkID == "" && k.TaskID == "":
		return errors.New("task key: empty framework id and task id")
	case k.FrameworkID == "":
		return fmt.Errorf("task key %q: empty framework id", k.TaskID)
	case k.TaskID == "":
		return fmt.Errorf("task key of framework %q: empty task id", k.FrameworkID)
	}
	return nil
}

// TaskState is the coarse state of a task as dcos-net sees it.
type TaskState string

// The task states. Only running tasks get DNS records; running and killing
// tasks are load-balancer backends (killing ones with weight 0).
const (
	// TaskPreparing covers TASK_STAGING, TASK_STARTING and every non-terminal
	// state that is neither running nor killing (e.g. TASK_UNREACHABLE).
	TaskPreparing TaskState = "preparing"
	TaskRunning   TaskState = "running"
	TaskKilling   TaskState = "killing"
	// TaskTerminal covers TASK_FINISHED, TASK_FAILED, TASK_KILLED,
	// TASK_LOST, TASK_ERROR, TASK_DROPPED, TASK_GONE, TASK_GONE_BY_OPERATOR.
	TaskTerminal TaskState = "terminal"
)

// Validate checks that s is one of the four states.
func (s TaskState) Validate() error {
	switch s {
	case TaskPreparing, TaskRunning, TaskKilling, TaskTerminal:
		return nil
	}
	return fmt.Errorf("task state %q is not preparing, running, killing or terminal", string(s))
}

// Health is the tri-state health of a task (DCOS_OSS-1954).
type Health string

// The health values. HealthUnknown is the zero value.
const (
	// HealthUnknown: the latest status has no `healthy` field and the task
	// has no health check.
	HealthUnknown Health = ""
	// HealthHealthy: the latest status says healthy.
	HealthHealthy Health = "healthy"
	// HealthUnhealthy: the latest status says unhealthy, or it has no
	// `healthy` field while the task has a health check.
	HealthUnhealthy Health = "unhealthy"
)

// Validate checks that h is one of the three values.
func (h Health) Validate() error {
	switch h {
	case HealthUnknown, HealthHealthy, HealthUnhealthy:
		return nil
	}
	return fmt.Errorf("health %q is not empty, healthy or unhealthy", string(h))
}

// Runtime is the containerizer that runs a task, from ContainerInfo.type.
type Runtime string

// The runtimes. A task without ContainerInfo has RuntimeUnknown.
const (
	RuntimeMesos   Runtime = "mesos"
	RuntimeDocker  Runtime = "docker"
	RuntimeUnknown Runtime = "unknown"
)

// Validate checks that r is one of the three runtimes.
func (r Runtime) Validate() error {
	switch r {
	case RuntimeMesos, RuntimeDocker, RuntimeUnknown:
		return nil
	}
	return fmt.Errorf("runtime %q is not mesos, docker or unknown", string(r))
}

// Task is a Mesos task normalised as dcos-net does (spec dcos-net.md §2.1).
// Names are raw: DNS label normalisation is the DNS layer's job.
type Task struct {
	Key TaskKey `json:"key"`
	// Name is DiscoveryInfo.name if set, else TaskInfo.name.
	Name string `json:"name"`
	// Framework is the name of the task's framework (FrameworkInfo.name).
	Framework string `json:"framework"`
	AgentID   string `json:"agentID"`
	// AgentIP is the address of the task's agent; invalid (zero) if it could
	// not be determined.
	AgentIP netip.Addr `json:"agentIP,omitzero"`
	Runtime Runtime    `json:"runtime"`
	// IPs are the addresses of the latest status (by timestamp),
	// container_status.network_infos[].ip_addresses[], IPv4 and IPv6 in
	// status order. A host-networked task reports its agent IP here.
	IPs []netip.Addr `json:"ips,omitempty"`
	// State is the coarse state derived from MesosState.
	State TaskState `json:"state"`
	// MesosState is the Mesos state, e.g. "TASK_RUNNING" (from
	// TASK_UPDATED.state, not status.state: DCOS_OSS-3539).
	MesosState string `json:"mesosState"`
	Health     Health `json:"health,omitempty"`
	// Ports are the task's ports: DiscoveryInfo ports in order, then port
	// mappings and legacy VIP_PORT labels that match none of them.
	Ports []Port `json:"ports,omitempty"`
}

// HostNetworked reports whether the task shares its agent's network
// namespace, which Mesos reports as the agent IP being the task's only IP.
func (t Task) HostNetworked() bool {
	return t.AgentIP.IsValid() && len(t.IPs) == 1 && t.IPs[0] == t.AgentIP
}

// Clone returns a deep copy of t, safe to modify.
func (t Task) Clone() Task {
	t.IPs = slices.Clone(t.IPs)
	if t.Ports != nil {
		ports := make([]Port, len(t.Ports))
		for i, p := range t.Ports {
			p.VIPs = slices.Clone(p.VIPs)
			ports[i] = p
		}
		t.Ports = ports
	}
	return t
}

// Validate checks the key, the enumerations, the addresses and every port.
func (t Task) Validate() error {
	var errs []error
	if err := t.Key.Validate(); err != nil {
		errs = append(errs, err)
	}
	if t.AgentID == "" {
		errs = append(errs, errors.New("empty agent id"))
	}
	if t.MesosState == "" {
		errs = append(errs, errors.New("empty Mesos state"))
	}
	for _, v := range []interface{ Validate() error }{t.Runtime, t.State, t.Health} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ip := range t.IPs {
		if !ip.IsValid() {
			errs = append(errs, errors.New("invalid task IP"))
		}
	}
	for _, p := range t.Ports {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("task %s: %w", t.Key, err)
	}
	return nil
}
