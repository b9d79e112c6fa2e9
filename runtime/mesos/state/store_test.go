package state_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newStore returns a store with a test logger, the fixture resolver, a
// manual clock and a private metrics registry, adjusted by opts.
func newStore(t testing.TB, opts ...func(*state.Options)) (*state.Store, *statetest.Clock) {
	t.Helper()
	clock := statetest.NewClock(epoch)
	o := state.Options{
		Logger:     zaptest.NewLogger(t),
		Resolver:   statetest.FixtureResolver(),
		Clock:      clock,
		Registerer: prometheus.NewRegistry(),
	}
	for _, f := range opts {
		f(&o)
	}
	return state.New(o), clock
}

func apply(t testing.TB, s *state.Store, events ...*master.Event) {
	t.Helper()
	for _, ev := range events {
		if err := s.Apply(ev); err != nil {
			t.Fatalf("Apply(%s): %v", ev.Type, err)
		}
	}
}

func subscribed(t testing.TB, s *state.Store, ev *master.Event) {
	t.Helper()
	if err := s.Subscribed(ev.Subscribed, nil); err != nil {
		t.Fatalf("Subscribed: %v", err)
	}
}

func diffTasks(t testing.TB, what string, want, got []v1.Task) {
	t.Helper()
	if diff := cmp.Diff(want, got, statetest.CmpOptions()); diff != "" {
		t.Errorf("%s: tasks mismatch (-want +got):\n%s", what, diff)
	}
}

func keys(tasks []v1.Task) []v1.TaskKey {
	out := make([]v1.TaskKey, len(tasks))
	for i, t := range tasks {
		out[i] = t.Key
	}
	return out
}

// TestFixtures replays every capture and compares the published tasks with
// the hand-written expectations.
func TestFixtures(t *testing.T) {
	var globbed []string
	for _, rel := range fixtures.Glob(t, path.Join(statetest.Dir, "*.json")) {
		globbed = append(globbed, path.Base(rel))
	}
	if diff := cmp.Diff(globbed, statetest.Fixtures()); diff != "" {
		t.Fatalf("fixtures without expectations or expectations without fixture (-on disk +statetest):\n%s", diff)
	}
	for _, name := range statetest.Fixtures() {
		t.Run(name, func(t *testing.T) {
			want := statetest.Expected(name)
			if !slices.IsSortedFunc(want, func(a, b v1.Task) int { return a.Key.Compare(b.Key) }) {
				t.Fatalf("Expected(%q) is not sorted by key", name)
			}
			s, clock := newStore(t)
			statetest.ApplyFixture(t, s, statetest.Rel(name))
			clock.Advance(state.DefaultRecoveredTasksWait) // ends a hold after a failover capture
			snap := s.Current()
			if !s.HasSynced() || !snap.Ready() || !snap.Connected() {
				t.Errorf("HasSynced %v, Ready %v, Connected %v; want all true", s.HasSynced(), snap.Ready(), snap.Connected())
			}
			got := snap.Tasks()
			diffTasks(t, name, want, got)
			if snap.TaskCount() != len(got) {
				t.Errorf("TaskCount() = %d, len(Tasks()) = %d", snap.TaskCount(), len(got))
			}
			for _, task := range got {
				if err := task.Validate(); err != nil {
					t.Errorf("published task invalid: %v", err)
				}
				raw, ok := snap.RawTask(task.Key)
				if !ok || raw.TaskID.Value != task.Key.TaskID || raw.GetState().String() != task.MesosState {
					t.Errorf("RawTask(%s) = %v, %v; want the raw task in state %s", task.Key, raw != nil, ok, task.MesosState)
				}
				if a, ok := snap.Agent(task.AgentID); !ok || a.IP != task.AgentIP {
					t.Errorf("Agent(%s) = %+v, %v; want agent with IP %s", task.AgentID, a, ok, task.AgentIP)
				}
				if a, ok := snap.RawAgent(task.AgentID); !ok || a.AgentInfo.GetID().GetValue() != task.AgentID {
					t.Errorf("RawAgent(%s) = %v, %v; want the raw agent", task.AgentID, a != nil, ok)
				}
				if f, ok := snap.Framework(task.Key.FrameworkID); !ok || f.Name != task.Framework {
					t.Errorf("Framework(%s) = %+v, %v; want framework %q", task.Key.FrameworkID, f, ok, task.Framework)
				}
				if f, ok := snap.RawFramework(task.Key.FrameworkID); !ok || f.FrameworkInfo.Name != task.Framework {
					t.Errorf("RawFramework(%s) = %v, %v; want the raw framework", task.Key.FrameworkID, f != nil, ok)
				}
			}
		})
	}
}

// TestFixtureDefaultResolver loads dns-hostname.json with the machine's
// resolver, which resolves "localhost" from /etc/hosts.
func TestFixtureDefaultResolver(t *testing.T) {
	addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip4", "localhost")
	if err != nil || !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Skipf("localhost does not resolve to 127.0.0.1 here (%v, %v)", addrs, err)
	}
	s, _ := newStore(t, func(o *state.Options) { o.Resolver = nil })
	statetest.ApplyFixture(t, s, statetest.Rel("dns-hostname.json"))
	diffTasks(t, "dns-hostname.json", statetest.Expected("dns-hostname.json"), s.Current().Tasks())
}

