// Package zone generates the DNS records of the CoreDNS mesos plugin from
// Mesos state snapshots: the whole Mesos-DNS record catalogue for the
// Mesos-DNS domain ("mesos." by default; spec mesos-dns.md §1) and, when
// enabled, dcos-net's dcos.thisdcos.directory zone (spec dcos-net.md
// §1.3). A Builder turns a state.Snapshot into an immutable Zone that the
// plugin handler answers from, and the Zone renders Mesos-DNS's HTTP views
// (/v1/axfr, /v1/enumerate, /v1/hosts, /v1/services). An L4LBBuilder
// turns the named VIP allocations of the cluster into the Zone of
// l4lb.thisdcos.directory (spec dcos-net.md §3.2).
//
// # Records
//
// With D the domain, F = DomainFrag(framework name) (dots kept), T the task
// label (RFC1123, or RFC952 with Config.RFC952), H = TaskHash(task id) and
// S = AgentTail(agent id):
//
//   - leader.D A/AAAA, _leader._tcp.D and _leader._udp.D SRV leader.D:port,
//     from Snapshot.Leader; master.D and masterN.D from Config.Masters plus
//     the leader, numbered as Mesos-DNS does.
//   - slave.D A/AAAA and _slave._tcp.D SRV slave.D:port per agent, from the
//     agent's pid (else its normalised IP and port). An agent without an
//     address gets nothing: unlike Mesos-DNS (issue #509) no A record ever
//     holds a host name.
//   - F.D A/AAAA when FrameworkInfo.hostname is an IP literal. The v1 API
//     has no scheduler pid, so Mesos-DNS's pid-derived F.D and
//     _framework._tcp.F.D cannot be produced, and host names are not
//     resolved.
//   - For every task whose raw state is TASK_RUNNING on a registered agent:
//     T.F.D and T-H-S.F.D with the task IPs (Config.IPSources combined per
//     Config.IPMode; netinfo, docker and mesos read the latest TASK_RUNNING
//     status), T.F.slave.D and T-H-S.F.slave.D with the agent IP,
//     _T._tcp/_udp.F.slave.D SRV T-H-S.F.slave.D:p per resource port (also
//     under F.D for tasks without a DiscoveryInfo name), and for
//     DiscoveryInfo ports _T._proto.F.D and _name._T._proto.F.D SRV
//     T-H-S.F.D:number. Tasks with a DiscoveryInfo name also get the legacy
//     copy of all of these under the raw, un-sanitised name (lower-cased)
//     unless Config.OmitLegacyNames.
//   - The SOA MName (ns1.D) A/AAAA from Config.Listener.
//   - With Config.DCOS: <task>.<framework>.{agentip,containerip,autoip},
//     leader and master in dcos.thisdcos.directory, labels through
//     DCOSLabel, for running tasks (also while their agent is briefly
//     removed, as the state store keeps them).
//
// Identical (name, value) pairs are one record, reference-counted across
// their sources, so several tasks of an app share T.F.D and removing one
// task keeps a record another still provides.
//
// Names that would not be servable are never produced: a label that is
// empty after sanitising drops the names that need it (Mesos-DNS would
// emit ".F.D."), a canonical label longer than 63 characters has its task
// part shortened, legacy names with characters outside letters, digits,
// '-', '_' and '.' are dropped, and every name is checked with
// dns.IsDomainName (labels <= 63, names <= 255 octets) before use.
//
// # Differences from Mesos-DNS
//
// Besides the framework and agent records above: a task's resource ports
// get SRV records for at most 1024 ports and DiscoveryInfo port numbers
// above 65535 are skipped; tasks are identified by (framework id, task
// id), so two tasks listed with one id (Mesos-DNS's fake.json) are one;
// Enumerate lists every record of a task, not only those it inserted
// first; AXFR reports the SOA refresh as RefreshSeconds, since nothing
// polls.
//
// # Design notes
//
// A Zone is a persistent hash map (github.com/benbjohnson/immutable, a
// HAMT keyed by the lower-case FQDN with the runtime's string hash) from
// owner name to an RRSet holding ready-made miekg/dns records, sorted, with
// a reference count per record. Lookup is one map probe and does not
// allocate; records, the additional-section pair, the additional section
// of each name's SRV records and SOA/NS are built once per change, never
// per query. Names of one or two records get their RRSet, records and
// counts in one allocation, and an A or AAAA record its address, to save
// cache misses when answering.
//
// A second persistent map counts, for every proper ancestor of an owner
// name below its origin, the owner names under it: each owner name adds
// one to each of its ancestors. The ancestors that own no record are the
// empty non-terminals ("marathon.slave.mesos.", "_tcp.marathon.mesos."),
// which exist (RFC 8020), so the plugin answers them NODATA where
// Mesos-DNS answered NXDOMAIN.
//
// The additional section of a name's SRV records (the first A and AAAA of
// every distinct target, de-duplicated) is stored with them in target
// order, with where each record's target begins, so that a query rotating
// the SRV records takes the section rotated the same way without looking
// up a target; a name whose SRV records have one target shares that
// target's pair.
//
// Build derives every record of a snapshot, sums the references per
// (name, value) and fills the maps. Update keeps the previous snapshot and
// derives the records of each changed task twice, from the previous and
// from the new snapshot, subtracting the first and adding the second; it
// does the same for agents, frameworks and the leader that differ, and for
// the tasks of changed agents (indexed by agent id, because agent changes
// do not mark tasks as changed). Equal records cancel, so an update that
// changes nothing in DNS (a health flap) touches no name. Only the names
// whose counts moved get a new RRSet, names that appear or disappear move
// the counts of their ancestors, and a name whose SRV records point at a
// target whose first A or AAAA changed gets a copy of its RRSet with a new
// additional section (the Builder indexes SRV targets to their owner
// names). Setting a name copies O(log32 n) map nodes, so older zones stay
// valid for readers still holding them. Nothing per task is stored besides
// the map entries and that index: the previous snapshot is the record of
// what was added. If counts ever disagree with the snapshots (a changed
// list that missed a task), Update logs it and rebuilds.
//
// Cost, measured by the benchmarks on mesossim.Synthetic(10000, 1) (1,000
// agents, both zones, 2-core VM): Build about 0.45 s for 86,000 names and
// 30,000 ancestors, retaining about 4.5 KB per task (and 0.4 KB per task in
// the Builder's SRV target index); Update for one task about 0.12 ms, most
// of it the O(agents) comparison of the agent lists (the snapshot has no
// cheaper change signal for agents); Lookup about 60 ns, no allocation.
//
// The SOA serial is the Unix time of the build that last added or removed
// a record, never decreasing; the dcos.thisdcos.directory SOA uses the same
// serial (dcos-net used a constant 1) and dcos-net's other SOA values.
package zone
