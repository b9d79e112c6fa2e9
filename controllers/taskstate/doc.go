// Package taskstate is the leader-only controller that records the Mesos
// tasks in raft: it follows the Mesos state model (runtime/mesos/state) and
// keeps one raft object of kind "task" per published task, keyed by
// TaskKey.String() ("<framework id>/<task id>"), whose value is the JSON of
// the normalised v1.Task, the fields DNS and the L4 load balancer need.
// Every master, agent and DNS server then reads the tasks from raft (or its
// watch API) instead of from Mesos.
//
// # Design notes
//
// The controller is level-triggered with a single implicit key: every pass
// diffs the latest Mesos snapshot as a whole against what raft holds
// (List("task")) and writes only the difference, puts for new tasks and for
// tasks whose value changed (compared by value, so an equal task is never
// rewritten) and deletes for the tasks Mesos no longer publishes. Nothing is
// written before the Mesos store has published a complete (ready) snapshot,
// so an unsynced cache never flushes the recorded tasks; and because the
// first pass after a (re)start, typically a raft leader change, diffs the
// fresh snapshot against what raft already holds, a new leader with the same
// Mesos state writes nothing.
//
// Writes are raftstore Batch commands of at most Options.MaxBatchOps ops
// (1,000 by default, about 1 MiB of JSON, far below the 16 MiB command
// limit), each op with a compare-and-swap precondition (ExpectModIndex: 0 for
// a new task, the ModIndex that was diffed against otherwise). A concurrent
// writer, such as an old leader that has not yet noticed its demotion, makes
// the batch fail as a whole with raftstore.ErrConflict; the controller then
// re-reads raft, diffs again and retries, so it converges without ever
// overwriting a write it has not seen. At most one batch is in flight:
// notifications that arrive meanwhile wait in the subscription (which the
// store coalesces into one Reset when it overflows) and are drained before
// the next pass, which uses only the newest snapshot. A pass costs O(n) in
// the number of tasks (one List and one JSON encoding per task) and writes
// O(changes) bytes, a burst of Mesos events costing one pass.
//
// The validator registered for the kind (Validate) checks that the value is
// a valid v1.Task whose key is the object's key. It accepts unknown JSON
// fields, so that a newer master may add fields to v1.Task without older
// replicas rejecting its writes.
package taskstate