// TestHelloWorldStages checks the states in the middle of hello-world.json.
func TestHelloWorldStages(t *testing.T) {
	const (
		hw       = "52b1358f-044b-4382-8b05-d972166ff18f-0002"
		marathon = "52b1358f-044b-4382-8b05-d972166ff18f-0001"
		s0       = "52b1358f-044b-4382-8b05-d972166ff18f-S0"
		s1       = "52b1358f-044b-4382-8b05-d972166ff18f-S1"
	)
	s0IP, s1IP := netip.MustParseAddr("172.17.0.3"), netip.MustParseAddr("172.17.0.4")
	sdkTask := func(id, name, agent string, agentIP netip.Addr, health v1.Health) v1.Task {
		return v1.Task{
			Key: v1.TaskKey{FrameworkID: hw, TaskID: id}, Name: name, Framework: "hello-world",
			AgentID: agent, AgentIP: agentIP, Runtime: v1.RuntimeMesos, IPs: []netip.Addr{agentIP},
			State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: health,
		}
	}
	// The Marathon tasks of this capture have no ContainerInfo.
	marathonTask := v1.Task{
		Key: v1.TaskKey{FrameworkID: marathon, TaskID: "hello-world.e26a1fe7-28d9-11e8-964a-70b3d5800003"}, Name: "hello-world",
		Framework: "marathon", AgentID: s1, AgentIP: s1IP, Runtime: v1.RuntimeUnknown, IPs: []netip.Addr{s1IP},
		State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: v1.HealthHealthy,
		Ports: []v1.Port{{Name: "api", Protocol: v1.ProtocolTCP, Port: 21872, VIPs: []v1.VIP{
			{Label: "/api.hello-world:80", Name: "/api.hello-world", Port: 80},
		}}},
	}
	world0 := sdkTask("world-0-server__deb2e5df-d33e-43cd-a41b-10f1ea5c88b3", "world-0-server", s0, s0IP, v1.HealthUnknown)
	world1 := sdkTask("world-1-server__25f16dc3-0494-4bcf-a9d7-318d75f58c15", "world-1-server", s1, s1IP, v1.HealthUnknown)
	hello0 := sdkTask("hello-0-server__7830c08b-f769-45d8-8be2-0004ff825dea", "hello-0-server", s0, s0IP, v1.HealthHealthy)

	events := statetest.Events(t, statetest.Rel("hello-world.json"))
	s, _ := newStore(t)
	subscribed(t, s, events[0])
	diffTasks(t, "after SUBSCRIBED", []v1.Task{marathonTask, hello0, world0, world1}, s.Current().Tasks())
	if got := len(s.Current().Frameworks()); got != 3 {
		t.Errorf("%d frameworks after SUBSCRIBED, want 3", got)
	}

	// TASK_KILLING: the latest status has no `healthy` and the task no
	// health check, so health becomes unknown; the task stays published.
	apply(t, s, events[1])
	killing := marathonTask
	killing.State, killing.MesosState, killing.Health = v1.TaskKilling, "TASK_KILLING", v1.HealthUnknown
	diffTasks(t, "after TASK_KILLING", []v1.Task{killing, hello0, world0, world1}, s.Current().Tasks())

	apply(t, s, events[2]) // TASK_KILLED
	diffTasks(t, "after TASK_KILLED", []v1.Task{hello0, world0, world1}, s.Current().Tasks())

	apply(t, s, events[3:10]...) // up to the kills of the SDK tasks
	relaunched := v1.Task{
		Key: v1.TaskKey{FrameworkID: marathon, TaskID: "hello-world.60bcc4e8-28dc-11e8-964a-70b3d5800003"}, Name: "hello-world",
		Framework: "marathon", AgentID: s0, AgentIP: s0IP, Runtime: v1.RuntimeUnknown, IPs: []netip.Addr{s0IP},
		State: v1.TaskRunning, MesosState: "TASK_RUNNING",
		Ports: []v1.Port{{Name: "api", Protocol: v1.ProtocolTCP, Port: 12964, VIPs: []v1.VIP{
			{Label: "/api.hello-world:80", Name: "/api.hello-world", Port: 80},
		}}},
	}
	diffTasks(t, "after the SDK tasks ended", []v1.Task{relaunched}, s.Current().Tasks())

	apply(t, s, events[10]) // FRAMEWORK_REMOVED hello-world
	if _, ok := s.Current().Framework(hw); ok {
		t.Errorf("framework %s still present after FRAMEWORK_REMOVED", hw)
	}
	apply(t, s, events[11:]...)
	diffTasks(t, "at the end", nil, s.Current().Tasks())
}

// TestOperatorAPIStages follows one Docker bridge task through its states:
// while STARTING its status reports the agent IP, so it looks
// host-networked and its host port is folded into the port.
func TestOperatorAPIStages(t *testing.T) {
	const fw = "30257977-0153-499d-a5b0-35afd842ef4d-0001"
	key := v1.TaskKey{FrameworkID: fw, TaskID: "docker-on-bridge.0ef76549-2630-11e8-af52-70b3d5800001"}
	events := statetest.Events(t, statetest.Rel("operator-api.json"))
	s, _ := newStore(t)
	subscribed(t, s, events[0])
	snap := s.Current()
	if snap.TaskCount() != 0 || len(snap.Agents()) != 2 || len(snap.Frameworks()) != 1 {
		t.Fatalf("after SUBSCRIBED: %d tasks, %d agents, %d frameworks; want 0, 2, 1", snap.TaskCount(), len(snap.Agents()), len(snap.Frameworks()))
	}
	wantAgents := []v1.Agent{
		{ID: "30257977-0153-499d-a5b0-35afd842ef4d-S0", Hostname: "172.17.0.4", IP: netip.MustParseAddr("172.17.0.4"), Port: 5051, PID: "slave(1)@172.17.0.4:5051"},
		{ID: "30257977-0153-499d-a5b0-35afd842ef4d-S1", Hostname: "172.17.0.3", IP: netip.MustParseAddr("172.17.0.3"), Port: 5051, PID: "slave(1)@172.17.0.3:5051"},
	}
	if diff := cmp.Diff(wantAgents, snap.Agents(), statetest.CmpOptions()); diff != "" {
		t.Errorf("agents mismatch (-want +got):\n%s", diff)
	}

	apply(t, s, events[1], events[2]) // FRAMEWORK_UPDATED marathon, TASK_ADDED
	base := v1.Task{
		Key: key, Name: "docker-on-bridge", Framework: "marathon", AgentID: "30257977-0153-499d-a5b0-35afd842ef4d-S0",
		AgentIP: netip.MustParseAddr("172.17.0.4"), Runtime: v1.RuntimeDocker,
	}
	staging := base
	staging.State, staging.MesosState = v1.TaskPreparing, "TASK_STAGING"
	staging.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, HostPort: 20560}}
	got, _ := s.Current().Task(key)
	diffTasks(t, "STAGING", []v1.Task{staging}, []v1.Task{got})

	apply(t, s, events[3], events[4]) // TASK_ADDED docker-on-dcos, STARTING
	starting := base
	starting.State, starting.MesosState = v1.TaskPreparing, "TASK_STARTING"
	starting.IPs = []netip.Addr{netip.MustParseAddr("172.17.0.4")}
	starting.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 20560}}
	got, _ = s.Current().Task(key)
	diffTasks(t, "STARTING", []v1.Task{starting}, []v1.Task{got})

	apply(t, s, events[5], events[6])
	runningTask := base
	runningTask.State, runningTask.MesosState = v1.TaskRunning, "TASK_RUNNING"
	runningTask.IPs = []netip.Addr{netip.MustParseAddr("172.18.0.2")}
	runningTask.Ports = []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, HostPort: 20560}}
	got, _ = s.Current().Task(key)
	diffTasks(t, "RUNNING", []v1.Task{runningTask}, []v1.Task{got})
	raw, _ := s.Current().RawTask(key)
	if len(raw.Statuses) != 2 || raw.Statuses[1].GetState() != mesos.TASK_RUNNING {
		t.Errorf("raw task statuses = %d, last %v; want 2, TASK_RUNNING", len(raw.Statuses), raw.Statuses[len(raw.Statuses)-1].GetState())
	}
}

