package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mesos/mesos-go/api/v1/lib/agent"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// agentTaskLists are the get_tasks lists only an agent's GET_STATE has.
var agentTaskLists = []string{"launched_tasks", "queued_tasks", "terminated_tasks"}

// DecodeGetState decodes a JSON GET_STATE response body of the operator API,
// from a master or from an agent, into the master form:
//
//   - master: {"type":"GET_STATE","get_state":{"get_tasks":{"tasks":[...]},
//     "get_frameworks":{...},"get_agents":{...}}};
//   - agent: tasks under get_tasks.launched_tasks (the running ones; queued,
//     terminated and completed tasks are not used) and frameworks as bare
//     framework_info, which are taken as active; an agent has no get_agents,
//     but one synthesised from GET_AGENT (as dcos-net's fixtures do) is
//     kept.
//
// An agent-style body is recognised by get_tasks holding one of
// launched_tasks, queued_tasks or terminated_tasks. Errors name what is wrong.
func DecodeGetState(body []byte) (*master.Response_GetState, error) {
	var probe struct {
		Type     string `json:"type"`
		GetState *struct {
			GetTasks map[string]json.RawMessage `json:"get_tasks"`
		} `json:"get_state"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("decode GET_STATE response: %w", err)
	}
	if probe.Type != master.Response_GET_STATE.String() {
		return nil, fmt.Errorf("decode GET_STATE response: type %q, want GET_STATE", probe.Type)
	}
	if probe.GetState == nil {
		return nil, errors.New("decode GET_STATE response: no get_state")
	}

	var resp master.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decode GET_STATE response: %w", err)
	}
	gs := resp.GetState
	if gs == nil {
		gs = &master.Response_GetState{}
	}
	agentStyle := false
	for _, k := range agentTaskLists {
		if _, ok := probe.GetState.GetTasks[k]; ok {
			agentStyle = true
		}
	}
	if !agentStyle {
		return gs, nil
	}

	var ar agent.Response
	if err := json.Unmarshal(body, &ar); err != nil {
		return nil, fmt.Errorf("decode agent GET_STATE response: %w", err)
	}
	as := ar.GetGetState()
	out := &master.Response_GetState{
		GetTasks:  &master.Response_GetTasks{Tasks: as.GetGetTasks().GetLaunchedTasks()},
		GetAgents: gs.GetAgents,
	}
	if fws := as.GetGetFrameworks().GetFrameworks(); len(fws) > 0 {
		out.GetFrameworks = &master.Response_GetFrameworks{}
		for _, f := range fws {
			out.GetFrameworks.Frameworks = append(out.GetFrameworks.Frameworks, master.Response_GetFrameworks_Framework{
				FrameworkInfo: f.FrameworkInfo,
				Active:        true,
				Connected:     true,
			})
		}
	}
	return out, nil
}
