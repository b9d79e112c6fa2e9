package vipalloc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap/zaptest"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

var cmpV1 = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

const fwID = "fw-0001"

// tk returns the key of task id.
func tk(id string) v1.TaskKey { return v1.TaskKey{FrameworkID: fwID, TaskID: id} }

// vip parses a VIP label value.
func vip(label string) v1.VIP {
	v, err := v1.ParseVIPLabel(label)
	if err != nil {
		panic(err)
	}
	return v
}

// overlayTask is a running Marathon task on agent 10.0.0.1 with container
// IP ip, listening on tcp 8080 with the given VIP labels.
func overlayTask(id, ip4 string, labels ...string) v1.Task {
	var vips []v1.VIP
	for _, l := range labels {
		vips = append(vips, vip(l))
	}
	return v1.Task{
		Key: tk(id), Name: "app", Framework: "marathon", AgentID: "S1", AgentIP: ip("10.0.0.1"),
		Runtime: v1.RuntimeMesos, IPs: []netip.Addr{ip(ip4)}, State: v1.TaskRunning, MesosState: "TASK_RUNNING",
		Ports: []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, VIPs: vips}},
	}
}

// with applies fs to a copy of t.
func with(t v1.Task, fs ...func(*v1.Task)) v1.Task {
	t = t.Clone()
	for _, f := range fs {
		f(&t)
	}
	return t
}

func state_(s v1.TaskState) func(*v1.Task) { return func(t *v1.Task) { t.State = s } }
func health(h v1.Health) func(*v1.Task)    { return func(t *v1.Task) { t.Health = h } }
func ips(s ...string) func(*v1.Task) {
	return func(t *v1.Task) {
		t.IPs = nil
		for _, a := range s {
			t.IPs = append(t.IPs, ip(a))
		}
	}
}
func hostPort(hp uint16) func(*v1.Task) { return func(t *v1.Task) { t.Ports[0].HostPort = hp } }

// appAlloc is the allocation of /app of marathon in both families.
var appAlloc = v1.VIPAllocation{
	Name: "app.marathon", Label: "/app", Framework: "marathon",
	IP4: ip("11.0.0.10"), IP6: ip("fd01:c::10"),
}

func allocs(as ...v1.VIPAllocation) map[string]v1.VIPAllocation {
	m := map[string]v1.VIPAllocation{}
	for _, a := range as {
		m[a.Name] = a
	}
	return m
}

// svc builds an expected service.
func svc(proto v1.Protocol, name, addr string, port uint16, backends ...v1.VIPBackend) v1.VIPService {
	return v1.VIPService{
		VIP: v1.FormatVIP(name, ip(addr), port), Protocol: proto, Name: name, IP: ip(addr), Port: port,
		Backend: backends,
	}
}

// be builds an expected backend of a task on agent 10.0.0.1.
func be(addr string, port uint16, weight int, id string) v1.VIPBackend {
	return v1.VIPBackend{IP: ip(addr), Port: port, Weight: weight, AgentIP: ip("10.0.0.1"), Task: tk(id), Runtime: v1.RuntimeMesos}
}

