package state

import (
	"cmp"
	"iter"
	"time"

	"github.com/benbjohnson/immutable"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// taskEntry is one task as stored: the raw task (statuses bounded to
// MaxStatuses, state = latest TASK_UPDATED.state) and its normalised form.
// Entries are never modified once stored; an update stores a new entry.
type taskEntry struct {
	raw  *mesos.Task
	task v1.Task
}

// agentEntry is one registered agent, raw and normalised.
type agentEntry struct {
	raw   *master.Response_GetAgents_Agent
	agent v1.Agent
}

// frameworkEntry is one registered framework, raw and normalised.
type frameworkEntry struct {
	raw       *master.Response_GetFrameworks_Framework
	framework v1.Framework
}

type taskKeyComparer struct{}

func (taskKeyComparer) Compare(a, b v1.TaskKey) int { return a.Compare(b) }

type stringComparer struct{}

func (stringComparer) Compare(a, b string) int { return cmp.Compare(a, b) }

func newTaskMap() *immutable.SortedMap[v1.TaskKey, *taskEntry] {
	return immutable.NewSortedMap[v1.TaskKey, *taskEntry](taskKeyComparer{})
}

func newAgentMap() *immutable.SortedMap[string, *agentEntry] {
	return immutable.NewSortedMap[string, *agentEntry](stringComparer{})
}

func newFrameworkMap() *immutable.SortedMap[string, *frameworkEntry] {
	return immutable.NewSortedMap[string, *frameworkEntry](stringComparer{})
}

// Snapshot is an immutable view of the Mesos state. Taking one is O(1): it
// shares persistent maps with the store, and later events build new maps
// instead of changing these. Everything it returns is shared with it and
// must be treated as read-only (v1.Task.Clone for a private copy).
type Snapshot struct {
	revision   uint64
	ready      bool
	connected  bool
	lastEvent  time.Time
	tasks      *immutable.SortedMap[v1.TaskKey, *taskEntry]
	agents     *immutable.SortedMap[string, *agentEntry]
	frameworks *immutable.SortedMap[string, *frameworkEntry]
	leader     v1.Master
	leaderInfo *mesos.MasterInfo
}

// emptySnapshot is the snapshot before anything has been published.
func emptySnapshot() *Snapshot {
	return &Snapshot{tasks: newTaskMap(), agents: newAgentMap(), frameworks: newFrameworkMap()}
}

// Revision numbers the published snapshots: 0 before the first, then +1 per
// published change of tasks, agents, frameworks or leader. Snapshots that
// differ only in Connected or LastEvent share a revision.
func (s *Snapshot) Revision() uint64 { return s.revision }

// Ready reports whether the snapshot holds a complete Mesos state, i.e. it
// was published after a SUBSCRIBED or GET_STATE (and after any wait for
// recovered agents). A ready snapshot stays ready while disconnected.
func (s *Snapshot) Ready() bool { return s.ready }

// Connected reports whether the store followed a live Mesos connection when
// the snapshot was taken; false means it serves the last known state.
func (s *Snapshot) Connected() bool { return s.connected }

// LastEvent is when the store last received a Mesos event or snapshot
// (heartbeats included if the caller applies them); zero if never.
func (s *Snapshot) LastEvent() time.Time { return s.lastEvent }

// TaskCount returns the number of published tasks.
func (s *Snapshot) TaskCount() int { return s.tasks.Len() }

// Task returns the normalised task with the given key, if published.
func (s *Snapshot) Task(key v1.TaskKey) (v1.Task, bool) {
	e, ok := s.tasks.Get(key)
	if !ok {
		return v1.Task{}, false
	}
	return e.task, true
}

// RawTask returns the Mesos task with the given key, if published. Its state
// is the latest TASK_UPDATED.state and it holds the newest MaxStatuses
// statuses. It is shared: do not modify it.
func (s *Snapshot) RawTask(key v1.TaskKey) (*mesos.Task, bool) {
	e, ok := s.tasks.Get(key)
	if !ok {
		return nil, false
	}
	return e.raw, true
}

// Tasks returns the published tasks sorted by key.
func (s *Snapshot) Tasks() []v1.Task {
	out := make([]v1.Task, 0, s.tasks.Len())
	for t := range s.All() {
		out = append(out, t)
	}
	return out
}

// All iterates over the published tasks in key order, yielding each
// normalised task with its raw Mesos task (shared: do not modify).
func (s *Snapshot) All() iter.Seq2[v1.Task, *mesos.Task] {
	return func(yield func(v1.Task, *mesos.Task) bool) {
		itr := s.tasks.Iterator()
		for !itr.Done() {
			_, e, _ := itr.Next()
			if !yield(e.task, e.raw) {
				return
			}
		}
	}
}

// Agent returns the registered agent with the given id.
func (s *Snapshot) Agent(id string) (v1.Agent, bool) {
	e, ok := s.agents.Get(id)
	if !ok {
		return v1.Agent{}, false
	}
	return e.agent, true
}

// RawAgent returns the registered agent with the given id as Mesos reported
// it (shared: do not modify).
func (s *Snapshot) RawAgent(id string) (*master.Response_GetAgents_Agent, bool) {
	e, ok := s.agents.Get(id)
	if !ok {
		return nil, false
	}
	return e.raw, true
}

// Agents returns the registered agents sorted by id.
func (s *Snapshot) Agents() []v1.Agent {
	out := make([]v1.Agent, 0, s.agents.Len())
	for itr := s.agents.Iterator(); !itr.Done(); {
		_, e, _ := itr.Next()
		out = append(out, e.agent)
	}
	return out
}

// Framework returns the registered framework with the given id.
func (s *Snapshot) Framework(id string) (v1.Framework, bool) {
	e, ok := s.frameworks.Get(id)
	if !ok {
		return v1.Framework{}, false
	}
	return e.framework, true
}

// RawFramework returns the registered framework with the given id as Mesos
// reported it (shared: do not modify).
func (s *Snapshot) RawFramework(id string) (*master.Response_GetFrameworks_Framework, bool) {
	e, ok := s.frameworks.Get(id)
	if !ok {
		return nil, false
	}
	return e.raw, true
}

// Frameworks returns the registered frameworks sorted by id.
func (s *Snapshot) Frameworks() []v1.Framework {
	out := make([]v1.Framework, 0, s.frameworks.Len())
	for itr := s.frameworks.Iterator(); !itr.Done(); {
		_, e, _ := itr.Next()
		out = append(out, e.framework)
	}
	return out
}

// Leader returns the leading Mesos master, zero if unknown.
func (s *Snapshot) Leader() v1.Master { return s.leader }

// LeaderInfo returns the leading master's MasterInfo as GET_MASTER reported
// it, nil if unknown (shared: do not modify).
func (s *Snapshot) LeaderInfo() *mesos.MasterInfo { return s.leaderInfo }