// withoutAgent returns a copy of a SUBSCRIBED event without agent id and,
// if recover is set, with that agent listed as recovered instead.
func withoutAgent(ev *master.Event, id string, recover bool) *master.Event {
	gs := *ev.Subscribed.GetState
	agents := *gs.GetAgents
	agents.Agents = nil
	agents.RecoveredAgents = slices.Clone(agents.RecoveredAgents)
	for _, a := range ev.Subscribed.GetState.GetAgents.Agents {
		if a.AgentInfo.GetID().GetValue() == id {
			if recover {
				agents.RecoveredAgents = append(agents.RecoveredAgents, a.AgentInfo)
			}
			continue
		}
		agents.Agents = append(agents.Agents, a)
	}
	gs.GetAgents = &agents
	sub := *ev.Subscribed
	sub.GetState = &gs
	return &master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &sub}
}

// agentAdded builds the AGENT_ADDED of an agent of a SUBSCRIBED event.
func agentAdded(t testing.TB, ev *master.Event, id string) *master.Event {
	t.Helper()
	for _, a := range ev.Subscribed.GetState.GetAgents.Agents {
		if a.AgentInfo.GetID().GetValue() == id {
			return &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: a}}
		}
	}
	t.Fatalf("no agent %s in SUBSCRIBED", id)
	return nil
}

// TestWaitingTasks checks that tasks of unknown frameworks or agents are
// held back and published when those register.
func TestWaitingTasks(t *testing.T) {
	const (
		s1 = "30257977-0153-499d-a5b0-35afd842ef4d-S1"
		fw = "30257977-0153-499d-a5b0-35afd842ef4d-0001"
	)
	events := statetest.Events(t, statetest.Rel("operator-api.json"))
	want := statetest.Expected("operator-api.json")
	s, _ := newStore(t)
	sub := s.Subscribe()
	subscribed(t, s, withoutAgent(events[0], s1, false))
	<-sub.C() // the reset of the SUBSCRIBED
	rev := s.Current().Revision()

	// Marathon (-0001) only appears with events[1]: its tasks wait.
	apply(t, s, events[2:]...)
	if n := s.Current().TaskCount(); n != 0 {
		t.Fatalf("%d tasks published before their framework registered, want 0", n)
	}
	if got := s.Current().Revision(); got != rev {
		t.Errorf("revision moved from %d to %d while only waiting tasks changed", rev, got)
	}
	select {
	case n := <-sub.C():
		t.Fatalf("notification %+v while only waiting tasks changed", n)
	default:
	}

	// The framework registers: the tasks on the known agent S0 appear.
	apply(t, s, events[1])
	var onS0, onS1 []v1.Task
	for _, task := range want {
		if task.AgentID == s1 {
			onS1 = append(onS1, task)
		} else {
			onS0 = append(onS0, task)
		}
	}
	diffTasks(t, "after FRAMEWORK_UPDATED", onS0, s.Current().Tasks())
	n := <-sub.C()
	if n.Reset || n.Snapshot.Revision() != rev+1 {
		t.Errorf("notification Reset %v revision %d; want a delta at revision %d", n.Reset, n.Snapshot.Revision(), rev+1)
	}
	if diff := cmp.Diff(keys(onS0), n.Changed); diff != "" {
		t.Errorf("Changed mismatch (-want +got):\n%s", diff)
	}

	// The agent registers: the rest appears.
	apply(t, s, agentAdded(t, events[0], s1))
	diffTasks(t, "after AGENT_ADDED", want, s.Current().Tasks())
	n = <-sub.C()
	if diff := cmp.Diff(keys(onS1), n.Changed); diff != "" {
		t.Errorf("Changed mismatch (-want +got):\n%s", diff)
	}
	if _, ok := n.Snapshot.Framework(fw); !ok {
		t.Errorf("framework %s missing", fw)
	}
}

