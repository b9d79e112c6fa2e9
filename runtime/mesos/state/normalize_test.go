package state_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

var agentIP = netip.MustParseAddr("198.51.100.7")

func ptr[T any](v T) *T { return &v }

func labels(kv ...string) *mesos.Labels {
	l := &mesos.Labels{}
	for i := 0; i+1 < len(kv); i += 2 {
		l.Labels = append(l.Labels, mesos.Label{Key: kv[i], Value: ptr(kv[i+1])})
	}
	return l
}

func discoveryPort(name, proto string, number uint32, kv ...string) mesos.Port {
	p := mesos.Port{Number: number, Protocol: ptr(proto)}
	if name != "" {
		p.Name = ptr(name)
	}
	if len(kv) > 0 {
		p.Labels = labels(kv...)
	}
	return p
}

func status(state mesos.TaskState, ts float64, ips ...string) mesos.TaskStatus {
	st := mesos.TaskStatus{State: ptr(state), Timestamp: ptr(ts)}
	if len(ips) > 0 {
		ni := mesos.NetworkInfo{}
		for _, ip := range ips {
			ni.IPAddresses = append(ni.IPAddresses, mesos.NetworkInfo_IPAddress{IPAddress: ptr(ip)})
		}
		st.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{ni}}
	}
	return st
}

func portsResource(ranges ...[2]uint64) mesos.Resource {
	r := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{}}
	for _, rg := range ranges {
		r.Ranges.Range = append(r.Ranges.Range, mesos.Value_Range{Begin: rg[0], End: rg[1]})
	}
	return r
}

// baseTask is a RUNNING UCR task on a container IP with no ports.
func baseTask() *mesos.Task {
	return &mesos.Task{
		Name:        "web",
		TaskID:      mesos.TaskID{Value: "web.1"},
		FrameworkID: mesos.FrameworkID{Value: "fw"},
		AgentID:     mesos.AgentID{Value: "S0"},
		State:       ptr(mesos.TASK_RUNNING),
		Container:   &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum()},
		Statuses:    []mesos.TaskStatus{status(mesos.TASK_RUNNING, 10, "198.18.0.5")},
	}
}

