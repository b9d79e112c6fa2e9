package taskstate_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

const fixture = "operator-api.json"

// newRaft starts a 1-node raft cluster with the task kind registered and
// returns its store.
func newRaft(t *testing.T) *raftstore.Store {
	t.Helper()
	c := raftstoretest.NewCluster(t, 1, raftstoretest.Options{
		Kinds: map[string]raftstore.ValidateFunc{taskstate.Kind: taskstate.Validate},
	})
	return c.Leader(t).Store()
}

// newMesos returns a state store, loaded with fixture unless it is empty.
func newMesos(t *testing.T, fixture string) *state.Store {
	t.Helper()
	s := state.New(state.Options{Logger: zaptest.NewLogger(t), Resolver: statetest.FixtureResolver()})
	if fixture != "" {
		statetest.ApplyFixture(t, s, statetest.Rel(fixture))
	}
	return s
}

// recordingRaft wraps a Raft, counting barriers and the batches applied, and
// running hook (once) before the first Apply.
type recordingRaft struct {
	taskstate.Raft
	mu        sync.Mutex
	barriers  int
	batches   []int // ops per successful batch
	conflicts int
	hook      func()
}

// Barrier counts the barriers that completed.
func (r *recordingRaft) Barrier(ctx context.Context) error {
	err := r.Raft.Barrier(ctx)
	r.mu.Lock()
	r.barriers++
	r.mu.Unlock()
	return err
}

func (r *recordingRaft) Apply(ctx context.Context, cmd raftstore.Command) (raftstore.Result, error) {
	r.mu.Lock()
	hook := r.hook
	r.hook = nil
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	res, err := r.Raft.Apply(ctx, cmd)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, raftstore.ErrConflict):
		r.conflicts++
	case err == nil:
		r.batches = append(r.batches, len(cmd.(raftstore.Batch).Ops))
	}
	return res, err
}

func (r *recordingRaft) stats() (barriers int, batches []int, conflicts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.barriers, slices.Clone(r.batches), r.conflicts
}

// start runs c until the end of the test and checks that Run then returns
// context.Canceled. The returned func stops it early and waits.
func start(t *testing.T, c *taskstate.Controller) (stop func()) {
	t.Helper()
	return raftstoretest.RunInBackground(t, c.Run, context.Canceled)
}

// raftTasks decodes the tasks held by raft, checking each key.
func raftTasks(t *testing.T, s *raftstore.Store) []v1.Task {
	t.Helper()
	tasks := []v1.Task{}
	for _, o := range s.List(taskstate.Kind) {
		var task v1.Task
		if err := json.Unmarshal(o.Value, &task); err != nil {
			t.Fatalf("decode raft task %s: %v", o.Key, err)
		}
		if o.Key != task.Key.String() {
			t.Errorf("raft task %s stored under key %s", task.Key, o.Key)
		}
		tasks = append(tasks, task)
	}
	return tasks
}

// waitTasks waits until raft holds exactly want, then checks it with cmp.
func waitTasks(t *testing.T, s *raftstore.Store, want []v1.Task) {
	t.Helper()
	raftstoretest.WaitFor(t, "raft to hold the expected tasks", func() bool {
		return cmp.Diff(want, raftTasks(t, s), statetest.CmpOptions()...) == ""
	})
	if diff := cmp.Diff(want, raftTasks(t, s), statetest.CmpOptions()...); diff != "" {
		t.Fatalf("raft tasks (-want +got):\n%s", diff)
	}
}

// waitSynced waits until c has synced m's current snapshot.
func waitSynced(t *testing.T, c *taskstate.Controller, m *state.Store) {
	t.Helper()
	rev := m.Current().Revision()
	raftstoretest.WaitFor(t, "the controller to sync the Mesos snapshot", func() bool {
		return c.SyncedRevision() == rev
	})
}