// TestRecoveredAgents follows recovered-agents.json: after a failover
// nothing is published until the recovered agent re-registers.
func TestRecoveredAgents(t *testing.T) {
	events := statetest.Events(t, statetest.Rel("recovered-agents.json"))
	reg := prometheus.NewRegistry()
	s, clock := newStore(t, func(o *state.Options) { o.Registerer = reg })
	sub := s.Subscribe()

	subscribed(t, s, events[0])
	apply(t, s, events[1]) // HEARTBEAT
	if s.HasSynced() || s.Current().Ready() {
		t.Fatal("published while the recovered agent has not re-registered")
	}
	if !s.Current().Connected() || !s.Current().LastEvent().Equal(epoch) {
		t.Errorf("Connected %v LastEvent %v; want true, %v", s.Current().Connected(), s.Current().LastEvent(), epoch)
	}
	if got := metricValue(t, reg, "mesosnet_mesos_state_recovered_agents_pending"); got != 1 {
		t.Errorf("recovered_agents_pending = %v, want 1", got)
	}
	if clock.Pending() != 1 {
		t.Errorf("%d timers pending, want the hold's", clock.Pending())
	}

	apply(t, s, events[2]) // AGENT_ADDED
	// The agent is back, but its tasks come in the events that follow
	// (TASK_ADDED): publishing now would flush them (dcos-net's
	// await_tasks phase exists for this).
	if s.HasSynced() {
		t.Fatal("published as soon as the recovered agent re-registered, before its tasks")
	}
	apply(t, s, events[3:]...)
	if s.HasSynced() {
		t.Fatal("published before the tasks wait ended")
	}
	clock.Advance(state.DefaultRecoveredTasksWait)
	if !s.HasSynced() {
		t.Fatal("not published after the tasks wait")
	}
	if clock.Pending() != 0 {
		t.Errorf("hold timer not stopped: %d pending", clock.Pending())
	}
	n := <-sub.C()
	if !n.Reset || n.Snapshot.Revision() != 1 {
		t.Errorf("first notification Reset %v revision %d; want a reset at revision 1", n.Reset, n.Snapshot.Revision())
	}
	// The first publication already holds every task of the agent.
	diffTasks(t, "first publication", statetest.Expected("recovered-agents.json"), n.Snapshot.Tasks())
	if got := metricValue(t, reg, "mesosnet_mesos_state_recovered_agents_pending"); got != 0 {
		t.Errorf("recovered_agents_pending = %v, want 0", got)
	}
}

// metricValue returns the value of a gauge or counter without labels.
func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestRecoveredAgentsTimeout checks the bounded wait: with the agent never
// coming back, publication starts after RecoveredAgentsWait.
func TestRecoveredAgentsTimeout(t *testing.T) {
	events := statetest.Events(t, statetest.Rel("recovered-agents.json"))
	s, clock := newStore(t, func(o *state.Options) { o.RecoveredAgentsWait = 3 * time.Minute })
	subscribed(t, s, events[0])
	apply(t, s, events[1], events[3]) // HEARTBEAT, FRAMEWORK_ADDED; no AGENT_ADDED
	clock.Advance(3*time.Minute - time.Nanosecond)
	if s.HasSynced() {
		t.Fatal("published before the wait for recovered agents ended")
	}
	clock.Advance(time.Nanosecond)
	if !s.HasSynced() {
		t.Fatal("not published after the wait for recovered agents ended")
	}
	snap := s.Current()
	if len(snap.Agents()) != 0 || len(snap.Frameworks()) != 1 || snap.TaskCount() != 0 {
		t.Errorf("after the timeout: %d agents, %d frameworks, %d tasks; want 0, 1, 0", len(snap.Agents()), len(snap.Frameworks()), snap.TaskCount())
	}
	// Later events flow as usual.
	apply(t, s, events[2])
	apply(t, s, events[4:]...)
	diffTasks(t, "end", statetest.Expected("recovered-agents.json"), s.Current().Tasks())
}

// TestRecoveredAgentsAfterReconnect is DCOS_OSS-5463: after a failover the
// previous snapshot keeps being served until the agents are back, so no task
// disappears in between; without the hold it would.
func TestRecoveredAgentsAfterReconnect(t *testing.T) {
	const s1 = "30257977-0153-499d-a5b0-35afd842ef4d-S1"
	rel := statetest.Rel("operator-api.json")
	events := statetest.Events(t, rel)
	want := statetest.Expected("operator-api.json")

	// failover is the SUBSCRIBED of the new leader: the same tasks, S1 not
	// re-registered yet.
	failover := func(s *state.Store) *master.Event {
		ev := withoutAgent(events[0], s1, true)
		gs := ev.Subscribed.GetState
		gs.GetFrameworks = &master.Response_GetFrameworks{Frameworks: slices.Clone(gs.GetFrameworks.Frameworks)}
		gs.GetFrameworks.Frameworks = append(gs.GetFrameworks.Frameworks, events[1].FrameworkUpdated.Framework)
		gs.GetTasks = &master.Response_GetTasks{}
		for _, raw := range s.Current().All() {
			gs.GetTasks.Tasks = append(gs.GetTasks.Tasks, *raw)
		}
		return ev
	}

	t.Run("held", func(t *testing.T) {
		s, clock := newStore(t)
		statetest.ApplyFixture(t, s, rel)
		before := s.Current()
		sub := s.Subscribe()
		<-sub.C()
		s.Disconnected(errors.New("leader lost"))
		subscribed(t, s, failover(s))
		held := s.Current()
		if held.Revision() != before.Revision() || !held.Connected() {
			t.Errorf("during the hold: revision %d connected %v; want %d, true", held.Revision(), held.Connected(), before.Revision())
		}
		diffTasks(t, "during the hold", want, held.Tasks())
		select {
		case n := <-sub.C():
			t.Fatalf("notification during the hold: revision %d", n.Snapshot.Revision())
		default:
		}
		apply(t, s, agentAdded(t, events[0], s1))
		// The agent is back; its tasks get RecoveredTasksWait to arrive
		// (dcos-net's await_tasks) before anything is published.
		clock.Advance(state.DefaultRecoveredTasksWait - time.Nanosecond)
		select {
		case n := <-sub.C():
			t.Fatalf("notification before the tasks wait ended: revision %d", n.Snapshot.Revision())
		default:
		}
		clock.Advance(time.Nanosecond)
		n := <-sub.C()
		if !n.Reset || n.Snapshot.Revision() != before.Revision()+1 {
			t.Errorf("after the hold: Reset %v revision %d; want a reset at %d", n.Reset, n.Snapshot.Revision(), before.Revision()+1)
		}
		diffTasks(t, "after the hold", want, n.Snapshot.Tasks())
		if clock.Pending() != 0 {
			t.Errorf("%d timers pending after the hold", clock.Pending())
		}
	})
	t.Run("removed agent ends the hold", func(t *testing.T) {
		s, clock := newStore(t)
		statetest.ApplyFixture(t, s, rel)
		before := s.Current().Revision()
		subscribed(t, s, failover(s))
		apply(t, s, &master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: s1}}})
		clock.Advance(state.DefaultRecoveredTasksWait)
		if got := s.Current().Revision(); got != before+1 {
			t.Fatalf("revision %d after AGENT_REMOVED of the awaited agent, want %d", got, before+1)
		}
	})
	t.Run("hold disabled", func(t *testing.T) {
		s, _ := newStore(t, func(o *state.Options) { o.RecoveredAgentsWait = -1 })
		statetest.ApplyFixture(t, s, rel)
		subscribed(t, s, failover(s))
		var onS0 []v1.Task
		for _, task := range want {
			if task.AgentID != s1 {
				onS0 = append(onS0, task)
			}
		}
		diffTasks(t, "without hold", onS0, s.Current().Tasks())
	})
}

