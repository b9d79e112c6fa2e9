// Package api serves the read and watch side of the mesosnet cluster API on
// every master, and is the client that agents and controllers use to follow
// it.
//
//	GET /v1/objects/{kind}        -> {"revision": N, "objects": [...]}
//	GET /v1/objects/{kind}/{key}  -> the object, or 404
//	GET /v1/watch?revision=N[&kind=K]
//	                              -> application/x-ndjson stream of Event lines
//
// # Design notes
//
// Reads come from the local raft replica (a Reader, satisfied by
// *raftstore.Store), so every master answers. A revision is a raft index.
//
// A watch stream starts with a reset line holding the whole state (of one
// kind with kind=K) when the client asks for revision 0, for a revision older
// than the store's watch history, or when the store had to drop events for a
// slow stream; otherwise it carries only the put and delete lines after the
// revision, in raft index order. The ops of one raft entry (a Batch) share a
// revision and always arrive in the same order. A master that is behind the
// client (revision above its index) first waits, bounded by
// ServerOptions.CatchUpTimeout, until it has applied that revision, and
// answers 503 if it cannot, so a lagging follower never sends a client a state
// older than one it has already seen. When no line was written for
// ServerOptions.HeartbeatInterval the server writes a heartbeat line whose
// revision is the last raft index the stream has covered, so clients detect
// dead streams.
//
// The Client resumes a broken stream where it stopped, on the next URL.
// Because a stream can break in the middle of a batch, it resumes from the
// revision before the last one it saw and skips the events of the last
// revision it already delivered: the consumer sees every delta exactly once,
// in order, or a reset.
//
// With a token, every request must carry "Authorization: Bearer <token>"; the
// comparison is constant-time and a failure is a 401 that reads nothing.
package api
