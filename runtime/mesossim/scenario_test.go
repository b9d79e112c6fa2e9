package mesossim_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
	"github.com/mesosnet/mesosnet/runtime/mesossim/v0/v0test"
)

// allFixtures lists every file under mesos-api/ plus the Mesos-DNS fakes.
func allFixtures(t *testing.T) []string {
	t.Helper()
	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = filepath.WalkDir(filepath.Join(dir, "mesos-api"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 39 {
		t.Fatalf("found only %d fixtures under mesos-api/", len(out))
	}
	return append(out, "mesos-dns/fake.json", "mesos-dns/dcos-1.13/fake.json")
}

// v0AgentDocuments are agent /state captures (some live under v0-master-state/).
var v0AgentDocuments = map[string]bool{
	"mesos-api/v0-master-state/dcos-net-l4lb-2016/named-base-vips.json": true,
	"mesos-api/v0-master-state/dcos-net-l4lb-2016/state2_ipv6.json":     true,
	"mesos-api/v0-master-state/dcos-net-l4lb-2016/state3.json":          true,
	"mesos-api/v0-master-state/dcos-net-l4lb-2016/state6.json":          true,
	"mesos-api/v0-master-state/dcos-net-l4lb-2016/state_ipv6.json":      true,
}

func wantFormat(rel string) mesossim.Format {
	switch {
	case strings.Contains(rel, "mesos-dns-axfr/"):
		return ""
	case strings.HasPrefix(rel, "mesos-api/v0-agent-state/"), v0AgentDocuments[rel]:
		return mesossim.FormatV0Agent
	case strings.HasPrefix(rel, "mesos-api/v0-master-state/"), strings.HasPrefix(rel, "mesos-dns/"):
		return mesossim.FormatV0Master
	case strings.HasSuffix(rel, "/vip-labels.json"), strings.HasSuffix(rel, "/dns-hostname.json"):
		return mesossim.FormatV1AgentState
	case strings.HasSuffix(rel, "/tcp-and-udp.json"), strings.HasSuffix(rel, "/unhealthy.json"):
		return mesossim.FormatV1State
	default:
		return mesossim.FormatV1Stream
	}
}

func TestLoadEveryFixture(t *testing.T) {
	for _, rel := range allFixtures(t) {
		t.Run(rel, func(t *testing.T) {
			sc, err := mesossim.LoadScenario(fixtures.Path(t, rel))
			want := wantFormat(rel)
			if want == "" {
				if !errors.Is(err, mesossim.ErrNotState) || !strings.Contains(err.Error(), "not a Mesos state") ||
					!strings.Contains(err.Error(), filepath.Base(rel)) {
					t.Fatalf("err = %v, want a \"not a Mesos state\" error naming the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadScenario: %v", err)
			}
			if sc.Format != want {
				t.Errorf("format %s, want %s", sc.Format, want)
			}
			if sc.State == nil || sc.State.GetTasks == nil || sc.State.GetAgents == nil || sc.State.GetFrameworks == nil || sc.State.GetExecutors == nil {
				t.Errorf("incomplete state %v", sc.State)
			}
			if want == mesossim.FormatV1Stream && len(sc.Events) == 0 {
				t.Errorf("stream without events")
			}
		})
	}
}

func TestV1AgentStateBecomesMasterView(t *testing.T) {
	sc := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/vip-labels.json")
	tasks := sc.State.GetTasks.GetTasks()
	if len(tasks) != 1 || tasks[0].TaskID.Value != "app.c9e19be4-6a94-11e8-bfc9-70b3d5800002" {
		t.Fatalf("launched_tasks not served as tasks: %v", tasks)
	}
	fws := sc.State.GetFrameworks.GetFrameworks()
	if len(fws) == 0 || !fws[0].Active || !fws[0].Connected {
		t.Errorf("agent frameworks not active: %v", fws)
	}
	if n := len(sc.State.GetAgents.GetAgents()); n != 1 {
		t.Errorf("%d agents, want the one synthesised from GET_AGENT", n)
	}
}

func TestScenarioErrors(t *testing.T) {
	sub := `{"type":"SUBSCRIBED","subscribed":{"get_state":{}}}`
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "load bad.json: not a Mesos state: empty input"},
		{"array", "[1,2]", "load bad.json: not a Mesos state: top-level value is not an object"},
		{"axfr-like", `{"TTL":60,"Records":{}}`, "load bad.json: not a Mesos state: no SUBSCRIBED"},
		{"broken JSON on line 2", sub + "\n{\"type\":", "load bad.json: line 2: parse JSON: unexpected EOF"},
		{"wrong type deep in an event", sub + "\n{\"type\":\"HEARTBEAT\"}\n" +
			`{"type":"TASK_ADDED","task_added":{"task":{"name":"x","task_id":{"value":5}}}}`,
			"load bad.json: line 3: $.task_added.task.task_id.value: cannot unmarshal"},
		{"unknown enum", sub + "\n" + `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"TASK_NOPE"},"state":"TASK_RUNNING"}}`,
			`load bad.json: line 2: $.task_updated.status.state: unrecognized enum TaskState value "TASK_NOPE"`},
		{"first event not SUBSCRIBED", `{"type":"HEARTBEAT"}` + "\n" + `{"type":"HEARTBEAT"}`,
			"load bad.json: line 1: first event is HEARTBEAT, want SUBSCRIBED with get_state"},
		{"second SUBSCRIBED", sub + "\n" + sub, "load bad.json: line 2: SUBSCRIBED is only allowed as the first event"},
		{"missing type", sub + "\n{}", "load bad.json: line 2: $.type: missing or UNKNOWN event type"},
		{"missing payload", sub + "\n" + `{"type":"TASK_ADDED"}`, "load bad.json: line 2: $.task_added: missing for a TASK_ADDED event"},
		{"TASK_UPDATED without state", sub + "\n" + `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"}}}}`,
			"load bad.json: line 2: $.task_updated.state: missing"},
		{"event that is not an object", sub + "\n[]", "load bad.json: line 2: $: expected an event object"},
		{"GET_STATE with bad agents", `{"type":"GET_STATE","get_state":{"get_agents":{"agents":[{"agent_info":{"hostname":7}}]}}}`,
			"load bad.json: line 1: $.get_state.get_agents.agents[0].agent_info.hostname: cannot unmarshal"},
		{"agent GET_STATE with bad tasks", `{"type":"GET_STATE","get_state":{"get_tasks":{"launched_tasks":[{"name":1}]}}}`,
			"load bad.json: line 1: $.get_state.get_tasks.launched_tasks[0].name: cannot unmarshal"},
		{"v0 with bad task", `{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING","statuses":{}}]}],"slaves":[]}`,
			"load bad.json: $.frameworks[0].tasks[0].statuses: expected array, got object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mesossim.ParseScenario("bad.json", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestV0FixturesOverHTTP loads every v0 capture and checks that GET_STATE,
// fetched over HTTP, has the same tasks (ids, names, states, agents,
// frameworks, IPs, ports), agents and frameworks as the capture, read from
// the capture's own JSON; and that /master/state serves them back.
func TestV0FixturesOverHTTP(t *testing.T) {
	for _, rel := range allFixtures(t) {
		if f := wantFormat(rel); f != mesossim.FormatV0Master && f != mesossim.FormatV0Agent {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			data := fixtures.Read(t, rel)
			_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: loadScenario(t, rel)})
			want := v0test.FromV0(t, data)
			for _, format := range []string{jsonType, protoType} {
				r := callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_STATE}, jsonType, format)
				if diff := cmp.Diff(want, v0test.FromV1(r.GetGetState())); diff != "" {
					t.Errorf("GET_STATE (%s) differs from the capture (-capture +sim):\n%s", format, diff)
				}
			}
			resp, body := post(t, http.MethodGet, ts.URL+"/master/state", nil, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != jsonType {
				t.Fatalf("/master/state: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if wantFormat(rel) == mesossim.FormatV0Master {
				if diff := cmp.Diff(want, v0test.FromV0(t, body)); diff != "" {
					t.Errorf("/master/state differs from the capture (-capture +sim):\n%s", diff)
				}
			}
		})
	}
}

func TestV0StateEndpoints(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{Advertise: "198.18.0.1:5050"})
	if _, err := sim.AddAgent(mesossim.AgentSpec{Hostname: "198.18.32.1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/master/state", "/master/state.json", "/state", "/state.json"} {
		resp, body := post(t, http.MethodGet, ts.URL+p, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"leader":"master@198.18.0.1:5050"`) ||
			!strings.Contains(string(body), `"pid":"slave(1)@198.18.32.1:5051"`) {
			t.Errorf("GET %s: HTTP %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := post(t, http.MethodPost, ts.URL+"/master/state", nil, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /master/state: HTTP %d, want 405", resp.StatusCode)
	}
}

func FuzzParseScenario(f *testing.F) {
	// Small seeds of every format: the fuzzer minimises every interesting
	// input, which is slow for the large captures.
	f.Add([]byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_agents":{"agents":[{"agent_info":{"hostname":"h","id":{"value":"m-S0"}},"active":true,"version":"1"}]}},"heartbeat_interval_seconds":15.0}}` + "\n" +
		`{"type":"TASK_ADDED","task_added":{"task":{"name":"t","task_id":{"value":"t"},"framework_id":{"value":"f"},"agent_id":{"value":"m-S0"},"state":"TASK_STAGING"}}}` + "\n" +
		`{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING"},"state":"TASK_RUNNING"}}`))
	f.Add([]byte(`{"type":"GET_STATE","get_state":{"get_tasks":{"tasks":[{"name":"t","task_id":{"value":"t"},"framework_id":{"value":"f"},"agent_id":{"value":"a"},"state":"TASK_RUNNING"}]}}}`))
	f.Add([]byte(`{"type":"GET_STATE","get_state":{"get_tasks":{"launched_tasks":[{"name":"t","task_id":{"value":"t"},"framework_id":{"value":"f"},"agent_id":{"value":"a"},"state":"TASK_RUNNING"}]},"get_frameworks":{"frameworks":[{"framework_info":{"user":"u","name":"n"}}]}}}`))
	f.Add([]byte(`{"frameworks":[{"id":"f","tasks":[{"id":"t","slave_id":"a","state":"TASK_RUNNING"}]}],"slaves":[{"id":"a","hostname":"h"}]}`))
	f.Add(fixtures.Read(f, "mesos-api/mesos-dns-axfr/dcos-net-2016/axfr.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := mesossim.ParseScenario("fuzz.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "load fuzz.json: ") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		// Whatever loads must be servable.
		sim, err := mesossim.New(mesossim.Options{Scenario: sc})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		if sim.State() == nil {
			t.Fatal("no state")
		}
	})
}
