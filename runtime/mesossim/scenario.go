package mesossim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/agent"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesossim/v0"
)

// Format names the kind of file a Scenario was loaded from.
type Format string

// Scenario file formats, detected from the content.
const (
	// FormatV1Stream is a SUBSCRIBE stream without its RecordIO framing:
	// one JSON event per line, SUBSCRIBED first.
	FormatV1Stream Format = "v1-stream"
	// FormatV1State is a master GET_STATE response.
	FormatV1State Format = "v1-get-state"
	// FormatV1AgentState is an agent GET_STATE response (tasks under
	// get_tasks.launched_tasks), possibly with get_agents added.
	FormatV1AgentState Format = "v1-agent-get-state"
	// FormatV0Master is a v0 /master/state document.
	FormatV0Master Format = "v0-master"
	// FormatV0Agent is a v0 agent /state document.
	FormatV0Agent Format = "v0-agent"
	// FormatSynthetic marks a Scenario built by Synthetic.
	FormatSynthetic Format = "synthetic"
)

// Scenario is what the simulator starts from: an initial cluster state and
// events to replay once the first subscriber is listening.
type Scenario struct {
	// Format is the kind of input the scenario came from.
	Format Format
	// State is the initial GET_STATE.
	State *master.Response_GetState
	// Events are emitted in order after the first subscriber received
	// SUBSCRIBED and the first HEARTBEAT (v1 streams only).
	Events []master.Event
	// MasterID is the captured master's ID, when the input names it (v0
	// master documents) or implies it (agent IDs are "<master id>-S<n>").
	MasterID string
	// HeartbeatInterval is the captured SUBSCRIBED heartbeat interval, 0
	// when the input has none.
	HeartbeatInterval time.Duration
}

// ErrNotState is returned (wrapped) for JSON input that is not any kind of
// Mesos state, such as a Mesos-DNS /v1/axfr document.
var ErrNotState = errors.New("not a Mesos state")

// LoadScenario reads and parses a scenario file (see ParseScenario).
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return ParseScenario(path, data)
}

// ParseScenario detects the format of data and converts it: a v1 SUBSCRIBE
// stream (one event per line), a v1 master or agent GET_STATE response, or a
// v0 master or agent state document. name is used in errors, which also
// carry the line and JSON path of the offending value.
func ParseScenario(name string, data []byte) (*Scenario, error) {
	sc, err := parseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	sc.MasterID = deriveMasterID(sc)
	return sc, nil
}

type rawValue struct {
	line int
	data json.RawMessage
}