func TestServices(t *testing.T) {
	tcp, udp := v1.ProtocolTCP, v1.ProtocolUDP
	app := overlayTask("a", "9.0.1.6", "/app:80")
	for _, tt := range []struct {
		name      string
		tasks     []v1.Task
		vips      map[string]v1.VIPAllocation
		opts      ServiceOptions
		want      []v1.VIPService
		wantUnres Unresolved
	}{
		{
			name:  "container IP and port",
			tasks: []v1.Task{app},
			vips:  allocs(appAlloc),
			want:  []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a"))},
		},
		{
			name:  "host port: agent IP, with the container address for local substitution",
			tasks: []v1.Task{with(app, ips("172.31.254.3"), hostPort(20560))},
			vips:  allocs(appAlloc),
			want: []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, func() v1.VIPBackend {
				b := be("10.0.0.1", 20560, 1, "a")
				b.ContainerIP, b.ContainerPort = ip("172.31.254.3"), 8080
				return b
			}())},
		},
		{
			name: "host port without container port",
			tasks: []v1.Task{with(app, hostPort(20560), func(t *v1.Task) {
				t.Ports[0].Port = 0
			})},
			vips: allocs(appAlloc),
			want: []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("10.0.0.1", 20560, 1, "a"))},
		},
		{
			name:  "host port with an unknown agent IP: no backend",
			tasks: []v1.Task{with(app, hostPort(20560), func(t *v1.Task) { t.AgentIP = netip.Addr{} })},
			vips:  allocs(appAlloc),
		},
		{
			name:  "host networked: agent IP and port",
			tasks: []v1.Task{with(app, ips("10.0.0.1"), func(t *v1.Task) { t.Ports[0].Port = 31000 })},
			vips:  allocs(appAlloc),
			want:  []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("10.0.0.1", 31000, 1, "a"))},
		},
		{
			name: "weights: healthy and unknown 1, unhealthy and killing 0",
			tasks: []v1.Task{
				with(overlayTask("healthy", "9.0.1.1", "/app:80"), health(v1.HealthHealthy)),
				overlayTask("unknown", "9.0.1.2", "/app:80"),
				with(overlayTask("unhealthy", "9.0.1.3", "/app:80"), health(v1.HealthUnhealthy)),
				with(overlayTask("killing", "9.0.1.4", "/app:80"), state_(v1.TaskKilling)),
				with(overlayTask("killing-healthy", "9.0.1.5", "/app:80"), state_(v1.TaskKilling), health(v1.HealthHealthy)),
			},
			vips: allocs(appAlloc),
			want: []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80,
				be("9.0.1.1", 8080, 1, "healthy"), be("9.0.1.2", 8080, 1, "unknown"),
				be("9.0.1.3", 8080, 0, "unhealthy"), be("9.0.1.4", 8080, 0, "killing"),
				be("9.0.1.5", 8080, 0, "killing-healthy"))},
		},
		{
			name: "preparing and terminal tasks are no backends",
			tasks: []v1.Task{
				with(overlayTask("staging", "9.0.1.1", "/app:80"), state_(v1.TaskPreparing)),
				with(overlayTask("done", "9.0.1.2", "/app:80"), state_(v1.TaskTerminal)),
			},
			vips: allocs(appAlloc),
		},
		{
			name:  "named VIP of a dual-stack task: one service per family",
			tasks: []v1.Task{with(app, ips("9.0.1.6", "fd01:b::6"))},
			vips:  allocs(appAlloc),
			want: []v1.VIPService{
				svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a")),
				svc(tcp, "app.marathon", "fd01:c::10", 80, be("fd01:b::6", 8080, 1, "a")),
			},
		},
		{
			name:  "IPv6 disabled: IPv4 only",
			tasks: []v1.Task{with(app, ips("9.0.1.6", "fd01:b::6"))},
			vips:  allocs(appAlloc),
			opts:  ServiceOptions{DisableIPv6: true},
			want:  []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a"))},
		},
		{
			name: "IP VIPs take backends of their family",
			tasks: []v1.Task{
				with(overlayTask("a", "9.0.1.6", "198.18.200.1:5000", "fd01:c::12:5000"), ips("9.0.1.6", "fd01:b::6")),
			},
			want: []v1.VIPService{
				svc(tcp, "", "198.18.200.1", 5000, be("9.0.1.6", 8080, 1, "a")),
				svc(tcp, "", "fd01:c::12", 5000, be("fd01:b::6", 8080, 1, "a")),
			},
		},
		{
			name:  "IPv6 IP VIP with IPv6 disabled",
			tasks: []v1.Task{with(overlayTask("a", "9.0.1.6", "fd01:c::12:5000"), ips("fd01:b::6"))},
			opts:  ServiceOptions{DisableIPv6: true},
		},
		{
			name:  "IPv4 IP VIP without IPv4 backends",
			tasks: []v1.Task{with(overlayTask("a", "9.0.1.6", "198.18.200.1:5000"), ips("fd01:b::6"))},
		},
		{
			name: "same label on tcp and udp: two services",
			tasks: []v1.Task{with(app, func(t *v1.Task) {
				t.Ports = append(t.Ports, v1.Port{Name: "http", Protocol: udp, Port: 8080, VIPs: []v1.VIP{vip("/app:80")}})
			})},
			vips: allocs(appAlloc),
			want: []v1.VIPService{
				svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a")),
				svc(udp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a")),
			},
		},
		{
			name:  "two labels on a port: two services",
			tasks: []v1.Task{overlayTask("a", "9.0.1.6", "/app:80", "/app:8080")},
			vips:  allocs(appAlloc),
			want: []v1.VIPService{
				svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a")),
				svc(tcp, "app.marathon", "11.0.0.10", 8080, be("9.0.1.6", 8080, 1, "a")),
			},
		},
		{
			// Normalisation turns vip_PORT0=tcp://def:80 into the port's
			// VIP "def:80" (statetest's vip-labels.json).
			name: "legacy VIP_PORT label",
			tasks: []v1.Task{with(app, func(t *v1.Task) {
				t.Ports[0].VIPs = []v1.VIP{{Label: "def:80", Name: "def", Port: 80}}
			})},
			vips: allocs(v1.VIPAllocation{Name: "def.marathon", Label: "def", Framework: "marathon", IP4: ip("11.0.0.20")}),
			want: []v1.VIPService{svc(tcp, "def.marathon", "11.0.0.20", 80, be("9.0.1.6", 8080, 1, "a"))},
		},
		{
			name:      "named VIP without allocation: skipped",
			tasks:     []v1.Task{app},
			wantUnres: Unresolved{Unallocated: []string{"app.marathon"}},
		},
		{
			name:  "named VIP without an address of the family",
			tasks: []v1.Task{with(app, ips("9.0.1.6", "fd01:b::6"))},
			vips:  allocs(v1.VIPAllocation{Name: "app.marathon", Label: "/app", Framework: "marathon", IP4: ip("11.0.0.10")}),
			want: []v1.VIPService{
				svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a")),
			},
			wantUnres: Unresolved{Unallocated: []string{"app.marathon"}},
		},
		{
			name:      "label that makes no name",
			tasks:     []v1.Task{overlayTask("a", "9.0.1.6", "/$:80")},
			wantUnres: Unresolved{Invalid: []string{"/$ of framework marathon"}},
		},
		{
			name: "same backend twice: the higher weight wins",
			tasks: []v1.Task{
				with(overlayTask("old", "10.0.0.1", "/app:80"), state_(v1.TaskKilling)),
				overlayTask("new", "10.0.0.1", "/app:80"),
			},
			vips: allocs(appAlloc),
			want: []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("10.0.0.1", 8080, 1, "new"))},
		},
		{
			name:  "IPv4-mapped task address",
			tasks: []v1.Task{with(app, ips("::ffff:9.0.1.6"))},
			vips:  allocs(appAlloc),
			want:  []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80, be("9.0.1.6", 8080, 1, "a"))},
		},
		{
			name: "labels folding to one name share the services",
			tasks: []v1.Task{
				overlayTask("a", "9.0.1.6", "/app:80"),
				overlayTask("b", "9.0.1.7", "app:80"),
			},
			vips: allocs(appAlloc),
			want: []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.10", 80,
				be("9.0.1.6", 8080, 1, "a"), be("9.0.1.7", 8080, 1, "b"))},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, unres := Services(tt.tasks, tt.vips, tt.opts)
			if diff := cmp.Diff(tt.want, got, cmpV1); diff != "" {
				t.Errorf("Services (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnres, unres, cmpV1); diff != "" {
				t.Errorf("Unresolved (-want +got):\n%s", diff)
			}
			for _, s := range got {
				if err := s.Validate(); err != nil {
					t.Errorf("invalid service: %v", err)
				}
			}
		})
	}
}

