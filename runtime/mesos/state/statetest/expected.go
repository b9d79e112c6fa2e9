package statetest

import (
	"fmt"
	"net/netip"
	"slices"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// Fixtures returns the base names of the captures in Dir that Expected
// covers, sorted: all of them.
func Fixtures() []string {
	names := make([]string, 0, len(expected))
	for name := range expected {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Expected returns the published tasks, sorted by key, after the whole
// fixture (base name, e.g. "operator-api.json") has been applied: the end
// state of a stream, or the content of a GET_STATE body. Agent hostnames
// that are names resolve as FixtureResolver does. It returns a fresh slice
// (never nil) on each call and panics for a fixture it does not know.
func Expected(fixture string) []v1.Task {
	f, ok := expected[fixture]
	if !ok {
		panic(fmt.Sprintf("statetest: no expectations for fixture %q (have %v)", fixture, Fixtures()))
	}
	tasks := f()
	if tasks == nil {
		tasks = []v1.Task{}
	}
	return tasks
}

// ip parses an address literal of the tables.
func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// ips parses address literals of the tables.
func ips(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = ip(a)
	}
	return out
}

const (
	running = "TASK_RUNNING"
	tcp     = v1.ProtocolTCP
	udp     = v1.ProtocolUDP
)

// expected maps each fixture to a function building its expected tasks. Each
// entry cites the fixture facts it relies on; the rules are spec dcos-net.md
// §2.1 (name, ports, health, host networking) and §3.1 (VIP labels).
var expected = map[string]func() []v1.Task{
	// Stream: SUBSCRIBED (agents S0=172.17.0.4, S1=172.17.0.3; framework
	// metronome only), FRAMEWORK_UPDATED brings marathon (-0001) in, then
	// 12 Marathon tasks go STAGING -> STARTING -> RUNNING. No health checks.
	"operator-api.json": func() []v1.Task {
		const (
			fw = "30257977-0153-499d-a5b0-35afd842ef4d-0001"
			s0 = "30257977-0153-499d-a5b0-35afd842ef4d-S0"
			s1 = "30257977-0153-499d-a5b0-35afd842ef4d-S1"
		)
		s0IP, s1IP := ip("172.17.0.4"), ip("172.17.0.3")
		return []v1.Task{
			{
				// Docker BRIDGE: discovery 20560 is a host port
				// (network-scope=host); docker port_mapping
				// 20560->8080 completes it. Latest status IP is the
				// bridge IP, so not host-networked.
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "docker-on-bridge.0ef76549-2630-11e8-af52-70b3d5800001"},
				Name: "docker-on-bridge", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeDocker, IPs: ips("172.18.0.2"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080, HostPort: 20560}},
			},
			{
				// Docker USER network dcos: discovery 8080 is a
				// container port; no mappings.
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "docker-on-dcos.0ebe53e8-2630-11e8-af52-70b3d5800001"},
				Name: "docker-on-dcos", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeDocker, IPs: ips("9.0.2.130"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080}},
			},
			{
				// Docker HOST: the status IP is the agent IP.
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "docker-on-host.116271db-2630-11e8-af52-70b3d5800001"},
				Name: "docker-on-host", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeDocker, IPs: ips("172.17.0.4"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 31168}},
			},
			{
				// Docker on dcos6: the RUNNING status has an IPv4 and
				// an IPv6 address (the STARTING one had the agent IP).
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "docker-on-ipv6.602453f2-28e7-11e8-8cba-70b3d5800001"},
				Name: "docker-on-ipv6", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeDocker, IPs: ips("172.19.0.2", "fd01:b::2:8000:0:2"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080}},
			},
			{
				// UCR without image on dcos: its only discovery port
				// has number 0 and is dropped.
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "none-on-dcos.115c093a-2630-11e8-af52-70b3d5800001"},
				Name: "none-on-dcos", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeMesos, IPs: ips("9.0.2.5"), State: v1.TaskRunning, MesosState: running,
			},
			{
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "none-on-host.1458594c-2630-11e8-af52-70b3d5800001"},
				Name: "none-on-host", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeMesos, IPs: ips("172.17.0.4"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 13977}},
			},
			{
				// Pod on the Mesos bridge: name from DiscoveryInfo
				// (TaskInfo.name is "app"); host port 2254 from
				// discovery, container port 8080 only from the port
				// mapping of the RUNNING status.
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "pod-on-bridge.instance-e9d06dcd-2930-11e8-96bf-70b3d5800001.app"},
				Name: "pod-on-bridge", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("172.31.254.4"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080, HostPort: 2254}},
			},
			{
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "pod-on-dcos.instance-ea1231be-2930-11e8-96bf-70b3d5800001.app"},
				Name: "pod-on-dcos", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("9.0.1.3"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080}},
			},
			{
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "pod-on-host.instance-ea1231bf-2930-11e8-96bf-70b3d5800001.app"},
				Name: "pod-on-host", Framework: "marathon", AgentID: s0, AgentIP: s0IP,
				Runtime: v1.RuntimeMesos, IPs: ips("172.17.0.4"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 28064}},
			},
			{
				// UCR on mesos-bridge: host port 15263 from discovery,
				// mapping 15263->8080 from container.network_infos
				// (repeated in the status: merged once).
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "ucr-on-bridge.1458805d-2630-11e8-af52-70b3d5800001"},
				Name: "ucr-on-bridge", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("172.31.254.3"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 8080, HostPort: 15263}},
			},
			{
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "ucr-on-dcos.145ec1ee-2630-11e8-af52-70b3d5800001"},
				Name: "ucr-on-dcos", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("9.0.1.6"), State: v1.TaskRunning, MesosState: running,
			},
			{
				Key:  v1.TaskKey{FrameworkID: fw, TaskID: "ucr-on-host.1755bacf-2630-11e8-af52-70b3d5800001"},
				Name: "ucr-on-host", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("172.17.0.3"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 10323}},
			},
		}
	},

	// Stream: 4 RUNNING tasks in SUBSCRIBED are killed or finish, a
	// re-launched hello-world Marathon task is killed too, and the
	// hello-world framework is torn down: nothing is left running.
	"hello-world.json": func() []v1.Task { return nil },

	// Stream: SUBSCRIBED (agents S1=10.0.0.49, S0=10.0.4.200; marathon,
	// metronome), a Marathon task, then FRAMEWORK_ADDED hello-world (-0002)
	// and three SDK tasks on S1.
	"hello-overlay.json": func() []v1.Task {
		const (
			marathon   = "c620b0f5-ce56-472b-814a-aa36b40206af-0001"
			helloWorld = "c620b0f5-ce56-472b-814a-aa36b40206af-0002"
			s1         = "c620b0f5-ce56-472b-814a-aa36b40206af-S1"
		)
		s1IP := ip("10.0.0.49")
		return []v1.Task{
			{
				// No ContainerInfo at all: runtime unknown. Host
				// networked; VIP_0 on the discovery port.
				Key:  v1.TaskKey{FrameworkID: marathon, TaskID: "hello-world.cea59641-2bea-11e8-93f9-6a3d376ad59c"},
				Name: "hello-world", Framework: "marathon", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeUnknown, IPs: ips("10.0.0.49"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "api", Protocol: tcp, Port: 19630, VIPs: []v1.VIP{
					{Label: "/api.hello-world:80", Name: "/api.hello-world", Port: 80},
				}}},
			},
			{
				// Host networked, VIP label key VIP_<uuid>.
				Key:  v1.TaskKey{FrameworkID: helloWorld, TaskID: "hello-host-vip-0-server__2e5e76da-1d8c-4435-b152-70002de6ca9b"},
				Name: "hello-host-vip-0-server", Framework: "hello-world", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("10.0.0.49"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "host-vip", Protocol: tcp, Port: 4044, VIPs: []v1.VIP{
					{Label: "host-vip:80", Name: "host-vip", Port: 80},
				}}},
			},
			{
				// Overlay: two unlabelled discovery ports, container
				// ports in order.
				Key:  v1.TaskKey{FrameworkID: helloWorld, TaskID: "hello-overlay-0-server__7a7fe08f-7870-4def-a3ac-da5f18377dab"},
				Name: "hello-overlay-0-server", Framework: "hello-world", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("9.0.2.2"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{
					{Name: "overlay-dummy", Protocol: tcp, Port: 1025},
					{Name: "overlay-dynport", Protocol: tcp, Port: 1026},
				},
			},
			{
				// Overlay with network-scope=container and a VIP.
				Key:  v1.TaskKey{FrameworkID: helloWorld, TaskID: "hello-overlay-vip-0-server__3b071c4d-ef05-4344-9910-867431def3d7"},
				Name: "hello-overlay-vip-0-server", Framework: "hello-world", AgentID: s1, AgentIP: s1IP,
				Runtime: v1.RuntimeMesos, IPs: ips("9.0.2.3"), State: v1.TaskRunning, MesosState: running,
				Ports: []v1.Port{{Name: "overlay-vip", Protocol: tcp, Port: 4044, VIPs: []v1.VIP{
					{Label: "overlay-vip:80", Name: "overlay-vip", Port: 80},
				}}},
			},
		}
	},

	// Stream: a pod instance "app" with tasks foo and bar on the dcos
	// overlay; bar ends TASK_FINISHED and is removed. DiscoveryInfo has an
	// empty ports list.
	"pod-tasks.json": func() []v1.Task {
		const fw = "8ae294b7-a766-42d6-960c-ad8acf0f0db6-0000"
		return []v1.Task{{
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "app.instance-caff1565-d0db-11e8-aa23-70b3d5800002.foo"},
			Name: "app", Framework: "marathon", AgentID: "8ae294b7-a766-42d6-960c-ad8acf0f0db6-S0", AgentIP: ip("172.17.0.3"),
			Runtime: v1.RuntimeMesos, IPs: ips("9.0.0.2"), State: v1.TaskRunning, MesosState: running,
		}}
	},

	// Stream after a master failover: S0 is only a recovered agent until
	// AGENT_ADDED; instance ._app.1 is re-added already TASK_FAILED (never
	// published); ._app.2 runs on the Mesos bridge.
	"recovered-agents.json": func() []v1.Task {
		const fw = "65fccc5d-35a8-4cae-9eb2-05922043018e-0001"
		return []v1.Task{{
			// Discovery port without name: "default"; host port 16424
			// (network-scope=host) with VIP /web:10080, completed by
			// the mapping 16424->10080.
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "web.instance-8b38cc52-c951-11e9-8d5b-70b3d5800001._app.2"},
			Name: "web", Framework: "marathon", AgentID: "65fccc5d-35a8-4cae-9eb2-05922043018e-S0", AgentIP: ip("172.17.0.4"),
			Runtime: v1.RuntimeMesos, IPs: ips("172.31.254.10"), State: v1.TaskRunning, MesosState: running,
			Ports: []v1.Port{{Name: "default", Protocol: tcp, Port: 10080, HostPort: 16424, VIPs: []v1.VIP{
				{Label: "/web:10080", Name: "/web", Port: 10080},
			}}},
		}}
	},

	// GET_STATE: a Docker HOST task with the same named ports on udp and
	// tcp (not merged), healthy per its latest status.
	"tcp-and-udp.json": func() []v1.Task {
		const fw = "0e559f52-e43a-497a-90b8-11688d98f60c-0000"
		appVIP := v1.VIP{Label: "/app:80", Name: "/app", Port: 80}
		return []v1.Task{{
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "app.80eefa01-d956-11e8-8b68-70b3d5800002"},
			Name: "app", Framework: "marathon", AgentID: "0e559f52-e43a-497a-90b8-11688d98f60c-S0", AgentIP: ip("172.17.0.3"),
			Runtime: v1.RuntimeDocker, IPs: ips("172.17.0.3"), State: v1.TaskRunning, MesosState: running,
			Health: v1.HealthHealthy,
			Ports: []v1.Port{
				{Name: "http", Protocol: udp, Port: 6416, VIPs: []v1.VIP{appVIP}},
				{Name: "http", Protocol: tcp, Port: 6416, VIPs: []v1.VIP{appVIP}},
				{Name: "foobar", Protocol: udp, Port: 6417},
				{Name: "foobar", Protocol: tcp, Port: 6417},
			},
		}}
	},

	// GET_STATE: a UCR overlay task with a health_check whose statuses
	// carry no `healthy`: unhealthy (DCOS_OSS-1954).
	"unhealthy.json": func() []v1.Task {
		const fw = "ca0f7f0e-30a7-471b-8e2e-500e1e8a3799-0000"
		return []v1.Task{{
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "app.7a5a8aa6-d8be-11e8-9bf3-70b3d5800001"},
			Name: "app", Framework: "marathon", AgentID: "ca0f7f0e-30a7-471b-8e2e-500e1e8a3799-S0", AgentIP: ip("172.17.0.4"),
			Runtime: v1.RuntimeMesos, IPs: ips("9.0.1.6"), State: v1.TaskRunning, MesosState: running,
			Health: v1.HealthUnhealthy,
			Ports: []v1.Port{{Name: "http", Protocol: tcp, Port: 80, VIPs: []v1.VIP{
				{Label: "/foobar:80", Name: "/foobar", Port: 80},
			}}},
		}}
	},

	// Agent GET_STATE: a host-networked UCR task whose ports resources are
	// 9999-10002. VIP_0/VIP_1 on foo and VIP_2 on baz; the legacy task
	// labels vip_port0=tcp://def:80 and vip_port1=tcp://jkl:80 attach to
	// resource ports #0 (9999, foo) and #1 (10000, bar).
	"vip-labels.json": func() []v1.Task {
		const fw = "3de98647-82e7-4a22-8fb5-32df27c1ef69-0001"
		return []v1.Task{{
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "app.c9e19be4-6a94-11e8-bfc9-70b3d5800002"},
			Name: "app", Framework: "marathon", AgentID: "3de98647-82e7-4a22-8fb5-32df27c1ef69-S0", AgentIP: ip("172.17.0.3"),
			Runtime: v1.RuntimeMesos, IPs: ips("172.17.0.3"), State: v1.TaskRunning, MesosState: running,
			Health: v1.HealthHealthy,
			Ports: []v1.Port{
				{Name: "foo", Protocol: tcp, Port: 9999, VIPs: []v1.VIP{
					{Label: "/abc:80", Name: "/abc", Port: 80},
					{Label: "/cbd:80", Name: "/cbd", Port: 80},
					{Label: "def:80", Name: "def", Port: 80},
				}},
				{Name: "bar", Protocol: tcp, Port: 10000, VIPs: []v1.VIP{
					{Label: "jkl:80", Name: "jkl", Port: 80},
				}},
				{Name: "baz", Protocol: tcp, Port: 10001, VIPs: []v1.VIP{
					{Label: "/xyz:443", Name: "/xyz", Port: 443},
				}},
				{Name: "qux", Protocol: tcp, Port: 10002},
			},
		}}
	},

	// Agent GET_STATE: the agent's hostname is "localhost" (resolved to
	// 127.0.0.1) and it has no pid; a Docker HOST task without ports.
	"dns-hostname.json": func() []v1.Task {
		const fw = "d0a07cf9-7424-426b-b138-2be9d07b8e62-0001"
		return []v1.Task{{
			Key:  v1.TaskKey{FrameworkID: fw, TaskID: "test.f12cc459-cb38-11e8-a264-2e431fa5cff2"},
			Name: "test", Framework: "marathon", AgentID: "d0a07cf9-7424-426b-b138-2be9d07b8e62-S4", AgentIP: ip("127.0.0.1"),
			Runtime: v1.RuntimeDocker, IPs: ips("127.0.0.1"), State: v1.TaskRunning, MesosState: running,
		}}
	},
}
