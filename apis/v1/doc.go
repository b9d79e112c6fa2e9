// Package v1 holds the versioned plain data types of mesosnet: Mesos tasks,
// agents, frameworks and masters as mesosnet normalises them (spec
// dcos-net.md §2.1), and the virtual IPs of the L4 load balancer (§3.1).
//
// The types carry no behaviour beyond parsing and validation: addresses are
// net/netip values, small types are comparable, and every type that can be
// wrong has a Validate method beside it. JSON field names are lowerCamelCase
// with upper-case initialisms (agentID, hostPort, IPs as "ips"), and zero
// values are omitted, so the encoding is stable for the watch API and raft.
//
// Values handed out by a state snapshot share their slices with the snapshot:
// treat them as read-only and Clone a Task before modifying it.
package v1
