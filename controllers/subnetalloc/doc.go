// Package subnetalloc hands out the overlay network addresses of agents, the
// pure and deterministic core of the master's subnet allocator (spec
// dcos-net.md §4.2): given the overlay configuration and the allocations
// already recorded, it returns an agent's VTEP addresses, VTEP MAC and
// per-overlay subnets. It does no I/O; the leader-only controller that
// records the results in raft is built on top.
//
// # Design notes
//
// The rules are those of the DC/OS overlay master module. An agent is
// identified by its IP. On its first registration it gets the lowest free
// host address of vtep_subnet (network and broadcast addresses excluded,
// 44.128.0.1 first), likewise an IPv6 VTEP address from vtep_subnet6 when
// set, the MAC made of the OUI of vtep_mac_oui and the last 3 bytes of the
// VTEP IPv4 (44.128.0.1 gives 70:b3:d5:80:00:01, unique because vtep_subnet
// is at least a /8), and, per enabled overlay, the lowest free /prefix of
// the overlay's subnet, split in halves for m-<name> (Mesos) and d-<name>
// (Docker); IPv6 the same with prefix6. An agent that registers again gets
// its recorded allocation unchanged, plus subnets of overlays added since;
// parts that no longer fit the configuration (an overlay removed, disabled
// or re-addressed, a VTEP outside a changed vtep_subnet) are dropped or
// allocated afresh. Nothing is freed automatically: an address is free again
// only once the allocation holding it is deleted from the store.
//
// "Lowest free" makes allocation depend only on the set of recorded
// allocations, not on their order or history: a deleted agent's subnet is
// the next one handed out, and two leaders seeing the same store choose the
// same addresses.
//
// Scale: each range (the VTEP subnets, and each overlay subnet per address
// family) is a pool of slots whose used slots are kept as a sorted slice of
// disjoint, non-adjacent intervals, so the lowest free slot is read off the
// first interval in O(1). New collects the slots of all n records, sorts
// and merges them once (O(n log n), no per-record allocation); recording a
// new slot is a binary search and a merge, and since allocation proceeds
// upwards the first interval simply grows. Registering 1,000 agents one by
// one with the stateless Allocate, which re-indexes the records on every
// call, takes about 0.1 s in total (BenchmarkAllocate1000); through one
// Allocator kept by the controller, about 2 ms. Slot numbers are 64-bit;
// ranges of more than 2^63 slots (only possible for IPv6) are capped, which
// never matters since far fewer allocations exist.
package subnetalloc