func baseWant() v1.Task {
	return v1.Task{
		Key: v1.TaskKey{FrameworkID: "fw", TaskID: "web.1"}, Name: "web", Framework: "marathon",
		AgentID: "S0", AgentIP: agentIP, Runtime: v1.RuntimeMesos, IPs: []netip.Addr{netip.MustParseAddr("198.18.0.5")},
		State: v1.TaskRunning, MesosState: "TASK_RUNNING",
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*mesos.Task)
		want   func(*v1.Task)
	}{
		{"plain", func(*mesos.Task) {}, func(*v1.Task) {}},
		{
			"discovery name wins over task name",
			func(m *mesos.Task) { m.Discovery = &mesos.DiscoveryInfo{Name: ptr("/group/web")} },
			func(w *v1.Task) { w.Name = "/group/web" },
		},
		{
			"empty discovery name falls back to task name",
			func(m *mesos.Task) { m.Discovery = &mesos.DiscoveryInfo{Name: ptr("")} },
			func(*v1.Task) {},
		},
		{
			"docker runtime",
			func(m *mesos.Task) { m.Container.Type = mesos.ContainerInfo_DOCKER.Enum() },
			func(w *v1.Task) { w.Runtime = v1.RuntimeDocker },
		},
		{
			"no container type is unknown runtime",
			func(m *mesos.Task) { m.Container = &mesos.ContainerInfo{} },
			func(w *v1.Task) { w.Runtime = v1.RuntimeUnknown },
		},
		{
			"states",
			func(m *mesos.Task) { m.State = ptr(mesos.TASK_KILLING) },
			func(w *v1.Task) { w.State, w.MesosState = v1.TaskKilling, "TASK_KILLING" },
		},
		{
			"unreachable is preparing",
			func(m *mesos.Task) { m.State = ptr(mesos.TASK_UNREACHABLE) },
			func(w *v1.Task) { w.State, w.MesosState = v1.TaskPreparing, "TASK_UNREACHABLE" },
		},
		{
			"latest status by timestamp, not list order",
			func(m *mesos.Task) {
				m.Statuses = []mesos.TaskStatus{
					status(mesos.TASK_RUNNING, 30, "198.18.0.9", "fd01:b::9"),
					status(mesos.TASK_STARTING, 20, "198.18.0.5"),
				}
			},
			func(w *v1.Task) {
				w.IPs = []netip.Addr{netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("fd01:b::9")}
			},
		},
		{
			"equal timestamps: the later status wins",
			func(m *mesos.Task) {
				m.Statuses = []mesos.TaskStatus{status(mesos.TASK_RUNNING, 30, "198.18.0.1"), status(mesos.TASK_RUNNING, 30, "198.18.0.2")}
			},
			func(w *v1.Task) { w.IPs = []netip.Addr{netip.MustParseAddr("198.18.0.2")} },
		},
		{
			"duplicate and mapped IPs",
			func(m *mesos.Task) {
				m.Statuses = []mesos.TaskStatus{status(mesos.TASK_RUNNING, 1, "198.18.0.5", "::ffff:198.18.0.5", "fd01:b::5")}
			},
			func(w *v1.Task) {
				w.IPs = []netip.Addr{netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("fd01:b::5")}
			},
		},
		{
			"no statuses: no IPs",
			func(m *mesos.Task) { m.Statuses = nil },
			func(w *v1.Task) { w.IPs = nil },
		},
		{
			"healthy true",
			func(m *mesos.Task) { m.Statuses[0].Healthy = ptr(true) },
			func(w *v1.Task) { w.Health = v1.HealthHealthy },
		},
		{
			"healthy false",
			func(m *mesos.Task) { m.Statuses[0].Healthy = ptr(false) },
			func(w *v1.Task) { w.Health = v1.HealthUnhealthy },
		},
		{
			"health check without healthy field is unhealthy",
			func(m *mesos.Task) { m.HealthCheck = &mesos.HealthCheck{} },
			func(w *v1.Task) { w.Health = v1.HealthUnhealthy },
		},
		{
			"only the latest status counts for health",
			func(m *mesos.Task) {
				m.Statuses = []mesos.TaskStatus{status(mesos.TASK_RUNNING, 1, "198.18.0.5"), status(mesos.TASK_KILLING, 2, "198.18.0.5")}
				m.Statuses[0].Healthy = ptr(true)
				m.State = ptr(mesos.TASK_KILLING)
			},
			func(w *v1.Task) { w.State, w.MesosState = v1.TaskKilling, "TASK_KILLING" },
		},
		{
			"discovery ports: defaults, scope, dropped ones",
			func(m *mesos.Task) {
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("", "tcp", 80),
					discoveryPort("h", "UDP", 31000, "network-scope", "host"),
					discoveryPort("c", "tcp", 8080, "network-scope", "container"),
					discoveryPort("zero", "tcp", 0),
					discoveryPort("sctp", "sctp", 9),
					{Number: 53, Name: ptr("noproto")},
				}}}
			},
			func(w *v1.Task) {
				w.Ports = []v1.Port{
					{Name: "default", Protocol: v1.ProtocolTCP, Port: 80},
					{Name: "h", Protocol: v1.ProtocolUDP, HostPort: 31000},
					{Name: "c", Protocol: v1.ProtocolTCP, Port: 8080},
					{Name: "noproto", Protocol: v1.ProtocolTCP, Port: 53},
				}
			},
		},
		{
			"VIP labels: VIP and vip prefixes, duplicates once, other labels ignored",
			func(m *mesos.Task) {
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("http", "tcp", 80, "VIP_0", "/app:80", "vip_1", "198.18.128.1:80", "VIP_2", "/app:80", "Vip_3", "/no:1", "other", "x"),
				}}}
			},
			func(w *v1.Task) {
				w.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, VIPs: []v1.VIP{
					{Label: "/app:80", Name: "/app", Port: 80},
					{Label: "198.18.128.1:80", IP: netip.MustParseAddr("198.18.128.1"), Port: 80},
				}}}
			},
		},
		{
			"tcp and udp with the same number stay separate",
			func(m *mesos.Task) {
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("dns", "udp", 53, "VIP_0", "/dns:53"),
					discoveryPort("dns", "tcp", 53, "VIP_0", "/dns:53"),
				}}}
				m.Container.Docker = &mesos.ContainerInfo_DockerInfo{PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{
					{ContainerPort: 53, HostPort: 31053, Protocol: ptr("udp")},
				}}
			},
			func(w *v1.Task) {
				vip := []v1.VIP{{Label: "/dns:53", Name: "/dns", Port: 53}}
				w.Ports = []v1.Port{
					{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, HostPort: 31053, VIPs: vip},
					{Name: "dns", Protocol: v1.ProtocolTCP, Port: 53, VIPs: vip},
				}
			},
		},
		{
			"port mappings merge by container or host port, others appended",
			func(m *mesos.Task) {
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("by-host", "tcp", 31001, "network-scope", "host", "VIP_0", "/a:80"),
					discoveryPort("by-container", "tcp", 9090),
				}}}
				m.Container.Docker = &mesos.ContainerInfo_DockerInfo{PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{
					{ContainerPort: 8080, HostPort: 31001},
					{ContainerPort: 9090, HostPort: 31002, Protocol: ptr("tcp")},
					{ContainerPort: 9090, HostPort: 31003, Protocol: ptr("tcp")},
					{ContainerPort: 7070, HostPort: 31004, Protocol: ptr("udp")},
					{ContainerPort: 6060, HostPort: 31005, Protocol: ptr("sctp")},
				}}
				m.Container.NetworkInfos = []mesos.NetworkInfo{{PortMappings: []mesos.NetworkInfo_PortMapping{
					{ContainerPort: 8080, HostPort: 31001, Protocol: ptr("tcp")},
				}}}
			},
			func(w *v1.Task) {
				w.Ports = []v1.Port{
					{Name: "by-host", Protocol: v1.ProtocolTCP, Port: 8080, HostPort: 31001, VIPs: []v1.VIP{{Label: "/a:80", Name: "/a", Port: 80}}},
					{Name: "by-container", Protocol: v1.ProtocolTCP, Port: 9090, HostPort: 31002},
					{Name: "default", Protocol: v1.ProtocolTCP, Port: 9090, HostPort: 31003},
					{Name: "default", Protocol: v1.ProtocolUDP, Port: 7070, HostPort: 31004},
				}
			},
		},
		{
			"status port mappings count",
			func(m *mesos.Task) {
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("http", "tcp", 2254, "network-scope", "host"),
				}}}
				m.Statuses[0].ContainerStatus.NetworkInfos[0].PortMappings = []mesos.NetworkInfo_PortMapping{{ContainerPort: 8080, HostPort: 2254, Protocol: ptr("tcp")}}
			},
			func(w *v1.Task) {
				w.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, HostPort: 2254}}
			},
		},
		{
			"legacy VIP_PORT labels use the ports resources",
			func(m *mesos.Task) {
				m.Resources = []mesos.Resource{
					{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}},
					portsResource([2]uint64{31000, 31001}, [2]uint64{31005, 31006}),
					{Name: "ports", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 32000}},
				}
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("a", "tcp", 31000, "network-scope", "host"),
				}}}
				m.Labels = labels(
					"VIP_PORT0", "tcp://a:80",
					"vip_port2", "udp://198.18.128.9:53",
					"Vip_Port4", "TCP://scalar:1",
					"VIP_PORTS", "ignored",
					"VIP_0", "not legacy:1",
				)
			},
			func(w *v1.Task) {
				w.Ports = []v1.Port{
					{Name: "a", Protocol: v1.ProtocolTCP, HostPort: 31000, VIPs: []v1.VIP{{Label: "a:80", Name: "a", Port: 80}}},
					{Name: "default", Protocol: v1.ProtocolUDP, HostPort: 31005, VIPs: []v1.VIP{{Label: "198.18.128.9:53", IP: netip.MustParseAddr("198.18.128.9"), Port: 53}}},
					{Name: "default", Protocol: v1.ProtocolTCP, HostPort: 32000, VIPs: []v1.VIP{{Label: "scalar:1", Name: "scalar", Port: 1}}},
				}
			},
		},
		{
			"host-networked task: host port folded into port",
			func(m *mesos.Task) {
				m.Statuses = []mesos.TaskStatus{status(mesos.TASK_RUNNING, 1, agentIP.String())}
				m.Resources = []mesos.Resource{portsResource([2]uint64{4000, 4001})}
				m.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
					discoveryPort("scoped", "tcp", 4000, "network-scope", "host"),
				}}}
				m.Container.Docker = &mesos.ContainerInfo_DockerInfo{PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{
					{ContainerPort: 80, HostPort: 4002},
				}}
				m.Labels = labels("VIP_PORT1", "tcp://b:80")
			},
			func(w *v1.Task) {
				w.IPs = []netip.Addr{agentIP}
				w.Ports = []v1.Port{
					{Name: "scoped", Protocol: v1.ProtocolTCP, Port: 4000},
					{Name: "default", Protocol: v1.ProtocolTCP, Port: 4002},
					{Name: "default", Protocol: v1.ProtocolTCP, Port: 4001, VIPs: []v1.VIP{{Label: "b:80", Name: "b", Port: 80}}},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := baseTask()
			tt.mutate(task)
			want := baseWant()
			tt.want(&want)
			got, err := state.Normalize(task, "marathon", agentIP)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if diff := cmp.Diff(want, got, statetest.CmpOptions()); diff != "" {
				t.Errorf("Normalize mismatch (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("normalised task invalid: %v", err)
			}
		})
	}
}

