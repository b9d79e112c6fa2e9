package v1

import (
	"errors"
	"fmt"
	"net/netip"
)

// Agent is a registered Mesos agent.
type Agent struct {
	ID string `json:"id"`
	// Hostname is AgentInfo.hostname: an IP literal or a DNS name.
	Hostname string `json:"hostname"`
	// IP is the agent address: Hostname if it is an IP, else Hostname
	// resolved (first IPv4), else the IP of PID. Invalid (zero) if none of
	// them gave an address.
	IP netip.Addr `json:"ip,omitzero"`
	// Port is the agent's HTTP port (AgentInfo.port, 5051 by default).
	Port uint16 `json:"port,omitempty"`
	// PID is the agent's libprocess pid, e.g. "slave(1)@10.0.0.1:5051";
	// empty when Mesos did not report it.
	PID string `json:"pid,omitempty"`
}

// Validate checks that the id and hostname are set.
func (a Agent) Validate() error {
	var errs []error
	if a.ID == "" {
		errs = append(errs, errors.New("empty id"))
	}
	if a.Hostname == "" {
		errs = append(errs, errors.New("empty hostname"))
	}
	if a.IP.Zone() != "" {
		errs = append(errs, fmt.Errorf("IP %s has a zone", a.IP))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent %q: %w", a.ID, err)
	}
	return nil
}

// Framework is a registered Mesos framework.
type Framework struct {
	ID string `json:"id"`
	// Name is FrameworkInfo.name, raw (several frameworks may share it).
	Name string `json:"name"`
	// Hostname is FrameworkInfo.hostname, the scheduler's host, if set.
	Hostname string `json:"hostname,omitempty"`
	// Active is false while the scheduler is disconnected or recovering.
	Active bool `json:"active"`
}

// Validate checks that the id is set.
func (f Framework) Validate() error {
	if f.ID == "" {
		return fmt.Errorf("framework %q: empty id", f.Name)
	}
	return nil
}

// Master is a Mesos master, in practice the leader.
type Master struct {
	ID       string     `json:"id"`
	Hostname string     `json:"hostname,omitempty"`
	IP       netip.Addr `json:"ip,omitzero"`
	Port     uint16     `json:"port,omitempty"`
}

// Validate checks that the id and a valid IP are set.
func (m Master) Validate() error {
	var errs []error
	if m.ID == "" {
		errs = append(errs, errors.New("empty id"))
	}
	if !m.IP.IsValid() {
		errs = append(errs, errors.New("no IP"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("master %q: %w", m.ID, err)
	}
	return nil
}
