package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/ctl"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSim(t *testing.T, fixture string) string {
	t.Helper()
	sc, err := mesossim.LoadScenario(fixtures.Path(t, "mesos-api/v1-operator-api/dcos-net/"+fixture))
	if err != nil {
		t.Fatalf("load %s: %v", fixture, err)
	}
	_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, HeartbeatInterval: 50 * time.Millisecond})
	return ts.URL
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = ctl.Main(t.Context(), args, &ctl.Env{Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestMesosTasksJSON(t *testing.T) {
	url := startSim(t, "tcp-and-udp.json")
	code, out, errOut := run(t, "mesos", "tasks", "--masters", url, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var got []v1.Task
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode output: %v\n%s", err, out)
	}
	if diff := cmp.Diff(statetest.Expected("tcp-and-udp.json"), got, statetest.CmpOptions()...); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestMesosTasksTable(t *testing.T) {
	url := startSim(t, "unhealthy.json")
	code, out, errOut := run(t, "mesos", "tasks", "--masters", url)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	want := statetest.Expected("unhealthy.json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("want a header and %d rows, got:\n%s", len(want), out)
	}
	if !strings.HasPrefix(lines[0], "FRAMEWORK") || !strings.Contains(lines[0], "TASK ID") {
		t.Errorf("header %q", lines[0])
	}
	for i, task := range want {
		for _, field := range []string{task.Name, task.MesosState, "unhealthy", task.Key.TaskID} {
			if !strings.Contains(lines[i+1], field) {
				t.Errorf("row %q lacks %q", lines[i+1], field)
			}
		}
	}
}

func TestMesosLeaderAndAgents(t *testing.T) {
	url := startSim(t, "operator-api.json")
	code, out, errOut := run(t, "mesos", "agents", "--masters", url, "-o", "json")
	if code != 0 {
		t.Fatalf("agents: exit %d, stderr %s", code, errOut)
	}
	var agents []v1.Agent
	if err := json.Unmarshal([]byte(out), &agents); err != nil {
		t.Fatalf("decode agents: %v", err)
	}
	var ips []string
	for _, a := range agents {
		ips = append(ips, a.IP.String())
	}
	if diff := cmp.Diff([]string{"172.17.0.4", "172.17.0.3"}, ips); diff != "" {
		t.Errorf("agent IPs (-want +got):\n%s", diff)
	}
	code, out, errOut = run(t, "mesos", "leader", "--masters", url)
	if code != 0 {
		t.Fatalf("leader: exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "HOSTNAME") || !strings.Contains(out, strings.TrimPrefix(url, "http://")) {
		t.Errorf("leader output lacks header or leader URL %s:\n%s", url, out)
	}
}

func TestMesosTasksWatch(t *testing.T) {
	url := startSim(t, "operator-api.json")
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- ctl.Main(ctx, []string{"mesos", "tasks", "--watch", "--masters", url, "-o", "json"}, &ctl.Env{Stdout: &out, Stderr: &errb})
	}()
	want := len(statetest.Expected("operator-api.json"))
	running := func() map[string]bool {
		seen := map[string]bool{}
		dec := json.NewDecoder(strings.NewReader(out.String()))
		for {
			var ev struct {
				Event string
				Task  *v1.Task
				Key   v1.TaskKey
			}
			if dec.Decode(&ev) != nil {
				return seen
			}
			seen[ev.Key.TaskID] = ev.Task != nil && ev.Task.State == v1.TaskRunning
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, r := range running() {
			if r {
				n++
			}
		}
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("saw %d of %d tasks running; output:\n%s\nstderr:\n%s", n, want, out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if !strings.Contains(out.String(), `"event": "ADDED"`) || !strings.Contains(out.String(), `"event": "MODIFIED"`) {
		t.Errorf("watch output lacks ADDED or MODIFIED events:\n%s", out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch exited %d after cancel, stderr %s", code, errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"bad output", []string{"mesos", "tasks", "-o", "yaml"}, 2, `output format "yaml": want table or json`},
		{"extra argument", []string{"version", "now"}, 2, `unexpected arguments`},
		{"missing token file", []string{"mesos", "tasks", "--token-file", "/nonexistent/token"}, 1, "--token-file"},
		{"no master", []string{"mesos", "tasks", "--masters", "http://127.0.0.1:1", "--timeout", "2s"}, 1, "127.0.0.1:1"},
		{"help", []string{"help"}, 0, "Commands:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d stderr %q; want exit %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || out != "mesosnetctl "+ctl.Version+"\n" {
		t.Errorf("exit %d output %q", code, out)
	}
}
