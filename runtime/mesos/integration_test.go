package mesos_test

// End-to-end tests of the Mesos ingestion path with real parts only: the
// simulated master (runtime/mesossim) served over loopback HTTP, the operator
// API client and the reconnecting Source of this package, and the state
// Store. Every wait is bounded by e2eWait and polls or blocks on a channel;
// nothing sleeps.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

const (
	// e2eWait bounds every wait of these tests.
	e2eWait = 10 * time.Second
	// e2eHeartbeat is the simulators' heartbeat interval: a stream handler
	// whose client vanished notices at its next write, so servers shut
	// down promptly.
	e2eHeartbeat = 20 * time.Millisecond
	// e2eMissedHeartbeats makes the Source tolerate 5 s of silence, so
	// that a -race build on a busy machine never loses a stream to a
	// stalled goroutine: the tests count streams and notifications.
	e2eMissedHeartbeats = 250
)

// Metric names read by the tests.
const (
	metricSubscriptions    = "mesosnet_mesos_subscriptions_total"
	metricEventErrors      = "mesosnet_mesos_state_event_errors_total"
	metricRecoveredPending = "mesosnet_mesos_state_recovered_agents_pending"
)

// TestReplayFixturesThroughSim replays every v1 capture through the simulator
// and checks that the Store fed by the Source over HTTP publishes the
// hand-written expectations of statetest.
func TestReplayFixturesThroughSim(t *testing.T) {
	var globbed []string
	for _, rel := range fixtures.Glob(t, statetest.Dir+"/*.json") {
		globbed = append(globbed, path.Base(rel))
	}
	if diff := cmp.Diff(globbed, statetest.Fixtures()); diff != "" {
		t.Fatalf("statetest.Fixtures() does not list every capture of %s (-glob +Fixtures):\n%s", statetest.Dir, diff)
	}

	for _, name := range statetest.Fixtures() {
		t.Run(name, func(t *testing.T) {
			sc, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel(name)))
			if err != nil {
				t.Fatal(err)
			}
			sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, HeartbeatInterval: e2eHeartbeat})
			reg := prometheus.NewRegistry()
			store := e2eStore(t, reg)
			sub := store.Subscribe()
			src, _ := e2eSource(t, store, reg, ts.URL)

			first := e2eNext(t, sub)
			if !first.Reset {
				t.Errorf("first notification is not a Reset one: %+v", first)
			}
			if len(sc.Events) == 0 {
				// A GET_STATE capture: the SUBSCRIBED snapshot alone
				// carries the whole state.
				if diff := cmp.Diff(statetest.Expected(name), first.Snapshot.Tasks(), statetest.CmpOptions()...); diff != "" {
					t.Errorf("tasks of the SUBSCRIBED snapshot mismatch (-want +got):\n%s", diff)
				}
			}

			e2eAwait(t, "the simulator to replay the capture", sim.ReplayDone())
			e2eBarrier(t, sim, store)
			if diff := cmp.Diff(statetest.Expected(name), store.Current().Tasks(), statetest.CmpOptions()...); diff != "" {
				t.Errorf("published tasks after the replay mismatch (-want +got):\n%s", diff)
			}
			// A resubscription would hide lost events behind a fresh
			// snapshot: the replay must have gone through one stream,
			// every event accepted.
			if got := e2eMetric(t, reg, metricSubscriptions); got != 1 {
				t.Errorf("%s = %v, want 1", metricSubscriptions, got)
			}
			if got := e2eMetric(t, reg, metricEventErrors); got != 0 {
				t.Errorf("%s = %v, want 0", metricEventErrors, got)
			}
			if !src.Connected() || !store.Current().Connected() {
				t.Errorf("Connected: source %v, snapshot %v; want both true", src.Connected(), store.Current().Connected())
			}
		})
	}
}