// TestTaskUpdatedState is DCOS_OSS-3539: the state comes from
// TASK_UPDATED.state even when status.state says otherwise.
func TestTaskUpdatedState(t *testing.T) {
	s, _ := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("pod-tasks.json"))
	want := statetest.Expected("pod-tasks.json")[0]
	st := status(mesos.TASK_RUNNING, 2e9, "9.0.0.2")
	st.TaskID = mesos.TaskID{Value: want.Key.TaskID}
	apply(t, s, &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: want.Key.FrameworkID}, Status: st, State: ptr(mesos.TASK_KILLING),
	}})
	got, _ := s.Current().Task(want.Key)
	if got.State != v1.TaskKilling || got.MesosState != "TASK_KILLING" {
		t.Errorf("State %q MesosState %q; want killing, TASK_KILLING", got.State, got.MesosState)
	}
	raw, _ := s.Current().RawTask(want.Key)
	if raw.GetState() != mesos.TASK_KILLING {
		t.Errorf("raw state %s, want TASK_KILLING", raw.GetState())
	}
}

func taskUpdated(key v1.TaskKey, st mesos.TaskState, ts float64, ips ...string) *master.Event {
	s := status(st, ts, ips...)
	s.TaskID = mesos.TaskID{Value: key.TaskID}
	return &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: key.FrameworkID}, Status: s, State: ptr(st),
	}}
}

// TestStatusHistoryBounded checks that a task keeps its newest MaxStatuses
// statuses.
func TestStatusHistoryBounded(t *testing.T) {
	s, _ := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("pod-tasks.json"))
	key := statetest.Expected("pod-tasks.json")[0].Key
	for i := range 3 * state.MaxStatuses {
		apply(t, s, taskUpdated(key, mesos.TASK_RUNNING, 2e9+float64(i), "9.0.0.2"))
	}
	raw, _ := s.Current().RawTask(key)
	if len(raw.Statuses) != state.MaxStatuses {
		t.Fatalf("%d statuses kept, want %d", len(raw.Statuses), state.MaxStatuses)
	}
	if got, want := raw.Statuses[state.MaxStatuses-1].GetTimestamp(), 2e9+float64(3*state.MaxStatuses-1); got != want {
		t.Errorf("newest kept status at %v, want %v", got, want)
	}
	if got, want := raw.Statuses[0].GetTimestamp(), 2e9+float64(2*state.MaxStatuses); got != want {
		t.Errorf("oldest kept status at %v, want %v", got, want)
	}
}

// TestSnapshotImmutable checks that a snapshot does not change when later
// events are applied.
func TestSnapshotImmutable(t *testing.T) {
	events := statetest.Events(t, statetest.Rel("hello-world.json"))
	s, _ := newStore(t)
	subscribed(t, s, events[0])
	old := s.Current()
	oldTasks := old.Tasks()
	for i := range oldTasks {
		oldTasks[i] = oldTasks[i].Clone()
	}
	rawStatuses := map[v1.TaskKey]int{}
	for task, raw := range old.All() {
		rawStatuses[task.Key] = len(raw.Statuses)
	}
	rev := old.Revision()

	apply(t, s, events[1:]...)
	if s.Current().TaskCount() != 0 {
		t.Fatalf("new snapshot has %d tasks, want 0", s.Current().TaskCount())
	}
	if old.Revision() != rev || len(old.Frameworks()) != 3 {
		t.Errorf("old snapshot changed: revision %d, %d frameworks", old.Revision(), len(old.Frameworks()))
	}
	diffTasks(t, "old snapshot", oldTasks, old.Tasks())
	for task, raw := range old.All() {
		if len(raw.Statuses) != rawStatuses[task.Key] {
			t.Errorf("old raw task %s has %d statuses, had %d", task.Key, len(raw.Statuses), rawStatuses[task.Key])
		}
	}
}

// TestAgentRemoved checks that an agent's tasks survive its removal until
// Mesos reports them terminal, and follow its new IP if it comes back.
func TestAgentRemoved(t *testing.T) {
	const s1 = "30257977-0153-499d-a5b0-35afd842ef4d-S1"
	events := statetest.Events(t, statetest.Rel("operator-api.json"))
	s, _ := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("operator-api.json"))
	want := statetest.Expected("operator-api.json")

	apply(t, s, &master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: s1}}})
	if _, ok := s.Current().Agent(s1); ok {
		t.Errorf("agent %s still registered", s1)
	}
	diffTasks(t, "after AGENT_REMOVED", want, s.Current().Tasks())

	var onS1 []v1.Task
	for _, task := range want {
		if task.AgentID == s1 {
			onS1 = append(onS1, task)
		}
	}
	// Mesos gives up on one task, another one reports again.
	apply(t, s, taskUpdated(onS1[0].Key, mesos.TASK_GONE, 2e9))
	apply(t, s, taskUpdated(onS1[1].Key, mesos.TASK_UNREACHABLE, 2e9, onS1[1].IPs[0].String()))
	if _, ok := s.Current().Task(onS1[0].Key); ok {
		t.Errorf("task %s still published after TASK_GONE", onS1[0].Key)
	}
	got, ok := s.Current().Task(onS1[1].Key)
	if !ok || got.AgentIP != onS1[1].AgentIP || got.State != v1.TaskPreparing {
		t.Errorf("task %s = %+v, %v; want it kept, preparing, with agent IP %s", onS1[1].Key, got, ok, onS1[1].AgentIP)
	}

	// The agent comes back with another address.
	back := agentAdded(t, events[0], s1)
	back.AgentAdded.Agent.AgentInfo.Hostname = "198.51.100.99"
	apply(t, s, back)
	for _, task := range onS1[1:] {
		got, ok := s.Current().Task(task.Key)
		if !ok || got.AgentIP != netip.MustParseAddr("198.51.100.99") {
			t.Errorf("task %s agent IP %s (published %v), want 198.51.100.99", task.Key, got.AgentIP, ok)
		}
	}
}