func parseScenario(data []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var values []rawValue
	for {
		start := skipSpace(data, int(dec.InputOffset()))
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: parse JSON: %w", lineAt(data, start), err)
		}
		values = append(values, rawValue{line: lineAt(data, start), data: raw})
	}
	switch len(values) {
	case 0:
		return nil, fmt.Errorf("%w: empty input", ErrNotState)
	case 1:
		return parseDocument(values[0])
	default:
		return parseStream(values)
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

func parseDocument(v rawValue) (*Scenario, error) {
	if !bytes.HasPrefix(v.data, []byte("{")) {
		return nil, fmt.Errorf("%w: top-level value is not an object", ErrNotState)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v.data, &keys); err != nil {
		return nil, fmt.Errorf("line %d: parse JSON: %w", v.line, err)
	}
	switch {
	case keys["subscribed"] != nil || eventType(keys) == "SUBSCRIBED":
		return parseStream([]rawValue{v})
	case keys["get_state"] != nil:
		return parseGetState(v.line, keys["get_state"], "$.get_state")
	case keys["get_tasks"] != nil || keys["get_agents"] != nil || keys["get_frameworks"] != nil:
		return parseGetState(v.line, v.data, "$")
	}
	switch v0.Detect(keys) {
	case v0.KindMaster, v0.KindAgent:
		st, err := v0.Decode(v.data)
		if err != nil {
			return nil, err
		}
		sc := &Scenario{Format: FormatV0Master, State: st.GetState}
		if st.Kind == v0.KindAgent {
			sc.Format = FormatV0Agent
		}
		if st.Master != nil {
			sc.MasterID = st.Master.ID
		}
		return sc, nil
	}
	return nil, fmt.Errorf("%w: no SUBSCRIBED event, GET_STATE response or v0 frameworks", ErrNotState)
}

func eventType(keys map[string]json.RawMessage) string {
	var t string
	_ = json.Unmarshal(keys["type"], &t)
	return t
}

// parseGetState decodes a GET_STATE body. Agents answer GET_STATE with
// launched/queued/terminated tasks and frameworks without master fields; such
// a state is turned into the master's view.
func parseGetState(line int, raw json.RawMessage, path string) (*Scenario, error) {
	var parts map[string]json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, fmt.Errorf("line %d: %s: %w", line, path, err)
	}
	var tasks map[string]json.RawMessage
	if parts["get_tasks"] != nil {
		if err := json.Unmarshal(parts["get_tasks"], &tasks); err != nil {
			return nil, fmt.Errorf("line %d: %s.get_tasks: %w", line, path, err)
		}
	}
	agentStyle := tasks["launched_tasks"] != nil || tasks["queued_tasks"] != nil || tasks["terminated_tasks"] != nil
	if !agentStyle {
		var st master.Response_GetState
		if err := decodeV1(raw, &st, path); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		fill(&st)
		return &Scenario{Format: FormatV1State, State: &st}, nil
	}
	st := &master.Response_GetState{}
	fill(st)
	if raw := parts["get_agents"]; raw != nil {
		if err := decodeV1(raw, st.GetAgents, path+".get_agents"); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	var at agent.Response_GetTasks
	if err := decodeV1(parts["get_tasks"], &at, path+".get_tasks"); err != nil {
		return nil, fmt.Errorf("line %d: %w", line, err)
	}
	st.GetTasks.PendingTasks = at.PendingTasks
	st.GetTasks.Tasks = append(append(st.GetTasks.Tasks, at.QueuedTasks...), at.LaunchedTasks...)
	st.GetTasks.CompletedTasks = append(append(st.GetTasks.CompletedTasks, at.TerminatedTasks...), at.CompletedTasks...)
	if raw := parts["get_frameworks"]; raw != nil {
		var af agent.Response_GetFrameworks
		if err := decodeV1(raw, &af, path+".get_frameworks"); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		for _, f := range af.Frameworks {
			st.GetFrameworks.Frameworks = append(st.GetFrameworks.Frameworks,
				master.Response_GetFrameworks_Framework{FrameworkInfo: f.FrameworkInfo, Active: true, Connected: true})
		}
		for _, f := range af.CompletedFrameworks {
			st.GetFrameworks.CompletedFrameworks = append(st.GetFrameworks.CompletedFrameworks,
				master.Response_GetFrameworks_Framework{FrameworkInfo: f.FrameworkInfo})
		}
	}
	return &Scenario{Format: FormatV1AgentState, State: st}, nil
}

// fill makes sure every part of a GET_STATE is present, as in Mesos's
// responses ("get_executors":{} even when there are none).
func fill(st *master.Response_GetState) {
	if st.GetTasks == nil {
		st.GetTasks = &master.Response_GetTasks{}
	}
	if st.GetExecutors == nil {
		st.GetExecutors = &master.Response_GetExecutors{}
	}
	if st.GetFrameworks == nil {
		st.GetFrameworks = &master.Response_GetFrameworks{}
	}
	if st.GetAgents == nil {
		st.GetAgents = &master.Response_GetAgents{}
	}
}

func parseStream(values []rawValue) (*Scenario, error) {
	sc := &Scenario{Format: FormatV1Stream}
	for i, v := range values {
		var ev master.Event
		if !bytes.HasPrefix(v.data, []byte("{")) {
			return nil, fmt.Errorf("line %d: $: expected an event object", v.line)
		}
		if err := decodeV1(v.data, &ev, "$"); err != nil {
			return nil, fmt.Errorf("line %d: %w", v.line, err)
		}
		if err := checkEvent(&ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", v.line, err)
		}
		if i == 0 {
			if ev.GetType() != master.Event_SUBSCRIBED || ev.GetSubscribed().GetGetState() == nil {
				return nil, fmt.Errorf("line %d: first event is %s, want SUBSCRIBED with get_state", v.line, ev.GetType())
			}
			sc.State = ev.Subscribed.GetState
			fill(sc.State)
			if hb := ev.Subscribed.GetHeartbeatIntervalSeconds(); hb > 0 {
				sc.HeartbeatInterval = time.Duration(hb * float64(time.Second))
			}
			continue
		}
		if ev.GetType() == master.Event_SUBSCRIBED {
			return nil, fmt.Errorf("line %d: SUBSCRIBED is only allowed as the first event", v.line)
		}
		sc.Events = append(sc.Events, ev)
	}
	return sc, nil
}

// checkEvent verifies that an event carries the payload its type requires.
func checkEvent(ev *master.Event) error {
	var missing string
	switch ev.GetType() {
	case master.Event_UNKNOWN:
		return errors.New("$.type: missing or UNKNOWN event type")
	case master.Event_SUBSCRIBED:
		if ev.Subscribed == nil {
			missing = "subscribed"
		}
	case master.Event_TASK_ADDED:
		if ev.TaskAdded == nil {
			missing = "task_added"
		}
	case master.Event_TASK_UPDATED:
		switch {
		case ev.TaskUpdated == nil:
			missing = "task_updated"
		case ev.TaskUpdated.State == nil:
			missing = "task_updated.state"
		}
	case master.Event_AGENT_ADDED:
		if ev.AgentAdded == nil {
			missing = "agent_added"
		}
	case master.Event_AGENT_REMOVED:
		if ev.AgentRemoved == nil {
			missing = "agent_removed"
		}
	case master.Event_FRAMEWORK_ADDED:
		if ev.FrameworkAdded == nil {
			missing = "framework_added"
		}
	case master.Event_FRAMEWORK_UPDATED:
		if ev.FrameworkUpdated == nil {
			missing = "framework_updated"
		}
	case master.Event_FRAMEWORK_REMOVED:
		if ev.FrameworkRemoved == nil {
			missing = "framework_removed"
		}
	}
	if missing != "" {
		return fmt.Errorf("$.%s: missing for a %s event", missing, ev.GetType())
	}
	return nil
}

var (
	ffjsonPrefix = regexp.MustCompile(`^ffjson error: \([^)]*\)`)
	ffjsonOffset = regexp.MustCompile(`\s*offset=(\d+) line=\d+ char=\d+\s*$`)
)

// decodeV1 decodes Mesos v1 JSON with the mesos-go (ffjson) decoders and
// turns their offset-only errors into "$.json.path: message" errors; root is
// the path of data in its document.
func decodeV1(data []byte, v any, root string) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	msg := err.Error()
	off := -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = int(syn.Offset)
	case errors.As(err, &typ):
		off = int(typ.Offset)
	default:
		if m := ffjsonOffset.FindStringSubmatch(msg); m != nil {
			off, _ = strconv.Atoi(m[1])
			msg = msg[:len(msg)-len(m[0])]
		}
		msg = ffjsonPrefix.ReplaceAllString(msg, "")
	}
	path := "$"
	if off >= 0 {
		path = jsonPath(data, off)
	}
	return fmt.Errorf("%s%s: %s", root, strings.TrimPrefix(path, "$"), msg)
}