// v0Unpublished lists, per v0 capture, the tasks of its frameworks (and, for
// an agent document, of its executors) that are legitimately not published,
// with the reason. Captures not listed have none. The tasks v0 lists apart
// (pending_tasks, completed_tasks, unreachable_tasks, orphan_tasks,
// completed_frameworks, completed_executors) are never candidates, as in
// Mesos's own GET_STATE, and are not listed.
//
// Mesos-DNS's hand-edited fake.json also has a running task, some-box, whose
// framework_id (…-5348-000) is not the framework it is listed under
// (…-5348-0001): like Mesos-DNS, the simulator goes by the nesting, so the
// task is published under …-5348-0001, which the facts below expect too.
var v0Unpublished = map[string][]string{
	"mesos-api/v0-master-state/dcos-net-dns-2016/fake.json": mesosDNSFakeUnpublished,
	"mesos-dns/fake.json":           mesosDNSFakeUnpublished,
	"mesos-dns/dcos-1.13/fake.json": mesosDNSFakeUnpublished,
}

// mesosDNSFakeUnpublished are the unpublished tasks, in document order, of
// the three copies of Mesos-DNS's hand-edited fake.json: a killed task, and
// the first of two listings of task liquor-store.b8db9f73… under marathon
// (named liquor.store, then big.dog2). Mesos never lists a task twice; a task
// is identified by its framework and task ids, so the store keeps one, the
// last listed.
var mesosDNSFakeUnpublished = []string{
	"poseidon.bc4e3796-2d7a-11e4-b8df-d43d7edb01cd: terminal state TASK_KILLED",
	"liquor-store.b8db9f73-562f-11e4-a088-c20493233aa5 (liquor.store): listed again, the last listing wins",
}

// TestV0CapturesThroughV1Path serves every v0 master or agent capture from
// the simulator (converted to v1) and checks that SUBSCRIBE through the
// Source and GET_STATE through the Client publish the same tasks, and that
// those agree with facts read directly from the v0 JSON.
func TestV0CapturesThroughV1Path(t *testing.T) {
	var rels []string
	for _, dir := range []string{"mesos-api/v0-master-state", "mesos-api/v0-agent-state"} {
		rels = append(rels, e2eWalkJSON(t, dir)...)
	}
	rels = append(rels, "mesos-dns/fake.json", "mesos-dns/dcos-1.13/fake.json")

	for _, rel := range rels {
		t.Run(rel, func(t *testing.T) {
			sc, err := mesossim.LoadScenario(fixtures.Path(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			if sc.Format != mesossim.FormatV0Master && sc.Format != mesossim.FormatV0Agent {
				t.Fatalf("loaded as %s, want a v0 document", sc.Format)
			}
			_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, HeartbeatInterval: e2eHeartbeat})

			streamed := e2eStore(t, nil)
			sub := streamed.Subscribe()
			_, client := e2eSource(t, streamed, nil, ts.URL)
			subscribed := e2eNext(t, sub).Snapshot

			gs, err := client.GetState(t.Context())
			if err != nil {
				t.Fatalf("GET_STATE: %v", err)
			}
			loaded := e2eStore(t, nil)
			if err := loaded.LoadState(gs, nil); err != nil {
				t.Fatalf("LoadState: %v", err)
			}
			got := subscribed.Tasks()
			if diff := cmp.Diff(loaded.Current().Tasks(), got, statetest.CmpOptions()...); diff != "" {
				t.Errorf("tasks of SUBSCRIBE and GET_STATE differ (-GET_STATE +SUBSCRIBE):\n%s", diff)
			}

			want, unpublished := v0Facts(t, fixtures.Read(t, rel))
			if diff := cmp.Diff(v0Unpublished[rel], unpublished); diff != "" {
				t.Errorf("unpublished v0 tasks mismatch (-want +got):\n%s", diff)
			}
			gotFacts := make(map[v1.TaskKey]v0Fact, len(got))
			for _, task := range got {
				gotFacts[task.Key] = v0Fact{Name: task.Name, AgentID: task.AgentID, MesosState: task.MesosState, IPs: task.IPs}
			}
			if diff := cmp.Diff(want, gotFacts, statetest.CmpOptions()...); diff != "" {
				t.Errorf("published tasks disagree with the v0 document (-v0 +published):\n%s", diff)
			}
		})
	}
}

