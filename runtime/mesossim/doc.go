// Package mesossim simulates an Apache Mesos 1.x master for tests, the demo
// and anyone trying mesosnet without a Mesos cluster.
//
// A Server is an http.Handler that answers like a real master:
//
//   - POST /api/v1, the operator API v1, with Mesos's checks and messages in
//     Mesos's order: 307 to the leader on a non-leading master (Location
//     //host:port/api/v1, empty body), 405 for other methods, 400 without
//     Content-Type, 415 unless it is application/json or
//     application/x-protobuf, 400 for an undecodable body ("Failed to parse
//     body into JSON: ...", "Failed to convert JSON into Call protobuf: ...",
//     "Failed to parse body into Call protobuf") or an invalid call ("Failed
//     to validate master::Call: Expecting 'type' to be present"), 406 when
//     Accept (or Message-Accept) admits none of the supported types. Calls:
//     GET_HEALTH, GET_VERSION, GET_MASTER (MasterInfo with ip packed like
//     Mesos, port, pid, hostname, address, version), GET_STATE, GET_AGENTS,
//     GET_FRAMEWORKS, GET_TASKS, GET_EXECUTORS, SUBSCRIBE, TEARDOWN (removes
//     the framework) and MARK_AGENT_GONE (removes the agent). Every other
//     call type is answered 501 Not Implemented, as Mesos answers calls it
//     does not know. Responses are JSON (written byte for byte like Mesos,
//     see package mesosjson) or protobuf, with a Content-Length.
//   - SUBSCRIBE streams RecordIO frames over chunked HTTP without
//     Content-Length: SUBSCRIBED (get_state, heartbeat_interval_seconds),
//     an immediate HEARTBEAT, then every event as it happens and a HEARTBEAT
//     every interval, flushing after each frame. With Accept:
//     application/recordio the response is application/recordio with a
//     Message-Content-Type from Message-Accept. A subscriber whose queue of
//     unsent events fills up is disconnected; the simulator never waits.
//   - GET /master/state (also /master/state.json, /state, /state.json): the
//     v0 state Mesos-DNS reads, rendered from the v1 state (package v0).
//   - GET /health and /master/health: 200. /master/redirect: 307 to the
//     leader.
//   - /sim/v1/: the control API that drives cluster events (README.md):
//     agents, frameworks and tasks are added, updated and removed, and each
//     change is published as the events a real master sends (AGENT_ADDED,
//     TASK_ADDED then TASK_UPDATED STARTING and RUNNING with proper
//     statuses, ...). The same operations are methods of Server.
//
// The cluster starts empty, from a Scenario loaded from any capture under
// shared/fixtures/mesos-api (a v1 SUBSCRIBE stream whose events are replayed
// once the first subscriber listens, a v1 GET_STATE, or a v0 master or agent
// state) or from Synthetic, a deterministic realistic cluster of any size.
// Every event is applied to the simulated state before it is sent, so
// GET_STATE and later SUBSCRIBED snapshots always agree with the stream.
package mesossim
