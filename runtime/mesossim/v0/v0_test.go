package v0

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesossim/v0/v0test"
)

// v0Fixtures lists every v0 capture: master and agent documents (some agent
// documents live under v0-master-state/) and the Mesos-DNS fixtures.
func v0Fixtures(tb testing.TB) []string {
	var out []string
	out = append(out, fixtures.Glob(tb, "mesos-api/v0-master-state/*/*.json")...)
	out = append(out, fixtures.Glob(tb, "mesos-api/v0-master-state/*/*/*.json")...)
	out = append(out, fixtures.Glob(tb, "mesos-api/v0-agent-state/*/*.json")...)
	out = append(out, "mesos-dns/fake.json", "mesos-dns/dcos-1.13/fake.json")
	return out
}

func TestDecodeEveryFixture(t *testing.T) {
	for _, rel := range v0Fixtures(t) {
		t.Run(rel, func(t *testing.T) {
			data := fixtures.Read(t, rel)
			st, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := v0test.FromV0(t, data)
			if diff := cmp.Diff(want, v0test.FromV1(st.GetState)); diff != "" {
				t.Errorf("v1 conversion differs from the capture (-v0 +v1):\n%s", diff)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(data, &keys); err != nil {
				t.Fatal(err)
			}
			if got := Detect(keys); got != st.Kind {
				t.Errorf("Detect = %v, Decode kind %v", got, st.Kind)
			}
			if st.Kind == KindMaster && (st.Master == nil || st.Master.ID == "") {
				t.Errorf("master document without master identity: %+v", st.Master)
			}
		})
	}
}

func TestRenderRoundTrip(t *testing.T) {
	for _, rel := range v0Fixtures(t) {
		t.Run(rel, func(t *testing.T) {
			st, err := Decode(fixtures.Read(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			pid := "master@198.18.0.1:5050"
			info := mesos.MasterInfo{ID: "m1", PID: &pid, Hostname: &[]string{"sim"}[0], Version: &[]string{"1.11.0"}[0]}
			out, err := Render(Master{Info: info, Leader: &info, StartTime: 1, ElectedTime: 2}, st.GetState)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if !json.Valid(out) {
				t.Fatalf("Render produced invalid JSON")
			}
			back, err := Decode(out)
			if err != nil {
				t.Fatalf("Decode(Render): %v", err)
			}
			if back.Kind != KindMaster || back.Leader != pid || back.Master.ID != "m1" {
				t.Errorf("rendered identity: kind %v leader %q master %+v", back.Kind, back.Leader, back.Master)
			}
			// An agent document becomes a master view of one agent, so
			// compare against the original conversion, not the capture.
			if diff := cmp.Diff(v0test.FromV1(st.GetState), v0test.FromV1(back.GetState)); diff != "" {
				t.Errorf("render/decode round trip lost data (-before +after):\n%s", diff)
			}
			if st.Kind == KindMaster {
				if diff := cmp.Diff(v0test.FromV0(t, fixtures.Read(t, rel)), v0test.FromV0(t, out)); diff != "" {
					t.Errorf("rendered document differs from the capture (-capture +rendered):\n%s", diff)
				}
			}
		})
	}
}

// mesosDNSState mirrors the types Mesos-DNS decodes /master/state into
// (records/state/state.go); its PIDs must parse as name@ip:port.
type mesosDNSState struct {
	Frameworks []struct {
		Tasks []struct {
			FrameworkID string `json:"framework_id"`
			ID          string `json:"id"`
			Name        string `json:"name"`
			SlaveID     string `json:"slave_id"`
			State       string `json:"state"`
			Statuses    []struct {
				Timestamp       float64 `json:"timestamp"`
				State           string  `json:"state"`
				ContainerStatus struct {
					NetworkInfos []struct {
						IPAddresses []struct {
							IPAddress string `json:"ip_address"`
						} `json:"ip_addresses"`
					} `json:"network_infos"`
				} `json:"container_status"`
			} `json:"statuses"`
			Resources struct {
				PortRanges string `json:"ports"`
			} `json:"resources"`
			DiscoveryInfo struct {
				Name  string `json:"name"`
				Ports struct {
					DiscoveryPorts []struct {
						Protocol string `json:"protocol"`
						Number   int    `json:"number"`
						Name     string `json:"name"`
					} `json:"ports"`
				} `json:"ports"`
			} `json:"discovery"`
		} `json:"tasks"`
		PID      *string `json:"pid"`
		Name     string  `json:"name"`
		Hostname string  `json:"hostname"`
	} `json:"frameworks"`
	Slaves []struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
		PID      string `json:"pid"`
	} `json:"slaves"`
	Leader     string `json:"leader"`
	LeaderInfo struct {
		Address struct {
			IP   string `json:"ip"`
			Port int    `json:"port"`
		} `json:"address"`
		Hostname string `json:"hostname"`
		ID       string `json:"id"`
		IP       uint32 `json:"ip"`
		Port     int    `json:"port"`
	} `json:"leader_info"`
}

func TestRenderReadableByMesosDNS(t *testing.T) {
	st, err := Decode(fixtures.Read(t, "mesos-api/v0-master-state/dcos-net-dns-2016/state3.json"))
	if err != nil {
		t.Fatal(err)
	}
	pid := "master@198.18.0.1:5050"
	ip := "198.18.0.1"
	port := uint32(5050)
	info := mesos.MasterInfo{ID: "m1", PID: &pid, IP: PackIPv4(netip.MustParseAddr(ip)), Port: &port,
		Address: &mesos.Address{IP: &ip, Port: 5050}}
	out, err := Render(Master{Info: info, Leader: &info}, st.GetState)
	if err != nil {
		t.Fatal(err)
	}
	var got mesosDNSState
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("Mesos-DNS cannot decode the rendered state: %v", err)
	}
	for _, p := range append([]string{got.Leader}, func() []string {
		var ps []string
		for _, s := range got.Slaves {
			ps = append(ps, s.PID)
		}
		return ps
	}()...) {
		if _, _, ok := ParsePID(p); !ok {
			t.Errorf("pid %q does not parse as name@ip:port", p)
		}
	}
	if got.LeaderInfo.IP != 16782022 || got.LeaderInfo.Address.IP != ip || got.LeaderInfo.Port != 5050 {
		t.Errorf("leader_info = %+v", got.LeaderInfo)
	}
	if len(got.Frameworks) == 0 || len(got.Frameworks[0].Tasks) != 2 {
		t.Fatalf("want 2 running marathon tasks, got %+v", got.Frameworks)
	}
	task := got.Frameworks[0].Tasks[0]
	if task.Resources.PortRanges != "[21464-21464]" || task.DiscoveryInfo.Ports.DiscoveryPorts[0].Number != 21464 {
		t.Errorf("task ports: %+v", task)
	}
}

func TestPackIPv4(t *testing.T) {
	for ip, want := range map[string]uint32{"127.0.1.1": 16842879, "198.18.0.1": 16782022, "::1": 0} {
		if got := PackIPv4(netip.MustParseAddr(ip)); got != want {
			t.Errorf("PackIPv4(%s) = %d, want %d", ip, got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		notState        bool
	}{
		{"array", `[1,2]`, "top-level value is array", true},
		{"axfr", `{"TTL":60,"Records":{}}`, "no frameworks", true},
		{"not json", `{"frameworks":`, "parse JSON", false},
		{"trailing", `{"frameworks":[],"slaves":[]} {}`, "unexpected data", false},
		{"task id type", `{"frameworks":[{"id":"f","tasks":[{"id":5}]}],"slaves":[]}`,
			"$.frameworks[0].tasks[0].id: expected string, got number", false},
		{"task state", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_NOPE"}]}],"slaves":[]}`,
			`$.frameworks[0].tasks[0].state: unknown value "TASK_NOPE"`, false},
		{"missing state", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a"}]}],"slaves":[]}`,
			"$.frameworks[0].tasks[0].state: missing", false},
		{"timestamp", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING","statuses":[{"state":"TASK_RUNNING","timestamp":"x"}]}]}],"slaves":[]}`,
			"$.frameworks[0].tasks[0].statuses[0].timestamp: expected number, got string", false},
		{"ports", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING","resources":{"ports":"[9-1]"}}]}],"slaves":[]}`,
			`$.frameworks[0].tasks[0].resources.ports: invalid range "9-1"`, false},
		{"slaves type", `{"frameworks":[],"slaves":{}}`, "$.slaves: expected array, got object", false},
		{"slave hostname", `{"frameworks":[],"slaves":[{"id":"a"}]}`, "$.slaves[0].hostname: missing", false},
		{"port range", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING","container":{"docker":{"port_mappings":[{"host_port":70000}]}}}]}],"slaves":[]}`,
			"$.frameworks[0].tasks[0].container.docker.port_mappings[0].host_port: expected integer in [0, 65535], got 70000", false},
		{"agent executors", `{"id":"a","hostname":"h","pid":"slave(1)@198.18.0.2:5051","frameworks":[{"id":"f","executors":[{"tasks":[{"id":"t","state":7}]}]}]}`,
			"$.frameworks[0].executors[0].tasks[0].state: expected string, got number", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if got := errors.Is(err, ErrNotState); got != tc.notState {
				t.Errorf("errors.Is(err, ErrNotState) = %v, want %v", got, tc.notState)
			}
		})
	}
}

func TestDecodeAxfrFixturesAreNotState(t *testing.T) {
	for _, rel := range fixtures.Glob(t, "mesos-api/mesos-dns-axfr/*/*.json") {
		if _, err := Decode(fixtures.Read(t, rel)); !errors.Is(err, ErrNotState) {
			t.Errorf("%s: err = %v, want ErrNotState", rel, err)
		}
	}
}

func TestDecodeDetails(t *testing.T) {
	doc := `{"frameworks":[{"id":"f","name":"marathon","role":"slave_public","capabilities":["TASK_KILLING_STATE","FUTURE_THING"],
	  "tasks":[{"id":"t","name":"web","slave_id":"a","state":"TASK_RUNNING","role":"slave_public",
	    "resources":{"cpus":0.5,"disk":0,"gpus":0,"mem":64,"ports":"[31000-31001, 31005-31005]"},
	    "labels":[{"key":"VIP_PORT0","value":"tcp://1.2.3.4:80"}],
	    "statuses":[{"state":"TASK_RUNNING","timestamp":1458625191.95785,"healthy":true,
	      "container_status":{"network_infos":[{"ip_address":"198.19.0.5","ip_addresses":[{"ip_address":"198.19.0.6"}],"labels":[]}]}}],
	    "health_check":{"http":{"port":80,"path":"/"},"interval_seconds":5}}]}],
	  "slaves":[{"id":"a","hostname":"h","pid":"slave(1)@198.18.0.2:5051","attributes":{"rack":"r1","zone":3,"ports":"[1-2]"},
	    "resources":{"cpus":4,"mem":1024,"ports":"[31000-32000]"},"registered_time":1458625021.5}],
	  "leader":"master@198.18.0.1:5050","pid":"master@198.18.0.1:5050","id":"m","hostname":"mh","version":"1.2.0"}`
	st, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	task := st.GetState.GetTasks.Tasks[0]
	var gotRes []string
	for _, r := range task.Resources {
		gotRes = append(gotRes, r.Name+"="+r.String())
	}
	if len(task.Resources) != 3 || task.Resources[0].Name != "cpus" || task.Resources[1].Name != "mem" || task.Resources[2].Name != "ports" {
		t.Errorf("resources (zero scalars dropped, cpus mem ports order): %v", gotRes)
	}
	if got := task.Resources[2].GetAllocationInfo().GetRole(); got != "slave_public" {
		t.Errorf("allocation role %q", got)
	}
	if got := FormatRanges(task.Resources[2].Ranges); got != "[31000-31001, 31005-31005]" {
		t.Errorf("ranges %s", got)
	}
	ips := task.Statuses[0].ContainerStatus.NetworkInfos[0].IPAddresses
	if len(ips) != 2 || ips[0].GetIPAddress() != "198.19.0.6" || ips[1].GetIPAddress() != "198.19.0.5" {
		t.Errorf("ip_addresses with legacy ip_address: %+v", ips)
	}
	if !task.Statuses[0].GetHealthy() || task.Statuses[0].GetTimestamp() != 1458625191.95785 {
		t.Errorf("status %+v", task.Statuses[0])
	}
	if hc := task.HealthCheck; hc == nil || hc.Type != mesos.HealthCheck_HTTP || hc.HTTP.Port != 80 || hc.GetIntervalSeconds() != 5 {
		t.Errorf("health check %+v", hc)
	}
	if l := task.Labels.Labels[0]; l.Key != "VIP_PORT0" || l.GetValue() != "tcp://1.2.3.4:80" {
		t.Errorf("labels %+v", task.Labels)
	}
	fw := st.GetState.GetFrameworks.Frameworks[0]
	if len(fw.FrameworkInfo.Capabilities) != 1 || !fw.Active || !fw.Connected {
		t.Errorf("framework %+v", fw)
	}
	agent := st.GetState.GetAgents.Agents[0]
	if agent.AgentInfo.GetPort() != 5051 || agent.GetPID() != "slave(1)@198.18.0.2:5051" || agent.RegisteredTime.Nanoseconds != 1458625021500000000 {
		t.Errorf("agent %+v", agent)
	}
	var attrs []string
	for _, a := range agent.AgentInfo.Attributes {
		attrs = append(attrs, a.Name+":"+a.Type.String())
	}
	if diff := cmp.Diff([]string{"ports:RANGES", "rack:TEXT", "zone:SCALAR"}, attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if st.Master.IP != 16782022 || st.Master.GetPort() != 5050 || st.Master.GetHostname() != "mh" || st.Leader != "master@198.18.0.1:5050" {
		t.Errorf("master %+v leader %s", st.Master, st.Leader)
	}
}

func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer minimises every interesting input, which is
	// slow for the large captures.
	f.Add(fixtures.Read(f, "mesos-api/v0-master-state/dcos-net-l4lb-2016/empty.json"))
	f.Add([]byte(`{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING","resources":{"ports":"[1-2]","cpus":0.5},"labels":[{"key":"VIP_PORT0","value":"tcp://1.2.3.4:80"}],` +
		`"statuses":[{"state":"TASK_RUNNING","timestamp":1.5,"healthy":true,"container_status":{"network_infos":[{"ip_address":"198.19.0.1","ip_addresses":[{"protocol":"IPv4","ip_address":"198.19.0.2"}]}]}}],` +
		`"discovery":{"name":"web","ports":{"ports":[{"number":80,"protocol":"tcp","labels":{"labels":[{"key":"VIP_0","value":"/web:80"}]}}]}},` +
		`"container":{"type":"DOCKER","docker":{"image":"i","network":"BRIDGE","port_mappings":[{"host_port":1,"container_port":80,"protocol":"tcp"}]}}}]}],` +
		`"slaves":[{"id":"a","hostname":"h","pid":"slave(1)@198.18.0.2:5051","attributes":{"rack":"r"},"resources":{"ports":"[1-100]"}}],"leader":"master@198.18.0.1:5050"}`))
	f.Add([]byte(`{"id":"a","hostname":"h","pid":"slave(1)@198.18.0.2:5051","frameworks":[{"id":"f","executors":[{"tasks":[{"id":"t","state":"TASK_RUNNING"}],"completed_tasks":[{"id":"u","state":"TASK_FINISHED"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Render(Master{}, st.GetState)
		if err != nil {
			t.Fatalf("Render of decoded state: %v", err)
		}
		if _, err := Decode(out); err != nil && json.Valid(out) {
			t.Fatalf("rendered state does not decode: %v\n%s", err, out)
		}
	})
}