// TestRecoveredAgentsFailoverThroughSim fails a store over from one master
// to a new leader whose SUBSCRIBED lists the only agent as recovered
// (recovered-agents.json): the previous snapshot stays published until the
// agent re-registers, then the new leader's state is.
func TestRecoveredAgentsFailoverThroughSim(t *testing.T) {
	before, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel("operator-api.json")))
	if err != nil {
		t.Fatal(err)
	}
	after, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel("recovered-agents.json")))
	if err != nil {
		t.Fatal(err)
	}
	// The capture's facts this test relies on.
	const recoveredID = "65fccc5d-35a8-4cae-9eb2-05922043018e-S0"
	agents := after.State.GetGetAgents()
	if len(agents.GetAgents()) != 0 || len(agents.GetRecoveredAgents()) != 1 || agents.GetRecoveredAgents()[0].GetID().GetValue() != recoveredID {
		t.Fatalf("recovered-agents.json: SUBSCRIBED should list only %s, as recovered; got %+v", recoveredID, agents)
	}

	// One URL whose master is swapped at failover.
	front := &e2eSwitch{}
	old := e2eSim(t, mesossim.Options{Scenario: before})
	front.Set(old)
	ts := e2eServe(t, front)
	reg := prometheus.NewRegistry()
	store := e2eStore(t, reg)
	sub := store.Subscribe()
	src, _ := e2eSource(t, store, reg, ts.URL)

	e2eAwait(t, "the first master to replay operator-api.json", old.ReplayDone())
	e2eBarrier(t, old, store)
	prev := store.Current()
	if diff := cmp.Diff(statetest.Expected("operator-api.json"), prev.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Fatalf("tasks before the failover mismatch (-want +got):\n%s", diff)
	}
	e2eDrainTo(t, sub, prev.Revision())

	// The new leader starts from the capture's SUBSCRIBED; its events are
	// published by hand below, so that the store can be observed between
	// SUBSCRIBED and the agent's re-registration.
	fresh := e2eSim(t, mesossim.Options{Scenario: &mesossim.Scenario{Format: after.Format, State: after.State, MasterID: after.MasterID}})
	front.Set(fresh)
	old.Close() // the old leader ends its stream
	e2eWaitFor(t, "the source to subscribe to the new leader", func() bool {
		// Connected went false when the old stream ended, before the
		// new subscription was made.
		return fresh.Subscribers() == 1 && src.Connected()
	})
	if got := e2eMetric(t, reg, metricRecoveredPending); got != 1 {
		t.Errorf("%s = %v while %s has not re-registered, want 1", metricRecoveredPending, got, recoveredID)
	}
	held := store.Current()
	if held.Revision() != prev.Revision() {
		t.Errorf("revision %d published while holding for recovered agents, want %d kept", held.Revision(), prev.Revision())
	}
	if diff := cmp.Diff(statetest.Expected("operator-api.json"), held.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Errorf("tasks flushed while holding for recovered agents (-want +got):\n%s", diff)
	}
	if !held.Ready() || !held.Connected() {
		t.Errorf("held snapshot: Ready %v, Connected %v; want both true", held.Ready(), held.Connected())
	}
	select {
	case n := <-sub.C():
		t.Errorf("notified revision %d while holding for recovered agents", n.Snapshot.Revision())
	default:
	}

	// The new leader's events arrive as in the capture: the agent's
	// AGENT_ADDED, then its framework and TASK_ADDED events. The hold
	// ends RecoveredTasksWait after the re-registration (dcos-net's
	// await_tasks), so the first publication already has the agent's
	// tasks: they are never flushed in between.
	sawAgent := false
	for i := range after.Events {
		ev := proto.Clone(&after.Events[i]).(*master.Event)
		if err := fresh.Publish(ev); err != nil {
			t.Fatalf("publish event %d (%s): %v", i+2, ev.Type, err)
		}
		sawAgent = sawAgent || ev.Type == master.Event_AGENT_ADDED && ev.AgentAdded.Agent.AgentInfo.GetID().GetValue() == recoveredID
	}
	if !sawAgent {
		t.Fatalf("recovered-agents.json has no AGENT_ADDED of %s", recoveredID)
	}
	n := e2eNext(t, sub)
	if !n.Reset || n.Snapshot.Revision() <= prev.Revision() {
		t.Errorf("after the hold: notification Reset %v, revision %d; want a Reset with a revision above %d",
			n.Reset, n.Snapshot.Revision(), prev.Revision())
	}
	if _, ok := n.Snapshot.Agent(recoveredID); !ok {
		t.Errorf("after the hold: agent %s not in the published snapshot", recoveredID)
	}
	if diff := cmp.Diff(statetest.Expected("recovered-agents.json"), n.Snapshot.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Errorf("first publication after the hold: tasks mismatch (-want +got):\n%s", diff)
	}
	e2eBarrier(t, fresh, store)
	if diff := cmp.Diff(statetest.Expected("recovered-agents.json"), store.Current().Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Errorf("tasks after the new leader's events mismatch (-want +got):\n%s", diff)
	}
	if got := e2eMetric(t, reg, metricRecoveredPending); got != 0 {
		t.Errorf("%s = %v after the re-registration, want 0", metricRecoveredPending, got)
	}
}