func TestReplayThenRestartWritesNothing(t *testing.T) {
	rs := newRaft(t)
	m := newMesos(t, fixture)
	want := statetest.Expected(fixture)

	rec := &recordingRaft{Raft: rs}
	first := taskstate.New(m, rec, taskstate.Options{Logger: zaptest.NewLogger(t), MaxBatchOps: 4})
	stop := start(t, first)
	waitTasks(t, rs, want)
	waitSynced(t, first, m)
	stop()

	// Bounded batches: ceil(n/4) entries of at most 4 ops.
	_, batches, conflicts := rec.stats()
	var wantBatches []int
	for n := len(want); n > 0; n -= 4 {
		wantBatches = append(wantBatches, min(n, 4))
	}
	if diff := cmp.Diff(wantBatches, batches); diff != "" {
		t.Errorf("batches of the first run, ops per entry (-want +got):\n%s", diff)
	}
	if conflicts != 0 {
		t.Errorf("conflicts = %d, want 0", conflicts)
	}

	// A new leader's controller over the same Mesos state writes nothing.
	index := rs.Index()
	rec2 := &recordingRaft{Raft: rs}
	second := taskstate.New(m, rec2, taskstate.Options{Logger: zaptest.NewLogger(t)})
	start(t, second)
	waitSynced(t, second, m)
	if got := rs.Index(); got != index {
		t.Errorf("raft index after the second run = %d, want %d (unchanged)", got, index)
	}
	if _, batches, _ := rec2.stats(); len(batches) != 0 {
		t.Errorf("second run applied %d batches, want 0", len(batches))
	}
	waitTasks(t, rs, want)
}