// TestFrameworkChanges checks FRAMEWORK_UPDATED renames and
// FRAMEWORK_REMOVED removals.
func TestFrameworkChanges(t *testing.T) {
	const hw = "52b1358f-044b-4382-8b05-d972166ff18f-0002"
	events := statetest.Events(t, statetest.Rel("hello-world.json"))
	s, _ := newStore(t)
	subscribed(t, s, events[0])
	sub := s.Subscribe()
	<-sub.C()

	renamed := *events[7].FrameworkUpdated
	renamed.Framework.FrameworkInfo.Name = "hello-world-2"
	apply(t, s, &master.Event{Type: master.Event_FRAMEWORK_UPDATED, FrameworkUpdated: &renamed})
	n := <-sub.C()
	var hwKeys []v1.TaskKey
	for _, task := range n.Snapshot.Tasks() {
		if task.Key.FrameworkID == hw {
			hwKeys = append(hwKeys, task.Key)
			if task.Framework != "hello-world-2" {
				t.Errorf("task %s framework %q, want hello-world-2", task.Key, task.Framework)
			}
		}
	}
	if len(hwKeys) != 3 {
		t.Fatalf("%d hello-world tasks, want 3", len(hwKeys))
	}
	if diff := cmp.Diff(hwKeys, n.Changed); diff != "" {
		t.Errorf("Changed after rename mismatch (-want +got):\n%s", diff)
	}

	apply(t, s, events[10]) // FRAMEWORK_REMOVED hello-world
	n = <-sub.C()
	if diff := cmp.Diff(hwKeys, n.Changed); diff != "" {
		t.Errorf("Changed after removal mismatch (-want +got):\n%s", diff)
	}
	if n.Snapshot.TaskCount() != 1 {
		t.Errorf("%d tasks after FRAMEWORK_REMOVED, want the Marathon one", n.Snapshot.TaskCount())
	}
	// Late terminal updates of the removed tasks are ignored.
	apply(t, s, events[8], events[9])
}

// TestVIPLabelErrorKeepsTask loads a task with a bad VIP label: the task is
// published without that VIP, and the error is logged once naming the task
// and the label, and counted.
func TestVIPLabelErrorKeepsTask(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	reg := prometheus.NewRegistry()
	s, _ := newStore(t, func(o *state.Options) {
		o.Logger = zap.New(core)
		o.Registerer = reg
	})
	gs, err := state.DecodeGetState(fixtures.Read(t, statetest.Rel("unhealthy.json")))
	if err != nil {
		t.Fatal(err)
	}
	task := &gs.GetTasks.Tasks[0]
	task.Discovery.Ports.Ports[0].Labels.Labels = append(task.Discovery.Ports.Ports[0].Labels.Labels,
		mesos.Label{Key: "VIP_1", Value: ptr("/broken:99999")})
	if err := s.LoadState(gs, nil); err != nil {
		t.Fatal(err)
	}
	diffTasks(t, "published", statetest.Expected("unhealthy.json"), s.Current().Tasks())

	entries := logs.FilterMessage("Dropped bad data of a task").All()
	if len(entries) != 1 {
		t.Fatalf("%d warnings logged, want 1: %v", len(entries), logs.All())
	}
	fields := entries[0].ContextMap()
	if fields["taskID"] != "app.7a5a8aa6-d8be-11e8-9bf3-70b3d5800001" {
		t.Errorf("warning taskID = %v", fields["taskID"])
	}
	if msg, _ := fields["error"].(string); !strings.Contains(msg, "app.7a5a8aa6-d8be-11e8-9bf3-70b3d5800001") ||
		!strings.Contains(msg, "VIP_1") || !strings.Contains(msg, `"/broken:99999"`) {
		t.Errorf("warning error %q does not name the task, label key and value", msg)
	}
	if got := metricValue(t, reg, "mesosnet_mesos_state_task_normalize_errors_total"); got != 1 {
		t.Errorf("normalize errors = %v, want 1", got)
	}
}