// e2eObservation is what a test sees of one task in a notification.
type e2eObservation struct {
	Changed    []v1.TaskKey
	Present    bool
	State      v1.TaskState
	MesosState string
	Health     v1.Health
}

// TestTaskLifecycleThroughSim drives one task through its life with the
// simulator's control API and checks every notification of the Store.
func TestTaskLifecycleThroughSim(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{HeartbeatInterval: e2eHeartbeat})
	if _, err := sim.AddAgent(mesossim.AgentSpec{ID: "agent-1", Hostname: "198.18.32.1"}); err != nil {
		t.Fatal(err)
	}
	fw, err := sim.AddFramework(mesossim.FrameworkSpec{Name: "marathon"})
	if err != nil {
		t.Fatal(err)
	}
	fwID := fw.FrameworkInfo.GetID().GetValue()

	store := e2eStore(t, nil)
	sub := store.Subscribe()
	e2eSource(t, store, nil, ts.URL)
	initial := e2eNext(t, sub)
	if _, ok := initial.Snapshot.Agent("agent-1"); !ok || !initial.Reset || initial.Snapshot.TaskCount() != 0 {
		t.Fatalf("initial notification: Reset %v, agent-1 known %v, %d tasks; want a Reset with agent-1 and no task",
			initial.Reset, ok, initial.Snapshot.TaskCount())
	}

	key := v1.TaskKey{FrameworkID: fwID, TaskID: "web.1"}
	containerIP := netip.MustParseAddr("198.19.0.10")
	if !netip.MustParsePrefix("198.19.0.0/16").Contains(containerIP) {
		t.Fatalf("%s is not in the simulator's container range", containerIP)
	}
	running := v1.Task{
		Key: key, Name: "web", Framework: "marathon",
		AgentID: "agent-1", AgentIP: netip.MustParseAddr("198.18.32.1"),
		Runtime: v1.RuntimeMesos, IPs: []netip.Addr{containerIP},
		State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: v1.HealthHealthy,
		// CNI network: the discovery port is the container port; the
		// named VIP label is parsed into the port's VIPs.
		Ports: []v1.Port{{Name: "http", Protocol: v1.ProtocolTCP, Port: 8080, VIPs: []v1.VIP{
			{Label: "/web:80", Name: "/web", Port: 80},
		}}},
	}
	unhealthy := running.Clone()
	unhealthy.Health = v1.HealthUnhealthy

	observe := func(n state.Notification) e2eObservation {
		o := e2eObservation{Changed: n.Changed}
		if task, ok := n.Snapshot.Task(key); ok {
			o.Present, o.State, o.MesosState, o.Health = true, task.State, task.MesosState, task.Health
		}
		return o
	}
	changed := []v1.TaskKey{key}
	healthy, notHealthy := true, false
	for _, step := range []struct {
		name string
		act  func() error
		// want are the notifications the action causes, one per event.
		want []e2eObservation
		// task is the published task after the action, if any.
		task *v1.Task
	}{
		{
			name: "launch",
			act: func() error {
				_, err := sim.LaunchTask(mesossim.TaskSpec{
					ID: "web.1", Name: "web", Container: "MESOS", Network: "container",
					IPs: []string{containerIP.String()},
					Ports: []mesossim.PortSpec{{Name: "http", ContainerPort: 8080,
						Labels: mesossim.Labels{{Key: "VIP_0", Value: "/web:80"}}}},
					HealthCheck: &mesossim.HealthCheckSpec{}, Healthy: &healthy,
				})
				return err
			},
			// A task with a health check is unhealthy until a status
			// says otherwise (DCOS_OSS-1954).
			want: []e2eObservation{
				{Changed: changed, Present: true, State: v1.TaskPreparing, MesosState: "TASK_STAGING", Health: v1.HealthUnhealthy},
				{Changed: changed, Present: true, State: v1.TaskPreparing, MesosState: "TASK_STARTING", Health: v1.HealthUnhealthy},
				{Changed: changed, Present: true, State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: v1.HealthUnhealthy},
				{Changed: changed, Present: true, State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: v1.HealthHealthy},
			},
			task: &running,
		},
		{
			name: "mark unhealthy",
			act: func() error {
				_, err := sim.UpdateTaskStatus("web.1", "", mesossim.StatusSpec{Healthy: &notHealthy})
				return err
			},
			want: []e2eObservation{
				{Changed: changed, Present: true, State: v1.TaskRunning, MesosState: "TASK_RUNNING", Health: v1.HealthUnhealthy},
			},
			task: &unhealthy,
		},
		{
			name: "kill",
			act: func() error {
				_, err := sim.KillTask("web.1", "")
				return err
			},
			want: []e2eObservation{
				{Changed: changed, Present: true, State: v1.TaskKilling, MesosState: "TASK_KILLING", Health: v1.HealthUnhealthy},
				{Changed: changed},
			},
		},
	} {
		if err := step.act(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		var got []e2eObservation
		var last state.Notification
		for range step.want {
			last = e2eNext(t, sub)
			got = append(got, observe(last))
		}
		if diff := cmp.Diff(step.want, got); diff != "" {
			t.Fatalf("%s: notifications mismatch (-want +got):\n%s", step.name, diff)
		}
		task, ok := last.Snapshot.Task(key)
		switch {
		case step.task == nil && ok:
			t.Errorf("%s: task still published: %+v", step.name, task)
		case step.task != nil:
			if diff := cmp.Diff(*step.task, task, statetest.CmpOptions()...); diff != "" {
				t.Errorf("%s: published task mismatch (-want +got):\n%s", step.name, diff)
			}
		}
	}

	// No event beyond those: the next notification is the barrier's,
	// which changes no task.
	if _, err := sim.AddAgent(mesossim.AgentSpec{ID: "barrier", Hostname: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	n := e2eNext(t, sub)
	if _, ok := n.Snapshot.Agent("barrier"); !ok || n.Reset || len(n.Changed) != 0 {
		t.Errorf("notification after the lifecycle: Reset %v, Changed %v, barrier agent known %v; want the barrier alone",
			n.Reset, n.Changed, ok)
	}
}

// TestLeaderFailoverThroughSim follows the leading master through a standby
// that redirects, loses it, keeps serving the last state while no master
// leads, and converges on the new leader.
func TestLeaderFailoverThroughSim(t *testing.T) {
	const fixture = "operator-api.json"
	sc, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel(fixture)))
	if err != nil {
		t.Fatal(err)
	}
	leader1 := e2eSim(t, mesossim.Options{Scenario: sc, ID: "master-1"})
	ts1 := e2eServe(t, leader1)
	// The standby's redirect target changes at failover: it sits behind
	// a switch.
	standby := &e2eSwitch{}
	standby.Set(e2eSim(t, mesossim.Options{ID: "standby", Leader: ts1.Listener.Addr().String()}))
	tsStandby := e2eServe(t, standby)

	store := e2eStore(t, nil)
	src, _ := e2eSource(t, store, nil, tsStandby.URL, ts1.URL)
	e2eAwait(t, "the first leader to replay "+fixture, leader1.ReplayDone())
	e2eBarrier(t, leader1, store)
	first := store.Current()
	if diff := cmp.Diff(statetest.Expected(fixture), first.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Fatalf("tasks from the first leader mismatch (-want +got):\n%s", diff)
	}
	if got := first.LeaderInfo().GetID(); got != "master-1" || src.Leader() != ts1.URL || !first.Connected() {
		t.Fatalf("first leader: info ID %q, source leader %q, connected %v; want master-1, %s, true",
			got, src.Leader(), first.Connected(), ts1.URL)
	}

	// The leader dies: its connections drop, then it stops listening.
	ts1.CloseClientConnections()
	leader1.Close()
	ts1.Close()
	e2eWaitFor(t, "the store to notice the lost stream", func() bool { return !store.Current().Connected() })
	// No master leads now (the standby redirects to a dead one): the last
	// state is served as is.
	lost := store.Current()
	if src.Connected() || !lost.Ready() || lost.Revision() != first.Revision() {
		t.Errorf("while disconnected: source connected %v, Ready %v, revision %d; want false, true, %d",
			src.Connected(), lost.Ready(), lost.Revision(), first.Revision())
	}
	if diff := cmp.Diff(statetest.Expected(fixture), lost.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Errorf("tasks while disconnected mismatch (-want +got):\n%s", diff)
	}

	// A new leader is elected at a new address, replaying the same capture
	// from its start. The standby answers 503 while the election runs,
	// until it has so answered a GET_MASTER, then redirects to the new
	// leader: the subscription that succeeds had no leader info before
	// SUBSCRIBE, and must not leave the dead leader's in the snapshot.
	leader2 := e2eSim(t, mesossim.Options{Scenario: sc, ID: "master-2"})
	ts2 := e2eServe(t, leader2)
	standby.Set(&e2eElection{elected: e2eSim(t, mesossim.Options{ID: "standby", Leader: ts2.Listener.Addr().String()})})
	e2eAwait(t, "the new leader to replay "+fixture, leader2.ReplayDone())
	e2eBarrier(t, leader2, store)
	got := store.Current()
	if diff := cmp.Diff(statetest.Expected(fixture), got.Tasks(), statetest.CmpOptions()...); diff != "" {
		t.Errorf("tasks from the new leader mismatch (-want +got):\n%s", diff)
	}
	if id := got.LeaderInfo().GetID(); id != "master-2" || src.Leader() != ts2.URL || !got.Connected() || !src.Connected() {
		t.Errorf("new leader: info ID %q, source leader %q, connected %v/%v; want master-2, %s, true/true",
			id, src.Leader(), got.Connected(), src.Connected(), ts2.URL)
	}
	if got.Revision() <= first.Revision() {
		t.Errorf("revision %d after the failover, want above %d", got.Revision(), first.Revision())
	}
}

