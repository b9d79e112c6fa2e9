package state

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/immutable"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/logging"
)

// Defaults of Options.
const (
	// DefaultRecoveredAgentsWait bounds the publication hold after a Mesos
	// failover, as dcos-net's await_agents phase (DCOS_OSS-5463).
	DefaultRecoveredAgentsWait = 10 * time.Minute
	// DefaultRecoveredTasksWait is how long the hold lasts after the last
	// recovered agent re-registered, so that its tasks (TASK_ADDED events
	// that follow its AGENT_ADDED) are in before anything is published:
	// dcos-net's await_tasks phase (10 s).
	DefaultRecoveredTasksWait = 10 * time.Second
	// DefaultResolveTimeout bounds one agent hostname lookup.
	DefaultResolveTimeout = 2 * time.Second
	// DefaultSubscriptionBuffer is the notification buffer of a subscriber.
	DefaultSubscriptionBuffer = 64
)

// ErrNotLoaded is returned by Apply for task, agent and framework events
// before any SUBSCRIBED or GET_STATE was loaded.
var ErrNotLoaded = errors.New("no Mesos state loaded yet (SUBSCRIBED or GET_STATE first)")

// ErrUnknownTask is returned by Apply for a non-terminal TASK_UPDATED of a
// task the store does not hold: the store has missed events and should be
// resubscribed.
var ErrUnknownTask = errors.New("unknown task")

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's logs; nil discards them.
	Logger *zap.Logger
	// Resolver resolves agent hostnames that are not IP literals; nil
	// means net.DefaultResolver.
	Resolver Resolver
	// ResolveTimeout bounds one lookup; 0 means DefaultResolveTimeout.
	ResolveTimeout time.Duration
	// RecoveredAgentsWait bounds the publication hold after a failover
	// (see Store); 0 means DefaultRecoveredAgentsWait, a negative value
	// disables the hold.
	RecoveredAgentsWait time.Duration
	// RecoveredTasksWait is how long the hold goes on once every
	// recovered agent is back; 0 means DefaultRecoveredTasksWait, a
	// negative value ends the hold with the last agent.
	RecoveredTasksWait time.Duration
	// Clock is the time source; nil means the real clock.
	Clock Clock
	// Registerer receives the store's metrics; nil leaves them
	// unregistered.
	Registerer prometheus.Registerer
	// SubscriptionBuffer is the notification buffer of each subscriber;
	// 0 means DefaultSubscriptionBuffer.
	SubscriptionBuffer int
}