// TestApplyErrors checks that bad events are rejected with a clear error and
// change nothing.
func TestApplyErrors(t *testing.T) {
	running := mesos.TASK_RUNNING
	tests := []struct {
		name    string
		loaded  bool
		ev      *master.Event
		wantErr string
		is      error
	}{
		{"nil event", true, nil, "nil event", nil},
		{"before load", false, &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{}}, "apply TASK_ADDED: no Mesos state loaded", state.ErrNotLoaded},
		{"missing body", true, &master.Event{Type: master.Event_TASK_ADDED}, "apply TASK_ADDED: no task_added", nil},
		{"task without ids", true, &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: mesos.Task{State: &running}}}, "empty framework id and task id", nil},
		{"task without agent", true, &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: mesos.Task{
			TaskID: mesos.TaskID{Value: "t"}, FrameworkID: mesos.FrameworkID{Value: "f"}, State: &running}}}, "task f/t: empty agent id", nil},
		{"task without state", true, &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: mesos.Task{
			TaskID: mesos.TaskID{Value: "t"}, FrameworkID: mesos.FrameworkID{Value: "f"}, AgentID: mesos.AgentID{Value: "a"}}}}, "task f/t: no state", nil},
		{"update of unknown task", true, taskUpdated(v1.TaskKey{FrameworkID: "f", TaskID: "t"}, mesos.TASK_RUNNING, 1), "apply TASK_UPDATED: task f/t (TASK_RUNNING): unknown task", state.ErrUnknownTask},
		{"update without state", true, &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: mesos.FrameworkID{Value: "f"}, Status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}}}}, "task f/t: no state", nil},
		{"agent without id", true, &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{}}, "apply AGENT_ADDED: agent without id", nil},
		{"agent removed without id", true, &master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{}}, "without agent id", nil},
		{"framework without id", true, &master.Event{Type: master.Event_FRAMEWORK_ADDED, FrameworkAdded: &master.Event_FrameworkAdded{
			Framework: master.Response_GetFrameworks_Framework{FrameworkInfo: mesos.FrameworkInfo{Name: "x"}}}}, `framework "x" without id`, nil},
		{"framework removed without id", true, &master.Event{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{}}, "without framework id", nil},
		{"unknown type", true, &master.Event{Type: master.Event_UNKNOWN}, "apply UNKNOWN: unsupported event type", nil},
		{"out of range type", true, &master.Event{Type: master.Event_Type(77)}, "apply UNKNOWN: unsupported event type", nil},
		{"subscribed without state", true, &master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{}}, "apply SUBSCRIBED: no get_state", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			if tt.loaded {
				statetest.ApplyFixture(t, s, statetest.Rel("pod-tasks.json"))
			}
			before := s.Current()
			err := s.Apply(tt.ev)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Apply() = %v, want error containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			after := s.Current()
			if after.Revision() != before.Revision() {
				t.Errorf("revision moved from %d to %d", before.Revision(), after.Revision())
			}
			diffTasks(t, "after the error", before.Tasks(), after.Tasks())
		})
	}
}

// TestTerminalUpdateOfUnknownTask checks that late terminal updates (a task
// already removed) are accepted silently.
func TestTerminalUpdateOfUnknownTask(t *testing.T) {
	s, _ := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("pod-tasks.json"))
	rev := s.Current().Revision()
	apply(t, s, taskUpdated(v1.TaskKey{FrameworkID: "f", TaskID: "gone"}, mesos.TASK_KILLED, 1))
	if s.Current().Revision() != rev {
		t.Errorf("revision moved for an update of an unknown terminal task")
	}
}

// TestAgentIP checks how agent addresses are found and that lookups happen
// once per hostname, not per task or event.
func TestAgentIP(t *testing.T) {
	lookups := &countingResolver{r: statetest.Resolver{
		"agent-1.example": {netip.MustParseAddr("fd00::1"), netip.MustParseAddr("198.51.100.21")},
		"v6only.example":  {netip.MustParseAddr("fd00::2")},
	}}
	s, _ := newStore(t, func(o *state.Options) { o.Resolver = lookups })
	agent := func(id, hostname, pid string) master.Response_GetAgents_Agent {
		a := master.Response_GetAgents_Agent{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: id}, Hostname: hostname, Port: ptr(int32(5052))}}
		if pid != "" {
			a.PID = ptr(pid)
		}
		return a
	}
	gs := &master.Response_GetState{GetAgents: &master.Response_GetAgents{Agents: []master.Response_GetAgents_Agent{
		agent("literal", "198.51.100.20", "slave(1)@198.51.100.99:5052"),
		agent("named", "agent-1.example", "slave(1)@198.51.100.99:5052"),
		agent("named-again", "agent-1.example", ""),
		agent("unresolvable", "nxdomain.example", "slave(1)@198.51.100.22:5052"),
		agent("v6only", "v6only.example", "slave(1)@[fd00::3]:5052"),
		agent("nothing", "nxdomain.example", ""),
	}}}
	if err := s.LoadState(gs, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"literal": "198.51.100.20", "named": "198.51.100.21", "named-again": "198.51.100.21",
		"unresolvable": "198.51.100.22", "v6only": "fd00::3", "nothing": "invalid IP",
	}
	for id, w := range want {
		a, ok := s.Current().Agent(id)
		if !ok || a.IP.String() != w || a.Port != 5052 {
			t.Errorf("agent %s = %+v, %v; want IP %s port 5052", id, a, ok, w)
		}
	}
	if got := lookups.n.Load(); got != 3 {
		t.Errorf("%d lookups, want 3 (one per distinct name)", got)
	}
	// A re-registration uses the cache; failures are retried.
	apply(t, s, &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: agent("named", "agent-1.example", "")}})
	if got := lookups.n.Load(); got != 3 {
		t.Errorf("%d lookups after re-registration, want still 3", got)
	}
	apply(t, s, &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: agent("nothing", "nxdomain.example", "")}})
	if got := lookups.n.Load(); got != 4 {
		t.Errorf("%d lookups after re-registration of an unresolved agent, want 4", got)
	}
}

type countingResolver struct {
	r statetest.Resolver
	n atomic.Int32
}

func (c *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	c.n.Add(1)
	return c.r.LookupNetIP(ctx, network, host)
}

// TestDisconnected checks that the last state is kept and flagged.
func TestDisconnected(t *testing.T) {
	s, clock := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("tcp-and-udp.json"))
	before := s.Current()
	clock.Advance(time.Minute)
	s.Disconnected(errors.New("connection reset"))
	after := s.Current()
	if after.Connected() || !after.Ready() || !s.HasSynced() {
		t.Errorf("Connected %v Ready %v HasSynced %v; want false, true, true", after.Connected(), after.Ready(), s.HasSynced())
	}
	if after.Revision() != before.Revision() {
		t.Errorf("revision moved from %d to %d", before.Revision(), after.Revision())
	}
	if !before.Connected() {
		t.Errorf("the earlier snapshot changed")
	}
	diffTasks(t, "after Disconnected", statetest.Expected("tcp-and-udp.json"), after.Tasks())

	apply(t, s, &master.Event{Type: master.Event_HEARTBEAT})
	if got := s.Current().LastEvent(); !got.Equal(epoch.Add(time.Minute)) {
		t.Errorf("LastEvent after HEARTBEAT = %v, want %v", got, epoch.Add(time.Minute))
	}
}