// e2eSwitch is an http.Handler whose target can be replaced at run time.
type e2eSwitch struct{ h atomic.Pointer[http.Handler] }

func (s *e2eSwitch) Set(h http.Handler) { s.h.Store(&h) }

func (s *e2eSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// e2eElection answers every call 503, as a Mesos master does while no
// leader is elected, until it has answered a GET_MASTER so; from then on
// elected serves the calls.
type e2eElection struct {
	elected http.Handler
	done    atomic.Bool
}

func (e *e2eElection) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.done.Load() {
		e.elected.ServeHTTP(w, r)
		return
	}
	var call master.Call
	if body, err := io.ReadAll(r.Body); err == nil && json.Unmarshal(body, &call) == nil && call.Type == master.Call_GET_MASTER {
		e.done.Store(true)
	}
	http.Error(w, "No leader elected", http.StatusServiceUnavailable)
}

// e2eSim starts a simulator (zaptest logger, e2eHeartbeat) closed at the end
// of the test.
func e2eSim(t *testing.T, opts mesossim.Options) *mesossim.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = e2eHeartbeat
	}
	sim, err := mesossim.New(opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// e2eServe serves h on loopback until the end of the test.
func e2eServe(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

// e2eStore returns a Store that resolves the fixtures' agent hostnames
// statically and registers its metrics with reg (if not nil).
func e2eStore(t *testing.T, reg prometheus.Registerer) *state.Store {
	return state.New(state.Options{
		Logger:     zaptest.NewLogger(t),
		Resolver:   statetest.FixtureResolver(),
		Registerer: reg,
		// A short await_tasks phase: long enough for events published
		// back to back over loopback, short enough for the tests.
		RecoveredTasksWait: e2eTasksWait,
	})
}

// e2eTasksWait is the RecoveredTasksWait of the end-to-end stores.
const e2eTasksWait = time.Second

// e2eSource runs a Source that subscribes to masters and feeds sink until the
// end of the test, and returns it with its client.
func e2eSource(t *testing.T, sink mesos.Sink, reg prometheus.Registerer, masters ...string) (*mesos.Source, *mesos.Client) {
	t.Helper()
	log := zaptest.NewLogger(t)
	client, err := mesos.NewClient(mesos.Config{Masters: masters, Timeout: e2eWait, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	src := mesos.NewSource(client, sink, mesos.SourceOptions{
		Logger:           log,
		Registerer:       reg,
		InitialBackoff:   5 * time.Millisecond,
		MaxBackoff:       20 * time.Millisecond,
		MissedHeartbeats: e2eMissedHeartbeats,
		Rand:             func() float64 { return 0.5 },
	})
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		timer := time.NewTimer(e2eWait)
		defer timer.Stop()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Source.Run returned %v, want context.Canceled", err)
			}
		case <-timer.C:
			t.Errorf("Source.Run did not return within %s of the end of the test", e2eWait)
		}
	})
	return src, client
}

