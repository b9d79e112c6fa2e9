package v1

import (
	"errors"
	"fmt"
)

// Protocol is a transport protocol of a task port.
type Protocol string

// The protocols a task port can have; ports with any other protocol are
// dropped during normalisation (spec dcos-net.md §2.1).
const (
	ProtocolTCP Protocol = "tcp"
	ProtocolUDP Protocol = "udp"
)

// Validate checks that p is tcp or udp.
func (p Protocol) Validate() error {
	if p != ProtocolTCP && p != ProtocolUDP {
		return fmt.Errorf("protocol %q is not tcp or udp", string(p))
	}
	return nil
}

// Port is one normalised port of a task: a DiscoveryInfo port merged with the
// port mappings and legacy VIP_PORT labels that refer to it (spec
// dcos-net.md §2.1). Port is the number the task listens on inside its
// network namespace (for host-networked tasks the agent port); HostPort is the
// agent port mapped to it, 0 when there is none. At least one is set.
type Port struct {
	// Name is the DiscoveryInfo port name, "default" when it has none.
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	// Port is the container port, 0 when only the host port is known.
	Port uint16 `json:"port,omitempty"`
	// HostPort is the agent port mapped to Port, 0 when there is none.
	HostPort uint16 `json:"hostPort,omitempty"`
	// VIPs are the port's VIP labels in label order, without duplicates.
	VIPs []VIP `json:"vips,omitempty"`
}

// Validate checks the protocol, that a port number is set, and every VIP.
func (p Port) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("empty name"))
	}
	if err := p.Protocol.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p.Port == 0 && p.HostPort == 0 {
		errs = append(errs, errors.New("neither port nor host port set"))
	}
	for _, v := range p.VIPs {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("port %q (%s %d, host port %d): %w", p.Name, p.Protocol, p.Port, p.HostPort, err)
	}
	return nil
}