func TestEqualValueNotRewritten(t *testing.T) {
	want := statetest.Expected(fixture)
	rs := newRaft(t)
	// The same tasks, formatted differently: equal by value.
	var ops []raftstore.Op
	for _, task := range want {
		value, err := json.MarshalIndent(task, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, raftstore.PutOp(raftstore.Put{Kind: taskstate.Kind, Key: task.Key.String(), Value: value}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), raftstoretest.Timeout)
	defer cancel()
	if _, err := rs.Apply(ctx, raftstore.Batch{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	index := rs.Index()

	m := newMesos(t, fixture)
	c := taskstate.New(m, rs, taskstate.Options{Logger: zaptest.NewLogger(t)})
	start(t, c)
	waitSynced(t, c, m)
	if got := rs.Index(); got != index {
		t.Errorf("raft index = %d, want %d (unchanged)", got, index)
	}
}

func TestNotSyncedWritesNothing(t *testing.T) {
	rs := newRaft(t)
	m := newMesos(t, "")
	rec := &recordingRaft{Raft: rs}
	c := taskstate.New(m, rec, taskstate.Options{Logger: zaptest.NewLogger(t)})
	start(t, c)

	// Run subscribes right after its barrier; nothing has been published,
	// so there is nothing it may write. The index is taken once the
	// barrier (and the new leader's own entries before it) has applied.
	raftstoretest.WaitFor(t, "the barrier", func() bool {
		b, _, _ := rec.stats()
		return b == 1
	})
	index := rs.Index()
	m.Disconnected(errors.New("mesos unreachable"))
	if got := rs.Index(); got != index {
		t.Errorf("raft index before Mesos synced = %d, want %d", got, index)
	}
	if got := c.SyncedRevision(); got != 0 {
		t.Errorf("SyncedRevision() before Mesos synced = %d, want 0", got)
	}
	if _, batches, _ := rec.stats(); len(batches) != 0 {
		t.Errorf("applied %d batches before Mesos synced, want 0", len(batches))
	}

	// Once Mesos syncs, the tasks are written.
	statetest.ApplyFixture(t, m, statetest.Rel(fixture))
	waitTasks(t, rs, statetest.Expected(fixture))
}

func TestConcurrentWriterConverges(t *testing.T) {
	want := statetest.Expected(fixture)
	if len(want) < 2 {
		t.Fatalf("fixture %s has %d tasks, want at least 2", fixture, len(want))
	}
	tests := []struct {
		name string
		// write is the concurrent write, made just before the
		// controller's first batch.
		write func(t *testing.T, rs *raftstore.Store)
		// wantConflict: the write breaks the batch's precondition;
		// otherwise the controller finds it when it diffs again.
		wantConflict bool
	}{
		{"created a task the controller creates too", func(t *testing.T, rs *raftstore.Store) {
			stale := want[0].Clone()
			stale.Name = "stale-" + stale.Name
			put(t, rs, stale)
		}, true},
		{"created a task Mesos does not know", func(t *testing.T, rs *raftstore.Store) {
			ghost := want[1].Clone()
			ghost.Key.TaskID = "ghost"
			put(t, rs, ghost)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRaft(t)
			m := newMesos(t, fixture)
			rec := &recordingRaft{Raft: rs, hook: func() { tt.write(t, rs) }}
			c := taskstate.New(m, rec, taskstate.Options{Logger: zaptest.NewLogger(t)})
			start(t, c)
			waitTasks(t, rs, want)
			waitSynced(t, c, m)
			if _, _, conflicts := rec.stats(); (conflicts > 0) != tt.wantConflict {
				t.Errorf("conflicts = %d, want a conflict: %v", conflicts, tt.wantConflict)
			}
		})
	}
}

// put writes task unconditionally, as a concurrent writer would.
func put(t *testing.T, rs *raftstore.Store, task v1.Task) {
	t.Helper()
	value, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), raftstoretest.Timeout)
	defer cancel()
	if _, err := rs.Apply(ctx, raftstore.Put{Kind: taskstate.Kind, Key: task.Key.String(), Value: value}); err != nil {
		t.Fatalf("concurrent put of %s: %v", task.Key, err)
	}
}

func TestDriftRepaired(t *testing.T) {
	want := statetest.Expected(fixture)
	rs := newRaft(t)
	// Raft holds a changed task and one Mesos no longer has, as after a
	// leader change that missed updates.
	changed := want[0].Clone()
	changed.MesosState, changed.State = "TASK_STAGING", v1.TaskPreparing
	gone := want[0].Clone()
	gone.Key.TaskID = "gone"
	put(t, rs, changed)
	put(t, rs, gone)

	m := newMesos(t, fixture)
	rec := &recordingRaft{Raft: rs}
	c := taskstate.New(m, rec, taskstate.Options{Logger: zaptest.NewLogger(t)})
	start(t, c)
	waitTasks(t, rs, want)
	waitSynced(t, c, m)
	_, batches, _ := rec.stats()
	// One entry: every new task, the changed one and the delete.
	if diff := cmp.Diff([]int{len(want) + 1}, batches); diff != "" {
		t.Errorf("ops per entry (-want +got):\n%s", diff)
	}
}

func TestKilledTaskRemovedThroughSim(t *testing.T) {
	sc, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel(fixture)))
	if err != nil {
		t.Fatal(err)
	}
	sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, HeartbeatInterval: 100 * time.Millisecond})
	m := newMesos(t, "")
	log := zaptest.NewLogger(t)
	client, err := mesos.NewClient(mesos.Config{Masters: []string{ts.URL}, Timeout: raftstoretest.Timeout, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	src := mesos.NewSource(client, m, mesos.SourceOptions{Logger: log, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	srcCtx, cancelSrc := context.WithCancel(t.Context())
	srcDone := make(chan struct{})
	go func() {
		defer close(srcDone)
		_ = src.Run(srcCtx) // returns the context's error
	}()
	t.Cleanup(func() { cancelSrc(); <-srcDone })

	rs := newRaft(t)
	c := taskstate.New(m, rs, taskstate.Options{Logger: log})
	start(t, c)

	want := statetest.Expected(fixture)
	waitTasks(t, rs, want)

	var victim v1.Task
	for _, task := range want {
		if task.State == v1.TaskRunning {
			victim = task
			break
		}
	}
	if victim.Key.TaskID == "" {
		t.Fatalf("fixture %s has no running task to kill", fixture)
	}
	if _, err := sim.KillTask(victim.Key.TaskID, victim.Key.FrameworkID); err != nil {
		t.Fatalf("kill %s: %v", victim.Key, err)
	}
	want = slices.DeleteFunc(want, func(task v1.Task) bool { return task.Key == victim.Key })
	waitTasks(t, rs, want)
}

func TestValidate(t *testing.T) {
	task := statetest.Expected(fixture)[0]
	good, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	bad := task.Clone()
	bad.State = "sleeping"
	badValue, err := json.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		value   string
		wantErr bool
	}{
		{"valid task under its key", task.Key.String(), string(good), false},
		{"unknown field accepted", task.Key.String(), string(good[:len(good)-1]) + `,"future":1}`, false},
		{"other key", "fw/other", string(good), true},
		{"invalid state", task.Key.String(), string(badValue), true},
		{"not JSON object", task.Key.String(), `[1]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := taskstate.Validate(tt.key, json.RawMessage(tt.value))
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterKinds(t *testing.T) {
	f := raftstore.NewFSM(raftstore.FSMOptions{})
	if err := taskstate.RegisterKinds(f); err != nil {
		t.Fatalf("RegisterKinds() = %v", err)
	}
	if err := taskstate.RegisterKinds(f); err == nil {
		t.Errorf("second RegisterKinds() = nil, want an error for a kind registered twice")
	}
}
