package state_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

// received is a notification reduced to what the tests compare.
type received struct {
	Revision uint64
	Reset    bool
	Changed  []v1.TaskKey
}

// drain returns the notifications queued on sub without waiting.
func drain(sub *state.Subscription) []received {
	var out []received
	for {
		select {
		case n, ok := <-sub.C():
			if !ok {
				return out
			}
			out = append(out, received{n.Snapshot.Revision(), n.Reset, n.Changed})
		default:
			return out
		}
	}
}

// TestSubscribers replays pod-tasks.json (8 events, 8 publications) to a
// subscriber that keeps up and one that never reads: the slow one is never
// waited for and ends up with one reset carrying the latest snapshot.
func TestSubscribers(t *testing.T) {
	const fw = "8ae294b7-a766-42d6-960c-ad8acf0f0db6-0000"
	foo := v1.TaskKey{FrameworkID: fw, TaskID: "app.instance-caff1565-d0db-11e8-aa23-70b3d5800002.foo"}
	bar := v1.TaskKey{FrameworkID: fw, TaskID: "app.instance-caff1565-d0db-11e8-aa23-70b3d5800002.bar"}
	reg := prometheus.NewRegistry()
	s, _ := newStore(t, func(o *state.Options) {
		o.SubscriptionBuffer = 2
		o.Registerer = reg
	})
	slow := s.Subscribe()
	if got := drain(slow); len(got) != 0 {
		t.Fatalf("notifications before anything was published: %+v", got)
	}

	var fast []received
	events := statetest.Events(t, statetest.Rel("pod-tasks.json"))
	fastSub := s.Subscribe()
	subscribed(t, s, events[0])
	fast = append(fast, drain(fastSub)...)
	for _, ev := range events[1:] {
		apply(t, s, ev)
		fast = append(fast, drain(fastSub)...)
	}

	wantFast := []received{
		{Revision: 1, Reset: true},
		{Revision: 2, Changed: []v1.TaskKey{foo}},
		{Revision: 3, Changed: []v1.TaskKey{bar}},
		{Revision: 4, Changed: []v1.TaskKey{foo}},
		{Revision: 5, Changed: []v1.TaskKey{bar}},
		{Revision: 6, Changed: []v1.TaskKey{foo}},
		{Revision: 7, Changed: []v1.TaskKey{bar}},
		{Revision: 8, Changed: []v1.TaskKey{bar}},
	}
	if diff := cmp.Diff(wantFast, fast); diff != "" {
		t.Errorf("fast subscriber notifications mismatch (-want +got):\n%s", diff)
	}

	// Buffer 2: 1,2 queued; 3 overflows -> R3; 4 queued; 5 -> R5; 6; 7 -> R7; 8.
	wantSlow := []received{{Revision: 7, Reset: true}, {Revision: 8, Changed: []v1.TaskKey{bar}}}
	if diff := cmp.Diff(wantSlow, drain(slow)); diff != "" {
		t.Errorf("slow subscriber notifications mismatch (-want +got):\n%s", diff)
	}
	if got := metricValue(t, reg, "mesosnet_mesos_state_notifications_coalesced_total"); got != 3 {
		t.Errorf("coalesced = %v, want 3", got)
	}

	// A subscriber joining late starts with a reset of the current state.
	late := s.Subscribe()
	if diff := cmp.Diff([]received{{Revision: 8, Reset: true}}, drain(late)); diff != "" {
		t.Errorf("late subscriber notifications mismatch (-want +got):\n%s", diff)
	}

	// Unsubscribe closes the channel; publishing afterwards is fine.
	s.Unsubscribe(slow)
	s.Unsubscribe(slow)
	if _, ok := <-slow.C(); ok {
		t.Error("channel still open after Unsubscribe")
	}
	apply(t, s, taskUpdated(foo, mesos.TASK_KILLED, 2e9))
	if diff := cmp.Diff([]received{{Revision: 9, Changed: []v1.TaskKey{foo}}}, drain(late)); diff != "" {
		t.Errorf("late subscriber after the kill (-want +got):\n%s", diff)
	}
}

// TestNoNotificationWithoutChange checks that heartbeats and disconnections
// change no revision and notify nobody.
func TestNoNotificationWithoutChange(t *testing.T) {
	s, clock := newStore(t)
	statetest.ApplyFixture(t, s, statetest.Rel("unhealthy.json"))
	sub := s.Subscribe()
	drain(sub)
	rev := s.Current().Revision()
	clock.Advance(15e9)
	apply(t, s, &master.Event{Type: master.Event_HEARTBEAT})
	s.Disconnected(nil)
	if got := drain(sub); len(got) != 0 {
		t.Errorf("notifications without a change: %+v", got)
	}
	if s.Current().Revision() != rev {
		t.Errorf("revision moved from %d to %d", rev, s.Current().Revision())
	}
}
