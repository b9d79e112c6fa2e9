package mesossim

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Retention limits, Mesos's defaults for --max_completed_frameworks and
// --max_completed_tasks_per_framework.
const (
	maxCompletedFrameworks        = 50
	maxCompletedTasksPerFramework = 1000
)

type taskKey struct {
	framework, task string
}

// cluster is the master's view of the cluster, updated by applying operator
// API events exactly as they are streamed to subscribers, so that GET_STATE,
// a new SUBSCRIBED snapshot and the event history always agree. It is not
// safe for concurrent use; Server guards it with its mutex.
type cluster struct {
	agents              []master.Response_GetAgents_Agent
	recoveredAgents     []mesos.AgentInfo
	frameworks          []master.Response_GetFrameworks_Framework
	completedFrameworks []master.Response_GetFrameworks_Framework
	executors           []master.Response_GetExecutors_Executor

	tasks       []*mesos.Task // active tasks in launch order
	index       map[taskKey]int
	pending     []mesos.Task
	unreachable []mesos.Task
	completed   []mesos.Task
	orphans     []mesos.Task
}

func newCluster(st *master.Response_GetState) *cluster {
	c := &cluster{index: map[taskKey]int{}}
	if st == nil {
		return c
	}
	c.agents = st.GetGetAgents().GetAgents()
	c.recoveredAgents = st.GetGetAgents().GetRecoveredAgents()
	c.frameworks = st.GetGetFrameworks().GetFrameworks()
	c.completedFrameworks = st.GetGetFrameworks().GetCompletedFrameworks()
	c.executors = st.GetGetExecutors().GetExecutors()
	tasks := st.GetGetTasks()
	for i := range tasks.GetTasks() {
		// Loaded states are kept as they are, even with duplicate IDs
		// (Mesos-DNS's hand-edited fake.json has two tasks with one ID);
		// the index points at the last one.
		t := &tasks.Tasks[i]
		c.index[keyOf(t)] = len(c.tasks)
		c.tasks = append(c.tasks, t)
	}
	c.pending = tasks.GetPendingTasks()
	c.unreachable = tasks.GetUnreachableTasks()
	c.completed = tasks.GetCompletedTasks()
	c.orphans = tasks.GetOrphanTasks()
	return c
}

func keyOf(t *mesos.Task) taskKey {
	return taskKey{t.FrameworkID.Value, t.TaskID.Value}
}

func (c *cluster) addTask(t *mesos.Task) {
	k := keyOf(t)
	if i, ok := c.index[k]; ok {
		c.tasks[i] = t
		return
	}
	c.index[k] = len(c.tasks)
	c.tasks = append(c.tasks, t)
}

func (c *cluster) removeTask(k taskKey) *mesos.Task {
	i, ok := c.index[k]
	if !ok {
		return nil
	}
	t := c.tasks[i]
	copy(c.tasks[i:], c.tasks[i+1:])
	c.tasks[len(c.tasks)-1] = nil
	c.tasks = c.tasks[:len(c.tasks)-1]
	delete(c.index, k)
	for j := range c.tasks {
		if j >= i || keyOf(c.tasks[j]) == k {
			c.index[keyOf(c.tasks[j])] = j
		}
	}
	return t
}