// Store is the Mesos state model fed by the operator API: the raw agents,
// frameworks and tasks, and every task normalised as dcos-net does. It
// publishes immutable Snapshots and notifies subscribers of each change.
//
// Design notes. The published tasks, agents and frameworks are persistent
// sorted maps (github.com/benbjohnson/immutable, B+trees with structural
// sharing): an event replaces O(log n) nodes, so a TASK_UPDATED costs
// O(log n) plus the normalisation of that one task, and a Snapshot is a
// struct of map pointers, O(1) to take and never changed afterwards. Readers
// load the current snapshot through an atomic pointer and never wait for the
// event path, which may block on resolving an agent hostname (done once per
// agent registration and cached, never per task).
//
// Rules (spec dcos-net.md §2.1):
//   - A task is identified by (framework id, task id). Its state is the
//     latest TASK_UPDATED.state (not status.state, DCOS_OSS-3539); its
//     statuses are appended and bounded to MaxStatuses; the latest status is
//     the one with the largest timestamp.
//   - A task whose agent or framework is not registered is held "waiting"
//     and published once AGENT_ADDED / FRAMEWORK_ADDED (or UPDATED) arrives.
//   - A task in a terminal state is removed. FRAMEWORK_REMOVED removes the
//     framework's tasks.
//   - AGENT_REMOVED removes the agent but keeps its published tasks, with
//     their last agent IP, until Mesos reports them terminal (it sends
//     TASK_LOST/TASK_GONE updates when it gives up on an agent's tasks), so
//     a transient agent removal does not flush DNS records or backends.
//     Waiting tasks of the agent keep waiting.
//   - After a Mesos failover, SUBSCRIBED lists get_agents.recovered_agents
//     (DCOS_OSS-5463). Until each of them has re-registered (AGENT_ADDED),
//     been removed (AGENT_REMOVED), and then RecoveredTasksWait more (the
//     agents' tasks arrive as TASK_ADDED events after their AGENT_ADDED:
//     dcos-net's await_tasks), or RecoveredAgentsWait has passed since
//     the hold began, events are applied but nothing is published: readers
//     keep the previous snapshot (or none before the first), so DNS records
//     and backends are not flushed while agents reconnect. A later
//     SUBSCRIBED or GET_STATE recomputes the awaited agents but keeps the
//     deadline, so the hold stays bounded across reconnects.
//
// The event methods (Subscribed, LoadState, Apply, Disconnected) are
// serialised by the store and are usually called by one goroutine, the Mesos
// stream reader. A failed event leaves the state unchanged. The store
// retains the events' data: callers must not modify an event after passing
// it in.
type Store struct {
	log            *zap.Logger
	resolver       Resolver
	resolveTimeout time.Duration
	recoveredWait  time.Duration
	tasksWait      time.Duration
	clock          Clock
	bufSize        int
	metrics        *metrics

	mu     sync.Mutex
	loaded bool
	// tasks are the published tasks, waiting the others.
	tasks      *immutable.SortedMap[v1.TaskKey, *taskEntry]
	waiting    map[v1.TaskKey]*taskEntry
	agents     *immutable.SortedMap[string, *agentEntry]
	frameworks *immutable.SortedMap[string, *frameworkEntry]
	// agentTasks counts the published tasks per agent id, so an agent
	// re-registering with the same IP costs nothing.
	agentTasks map[string]int
	leader     v1.Master
	leaderInfo *mesos.MasterInfo
	connected  bool
	lastEvent  time.Time
	// hosts caches resolved agent hostnames.
	hosts map[string]netip.Addr
	hold  hold
	// Changes since the last publication.
	changed  map[v1.TaskKey]struct{}
	dirty    bool
	reset    bool
	revision uint64

	current atomic.Pointer[Snapshot]

	subMu sync.Mutex
	subs  map[*Subscription]struct{}
}

// hold is the publication hold for recovered agents.
type hold struct {
	// pending are the recovered agents not re-registered yet; nil when
	// not holding.
	pending map[string]struct{}
	// tasks is set in the last phase, when every recovered agent is back
	// and the hold waits RecoveredTasksWait for their tasks.
	tasks bool
	timer Timer
	// gen identifies the current hold, so a stale timer does nothing.
	gen uint64
}

