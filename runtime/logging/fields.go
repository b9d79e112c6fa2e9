package logging

import (
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// The helpers below are the only place a structured-log key is spelled, so a
// task id is "taskID" in every component and log queries work across them.
// Addresses and prefixes are rendered lazily with their String method.

// AgentID is the Mesos agent id ("agentID").
func AgentID(id string) zap.Field { return zap.String("agentID", id) }

// FrameworkID is the Mesos framework id ("frameworkID").
func FrameworkID(id string) zap.Field { return zap.String("frameworkID", id) }

// Framework is the Mesos framework name ("framework").
func Framework(name string) zap.Field { return zap.String("framework", name) }

// TaskID is the Mesos task id ("taskID").
func TaskID(id string) zap.Field { return zap.String("taskID", id) }

// TaskState is a Mesos task state such as TASK_RUNNING ("taskState").
func TaskState(state string) zap.Field { return zap.String("taskState", state) }

// Event is the type of a Mesos operator API event such as TASK_UPDATED ("event").
func Event(typ string) zap.Field { return zap.String("event", typ) }

// Master is the URL of a Mesos master or mesosnet master ("master").
func Master(url string) zap.Field { return zap.String("master", url) }

// Hostname is a node's host name ("hostname").
func Hostname(name string) zap.Field { return zap.String("hostname", name) }

// IP is a single address, e.g. a container IP ("IP").
func IP(a netip.Addr) zap.Field { return zap.Stringer("IP", a) }

// NodeIP is the IP address of an agent or master node ("nodeIP").
func NodeIP(a netip.Addr) zap.Field { return zap.Stringer("nodeIP", a) }

// VTEP is the overlay VXLAN tunnel endpoint address of a node ("VTEP").
func VTEP(a netip.Addr) zap.Field { return zap.Stringer("VTEP", a) }

// MAC is a link-layer address, e.g. a VTEP MAC ("MAC").
func MAC(hw net.HardwareAddr) zap.Field { return zap.Stringer("MAC", hw) }

// CIDR is a prefix: an overlay, an agent subnet, a route destination ("CIDR").
func CIDR(p netip.Prefix) zap.Field { return zap.Stringer("CIDR", p) }

// VIP is a virtual IP and port of the L4 load balancer ("VIP").
func VIP(a netip.AddrPort) zap.Field { return zap.Stringer("VIP", a) }

// Backend is a load-balancer backend address and port ("backend").
func Backend(a netip.AddrPort) zap.Field { return zap.Stringer("backend", a) }

// Protocol is a transport protocol, "tcp" or "udp" ("protocol").
func Protocol(p string) zap.Field { return zap.String("protocol", p) }

// Overlay is the name of an overlay network such as "dcos" ("overlay").
func Overlay(name string) zap.Field { return zap.String("overlay", name) }

// Device is the name of a network device such as "vtep1024" ("device").
func Device(name string) zap.Field { return zap.String("device", name) }

// Zone is a DNS zone ("zone").
func Zone(name string) zap.Field { return zap.String("zone", name) }

// Upstream is the address of an upstream DNS resolver ("upstream").
func Upstream(a netip.AddrPort) zap.Field { return zap.Stringer("upstream", a) }

// RaftIndex is a raft log index ("raftIndex").
func RaftIndex(i uint64) zap.Field { return zap.Uint64("raftIndex", i) }

// Revision is a watch API revision (a raft index seen by a client) ("revision").
func Revision(r uint64) zap.Field { return zap.Uint64("revision", r) }

// Peer is the id or address of a raft peer ("peer").
func Peer(id string) zap.Field { return zap.String("peer", id) }

// Controller is the name of a controller ("controller").
func Controller(name string) zap.Field { return zap.String("controller", name) }

// Key is the work-queue key a controller reconciles ("key"). Keys that
// implement fmt.Stringer are logged with String, other keys as zap.Any does.
func Key(k any) zap.Field { return zap.Any("key", k) }

// Attempt counts the failed attempts so far for a key or a connection ("attempt").
func Attempt(n int) zap.Field { return zap.Int("attempt", n) }

// Backoff is the delay before the next retry ("backoff").
func Backoff(d time.Duration) zap.Field { return zap.Duration("backoff", d) }

// Elapsed is how long an operation took ("elapsed").
func Elapsed(d time.Duration) zap.Field { return zap.Duration("elapsed", d) }
