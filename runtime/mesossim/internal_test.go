package mesossim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		media  string
		want   bool
	}{
		{nil, mediaJSON, true},
		{[]string{"*/*"}, mediaProtobuf, true},
		{[]string{"application/*"}, mediaRecordIO, true},
		{[]string{"text/*"}, mediaJSON, false},
		{[]string{"application/json"}, mediaProtobuf, false},
		{[]string{"application/x-protobuf, application/json;q=0.5"}, mediaJSON, true},
		{[]string{"application/json;q=0, */*"}, mediaJSON, false},
		{[]string{"application/json;q=0, */*"}, mediaProtobuf, true},
		{[]string{"application/json", "application/recordio"}, mediaJSON, false},
		{[]string{"application/json", "application/recordio"}, mediaRecordIO, true},
		{[]string{"garbage;;;"}, mediaJSON, false},
	} {
		h := http.Header{}
		for _, v := range tc.accept {
			h.Add("Accept", v)
		}
		if got := accepts(h, "Accept", tc.media); got != tc.want {
			t.Errorf("Accept %q admits %s = %v, want %v", tc.accept, tc.media, got, tc.want)
		}
	}
}

func TestJSONPath(t *testing.T) {
	doc := []byte(`{"a":{"b":[1,{"c":"x"},[2,3]]},"d":true}`)
	for _, tc := range []struct {
		off  int
		want string
	}{
		{0, "$"},
		{5, "$.a"},
		{12, "$.a.b[0]"},
		{19, "$.a.b[1].c"},
		{24, "$.a.b[2]"},
		{28, "$.a.b[2][1]"},
		{30, "$.a.b[2][1]"},
		{38, "$.d"},
	} {
		if got := jsonPath(doc, tc.off); got != tc.want {
			t.Errorf("jsonPath at %d (%q) = %s, want %s", tc.off, doc[:tc.off], got, tc.want)
		}
	}
}

func task(fw, id string, state mesos.TaskState) mesos.Task {
	return mesos.Task{Name: id, TaskID: mesos.TaskID{Value: id}, FrameworkID: mesos.FrameworkID{Value: fw},
		AgentID: mesos.AgentID{Value: "a"}, State: state.Enum()}
}

func updated(fw, id string, state mesos.TaskState) *master.Event {
	return &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: fw},
		Status:      mesos.TaskStatus{TaskID: mesos.TaskID{Value: id}, State: state.Enum(), Data: []byte("dropped")},
		State:       state.Enum(),
	}}
}

func summary(c *cluster) []string {
	var out []string
	st := c.state()
	for _, t := range st.GetTasks.Tasks {
		out = append(out, fmt.Sprintf("task %s/%s %s statuses=%d", t.FrameworkID.Value, t.TaskID.Value, t.GetState(), len(t.Statuses)))
	}
	for _, t := range st.GetTasks.UnreachableTasks {
		out = append(out, fmt.Sprintf("unreachable %s/%s", t.FrameworkID.Value, t.TaskID.Value))
	}
	for _, t := range st.GetTasks.CompletedTasks {
		out = append(out, fmt.Sprintf("completed %s/%s %s", t.FrameworkID.Value, t.TaskID.Value, t.GetState()))
	}
	for _, a := range st.GetAgents.Agents {
		out = append(out, "agent "+a.AgentInfo.GetID().GetValue())
	}
	for _, a := range st.GetAgents.RecoveredAgents {
		out = append(out, "recovered "+a.GetID().GetValue())
	}
	for _, f := range st.GetFrameworks.Frameworks {
		out = append(out, "framework "+f.FrameworkInfo.GetID().GetValue())
	}
	for _, f := range st.GetFrameworks.CompletedFrameworks {
		out = append(out, fmt.Sprintf("completed-framework %s active=%v", f.FrameworkInfo.GetID().GetValue(), f.Active))
	}
	return out
}