// e2eNext returns the next notification of sub.
func e2eNext(t *testing.T, sub *state.Subscription) state.Notification {
	t.Helper()
	timer := time.NewTimer(e2eWait)
	defer timer.Stop()
	select {
	case n, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return n
	case <-timer.C:
		t.Fatalf("no store notification within %s", e2eWait)
	}
	return state.Notification{}
}

// e2eDrainTo consumes the notifications of sub up to the one of revision rev.
func e2eDrainTo(t *testing.T, sub *state.Subscription, rev uint64) {
	t.Helper()
	for e2eNext(t, sub).Snapshot.Revision() < rev {
	}
}

// e2eAwait waits until ch is closed.
func e2eAwait(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	timer := time.NewTimer(e2eWait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("timed out after %s waiting for %s", e2eWait, what)
	}
}

// e2eWaitFor polls cond every few milliseconds until it holds.
func e2eWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(e2eWait)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", e2eWait, what)
		}
	}
}

var e2eBarriers atomic.Int64

// e2eBarrier returns once store has applied every event sim has sent so far.
// It registers a marker agent through the simulator and waits for a
// published snapshot holding it: a stream delivers events in order, and a
// stream replaced meanwhile would start from a SUBSCRIBED snapshot that
// already holds every earlier change. The marker changes no task.
func e2eBarrier(t *testing.T, sim *mesossim.Server, store *state.Store) {
	t.Helper()
	id := fmt.Sprintf("barrier-%d", e2eBarriers.Add(1))
	if _, err := sim.AddAgent(mesossim.AgentSpec{ID: id, Hostname: "192.0.2.1"}); err != nil {
		t.Fatalf("add barrier agent: %v", err)
	}
	e2eWaitFor(t, "the store to apply the events up to agent "+id, func() bool {
		_, ok := store.Current().Agent(id)
		return ok
	})
}