func TestLeader(t *testing.T) {
	s, _ := newStore(t)
	events := statetest.Events(t, statetest.Rel("pod-tasks.json"))
	info := &mesos.MasterInfo{ID: "m1", Address: &mesos.Address{Hostname: ptr("master-1"), IP: ptr("198.51.100.2"), Port: 5050}}
	if err := s.Subscribed(events[0].Subscribed, info); err != nil {
		t.Fatal(err)
	}
	want := v1.Master{ID: "m1", Hostname: "master-1", IP: netip.MustParseAddr("198.51.100.2"), Port: 5050}
	if diff := cmp.Diff(want, s.Current().Leader(), statetest.CmpOptions()); diff != "" {
		t.Errorf("Leader mismatch (-want +got):\n%s", diff)
	}
	if s.Current().LeaderInfo() != info {
		t.Errorf("LeaderInfo not the given MasterInfo")
	}
	// A SUBSCRIBED through Apply keeps the known leader.
	apply(t, s, events[0])
	if s.Current().Leader().ID != "m1" {
		t.Errorf("leader lost on a SUBSCRIBED without leader")
	}
}

func TestDecodeGetState(t *testing.T) {
	t.Run("master", func(t *testing.T) {
		gs, err := state.DecodeGetState(fixtures.Read(t, statetest.Rel("tcp-and-udp.json")))
		if err != nil {
			t.Fatal(err)
		}
		if len(gs.GetGetTasks().GetTasks()) != 1 || len(gs.GetGetAgents().GetAgents()) != 1 || len(gs.GetGetFrameworks().GetFrameworks()) != 2 {
			t.Errorf("decoded %d tasks, %d agents, %d frameworks; want 1, 1, 2",
				len(gs.GetGetTasks().GetTasks()), len(gs.GetGetAgents().GetAgents()), len(gs.GetGetFrameworks().GetFrameworks()))
		}
	})
	t.Run("agent", func(t *testing.T) {
		gs, err := state.DecodeGetState(fixtures.Read(t, statetest.Rel("vip-labels.json")))
		if err != nil {
			t.Fatal(err)
		}
		tasks, agents, fws := gs.GetGetTasks().GetTasks(), gs.GetGetAgents().GetAgents(), gs.GetGetFrameworks().GetFrameworks()
		if len(tasks) != 1 || tasks[0].TaskID.Value != "app.c9e19be4-6a94-11e8-bfc9-70b3d5800002" {
			t.Errorf("tasks = %d, want the launched task", len(tasks))
		}
		if len(agents) != 1 || agents[0].AgentInfo.Hostname != "172.17.0.3" {
			t.Errorf("agents = %+v, want the synthesised agent", agents)
		}
		if len(fws) != 1 || fws[0].FrameworkInfo.Name != "marathon" || !fws[0].Active {
			t.Errorf("frameworks = %+v, want marathon, active", fws)
		}
	})
	for _, tt := range []struct{ name, body, wantErr string }{
		{"not json", "{", "decode GET_STATE response: unexpected end of JSON input"},
		{"wrong type", `{"type":"GET_HEALTH","get_health":{"healthy":true}}`, `type "GET_HEALTH", want GET_STATE`},
		{"no get_state", `{"type":"GET_STATE"}`, "no get_state"},
		{"bad task", `{"type":"GET_STATE","get_state":{"get_tasks":{"tasks":[{"name":7}]}}}`, "decode GET_STATE response"},
		{"bad agent task", `{"type":"GET_STATE","get_state":{"get_tasks":{"launched_tasks":[{"name":7}]}}}`, "decode agent GET_STATE response"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := state.DecodeGetState([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeGetState() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConcurrentReaders reads snapshots while events are applied (run with
// -race): every snapshot is internally consistent and revisions only grow.
func TestConcurrentReaders(t *testing.T) {
	s, _ := newStore(t)
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		var last uint64
		for {
			snap := s.Current()
			tasks := snap.Tasks()
			if len(tasks) != snap.TaskCount() {
				errs <- errors.New("TaskCount disagrees with Tasks")
				return
			}
			if !slices.IsSortedFunc(tasks, func(a, b v1.Task) int { return a.Key.Compare(b.Key) }) {
				errs <- errors.New("tasks not sorted")
				return
			}
			if snap.Revision() < last {
				errs <- errors.New("revision went backwards")
				return
			}
			last = snap.Revision()
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	statetest.ApplyFixture(t, s, statetest.Rel("operator-api.json"))
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestRecoveredAgentsRealClock runs the bounded wait on the real clock.
func TestRecoveredAgentsRealClock(t *testing.T) {
	events := statetest.Events(t, statetest.Rel("recovered-agents.json"))
	s := state.New(state.Options{
		Logger:              zaptest.NewLogger(t),
		Resolver:            statetest.FixtureResolver(),
		RecoveredAgentsWait: 20 * time.Millisecond,
	})
	subscribed(t, s, events[0])
	sub := s.Subscribe()
	select {
	case n := <-sub.C():
		if !n.Reset || n.Snapshot.Revision() != 1 || !s.HasSynced() {
			t.Errorf("notification Reset %v revision %d synced %v; want the first reset", n.Reset, n.Snapshot.Revision(), s.HasSynced())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published 10s after a 20ms wait for recovered agents")
	}
}

// TestSharedRegistry checks that two stores can share a registry (their
// collectors are shared too).
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, _ := newStore(t, func(o *state.Options) { o.Registerer = reg })
	b, _ := newStore(t, func(o *state.Options) { o.Registerer = reg })
	statetest.ApplyFixture(t, a, statetest.Rel("unhealthy.json"))
	statetest.ApplyFixture(t, b, statetest.Rel("tcp-and-udp.json"))
	if got := metricValue(t, reg, "mesosnet_mesos_state_revision"); got != 1 {
		t.Errorf("revision gauge = %v, want 1", got)
	}
}