// TestServicesOrder replays tasks in random orders: the result is the same.
func TestServicesOrder(t *testing.T) {
	tasks, vips := benchTasks(50, 7)
	tasks = append(tasks,
		with(overlayTask("dual", "9.0.9.9", "/app:80", "198.18.200.1:80"), ips("9.0.9.9", "fd01:b::9")),
		with(overlayTask("kill", "9.0.9.9", "/app:80"), state_(v1.TaskKilling)),
	)
	vips["app.marathon"] = appAlloc
	want, wantUnres := Services(tasks, vips, ServiceOptions{})
	if len(want) < 10 {
		t.Fatalf("only %d services", len(want))
	}
	if !slices.IsSortedFunc(want, v1.CompareVIPServices) {
		t.Error("services not sorted")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(tasks)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, unres := Services(shuffled, vips, ServiceOptions{})
		if diff := cmp.Diff(want, got, cmpV1); diff != "" {
			t.Fatalf("shuffle %d: Services differs (-first +shuffled):\n%s", i, diff)
		}
		if diff := cmp.Diff(wantUnres, unres, cmpV1); diff != "" {
			t.Fatalf("shuffle %d: Unresolved differs (-first +shuffled):\n%s", i, diff)
		}
		if diff := cmp.Diff(Wanted(tasks, ServiceOptions{}), Wanted(shuffled, ServiceOptions{})); diff != "" {
			t.Fatalf("shuffle %d: Wanted differs (-first +shuffled):\n%s", i, diff)
		}
	}
}

