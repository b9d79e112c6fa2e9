// Package raftstore is the replicated single source of truth of a mesosnet
// master cluster (3 or 5 masters; 1 for tests and demos): hashicorp/raft
// with a raft-boltdb log and a file snapshot store in a data dir, and as
// state machine a generic, typed compare-and-swap object store.
//
// Objects are (Kind, Key) -> Object{Kind, Key, Value, CreateIndex,
// ModIndex}, the value an opaque JSON document, each object stamped with the
// raft index of the entries that created and last modified it. The store
// knows no policy: controllers on the leader decide what to write; the
// state machine only validates (per-kind ValidateFunc registered with
// RegisterKind) and records. Writes are Put, Delete and Batch commands with
// an optional ModIndex precondition; reads (Get, List, Index, Watch) are
// served from the local replica on every master.
//
// A Store is used as:
//
//	s, err := raftstore.New(raftstore.Config{ID: "m1", DataDir: dir, RaftAddress: ":62501", Peers: peers, Logger: log})
//	err = s.RegisterKind("vip", validateVIP)
//	err = s.Start()
//	res, err := s.Apply(ctx, raftstore.Put{Kind: "vip", Key: "web:80", Value: v, ExpectModIndex: raftstore.Expect(0)})
//	obj, ok := s.Get("vip", "web:80")
//	w := s.Watch(rev)           // then w.Next(ctx) in a loop, w.Close()
//	http.Handle("/raft/", s.Handler()) // on the master-to-master listener
//
// # Design notes
//
// Commands. A log entry is one type byte (1 put, 2 delete, 3 batch)
// followed by the command as compact JSON (testdata/commands.golden). The
// decoder is strict (known fields only, nothing trailing), so a replica
// never applies less than what was written. A Batch is one entry and is
// atomic: its ops run in order on a private copy of the state and the copy
// is kept only if none is rejected, so an allocator commits many
// allocations at once or none.
//
// Rejections and failures. A command that breaks a rule (unknown kind,
// empty key, null value, validator error, failed precondition) is a
// business rejection: the entry is committed, the state is unchanged, and
// Apply returns a *RejectedError (errors.Is ErrConflict, ErrUnknownKind or
// ErrInvalid). Apply runs the state-independent checks before proposing,
// so only precondition failures normally reach the log. An entry that does
// not decode at all (unknown type byte, bad JSON) is different: skipping it
// would let this replica silently drift from one that can decode it (a
// newer version), and crashing would loop on restart. The state machine
// returns the error for that entry (the proposer sees it), logs it at
// Error, freezes at the last good state, marks itself failed (Store.Err,
// the mesosnet_raft_failed gauge) and the Store shuts its raft node down
// so it neither votes nor leads; reads keep serving the frozen state, which
// the API must report unready. Validators and kinds are therefore part of
// the replicated state machine: every master registers the same ones, a
// new kind or command type is written only once every master runs a
// version that knows it.
//
// State. The state is a persistent sorted map of kinds to persistent sorted
// maps of keys to objects (github.com/benbjohnson/immutable). Applying an
// entry builds a new version sharing all unchanged nodes and publishes it
// with one atomic pointer swap: readers never lock, and a snapshot captures
// the root in O(1) and serialises it later without blocking the apply path.
// Raft hands the state machine committed entries in batches (BatchingFSM);
// a batch is published once. Index is the raft index of the last applied
// entry of any type, the revision of every read.
//
// Snapshots are JSON lines: a header {"format", "version", "index",
// "objects"} then one object per line in kind, key order
// (testdata/snapshot-v1.golden). Restore checks the version, the count, the
// order and the indexes, and accepts unknown kinds (they were accepted
// when written).
//
// Watch. Every applied change becomes an Event (put or delete, with the
// previous version) delivered in index order. The last WatchHistory events
// (10,000) are kept in a ring so a client resuming from a recent index gets
// only the deltas; from 0, from an index older than the ring, or ahead of
// this replica it first gets a reset with the whole state. A watcher holds
// at most WatchBuffer undelivered events: publishing never blocks, and a
// watcher that falls behind is reset to the latest state instead, built
// lazily when it next reads. A snapshot install resets every watcher.
//
// Writes from any master. Apply, AddVoter and RemoveServer run on the
// leader; a follower forwards them through a Forwarder (HTTPForwarder, to
// the leader's Handler), finding the leader's API address from its raft ID:
// the peer records under PeerKind (written by AddVoter, so they replicate)
// or Config.Peers. While there is no leader, or the leader answers "not
// leader" or cannot be reached, the request is retried (woken by raft's
// leader observations, bounded by the context). Errors after the request
// may have been proposed are ErrUnknownOutcome and are not retried: a
// blind retry could apply a command twice. A forwarded Apply waits until
// the local replica has applied the result, so a read after it sees the
// write on any master.
//
// Leadership. LeaderCh gives each subscriber its own channel that never
// blocks raft yet never hides a loss of leadership; IsLeader and Leader
// read raft directly. Controllers start leader-only work with Barrier.
// Shutdown of a leader transfers leadership first, so a rolling restart
// does not wait for an election timeout.
//
// Bootstrap and membership. A master bootstraps the cluster from
// Config.Peers (1, 3 or 5 voters) only when its data dir holds no raft
// state; all initial masters may do so with the same peers. A restarted
// master recovers from its log and snapshots and never bootstraps again. A
// master added later starts with Join and is added with AddVoter; a removed
// master shuts its raft node down.
//
// Throughput. Raft groups concurrent Apply calls on the leader into one
// log write and append RPC (BatchApplyCh, up to MaxAppendEntries), so
// committed writes per second grow with the number of concurrent writers
// until the disk's fsync rate is shared by 64 entries; a Batch carries many
// objects in one entry. BenchmarkApply3Nodes measures both.
package raftstore