// jsonPath returns the path ($.a.b[2].c) of the value being read at byte
// offset off of data.
func jsonPath(data []byte, off int) string {
	type frame struct {
		object  bool
		key     string
		index   int
		wantKey bool
	}
	var stack []frame
	pathOf := func() string {
		var b strings.Builder
		b.WriteString("$")
		for _, f := range stack {
			if f.object {
				if f.key != "" {
					b.WriteString("." + f.key)
				}
			} else if f.index >= 0 {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		return b.String()
	}
	// beginValue accounts for a value starting in the innermost container.
	beginValue := func() {
		if n := len(stack); n > 0 && !stack[n-1].object {
			stack[n-1].index++
		}
	}
	endValue := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	last := "$"
	for int(dec.InputOffset()) < off {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				beginValue()
				last = pathOf()
				stack = append(stack, frame{object: t == '{', index: -1, wantKey: true})
			default:
				stack = stack[:len(stack)-1]
				endValue()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				stack[n-1].key = t
				stack[n-1].wantKey = false
				last = pathOf()
				continue
			}
			beginValue()
			last = pathOf()
			endValue()
		default:
			beginValue()
			last = pathOf()
			endValue()
		}
	}
	return last
}

var agentSuffix = regexp.MustCompile(`-S\d+$`)

// deriveMasterID returns the master ID named by the input, else the prefix
// shared by every agent ID (Mesos agent IDs are "<master id>-S<n>").
func deriveMasterID(sc *Scenario) string {
	if sc.MasterID != "" {
		return sc.MasterID
	}
	prefix := ""
	consider := func(id string) bool {
		loc := agentSuffix.FindStringIndex(id)
		if loc == nil {
			return false
		}
		p := id[:loc[0]]
		if prefix != "" && p != prefix {
			return false
		}
		prefix = p
		return true
	}
	agents := sc.State.GetGetAgents()
	for _, a := range agents.GetAgents() {
		if !consider(a.AgentInfo.GetID().GetValue()) {
			return ""
		}
	}
	for _, a := range agents.GetRecoveredAgents() {
		if !consider(a.GetID().GetValue()) {
			return ""
		}
	}
	return prefix
}