func TestClusterApply(t *testing.T) {
	fw := func(id string) master.Response_GetFrameworks_Framework {
		return master.Response_GetFrameworks_Framework{FrameworkInfo: mesos.FrameworkInfo{Name: id, ID: &mesos.FrameworkID{Value: id}}, Active: true}
	}
	agent := func(id string) master.Response_GetAgents_Agent {
		return master.Response_GetAgents_Agent{AgentInfo: mesos.AgentInfo{Hostname: id, ID: &mesos.AgentID{Value: id}}}
	}
	c := newCluster(&master.Response_GetState{GetAgents: &master.Response_GetAgents{
		RecoveredAgents: []mesos.AgentInfo{{Hostname: "a", ID: &mesos.AgentID{Value: "a"}}}}})
	events := []*master.Event{
		{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: agent("a")}},
		{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: agent("b")}},
		{Type: master.Event_FRAMEWORK_ADDED, FrameworkAdded: &master.Event_FrameworkAdded{Framework: fw("f1")}},
		{Type: master.Event_FRAMEWORK_UPDATED, FrameworkUpdated: &master.Event_FrameworkUpdated{Framework: fw("f2")}},
		{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("f1", "t1", mesos.TASK_STAGING)}},
		{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("f1", "t2", mesos.TASK_STAGING)}},
		{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("f2", "t1", mesos.TASK_STAGING)}},
		{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("f2", "old", mesos.TASK_FAILED)}},
		updated("f1", "t1", mesos.TASK_RUNNING),
		updated("f1", "t2", mesos.TASK_UNREACHABLE),
		updated("f1", "t1", mesos.TASK_FINISHED),
		updated("f1", "t2", mesos.TASK_RUNNING),
		updated("f9", "t1", mesos.TASK_RUNNING), // unknown task: ignored
		{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{FrameworkInfo: fw("f2").FrameworkInfo}},
		{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: "b"}}},
		{Type: master.Event_HEARTBEAT},
	}
	for _, ev := range events {
		c.apply(ev, time.Unix(1, 0))
	}
	want := []string{
		"task f1/t2 TASK_RUNNING statuses=2",
		"completed f2/old TASK_FAILED",
		"completed f1/t1 TASK_FINISHED",
		"completed f2/t1 TASK_STAGING",
		"agent a",
		"framework f1",
		"completed-framework f2 active=false",
	}
	if diff := cmp.Diff(want, summary(c)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tk := range c.state().GetTasks.CompletedTasks {
		for _, s := range tk.Statuses {
			if s.Data != nil {
				t.Errorf("status data kept for %s", tk.TaskID.Value)
			}
		}
	}
	if !c.apply(updated("f1", "t2", mesos.TASK_KILLED), time.Unix(2, 0)) || c.apply(updated("f1", "t2", mesos.TASK_KILLED), time.Unix(2, 0)) {
		t.Error("apply should report known and unknown tasks")
	}
}

func TestClusterCapsCompletedTasks(t *testing.T) {
	c := newCluster(nil)
	for i := range maxCompletedTasksPerFramework + 10 {
		c.apply(&master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("f", fmt.Sprint(i), mesos.TASK_STAGING)}}, time.Time{})
		c.apply(updated("f", fmt.Sprint(i), mesos.TASK_FINISHED), time.Time{})
	}
	c.apply(&master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: task("g", "x", mesos.TASK_STAGING)}}, time.Time{})
	c.apply(updated("g", "x", mesos.TASK_FINISHED), time.Time{})
	done := c.state().GetTasks.CompletedTasks
	if len(done) != maxCompletedTasksPerFramework+1 || done[0].TaskID.Value != "10" || done[len(done)-1].FrameworkID.Value != "g" {
		t.Errorf("%d completed tasks, first %s, last %s", len(done), done[0].TaskID.Value, done[len(done)-1].TaskID.Value)
	}
}

func TestParseLeader(t *testing.T) {
	for in, want := range map[string]string{
		"http://198.18.0.5:5050": "198.18.0.5:5050",
		"198.18.0.5:5051":        "198.18.0.5:5051",
		"//master.example":       "master.example:5050",
		"master.example":         "master.example:5050",
		"http://[fd00::1]:5050":  "[fd00::1]:5050",
	} {
		if got, err := parseLeader(in); err != nil || got != want {
			t.Errorf("parseLeader(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