// e2eMetric returns the sum of the series of the counter or gauge name in
// reg (0 when absent).
func e2eMetric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// e2eWalkJSON returns the .json fixtures under the fixtures directory rel, at
// any depth, relative to the fixtures root and in lexical order.
func e2eWalkJSON(t *testing.T, rel string) []string {
	t.Helper()
	root, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = filepath.WalkDir(filepath.Join(root, filepath.FromSlash(rel)), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			r, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("no fixtures under %s (err %v)", rel, err)
	}
	return out
}

// v0Fact is what a v0 document says of a task that should be published.
type v0Fact struct {
	Name       string
	AgentID    string
	MesosState string
	IPs        []netip.Addr
}

// v0Doc is the part of a v0 master (/master/state) or agent (/state)
// document that the facts come from.
type v0Doc struct {
	ID     string `json:"id"`
	PID    string `json:"pid"`
	Slaves *[]struct {
		ID string `json:"id"`
	} `json:"slaves"`
	Frameworks []struct {
		ID    string   `json:"id"`
		Tasks []v0Task `json:"tasks"`
		// Executors hold the tasks in an agent document.
		Executors []struct {
			Tasks       []v0Task `json:"tasks"`
			QueuedTasks []v0Task `json:"queued_tasks"`
		} `json:"executors"`
	} `json:"frameworks"`
}

