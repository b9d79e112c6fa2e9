// Package vipalloc allocates the IP addresses of named VIPs and computes
// the L4LB services of the tasks. It has three layers:
//
//   - Choose and friends, the pure and deterministic core: given a VIP
//     name, an address range and the addresses already in use, the address
//     dcos-net would choose (spec dcos-net.md §3.2).
//   - Services and Wanted, pure functions of the tasks: the IPVS-style
//     services with their backends and weights (spec §3.3), in the shape of
//     dcos-net's /v1/vips, and the named VIPs that need addresses.
//   - Controller, the leader-only controller that records the allocations
//     in raft (kind "vip", one v1.VIPAllocation per name).
//
// A named VIP label (e.g. "/mygroup/myapp" on a Marathon app) becomes the
// name "<domain_frag(label)>.<domain_frag(framework)>", here
// "mygroupmyapp.marathon" (Name), which is both the input of the hash and,
// with the l4lb.thisdcos.directory zone appended, the VIP's DNS name
// (DNSName).
//
// # Design notes
//
// dcos-net allocates nothing centrally: every node hashes the name into the
// range and probes linearly on collision. The first choice for IPv4 is
// min + erlang:phash2(Name, max-min), so Hash2 and Phash2 are a port of
// ERTS's make_hash2 for binaries (Bob Jenkins' lookup2 block_hash seeded
// with HCONST_13), checked against the vectors computed with OTP; for IPv6
// it is min + SHA-1(Name) mod (max-min). On collision the next address is
// tried, wrapping from max to min, so max itself can be reached only by
// probing. Keeping that function means a VIP gets the same address as on a
// DC/OS cluster, and a name whose first choice is free gets it on every
// master regardless of history.
//
// dcos-net's weakness is that collision resolution depends on each node's
// insertion order, so two nodes may disagree for colliding names. mesosnet
// calls Choose only on the raft leader and records the result, so every node
// serves the same recorded address; the used callback is the set of
// addresses recorded for other names. Choose costs one hash plus one used
// call per probe: with n addresses in use it makes at most n+1 calls, so it
// terminates for any finite used set even in a /64 IPv6 range, and reports
// *ExhaustedError only after trying every address of a full range.
//
// The Controller is level-triggered with a single implicit key. Each pass
// re-reads everything from the local replica (the tasks of kind "task"
// written by controllers/taskstate, decoded again only when their ModIndex
// changed), computes Wanted, and diffs it against the recorded allocations:
// a new name gets an address per family with backends, chosen by Choose
// in name order with every recorded address (orphaned ones included) as
// used; an existing allocation keeps its addresses for as long as it exists
// and only gains the family it lacks; one whose backends are gone gets
// OrphanedAt and keeps its addresses for ControllerOptions.Grace (an hour
// by default), so that a VIP whose tasks all restart comes back on the same
// address, then is deleted (dcos-net DCOS_OSS-5356, without the unbounded
// growth). Addresses deleted in a pass are reused only from the next one.
// IP VIPs are never allocated. A range that is full skips the VIP (logged
// once, counted by mesosnet_vipalloc_exhausted_total); the others go on.
//
// No address is ever handed out twice, even with two writers (a deposed
// leader that has not noticed yet, an operator tool): the pass reads the
// fence object (kind "vip-fence", key "vips") before listing the
// allocations, and every batch it writes carries a put of the fence with
// ExpectModIndex = that ModIndex (Expect(0) while absent), beside the
// per-record CAS. Any allocation or delete written since the read moved the
// fence, so the FSM rejects the whole batch with ErrConflict and the pass
// re-plans from fresh state. Batches hold at most MaxBatchOps ops (1,000,
// fence included, about 200 KiB); a pass of many batches chains the fence
// through the index of each batch. A pass costs one List of the tasks and
// of the VIPs, O(tasks) work for Wanted, and one Choose per new family; it
// runs after a change of the tasks, VIPs or fence seen on a raft watch
// (bursts coalesce: at most one pass per MinInterval, 50 ms), when a grace
// ends, and every ResyncInterval. The pass triggered by its own writes
// finds nothing to do, which also checks them.
//
// Different (label, framework) pairs can fold to the same name ("/a.b" of
// framework "c" and "/a" of framework "b.c" are both "a.b.c"); they share one
// DNS name in dcos-net too, so the recorded allocation is keyed by the name.
package vipalloc