func TestWanted(t *testing.T) {
	app := overlayTask("a", "9.0.1.6", "/app:80")
	for _, tt := range []struct {
		name  string
		tasks []v1.Task
		opts  ServiceOptions
		want  map[string]WantedVIP
	}{
		{"IPv4 backend", []v1.Task{app}, ServiceOptions{},
			map[string]WantedVIP{"app.marathon": {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv4: true}}},
		{"IPv6 backend", []v1.Task{with(app, ips("fd01:b::6"))}, ServiceOptions{},
			map[string]WantedVIP{"app.marathon": {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv6: true}}},
		{"both families from two tasks", []v1.Task{app, with(overlayTask("b", "9.0.1.7", "/app:80"), ips("fd01:b::7"))}, ServiceOptions{},
			map[string]WantedVIP{"app.marathon": {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv4: true, IPv6: true}}},
		{"IPv6 disabled", []v1.Task{with(app, ips("fd01:b::6"))}, ServiceOptions{DisableIPv6: true}, map[string]WantedVIP{}},
		{"killing and unhealthy tasks still need the VIP", []v1.Task{
			with(app, state_(v1.TaskKilling)), with(overlayTask("b", "9.0.1.7", "/other:80"), health(v1.HealthUnhealthy)),
		}, ServiceOptions{}, map[string]WantedVIP{
			"app.marathon":   {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv4: true},
			"other.marathon": {Name: "other.marathon", Label: "/other", Framework: "marathon", IPv4: true},
		}},
		{"preparing and terminal tasks do not", []v1.Task{with(app, state_(v1.TaskPreparing)), with(app, state_(v1.TaskTerminal))},
			ServiceOptions{}, map[string]WantedVIP{}},
		{"IP VIPs are never allocated", []v1.Task{overlayTask("a", "9.0.1.6", "198.18.200.1:80")}, ServiceOptions{}, map[string]WantedVIP{}},
		{"no backend address", []v1.Task{with(app, ips())}, ServiceOptions{}, map[string]WantedVIP{}},
		{"invalid label", []v1.Task{overlayTask("a", "9.0.1.6", "/$:80")}, ServiceOptions{}, map[string]WantedVIP{}},
		{"host port backend takes the agent's family", []v1.Task{with(app, ips("fd01:b::6"), hostPort(20000))}, ServiceOptions{},
			map[string]WantedVIP{"app.marathon": {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv4: true}}},
		{"folding pairs: the smallest is kept", []v1.Task{overlayTask("b", "9.0.1.7", "app:80"), app}, ServiceOptions{},
			map[string]WantedVIP{"app.marathon": {Name: "app.marathon", Label: "/app", Framework: "marathon", IPv4: true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Wanted(tt.tasks, tt.opts)); diff != "" {
				t.Errorf("Wanted (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServicesFixtures loads real Mesos captures through the state model
// and checks their VIP services, with allocations made up for the names
// (Services only looks them up).
func TestServicesFixtures(t *testing.T) {
	tcp, udp := v1.ProtocolTCP, v1.ProtocolUDP
	// backend of a fixture task
	fb := func(addr string, port uint16, weight int, agent, fw, id string, rt v1.Runtime) v1.VIPBackend {
		return v1.VIPBackend{IP: ip(addr), Port: port, Weight: weight, AgentIP: ip(agent),
			Task: v1.TaskKey{FrameworkID: fw, TaskID: id}, Runtime: rt}
	}
	for _, tt := range []struct {
		fixture string
		vips    []string // names allocated 11.0.0.1, 11.0.0.2, ... in order
		want    []v1.VIPService
	}{
		{
			// Host networked, healthy; VIP_n labels on foo (two named with a
			// leading slash) and baz, legacy vip_PORTn on foo and bar.
			fixture: "vip-labels.json",
			vips:    []string{"abc.marathon", "cbd.marathon", "def.marathon", "jkl.marathon", "xyz.marathon"},
			want: func() []v1.VIPService {
				const fw, id = "3de98647-82e7-4a22-8fb5-32df27c1ef69-0001", "app.c9e19be4-6a94-11e8-bfc9-70b3d5800002"
				b := func(port uint16) v1.VIPBackend {
					return fb("172.17.0.3", port, 1, "172.17.0.3", fw, id, v1.RuntimeMesos)
				}
				return []v1.VIPService{
					svc(tcp, "abc.marathon", "11.0.0.1", 80, b(9999)),
					svc(tcp, "cbd.marathon", "11.0.0.2", 80, b(9999)),
					svc(tcp, "def.marathon", "11.0.0.3", 80, b(9999)),
					svc(tcp, "jkl.marathon", "11.0.0.4", 80, b(10000)),
					svc(tcp, "xyz.marathon", "11.0.0.5", 443, b(10001)),
				}
			}(),
		},
		{
			// The same /app:80 on a udp and a tcp port of a Docker host task.
			fixture: "tcp-and-udp.json",
			vips:    []string{"app.marathon"},
			want: func() []v1.VIPService {
				b := fb("172.17.0.3", 6416, 1, "172.17.0.3", "0e559f52-e43a-497a-90b8-11688d98f60c-0000",
					"app.80eefa01-d956-11e8-8b68-70b3d5800002", v1.RuntimeDocker)
				return []v1.VIPService{svc(tcp, "app.marathon", "11.0.0.1", 80, b), svc(udp, "app.marathon", "11.0.0.1", 80, b)}
			}(),
		},
		{
			// Overlay task with a failing health check: weight 0.
			fixture: "unhealthy.json",
			vips:    []string{"foobar.marathon"},
			want: []v1.VIPService{svc(tcp, "foobar.marathon", "11.0.0.1", 80,
				fb("9.0.1.6", 80, 0, "172.17.0.4", "ca0f7f0e-30a7-471b-8e2e-500e1e8a3799-0000",
					"app.7a5a8aa6-d8be-11e8-9bf3-70b3d5800001", v1.RuntimeMesos))},
		},
		{
			// Mesos bridge with host port 16424 -> 10080: agent IP and host
			// port, the container address recorded.
			fixture: "recovered-agents.json",
			vips:    []string{"web.marathon"},
			want: func() []v1.VIPService {
				b := fb("172.17.0.4", 16424, 1, "172.17.0.4", "65fccc5d-35a8-4cae-9eb2-05922043018e-0001",
					"web.instance-8b38cc52-c951-11e9-8d5b-70b3d5800001._app.2", v1.RuntimeMesos)
				b.ContainerIP, b.ContainerPort = ip("172.31.254.10"), 10080
				return []v1.VIPService{svc(tcp, "web.marathon", "11.0.0.1", 10080, b)}
			}(),
		},
		{
			// SDK hello-world: host-networked and overlay VIPs of framework
			// hello-world, and /api.hello-world of Marathon.
			fixture: "hello-overlay.json",
			vips:    []string{"api.hello-world.marathon", "host-vip.hello-world", "overlay-vip.hello-world"},
			want: func() []v1.VIPService {
				const marathon, hw = "c620b0f5-ce56-472b-814a-aa36b40206af-0001", "c620b0f5-ce56-472b-814a-aa36b40206af-0002"
				return []v1.VIPService{
					svc(tcp, "api.hello-world.marathon", "11.0.0.1", 80,
						fb("10.0.0.49", 19630, 1, "10.0.0.49", marathon, "hello-world.cea59641-2bea-11e8-93f9-6a3d376ad59c", v1.RuntimeUnknown)),
					svc(tcp, "host-vip.hello-world", "11.0.0.2", 80,
						fb("10.0.0.49", 4044, 1, "10.0.0.49", hw, "hello-host-vip-0-server__2e5e76da-1d8c-4435-b152-70002de6ca9b", v1.RuntimeMesos)),
					svc(tcp, "overlay-vip.hello-world", "11.0.0.3", 80,
						fb("9.0.2.3", 4044, 1, "10.0.0.49", hw, "hello-overlay-vip-0-server__3b071c4d-ef05-4344-9910-867431def3d7", v1.RuntimeMesos)),
				}
			}(),
		},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			s := state.New(state.Options{Logger: zaptest.NewLogger(t), Resolver: statetest.FixtureResolver(), RecoveredTasksWait: -1})
			statetest.ApplyFixture(t, s, statetest.Rel(tt.fixture))
			tasks := s.Current().Tasks()

			vips := map[string]v1.VIPAllocation{}
			wanted := map[string]WantedVIP{}
			for i, name := range tt.vips {
				vips[name] = v1.VIPAllocation{Name: name, IP4: netip.AddrFrom4([4]byte{11, 0, 0, byte(i + 1)})}
				wanted[name] = WantedVIP{Name: name, IPv4: true}
			}
			got, unres := Services(tasks, vips, ServiceOptions{})
			if diff := cmp.Diff(tt.want, got, cmpV1); diff != "" {
				t.Errorf("Services (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(Unresolved{}, unres, cmpV1); diff != "" {
				t.Errorf("Unresolved (-want +got):\n%s", diff)
			}
			// Wanted asks for exactly these names, IPv4 only.
			gotWanted := Wanted(tasks, ServiceOptions{})
			for name, w := range gotWanted {
				w.Label, w.Framework = "", ""
				gotWanted[name] = w
			}
			if diff := cmp.Diff(wanted, gotWanted); diff != "" {
				t.Errorf("Wanted (-want +got):\n%s", diff)
			}
		})
	}
}

// benchTasks returns n overlay tasks with distinct container IPs in
// 198.19.0.0/16 (and fd01:b::/64) spread over VIP names vip<k>.marathon, k
// < nVIPs, and the allocations of those names in the test plan range.
func benchTasks(n, nVIPs int) ([]v1.Task, map[string]v1.VIPAllocation) {
	tasks := make([]v1.Task, n)
	for i := range n {
		a4 := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		a6 := netip.AddrFrom16([16]byte{0xfd, 0x01, 0x00, 0x0b, 14: byte(i >> 8), 15: byte(i)})
		tasks[i] = v1.Task{
			Key: tk(fmt.Sprintf("app-%d", i)), Name: "app", Framework: "marathon", AgentID: "S1",
			AgentIP: ip("10.0.0.1"), Runtime: v1.RuntimeMesos, IPs: []netip.Addr{a4, a6},
			State: v1.TaskRunning, MesosState: "TASK_RUNNING",
			Ports: []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, VIPs: []v1.VIP{
				{Label: fmt.Sprintf("/vip%d:80", i%nVIPs), Name: fmt.Sprintf("/vip%d", i%nVIPs), Port: 80},
			}}},
		}
	}
	vips := make(map[string]v1.VIPAllocation, nVIPs)
	base := netip.MustParseAddr("198.18.128.0")
	for k := range nVIPs {
		name := fmt.Sprintf("vip%d.marathon", k)
		b := base.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(k)
		vips[name] = v1.VIPAllocation{
			Name: name, Label: fmt.Sprintf("/vip%d", k), Framework: "marathon",
			IP4: netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}),
			IP6: netip.AddrFrom16([16]byte{0xfd, 0x01, 0x00, 0x0c, 14: byte(k >> 8), 15: byte(k)}),
		}
	}
	return tasks, vips
}

// BenchmarkServices computes the services of 10,000 tasks behind 10,000
// named VIPs of both families (20,000 services).
func BenchmarkServices(b *testing.B) {
	tasks, vips := benchTasks(10000, 10000)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := Services(tasks, vips, ServiceOptions{})
		if len(s) != 20000 {
			b.Fatalf("%d services, want 20000", len(s))
		}
	}
}

// BenchmarkWanted computes the wanted VIPs of 10,000 tasks with 10,000
// named VIPs, the per-pass cost of the controller beside its reads.
func BenchmarkWanted(b *testing.B) {
	tasks, _ := benchTasks(10000, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if w := Wanted(tasks, ServiceOptions{}); len(w) != 10000 {
			b.Fatalf("%d wanted, want 10000", len(w))
		}
	}
}
