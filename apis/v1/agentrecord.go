package v1

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// AgentRecord is what the masters record for an agent of the overlay network
// (raft kind "agent", keyed by Key): its allocation, how it registered, and
// whether Mesos still knows it. The master's subnet allocator writes it; the
// allocation part never changes for a registered agent, except to add the
// subnets of overlays configured since (spec dcos-net.md §4.2).
//
// AgentAllocation is embedded, so its fields appear at the top level of the
// JSON object, beside hostname and the times.
type AgentRecord struct {
	AgentAllocation
	// Hostname is the hostname the agent registered with, if it sent one.
	Hostname string `json:"hostname,omitempty"`
	// MesosAgentID is the ID of the last Mesos agent seen with this IP;
	// empty for a node that never was a Mesos agent (a master).
	MesosAgentID string `json:"mesosAgentID,omitempty"`
	// RegisteredAt is the time of the first registration, by the clock of
	// the leader that recorded it.
	RegisteredAt time.Time `json:"registeredAt"`
	// RemovedAt is when the leader found the Mesos agent gone; the zero
	// Time while Mesos knows it (and always for a node that never was a
	// Mesos agent). The record is deleted once RemovedAt is older than the
	// allocator's grace period.
	RemovedAt time.Time `json:"removedAt,omitzero"`
}

// AgentRegistration is what an agent sends to register with the overlay
// network (the body of POST /v1/agents): its IP, which identifies it as in
// DC/OS, and its hostname.
type AgentRegistration struct {
	// IP is the agent's IP, the one its peers reach it at.
	IP netip.Addr `json:"ip"`
	// Hostname is the agent's hostname, informational.
	Hostname string `json:"hostname,omitempty"`
}

// maxHostnameLen is the longest hostname accepted: a DNS name's limit.
const maxHostnameLen = 253

// Key returns the raft key of the record: the agent IP in its canonical
// text form (netip.Addr.String).
func (r AgentRecord) Key() string { return r.AgentIP.String() }

// Clone returns a deep copy of r.
func (r AgentRecord) Clone() AgentRecord {
	r.AgentAllocation = r.AgentAllocation.Clone()
	return r
}

// Validate checks the record on its own: a valid allocation
// (AgentAllocation.Validate), a hostname and Mesos agent ID of printable
// characters without spaces, a registration time, and a removal time only
// for a Mesos agent and not before the registration. Errors name the field.
func (r AgentRecord) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := r.AgentAllocation.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateToken(r.Hostname, maxHostnameLen); err != nil {
		add("hostname: %w", err)
	}
	if err := validateToken(r.MesosAgentID, 255); err != nil {
		add("mesosAgentID: %w", err)
	}
	if r.RegisteredAt.IsZero() {
		add("registeredAt: missing")
	}
	if !r.RemovedAt.IsZero() {
		switch {
		case r.MesosAgentID == "":
			add("removedAt: set for an agent that never was a Mesos agent (no mesosAgentID)")
		case r.RemovedAt.Before(r.RegisteredAt):
			add("removedAt: %s is before registeredAt %s", r.RemovedAt.Format(time.RFC3339Nano), r.RegisteredAt.Format(time.RFC3339Nano))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent record %s: %w", r.AgentIP, err)
	}
	return nil
}

// Validate checks that the IP can identify an agent, a unicast address
// without zone in its canonical form (an IPv4-mapped IPv6 address must be
// sent as IPv4), and that the hostname, if any, is made of printable
// characters without spaces and at most 253 long. Errors name the field.
func (r AgentRegistration) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch ip := r.IP; {
	case !ip.IsValid():
		add("ip: missing")
	case ip.Zone() != "":
		add("ip: %s has a zone", ip)
	case ip.Is4In6():
		add("ip: %s is an IPv4-mapped IPv6 address, send %s", ip, ip.Unmap())
	case ip.IsUnspecified(), ip.IsLoopback(), ip.IsMulticast():
		add("ip: %s is not a unicast address other agents can reach", ip)
	}
	if err := validateToken(r.Hostname, maxHostnameLen); err != nil {
		add("hostname: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent registration %s: %w", r.IP, err)
	}
	return nil
}

// validateToken checks an optional identifier: at most limit bytes of
// printable ASCII other than space.
func validateToken(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%d characters, more than %d", len(s), limit)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%q has a character other than printable ASCII without space at offset %d", s, i)
		}
	}
	return nil
}