// complete records a finished task, keeping at most
// maxCompletedTasksPerFramework per framework (the oldest go first).
func (c *cluster) complete(t mesos.Task) {
	c.completed = append(c.completed, t)
	n, first := 0, -1
	for i := range c.completed {
		if c.completed[i].FrameworkID.Value == t.FrameworkID.Value {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n > maxCompletedTasksPerFramework {
		c.completed = append(c.completed[:first], c.completed[first+1:]...)
	}
}

// state returns the GET_STATE view. It shares memory with the cluster: encode
// it before the cluster changes again.
func (c *cluster) state() *master.Response_GetState {
	tasks := make([]mesos.Task, len(c.tasks))
	for i, t := range c.tasks {
		tasks[i] = *t
	}
	return &master.Response_GetState{
		GetTasks: &master.Response_GetTasks{
			PendingTasks:     c.pending,
			Tasks:            tasks,
			UnreachableTasks: c.unreachable,
			CompletedTasks:   c.completed,
			OrphanTasks:      c.orphans,
		},
		GetExecutors: &master.Response_GetExecutors{Executors: c.executors},
		GetFrameworks: &master.Response_GetFrameworks{
			Frameworks:          c.frameworks,
			CompletedFrameworks: c.completedFrameworks,
		},
		GetAgents: &master.Response_GetAgents{
			Agents:          c.agents,
			RecoveredAgents: c.recoveredAgents,
		},
	}
}

func (c *cluster) agent(id string) (int, bool) {
	for i := range c.agents {
		if c.agents[i].AgentInfo.GetID().GetValue() == id {
			return i, true
		}
	}
	return -1, false
}

func (c *cluster) framework(id string) (int, bool) {
	for i := range c.frameworks {
		if c.frameworks[i].FrameworkInfo.GetID().GetValue() == id {
			return i, true
		}
	}
	return -1, false
}

// IsTerminal reports whether a task in state s will never run again; the
// master then moves it to completed_tasks.
func IsTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_LOST,
		mesos.TASK_ERROR, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// apply updates the cluster with one operator API event, as the master's
// own bookkeeping would have before it sent the event. It reports whether
// the event referred to something the cluster knows (a TASK_UPDATED for an
// unknown task changes nothing).
func (c *cluster) apply(ev *master.Event, now time.Time) bool {
	switch ev.GetType() {
	case master.Event_TASK_ADDED:
		t := ev.GetTaskAdded().Task
		if IsTerminal(taskState(&t)) {
			// An agent re-registering after a master fail-over reports
			// finished tasks too; the simulated framework acknowledges
			// at once, so they are completed right away.
			c.removeTask(keyOf(&t))
			c.complete(t)
			break
		}
		c.addTask(&t)
	case master.Event_TASK_UPDATED:
		return c.applyTaskUpdated(ev.GetTaskUpdated())
	case master.Event_AGENT_ADDED:
		a := ev.GetAgentAdded().Agent
		id := a.AgentInfo.GetID().GetValue()
		if i, ok := c.agent(id); ok {
			c.agents[i] = a
		} else {
			c.agents = append(c.agents, a)
		}
		c.dropRecovered(id)
	case master.Event_AGENT_REMOVED:
		id := ev.GetAgentRemoved().AgentID.Value
		c.dropRecovered(id)
		i, ok := c.agent(id)
		if !ok {
			return false
		}
		c.agents = append(c.agents[:i], c.agents[i+1:]...)
	case master.Event_FRAMEWORK_ADDED, master.Event_FRAMEWORK_UPDATED:
		fw := ev.GetFrameworkAdded().GetFramework()
		if ev.GetType() == master.Event_FRAMEWORK_UPDATED {
			fw = ev.GetFrameworkUpdated().GetFramework()
		}
		if i, ok := c.framework(fw.FrameworkInfo.GetID().GetValue()); ok {
			c.frameworks[i] = fw
		} else {
			c.frameworks = append(c.frameworks, fw)
		}
	case master.Event_FRAMEWORK_REMOVED:
		info := ev.GetFrameworkRemoved().FrameworkInfo
		id := info.GetID().GetValue()
		i, ok := c.framework(id)
		if !ok {
			return false
		}
		fw := c.frameworks[i]
		c.frameworks = append(c.frameworks[:i], c.frameworks[i+1:]...)
		fw.FrameworkInfo = info
		fw.Active, fw.Connected = false, false
		fw.UnregisteredTime = &mesos.TimeInfo{Nanoseconds: now.UnixNano()}
		c.completedFrameworks = append(c.completedFrameworks, fw)
		if n := len(c.completedFrameworks); n > maxCompletedFrameworks {
			c.completedFrameworks = c.completedFrameworks[n-maxCompletedFrameworks:]
		}
		// The master removes whatever tasks are left; normally they were
		// killed (with TASK_UPDATED events) before.
		for _, t := range append([]*mesos.Task(nil), c.tasks...) {
			if t.FrameworkID.Value == id {
				c.complete(*c.removeTask(keyOf(t)))
			}
		}
	}
	return true
}

func (c *cluster) dropRecovered(id string) {
	out := c.recoveredAgents[:0]
	for _, a := range c.recoveredAgents {
		if a.GetID().GetValue() != id {
			out = append(out, a)
		}
	}
	c.recoveredAgents = out
}

func (c *cluster) applyTaskUpdated(u *master.Event_TaskUpdated) bool {
	k := taskKey{u.FrameworkID.Value, u.Status.TaskID.Value}
	var task *mesos.Task
	if i, ok := c.index[k]; ok {
		task = c.tasks[i]
	} else {
		// An unreachable task that reports again is running again.
		for i := range c.unreachable {
			if keyOf(&c.unreachable[i]) == k {
				found := c.unreachable[i]
				c.unreachable = append(c.unreachable[:i], c.unreachable[i+1:]...)
				c.addTask(&found)
				task = &found
				break
			}
		}
	}
	if task == nil {
		return false
	}
	state := u.GetState()
	task.State = &state
	status := u.Status
	status.Data = nil // the master does not keep status data
	task.StatusUpdateState = status.State
	task.StatusUpdateUUID = status.UUID
	task.Statuses = append(task.Statuses, status)
	switch {
	case IsTerminal(state):
		c.complete(*c.removeTask(k))
	case state == mesos.TASK_UNREACHABLE:
		c.unreachable = append(c.unreachable, *c.removeTask(k))
	}
	return true
}

// findTasks returns the active (or unreachable, which may come back) tasks
// with the given task ID, optionally restricted to a framework.
func (c *cluster) findTasks(id, framework string) []*mesos.Task {
	var out []*mesos.Task
	match := func(t *mesos.Task) bool {
		return t.TaskID.Value == id && (framework == "" || t.FrameworkID.Value == framework)
	}
	for _, t := range c.tasks {
		if match(t) {
			out = append(out, t)
		}
	}
	for i := range c.unreachable {
		if match(&c.unreachable[i]) {
			out = append(out, &c.unreachable[i])
		}
	}
	return out
}

// taskState returns the state of t, TASK_STAGING when unset.
func taskState(t *mesos.Task) mesos.TaskState {
	if t.State == nil {
		return mesos.TASK_STAGING
	}
	return *t.State
}
