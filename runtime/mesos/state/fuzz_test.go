package state_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"testing"

	"github.com/mesos/mesos-go/api/v1/lib/master"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

// checkSnapshot fails unless snap is internally consistent.
func checkSnapshot(t *testing.T, snap *state.Snapshot) {
	t.Helper()
	tasks := snap.Tasks()
	if len(tasks) != snap.TaskCount() {
		t.Fatalf("TaskCount %d, Tasks %d", snap.TaskCount(), len(tasks))
	}
	if !slices.IsSortedFunc(tasks, func(a, b v1.Task) int { return a.Key.Compare(b.Key) }) {
		t.Fatal("tasks not sorted")
	}
	for task, raw := range snap.All() {
		if raw.TaskID.Value != task.Key.TaskID || raw.FrameworkID.Value != task.Key.FrameworkID {
			t.Fatalf("raw task %s/%s under key %s", raw.FrameworkID.Value, raw.TaskID.Value, task.Key)
		}
		if len(raw.Statuses) > state.MaxStatuses {
			t.Fatalf("task %s keeps %d statuses", task.Key, len(raw.Statuses))
		}
		if task.State == v1.TaskTerminal {
			t.Fatalf("terminal task %s published", task.Key)
		}
	}
}

// FuzzApplyEvent decodes arbitrary JSON as an operator API event and applies
// it to a store holding the end state of operator-api.json: it must never
// panic and must leave a consistent snapshot.
func FuzzApplyEvent(f *testing.F) {
	for _, rel := range fixtures.Glob(f, path.Join(statetest.Dir, "*.json")) {
		body := fixtures.Read(f, rel)
		if !statetest.IsStream(body) {
			continue
		}
		for line := range bytes.Lines(body) {
			f.Add(bytes.TrimSpace(line))
		}
	}
	for _, s := range []string{
		`{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"30257977-0153-499d-a5b0-35afd842ef4d-0001"},"status":{"task_id":{"value":"ucr-on-host.1755bacf-2630-11e8-af52-70b3d5800001"},"state":"TASK_RUNNING","timestamp":1e300},"state":"TASK_KILLING"}}`,
		`{"type":"TASK_ADDED","task_added":{"task":{"name":"x","task_id":{"value":"t"},"framework_id":{"value":"30257977-0153-499d-a5b0-35afd842ef4d-0001"},"agent_id":{"value":"30257977-0153-499d-a5b0-35afd842ef4d-S0"},"state":"TASK_RUNNING","labels":{"labels":[{"key":"VIP_PORT7","value":"tcp://a:1"}]},"resources":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":0,"end":18446744073709551615}]}}]}}}`,
		`{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"30257977-0153-499d-a5b0-35afd842ef4d-S1"}}}`,
		`{"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info":{"user":"","name":"","id":{"value":"30257977-0153-499d-a5b0-35afd842ef4d-0001"}}}}`,
		`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_agents":{"recovered_agents":[{"hostname":"h","id":{"value":"r"}}]}}}}`,
		`{"type":"HEARTBEAT"}`, `{}`, `{"type":"TASK_UPDATED"}`,
	} {
		f.Add([]byte(s))
	}
	events := statetest.Events(f, statetest.Rel("operator-api.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev master.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return
		}
		s := state.New(state.Options{Resolver: statetest.FixtureResolver(), Clock: statetest.NewClock(epoch)})
		if err := s.Subscribed(events[0].Subscribed, nil); err != nil {
			t.Fatal(err)
		}
		for _, e := range events[1:] {
			if err := s.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		before := s.Current()
		err := s.Apply(&ev)
		if err != nil && s.Current().Revision() != before.Revision() {
			t.Fatalf("failed event (%v) published revision %d", err, s.Current().Revision())
		}
		checkSnapshot(t, s.Current())
		checkSnapshot(t, before)
	})
}

// FuzzDecodeGetState feeds arbitrary bodies to DecodeGetState and loads
// whatever decodes: neither may panic.
func FuzzDecodeGetState(f *testing.F) {
	for _, rel := range fixtures.Glob(f, path.Join(statetest.Dir, "*.json")) {
		body := fixtures.Read(f, rel)
		if !statetest.IsStream(body) {
			f.Add(body)
		}
	}
	f.Add([]byte(`{"type":"GET_STATE","get_state":{"get_tasks":{"launched_tasks":[]},"get_agents":{"agents":[{"agent_info":{"hostname":"x"}}]}}}`))
	f.Add([]byte(`{"type":"GET_STATE","get_state":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := state.DecodeGetState(data)
		if err != nil {
			return
		}
		s := state.New(state.Options{Resolver: statetest.FixtureResolver(), Clock: statetest.NewClock(epoch)})
		if err := s.LoadState(gs, nil); err != nil {
			t.Fatal(fmt.Errorf("load decoded state: %w", err))
		}
		checkSnapshot(t, s.Current())
	})
}
