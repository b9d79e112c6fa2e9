package v1

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// checkGoldenJSON compares the indented JSON of v with testdata/file
// (rewritten first with -update) and returns the golden bytes, for the
// caller's decoding check.
func checkGoldenJSON(t *testing.T, file string, v any) []byte {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("JSON encoding mismatch (-golden +got):\n%s", diff)
	}
	return want
}

func TestTaskKey(t *testing.T) {
	a := TaskKey{FrameworkID: "fw-1", TaskID: "b"}
	b := TaskKey{FrameworkID: "fw-1", TaskID: "c"}
	c := TaskKey{FrameworkID: "fw-2", TaskID: "a"}
	if got, want := a.String(), "fw-1/b"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	keys := []TaskKey{c, b, a}
	slices.SortFunc(keys, TaskKey.Compare)
	if diff := cmp.Diff([]TaskKey{a, b, c}, keys); diff != "" {
		t.Errorf("sorted keys mismatch (-want +got):\n%s", diff)
	}
	if a.Compare(a) != 0 {
		t.Errorf("Compare(a, a) != 0")
	}
	for _, tt := range []struct {
		key     TaskKey
		wantErr string
	}{
		{a, ""},
		{TaskKey{}, "empty framework id and task id"},
		{TaskKey{TaskID: "t"}, `task key "t": empty framework id`},
		{TaskKey{FrameworkID: "f"}, `framework "f": empty task id`},
	} {
		err := tt.key.Validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%#v.Validate() = %v, want error containing %q", tt.key, err, tt.wantErr)
		}
	}
}

// sampleTask is a bridge-mode task with a named VIP and an IPv6 address.
func sampleTask() Task {
	return Task{
		Key:        TaskKey{FrameworkID: "fw-0001", TaskID: "web.1"},
		Name:       "web",
		Framework:  "marathon",
		AgentID:    "agent-S0",
		AgentIP:    netip.MustParseAddr("198.51.100.10"),
		Runtime:    RuntimeMesos,
		IPs:        []netip.Addr{netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("fd01:b::5")},
		State:      TaskRunning,
		MesosState: "TASK_RUNNING",
		Health:     HealthUnhealthy,
		Ports: []Port{
			{Name: "http", Protocol: ProtocolTCP, Port: 8080, HostPort: 31000, VIPs: []VIP{
				{Label: "/web:80", Name: "/web", Port: 80},
				{Label: "198.18.128.1:80", IP: netip.MustParseAddr("198.18.128.1"), Port: 80},
			}},
			{Name: "default", Protocol: ProtocolUDP, HostPort: 31001},
		},
	}
}

func TestTaskValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Task)
		wantErr string
	}{
		{"valid", func(*Task) {}, ""},
		{"no key", func(t *Task) { t.Key = TaskKey{} }, "empty framework id and task id"},
		{"no agent", func(t *Task) { t.AgentID = "" }, "empty agent id"},
		{"no mesos state", func(t *Task) { t.MesosState = "" }, "empty Mesos state"},
		{"bad runtime", func(t *Task) { t.Runtime = "rkt" }, `runtime "rkt"`},
		{"bad state", func(t *Task) { t.State = "RUNNING" }, `task state "RUNNING"`},
		{"bad health", func(t *Task) { t.Health = "ok" }, `health "ok"`},
		{"invalid ip", func(t *Task) { t.IPs = append(t.IPs, netip.Addr{}) }, "invalid task IP"},
		{"bad protocol", func(t *Task) { t.Ports[1].Protocol = "sctp" }, `protocol "sctp" is not tcp or udp`},
		{"no port numbers", func(t *Task) { t.Ports[1].HostPort = 0 }, "neither port nor host port set"},
		{"empty port name", func(t *Task) { t.Ports[1].Name = "" }, "empty name"},
		{"bad vip", func(t *Task) { t.Ports[0].VIPs[0].Port = 0 }, `VIP "/web:80": port 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := sampleTask()
			tt.mutate(&task)
			err := task.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "task ") {
				t.Errorf("error %q does not name the task", err)
			}
		})
	}
}

func TestTaskClone(t *testing.T) {
	orig := sampleTask()
	c := orig.Clone()
	c.IPs[0] = netip.MustParseAddr("203.0.113.1")
	c.Ports[0].VIPs[0].Name = "/other"
	c.Ports[1].Port = 1
	if diff := cmp.Diff(sampleTask(), orig, cmpAddr); diff != "" {
		t.Errorf("modifying the clone changed the original (-want +got):\n%s", diff)
	}
}

func TestTaskHostNetworked(t *testing.T) {
	agent := netip.MustParseAddr("198.51.100.10")
	tests := []struct {
		name    string
		agentIP netip.Addr
		ips     []netip.Addr
		want    bool
	}{
		{"agent ip only", agent, []netip.Addr{agent}, true},
		{"container ip", agent, []netip.Addr{netip.MustParseAddr("198.18.0.5")}, false},
		{"agent ip and more", agent, []netip.Addr{agent, netip.MustParseAddr("fd01:b::5")}, false},
		{"no ips", agent, nil, false},
		{"unknown agent ip", netip.Addr{}, []netip.Addr{{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := Task{AgentIP: tt.agentIP, IPs: tt.ips}
			if got := task.HostNetworked(); got != tt.want {
				t.Errorf("HostNetworked() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClusterValidate(t *testing.T) {
	tests := []struct {
		name    string
		v       interface{ Validate() error }
		wantErr string
	}{
		{"agent", Agent{ID: "S0", Hostname: "localhost", IP: netip.MustParseAddr("127.0.0.1"), Port: 5051}, ""},
		{"agent without ip", Agent{ID: "S0", Hostname: "a.example"}, ""},
		{"agent without id", Agent{Hostname: "h"}, `agent "": empty id`},
		{"agent without hostname", Agent{ID: "S0"}, "empty hostname"},
		{"framework", Framework{ID: "f", Name: "marathon"}, ""},
		{"framework without id", Framework{Name: "marathon"}, `framework "marathon": empty id`},
		{"master", Master{ID: "m", IP: netip.MustParseAddr("10.0.0.1"), Port: 5050}, ""},
		{"master without ip", Master{ID: "m"}, `master "m": no IP`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestTaskJSON pins the wire encoding of Task in testdata/task.json, so a
// change of field names or omission rules is a visible diff and old data keeps
// decoding. Run with -update to rewrite it.
func TestTaskJSON(t *testing.T) {
	tasks := []Task{sampleTask(), {
		Key: TaskKey{FrameworkID: "fw", TaskID: "t"}, Name: "t", Framework: "f", AgentID: "a",
		Runtime: RuntimeUnknown, State: TaskPreparing, MesosState: "TASK_STAGING",
	}}
	want := checkGoldenJSON(t, "task.json", tasks)
	var decoded []Task
	if err := json.Unmarshal(want, &decoded); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if diff := cmp.Diff(tasks, decoded, cmpAddr); diff != "" {
		t.Errorf("golden decodes differently (-want +got):\n%s", diff)
	}
}