// TestNormalizeBadData checks that bad data is dropped, everything else kept,
// and that the error names the task and each offending label or value.
func TestNormalizeBadData(t *testing.T) {
	task := baseTask()
	task.Statuses = []mesos.TaskStatus{status(mesos.TASK_RUNNING, 1, "198.18.0.5", "not-an-ip")}
	task.Resources = []mesos.Resource{portsResource([2]uint64{31000, 31000})}
	task.Discovery = &mesos.DiscoveryInfo{Ports: &mesos.Ports{Ports: []mesos.Port{
		discoveryPort("http", "tcp", 80, "VIP_0", "/app:0", "VIP_1", "/ok:80"),
		discoveryPort("huge", "tcp", 70000),
	}}}
	task.Container.Docker = &mesos.ContainerInfo_DockerInfo{PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{
		{ContainerPort: 80, HostPort: 99999},
	}}
	task.Labels = labels(
		"VIP_PORT0", "sctp://x:1",
		"VIP_PORT1", "tcp://y:80",
		"VIP_PORT2", "tcp:/z:80",
		"VIP_PORT3", "udp://:53",
	)
	got, err := state.Normalize(task, "marathon", agentIP)
	if err == nil {
		t.Fatal("Normalize returned no error")
	}
	want := baseWant()
	want.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, VIPs: []v1.VIP{{Label: "/ok:80", Name: "/ok", Port: 80}}}}
	if diff := cmp.Diff(want, got, statetest.CmpOptions()); diff != "" {
		t.Errorf("Normalize kept data mismatch (-want +got):\n%s", diff)
	}
	msg := err.Error()
	for _, part := range []string{
		"normalize task fw/web.1",
		`status IP "not-an-ip"`,
		`discovery port "http" label VIP_0: parse VIP label "/app:0"`,
		`discovery port "huge": number 70000 out of range`,
		"container.docker.port_mappings: mapping 99999->80 out of range",
		`label VIP_PORT0="sctp://x:1": protocol "sctp" is not tcp or udp`,
		`label VIP_PORT1="tcp://y:80": task has no port at index 1`,
		`label VIP_PORT2="tcp:/z:80": want tcp://<vip> or udp://<vip>`,
		`label VIP_PORT3: parse VIP label ":53": empty name`,
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("error does not contain %q:\n%s", part, msg)
		}
	}
}

