// Package vipalloc chooses the IP addresses of named VIPs, the pure and
// deterministic core of the master's VIP allocator: given a VIP name, an
// address range and the addresses already in use, it returns the address
// dcos-net would choose (spec dcos-net.md §3.2). It does no I/O; the
// leader-only controller that records the choices in raft is built on top.
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
// Different (label, framework) pairs can fold to the same name ("/a.b" of
// framework "c" and "/a" of framework "b.c" are both "a.b.c"); they share one
// DNS name in dcos-net too, so the recorded allocation is keyed by the name.
package vipalloc