// New returns an empty Store. Nothing is published until a SUBSCRIBED or
// GET_STATE is loaded.
func New(opts Options) *Store {
	s := &Store{
		log:            opts.Logger,
		resolver:       opts.Resolver,
		resolveTimeout: opts.ResolveTimeout,
		recoveredWait:  opts.RecoveredAgentsWait,
		tasksWait:      opts.RecoveredTasksWait,
		clock:          opts.Clock,
		bufSize:        opts.SubscriptionBuffer,
		metrics:        newMetrics(opts.Registerer),
		tasks:          newTaskMap(),
		waiting:        make(map[v1.TaskKey]*taskEntry),
		agents:         newAgentMap(),
		frameworks:     newFrameworkMap(),
		agentTasks:     make(map[string]int),
		hosts:          make(map[string]netip.Addr),
		changed:        make(map[v1.TaskKey]struct{}),
		subs:           make(map[*Subscription]struct{}),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("state")
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if s.resolveTimeout <= 0 {
		s.resolveTimeout = DefaultResolveTimeout
	}
	if s.recoveredWait == 0 {
		s.recoveredWait = DefaultRecoveredAgentsWait
	}
	if s.tasksWait == 0 {
		s.tasksWait = DefaultRecoveredTasksWait
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.bufSize <= 0 {
		s.bufSize = DefaultSubscriptionBuffer
	}
	s.current.Store(emptySnapshot())
	return s
}

// Current returns the latest snapshot: an empty, not ready one before the
// first publication. It never blocks.
func (s *Store) Current() *Snapshot { return s.current.Load() }

// HasSynced reports whether a snapshot has been published.
func (s *Store) HasSynced() bool { return s.current.Load().ready }

// Subscribed loads the SUBSCRIBED snapshot of a (re)connected stream,
// replacing the whole state. leader is the leading master (from GET_MASTER);
// nil keeps the leader known before.
func (s *Store) Subscribed(ev *master.Event_Subscribed, leader *mesos.MasterInfo) error {
	if ev == nil || ev.GetState == nil {
		s.metrics.eventErrors.WithLabelValues(master.Event_SUBSCRIBED.String()).Inc()
		return errors.New("apply SUBSCRIBED: no get_state")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.events.WithLabelValues(master.Event_SUBSCRIBED.String()).Inc()
	s.load(ev.GetState, leader, "SUBSCRIBED")
	return nil
}

// LoadState loads a one-shot GET_STATE response, replacing the whole state
// as Subscribed does (agent-style responses: see DecodeGetState). The store
// counts as connected afterwards: its last contact with Mesos succeeded.
func (s *Store) LoadState(gs *master.Response_GetState, leader *mesos.MasterInfo) error {
	if gs == nil {
		s.metrics.eventErrors.WithLabelValues(master.Call_GET_STATE.String()).Inc()
		return errors.New("load GET_STATE: no get_state")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.events.WithLabelValues(master.Call_GET_STATE.String()).Inc()
	s.load(gs, leader, "GET_STATE")
	return nil
}

// LoadStateJSON decodes a GET_STATE response body, master or agent style,
// with DecodeGetState and loads it with LoadState.
func (s *Store) LoadStateJSON(body []byte, leader *mesos.MasterInfo) error {
	gs, err := DecodeGetState(body)
	if err != nil {
		return err
	}
	return s.LoadState(gs, leader)
}

// Disconnected records that the Mesos stream was lost. The state is kept
// and still served; snapshots report Connected false until the next
// SUBSCRIBED.
func (s *Store) Disconnected(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		s.log.Info("Lost the Mesos stream; kept serving the last known state", zap.Error(err))
	}
	s.connected = false
	s.metrics.connected.Set(0)
	s.patchStatus()
}

// Apply applies one event of the SUBSCRIBE stream: TASK_ADDED, TASK_UPDATED,
// AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED,
// FRAMEWORK_REMOVED; HEARTBEAT only records the time, and SUBSCRIBED is
// loaded as by Subscribed keeping the known leader. It returns an error,
// and changes nothing, for a malformed event, an unsupported type, an event
// before any state was loaded (ErrNotLoaded) or an update of a task it does
// not hold (ErrUnknownTask).
func (s *Store) Apply(ev *master.Event) error {
	if ev == nil {
		return errors.New("apply event: nil event")
	}
	typ := eventType(ev.Type)
	if ev.Type == master.Event_SUBSCRIBED {
		if err := s.Subscribed(ev.Subscribed, nil); err != nil {
			return err
		}
		return nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.events.WithLabelValues(typ).Inc()
	s.lastEvent = s.clock.Now()
	s.metrics.lastEvent.Set(float64(s.lastEvent.UnixNano()) / 1e9)
	err := s.apply(ev)
	if err != nil {
		s.metrics.eventErrors.WithLabelValues(typ).Inc()
		err = fmt.Errorf("apply %s: %w", typ, err)
	}
	s.publish()
	s.patchStatus()
	return err
}

// eventType names an event type for errors and metric labels, mapping
// values unknown to mesos-go to UNKNOWN so labels stay bounded.
func eventType(t master.Event_Type) string {
	if _, ok := master.Event_Type_name[int32(t)]; !ok {
		return master.Event_UNKNOWN.String()
	}
	return t.String()
}

// apply dispatches one non-SUBSCRIBED event. The caller holds s.mu.
func (s *Store) apply(ev *master.Event) error {
	if ev.Type == master.Event_HEARTBEAT {
		return nil
	}
	if !s.loaded {
		return ErrNotLoaded
	}
	switch ev.Type {
	case master.Event_TASK_ADDED:
		if ev.TaskAdded == nil {
			return errors.New("no task_added")
		}
		return s.taskAdded(ev.TaskAdded.Task)
	case master.Event_TASK_UPDATED:
		if ev.TaskUpdated == nil {
			return errors.New("no task_updated")
		}
		return s.taskUpdated(ev.TaskUpdated)
	case master.Event_AGENT_ADDED:
		if ev.AgentAdded == nil {
			return errors.New("no agent_added")
		}
		return s.agentAdded(ev.AgentAdded.Agent)
	case master.Event_AGENT_REMOVED:
		if ev.AgentRemoved == nil {
			return errors.New("no agent_removed")
		}
		return s.agentRemoved(ev.AgentRemoved.AgentID.Value)
	case master.Event_FRAMEWORK_ADDED:
		if ev.FrameworkAdded == nil {
			return errors.New("no framework_added")
		}
		return s.frameworkAdded(ev.FrameworkAdded.Framework)
	case master.Event_FRAMEWORK_UPDATED:
		if ev.FrameworkUpdated == nil {
			return errors.New("no framework_updated")
		}
		return s.frameworkAdded(ev.FrameworkUpdated.Framework)
	case master.Event_FRAMEWORK_REMOVED:
		if ev.FrameworkRemoved == nil {
			return errors.New("no framework_removed")
		}
		return s.frameworkRemoved(ev.FrameworkRemoved.FrameworkInfo.GetID().GetValue())
	}
	return errors.New("unsupported event type")
}

// load replaces the whole state with a GET_STATE snapshot. The caller holds
// s.mu.
func (s *Store) load(gs *master.Response_GetState, leader *mesos.MasterInfo, what string) {
	s.lastEvent = s.clock.Now()
	s.metrics.lastEvent.Set(float64(s.lastEvent.UnixNano()) / 1e9)

	// Agents first: tasks need their IPs. Hostnames resolve in parallel.
	rawAgents := gs.GetGetAgents().GetAgents()
	hostnames := make([]string, 0, len(rawAgents))
	for i := range rawAgents {
		hostnames = append(hostnames, rawAgents[i].AgentInfo.Hostname)
	}
	s.pruneHosts(hostnames)
	s.resolveHosts(hostnames)
	agents := immutable.NewSortedMapBuilder[string, *agentEntry](stringComparer{})
	for i := range rawAgents {
		raw := &rawAgents[i]
		id := raw.AgentInfo.GetID().GetValue()
		if id == "" {
			s.log.Warn("Ignored an agent without id", logging.Event(what), logging.Hostname(raw.AgentInfo.Hostname))
			continue
		}
		agents.Set(id, s.newAgentEntry(raw))
	}
	s.agents = agents.Map()

	frameworks := immutable.NewSortedMapBuilder[string, *frameworkEntry](stringComparer{})
	rawFrameworks := gs.GetGetFrameworks().GetFrameworks()
	for i := range rawFrameworks {
		raw := &rawFrameworks[i]
		id := raw.FrameworkInfo.GetID().GetValue()
		if id == "" {
			s.log.Warn("Ignored a framework without id", logging.Event(what), logging.Framework(raw.FrameworkInfo.Name))
			continue
		}
		frameworks.Set(id, newFrameworkEntry(raw))
	}
	s.frameworks = frameworks.Map()

	published := immutable.NewSortedMapBuilder[v1.TaskKey, *taskEntry](taskKeyComparer{})
	s.waiting = make(map[v1.TaskKey]*taskEntry)
	s.agentTasks = make(map[string]int)
	for _, t := range gs.GetGetTasks().GetTasks() {
		raw, key, err := newRawTask(t)
		if err != nil {
			s.metrics.eventErrors.WithLabelValues(what).Inc()
			s.log.Warn("Ignored a malformed task", logging.Event(what), zap.Error(err))
			continue
		}
		if TaskStateOf(*raw.State) == v1.TaskTerminal {
			continue
		}
		// Mesos lists a task once; should it not, the last one wins.
		if old, ok := published.Get(key); ok {
			published.Delete(key)
			s.uncountAgentTask(old.task.AgentID)
		}
		delete(s.waiting, key)
		e := s.normalize(raw, nil, true)
		if s.publishable(raw) {
			published.Set(key, e)
			s.agentTasks[e.task.AgentID]++
		} else {
			s.waiting[key] = e
		}
	}
	s.tasks = published.Map()

	if leader != nil {
		s.leaderInfo = leader
		s.leader = MasterFromInfo(leader)
	}
	s.loaded = true
	s.connected = true
	s.metrics.connected.Set(1)
	clear(s.changed)
	s.dirty, s.reset = true, true
	s.log.Info("Loaded the Mesos state", logging.Event(what),
		zap.Int("agents", s.agents.Len()), zap.Int("frameworks", s.frameworks.Len()),
		zap.Int("tasks", s.tasks.Len()), zap.Int("waitingTasks", len(s.waiting)))

	s.updateHold(gs.GetGetAgents().GetRecoveredAgents())
	s.publish()
	s.patchStatus()
}

// updateHold starts, updates or ends the publication hold from the
// recovered agents of a snapshot. The caller holds s.mu.
func (s *Store) updateHold(recovered []mesos.AgentInfo) {
	pending := make(map[string]struct{})
	for _, a := range recovered {
		id := a.GetID().GetValue()
		if _, ok := s.agents.Get(id); !ok && id != "" {
			pending[id] = struct{}{}
		}
	}
	switch {
	case s.recoveredWait < 0:
		s.releaseHold("no recovered agents awaited")
		return
	case len(pending) == 0 && s.hold.pending == nil:
		return
	case len(pending) == 0 && !s.hold.tasks:
		// A reconnection found every awaited agent back.
		s.hold.pending = pending
		s.metrics.recoveredPending.Set(0)
		s.awaitTasks("every recovered agent is back")
		return
	case len(pending) == 0:
		return // already waiting for the tasks
	}
	if s.hold.pending == nil || s.hold.tasks {
		if s.hold.timer != nil {
			s.hold.timer.Stop()
		}
		s.hold.gen++
		s.hold.tasks = false
		gen := s.hold.gen
		s.hold.timer = s.clock.AfterFunc(s.recoveredWait, func() { s.holdExpired(gen) })
		s.log.Info("Started holding publication until recovered agents re-register",
			zap.Int("recoveredAgents", len(pending)), zap.Duration("maxWait", s.recoveredWait))
	}
	s.hold.pending = pending
	s.metrics.recoveredPending.Set(float64(len(pending)))
}

// agentBack removes id from the awaited recovered agents, ending the hold
// when none remain. The caller holds s.mu.
func (s *Store) agentBack(id, how string) {
	if s.hold.pending == nil {
		return
	}
	if _, ok := s.hold.pending[id]; !ok {
		return
	}
	delete(s.hold.pending, id)
	s.metrics.recoveredPending.Set(float64(len(s.hold.pending)))
	if len(s.hold.pending) == 0 {
		s.awaitTasks("every recovered agent " + how)
	}
}

// awaitTasks moves the hold to its last phase: every recovered agent is
// back, their tasks are still arriving; publish after RecoveredTasksWait.
// The caller holds s.mu.
func (s *Store) awaitTasks(reason string) {
	if s.tasksWait < 0 {
		s.releaseHold(reason)
		return
	}
	if s.hold.timer != nil {
		s.hold.timer.Stop()
	}
	s.hold.gen++
	gen := s.hold.gen
	s.hold.tasks = true
	s.hold.timer = s.clock.AfterFunc(s.tasksWait, func() { s.holdExpired(gen) })
	s.log.Info("Recovered agents are back; holding publication while their tasks arrive",
		zap.String("reason", reason), zap.Duration("wait", s.tasksWait))
}

// holdExpired ends hold gen when its bounded wait has passed.
func (s *Store) holdExpired(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold.gen != gen || s.hold.pending == nil {
		return
	}
	if s.hold.tasks {
		s.releaseHold("recovered agents are back and their tasks had " + s.tasksWait.String() + " to arrive")
		s.patchStatus()
		return
	}
	missing := make([]string, 0, len(s.hold.pending))
	for id := range s.hold.pending {
		missing = append(missing, id)
	}
	slices.Sort(missing)
	s.log.Warn("Gave up waiting for recovered agents; published without them",
		zap.Strings("agentIDs", missing), zap.Duration("waited", s.recoveredWait))
	s.releaseHold("wait for recovered agents timed out")
	s.patchStatus()
}

// releaseHold ends the hold, if any, and publishes the state as a reset.
// The caller holds s.mu.
func (s *Store) releaseHold(reason string) {
	if s.hold.pending == nil {
		return
	}
	if s.hold.timer != nil {
		s.hold.timer.Stop()
	}
	s.hold = hold{gen: s.hold.gen}
	s.metrics.recoveredPending.Set(0)
	s.dirty, s.reset = true, true
	s.log.Info("Released the publication hold", zap.String("reason", reason))
	s.publish()
}

// publish publishes the state if it changed and no hold is active. The
// caller holds s.mu.
func (s *Store) publish() {
	s.metrics.published.Set(float64(s.tasks.Len()))
	s.metrics.waiting.Set(float64(len(s.waiting)))
	s.metrics.agents.Set(float64(s.agents.Len()))
	s.metrics.frameworks.Set(float64(s.frameworks.Len()))
	if !s.dirty {
		return
	}
	if s.hold.pending != nil {
		// The release publishes a reset; per-task changes are moot.
		clear(s.changed)
		return
	}
	s.revision++
	snap := &Snapshot{
		revision:   s.revision,
		ready:      true,
		connected:  s.connected,
		lastEvent:  s.lastEvent,
		tasks:      s.tasks,
		agents:     s.agents,
		frameworks: s.frameworks,
		leader:     s.leader,
		leaderInfo: s.leaderInfo,
	}
	n := Notification{Snapshot: snap, Reset: s.reset}
	if !s.reset {
		n.Changed = make([]v1.TaskKey, 0, len(s.changed))
		for k := range s.changed {
			n.Changed = append(n.Changed, k)
		}
		slices.SortFunc(n.Changed, v1.TaskKey.Compare)
	}
	clear(s.changed)
	s.dirty, s.reset = false, false
	s.current.Store(snap)
	s.metrics.revision.Set(float64(s.revision))
	s.notify(n)
}

// patchStatus brings Connected and LastEvent of the current snapshot up to
// date without a new revision or notification. The caller holds s.mu.
func (s *Store) patchStatus() {
	cur := s.current.Load()
	if cur.connected == s.connected && cur.lastEvent.Equal(s.lastEvent) {
		return
	}
	c := *cur
	c.connected, c.lastEvent = s.connected, s.lastEvent
	s.current.Store(&c)
}

// pruneHosts drops cached resolutions of hostnames no longer used.
func (s *Store) pruneHosts(hostnames []string) {
	used := make(map[string]struct{}, len(hostnames))
	for _, h := range hostnames {
		used[h] = struct{}{}
	}
	for h := range s.hosts {
		if _, ok := used[h]; !ok {
			delete(s.hosts, h)
		}
	}
}

// newRawTask validates a task from Mesos and returns a private copy with its
// statuses bounded to MaxStatuses.
func newRawTask(t mesos.Task) (*mesos.Task, v1.TaskKey, error) {
	key := v1.TaskKey{FrameworkID: t.FrameworkID.Value, TaskID: t.TaskID.Value}
	if err := key.Validate(); err != nil {
		return nil, key, err
	}
	if t.AgentID.Value == "" {
		return nil, key, fmt.Errorf("task %s: empty agent id", key)
	}
	if t.State == nil {
		return nil, key, fmt.Errorf("task %s: no state", key)
	}
	raw := t
	if n := len(raw.Statuses); n > MaxStatuses {
		raw.Statuses = slices.Clone(raw.Statuses[n-MaxStatuses:])
	}
	return &raw, key, nil
}

// normalize builds the entry of raw. The agent IP is the agent's, or, for a
// task whose agent was removed, the one the task had before. Normalisation
// errors are logged (once per task update: logErrors is false when a task is
// merely re-normalised for an agent or framework change) and counted.
func (s *Store) normalize(raw *mesos.Task, prev *taskEntry, logErrors bool) *taskEntry {
	var frameworkName string
	if f, ok := s.frameworks.Get(raw.FrameworkID.Value); ok {
		frameworkName = f.framework.Name
	}
	var agentIP netip.Addr
	if a, ok := s.agents.Get(raw.AgentID.Value); ok {
		agentIP = a.agent.IP
	} else if prev != nil {
		agentIP = prev.task.AgentIP
	}
	t, err := Normalize(raw, frameworkName, agentIP)
	if err != nil && logErrors {
		s.metrics.normalizeErrors.Inc()
		s.log.Warn("Dropped bad data of a task", logging.TaskID(raw.TaskID.Value),
			logging.FrameworkID(raw.FrameworkID.Value), zap.Error(err))
	}
	return &taskEntry{raw: raw, task: t}
}

// publishable reports whether raw's agent and framework are registered.
func (s *Store) publishable(raw *mesos.Task) bool {
	_, agentOK := s.agents.Get(raw.AgentID.Value)
	_, frameworkOK := s.frameworks.Get(raw.FrameworkID.Value)
	return agentOK && frameworkOK
}

// lookupTask returns the entry of key, published or waiting.
func (s *Store) lookupTask(key v1.TaskKey) (e *taskEntry, published bool) {
	if e, ok := s.tasks.Get(key); ok {
		return e, true
	}
	return s.waiting[key], false
}

// putTask stores e: published if it already was or if its agent and
// framework are registered, else waiting.
func (s *Store) putTask(e *taskEntry) {
	key := e.task.Key
	old, published := s.tasks.Get(key)
	if !published && !s.publishable(e.raw) {
		s.waiting[key] = e
		return
	}
	delete(s.waiting, key)
	if published {
		s.uncountAgentTask(old.task.AgentID)
	}
	s.agentTasks[e.task.AgentID]++
	s.tasks = s.tasks.Set(key, e)
	s.changed[key] = struct{}{}
	s.dirty = true
}

// removeTask forgets key.
func (s *Store) removeTask(key v1.TaskKey) {
	delete(s.waiting, key)
	old, ok := s.tasks.Get(key)
	if !ok {
		return
	}
	s.uncountAgentTask(old.task.AgentID)
	s.tasks = s.tasks.Delete(key)
	s.changed[key] = struct{}{}
	s.dirty = true
}

// uncountAgentTask decrements the published tasks of an agent.
func (s *Store) uncountAgentTask(agentID string) {
	if s.agentTasks[agentID]--; s.agentTasks[agentID] <= 0 {
		delete(s.agentTasks, agentID)
	}
}

// releaseWaiting publishes the waiting tasks selected by match whose agent
// and framework are now registered.
func (s *Store) releaseWaiting(match func(*mesos.Task) bool) {
	for _, e := range s.waiting {
		if match(e.raw) && s.publishable(e.raw) {
			s.putTask(s.normalize(e.raw, e, false))
		}
	}
}

func (s *Store) taskAdded(t mesos.Task) error {
	raw, key, err := newRawTask(t)
	if err != nil {
		return err
	}
	if TaskStateOf(*raw.State) == v1.TaskTerminal {
		s.removeTask(key)
		return nil
	}
	prev, _ := s.lookupTask(key)
	s.putTask(s.normalize(raw, prev, true))
	return nil
}

func (s *Store) taskUpdated(u *master.Event_TaskUpdated) error {
	key := v1.TaskKey{FrameworkID: u.FrameworkID.Value, TaskID: u.Status.TaskID.Value}
	if err := key.Validate(); err != nil {
		return err
	}
	// TASK_UPDATED.state, not status.state, which may lag (DCOS_OSS-3539);
	// status.state only for a master too old to send state.
	st := u.State
	if st == nil {
		st = u.Status.State
	}
	if st == nil {
		return fmt.Errorf("task %s: no state", key)
	}
	terminal := TaskStateOf(*st) == v1.TaskTerminal
	prev, _ := s.lookupTask(key)
	if prev == nil {
		if terminal {
			return nil // e.g. the end of a task removed with its framework
		}
		return fmt.Errorf("task %s (%s): %w", key, st, ErrUnknownTask)
	}
	if terminal {
		s.removeTask(key)
		return nil
	}
	raw := *prev.raw
	state := *st
	raw.State = &state
	keep := prev.raw.Statuses
	if len(keep) >= MaxStatuses {
		keep = keep[len(keep)-MaxStatuses+1:]
	}
	raw.Statuses = make([]mesos.TaskStatus, len(keep), len(keep)+1)
	copy(raw.Statuses, keep)
	raw.Statuses = append(raw.Statuses, u.Status)
	s.putTask(s.normalize(&raw, prev, true))
	return nil
}

func (s *Store) newAgentEntry(raw *master.Response_GetAgents_Agent) *agentEntry {
	info := &raw.AgentInfo
	a := v1.Agent{
		ID:       info.GetID().GetValue(),
		Hostname: info.Hostname,
		PID:      raw.GetPID(),
		Port:     5051,
	}
	if info.Port != nil {
		a.Port = 0
		if p := *info.Port; p > 0 && p <= 65535 {
			a.Port = uint16(p)
		}
	}
	a.IP = s.agentIP(info.Hostname, a.PID)
	return &agentEntry{raw: raw, agent: a}
}

func newFrameworkEntry(raw *master.Response_GetFrameworks_Framework) *frameworkEntry {
	return &frameworkEntry{raw: raw, framework: v1.Framework{
		ID:       raw.FrameworkInfo.GetID().GetValue(),
		Name:     raw.FrameworkInfo.Name,
		Hostname: raw.FrameworkInfo.GetHostname(),
		Active:   raw.Active,
	}}
}

func (s *Store) agentAdded(a master.Response_GetAgents_Agent) error {
	id := a.AgentInfo.GetID().GetValue()
	if id == "" {
		return errors.New("agent without id")
	}
	raw := &a
	s.resolveHosts([]string{a.AgentInfo.Hostname})
	e := s.newAgentEntry(raw)
	old, existed := s.agents.Get(id)
	s.agents = s.agents.Set(id, e)
	s.dirty = true
	s.log.Info("Registered agent", logging.AgentID(id), logging.Hostname(e.agent.Hostname), logging.NodeIP(e.agent.IP))

	// Published tasks keep their agent IP across an agent removal; fix
	// them if the agent comes back with another address.
	if s.agentTasks[id] > 0 && (!existed || old.agent.IP != e.agent.IP) {
		var stale []*taskEntry
		for itr := s.tasks.Iterator(); !itr.Done(); {
			_, te, _ := itr.Next()
			if te.task.AgentID == id && te.task.AgentIP != e.agent.IP {
				stale = append(stale, te)
			}
		}
		for _, te := range stale {
			s.putTask(s.normalize(te.raw, te, false))
		}
	}
	s.releaseWaiting(func(t *mesos.Task) bool { return t.AgentID.Value == id })
	s.agentBack(id, "re-registered or was removed")
	return nil
}

func (s *Store) agentRemoved(id string) error {
	if id == "" {
		return errors.New("agent_removed without agent id")
	}
	if _, ok := s.agents.Get(id); ok {
		s.agents = s.agents.Delete(id)
		s.dirty = true
		s.log.Info("Removed agent; kept its tasks until Mesos reports them terminal",
			logging.AgentID(id), zap.Int("tasks", s.agentTasks[id]))
	}
	s.agentBack(id, "re-registered or was removed")
	return nil
}

func (s *Store) frameworkAdded(f master.Response_GetFrameworks_Framework) error {
	id := f.FrameworkInfo.GetID().GetValue()
	if id == "" {
		return fmt.Errorf("framework %q without id", f.FrameworkInfo.Name)
	}
	e := newFrameworkEntry(&f)
	old, existed := s.frameworks.Get(id)
	s.frameworks = s.frameworks.Set(id, e)
	s.dirty = true
	if existed && old.framework.Name != e.framework.Name {
		for _, te := range s.frameworkTasks(id) {
			s.putTask(s.normalize(te.raw, te, false))
		}
	}
	s.releaseWaiting(func(t *mesos.Task) bool { return t.FrameworkID.Value == id })
	return nil
}

func (s *Store) frameworkRemoved(id string) error {
	if id == "" {
		return errors.New("framework_removed without framework id")
	}
	if _, ok := s.frameworks.Get(id); ok {
		s.frameworks = s.frameworks.Delete(id)
		s.dirty = true
	}
	tasks := s.frameworkTasks(id)
	for _, te := range tasks {
		s.removeTask(te.task.Key)
	}
	for key := range s.waiting {
		if key.FrameworkID == id {
			delete(s.waiting, key)
		}
	}
	s.log.Info("Removed framework with its tasks", logging.FrameworkID(id), zap.Int("tasks", len(tasks)))
	return nil
}

// frameworkTasks returns the published tasks of a framework, found by
// seeking to the framework's first key.
func (s *Store) frameworkTasks(id string) []*taskEntry {
	var out []*taskEntry
	itr := s.tasks.Iterator()
	for itr.Seek(v1.TaskKey{FrameworkID: id}); !itr.Done(); {
		k, e, _ := itr.Next()
		if k.FrameworkID != id {
			break
		}
		out = append(out, e)
	}
	return out
}