func TestNormalizeNil(t *testing.T) {
	if _, err := state.Normalize(nil, "", netip.Addr{}); err == nil {
		t.Fatal("Normalize(nil) returned no error")
	}
	task := baseTask()
	task.State = nil
	got, err := state.Normalize(task, "marathon", agentIP)
	if err == nil || !strings.Contains(err.Error(), "no state") {
		t.Fatalf("Normalize without state: error %v, want one naming the missing state", err)
	}
	if got.State != v1.TaskPreparing {
		t.Errorf("State = %q, want preparing", got.State)
	}
}

func TestTaskStateOf(t *testing.T) {
	want := map[mesos.TaskState]v1.TaskState{
		mesos.TASK_STAGING: v1.TaskPreparing, mesos.TASK_STARTING: v1.TaskPreparing,
		mesos.TASK_RUNNING: v1.TaskRunning, mesos.TASK_KILLING: v1.TaskKilling,
		mesos.TASK_FINISHED: v1.TaskTerminal, mesos.TASK_FAILED: v1.TaskTerminal, mesos.TASK_KILLED: v1.TaskTerminal,
		mesos.TASK_LOST: v1.TaskTerminal, mesos.TASK_ERROR: v1.TaskTerminal, mesos.TASK_DROPPED: v1.TaskTerminal,
		mesos.TASK_GONE: v1.TaskTerminal, mesos.TASK_GONE_BY_OPERATOR: v1.TaskTerminal,
		mesos.TASK_UNREACHABLE: v1.TaskPreparing, mesos.TASK_UNKNOWN: v1.TaskPreparing,
		mesos.TaskState(99): v1.TaskPreparing,
	}
	for s, w := range want {
		if got := state.TaskStateOf(s); got != w {
			t.Errorf("TaskStateOf(%s) = %q, want %q", s, got, w)
		}
	}
}

func TestMasterFromInfo(t *testing.T) {
	tests := []struct {
		name string
		info *mesos.MasterInfo
		want v1.Master
	}{
		{"nil", nil, v1.Master{}},
		{
			"address wins",
			&mesos.MasterInfo{ID: "m1", IP: 0x0100000a, Port: ptr(uint32(5050)), Hostname: ptr("old"),
				Address: &mesos.Address{Hostname: ptr("master-1"), IP: ptr("198.51.100.2"), Port: 15050}},
			v1.Master{ID: "m1", Hostname: "master-1", IP: netip.MustParseAddr("198.51.100.2"), Port: 15050},
		},
		{
			// 10.0.0.1 packed in network order reads 0x0100000a on
			// little-endian hosts, as Mesos sends it.
			"packed ip",
			&mesos.MasterInfo{ID: "m2", IP: 0x0100000a, Port: ptr(uint32(5050)), Hostname: ptr("m2.example")},
			v1.Master{ID: "m2", Hostname: "m2.example", IP: netip.MustParseAddr("10.0.0.1"), Port: 5050},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, state.MasterFromInfo(tt.info), statetest.CmpOptions()); diff != "" {
				t.Errorf("MasterFromInfo mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