type v0Task struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	State     string `json:"state"`
	SlaveID   string `json:"slave_id"`
	Discovery *struct {
		Name string `json:"name"`
	} `json:"discovery"`
	Statuses []struct {
		Timestamp       float64 `json:"timestamp"`
		ContainerStatus *struct {
			NetworkInfos []struct {
				IPAddresses []struct {
					IPAddress string `json:"ip_address"`
				} `json:"ip_addresses"`
				// IPAddress is the single address of a network
				// before Mesos 0.26.
				IPAddress string `json:"ip_address"`
			} `json:"network_infos"`
		} `json:"container_status"`
	} `json:"statuses"`
}

// v0Terminal are the terminal task states of Mesos.
var v0Terminal = map[string]bool{
	"TASK_FINISHED": true, "TASK_FAILED": true, "TASK_KILLED": true, "TASK_LOST": true,
	"TASK_ERROR": true, "TASK_DROPPED": true, "TASK_GONE": true, "TASK_GONE_BY_OPERATOR": true,
}

// v0Facts reads a v0 document on its own terms: the tasks listed under its
// active frameworks (executors in an agent document) that are not terminal
// and run on a registered agent (the slaves of a master document, the
// agent itself for an agent document) should be published, keyed by the
// enclosing framework, with name discovery.name else name, and the IPs of
// their latest status (largest timestamp, the later one on a tie):
// network_infos[].ip_addresses[] and the pre-0.26 network_infos[].ip_address,
// in order, without duplicates. It also returns the other tasks, each with
// why it is not published.
func v0Facts(t *testing.T, body []byte) (map[v1.TaskKey]v0Fact, []string) {
	t.Helper()
	var doc v0Doc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode v0 document: %v", err)
	}
	agents := make(map[string]bool)
	if doc.Slaves != nil {
		for _, a := range *doc.Slaves {
			agents[a.ID] = true
		}
	} else {
		if !strings.HasPrefix(doc.PID, "slave(") {
			t.Fatalf("v0 document with neither slaves nor an agent pid (pid %q)", doc.PID)
		}
		agents[doc.ID] = true
	}
	facts := make(map[v1.TaskKey]v0Fact)
	var unpublished []string
	for _, fw := range doc.Frameworks {
		tasks := fw.Tasks
		for _, e := range fw.Executors {
			tasks = append(append(tasks, e.QueuedTasks...), e.Tasks...)
		}
		for _, task := range tasks {
			agentID := task.SlaveID
			if agentID == "" && doc.Slaves == nil {
				agentID = doc.ID
			}
			switch {
			case v0Terminal[task.State]:
				unpublished = append(unpublished, task.ID+": terminal state "+task.State)
				continue
			case !agents[agentID]:
				unpublished = append(unpublished, task.ID+": unknown agent "+agentID)
				continue
			}
			f := v0Fact{Name: task.Name, AgentID: agentID, MesosState: task.State}
			if task.Discovery != nil && task.Discovery.Name != "" {
				f.Name = task.Discovery.Name
			}
			latest := -1
			for i, st := range task.Statuses {
				if latest < 0 || st.Timestamp >= task.Statuses[latest].Timestamp {
					latest = i
				}
			}
			if latest >= 0 && task.Statuses[latest].ContainerStatus != nil {
				add := func(s string) {
					if s == "" {
						return
					}
					ip, err := netip.ParseAddr(s)
					if err != nil {
						t.Errorf("task %s: status IP %q: %v", task.ID, s, err)
						return
					}
					ip = ip.Unmap()
					for _, have := range f.IPs {
						if have == ip {
							return
						}
					}
					f.IPs = append(f.IPs, ip)
				}
				for _, ni := range task.Statuses[latest].ContainerStatus.NetworkInfos {
					for _, a := range ni.IPAddresses {
						add(a.IPAddress)
					}
					if ni.IPAddress != "" {
						add(ni.IPAddress)
					}
				}
			}
			key := v1.TaskKey{FrameworkID: fw.ID, TaskID: task.ID}
			if prev, dup := facts[key]; dup {
				unpublished = append(unpublished, fmt.Sprintf("%s (%s): listed again, the last listing wins", task.ID, prev.Name))
			}
			facts[key] = f
		}
	}
	return facts, unpublished
}
