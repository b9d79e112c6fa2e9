package v1

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// L4LBZone is the DNS zone of named VIPs (spec dcos-net.md §1.3, §3.2).
const L4LBZone = "l4lb.thisdcos.directory"

// VIPService is one load-balanced service as the L4 load balancer programs
// it, an IPVS-style (protocol, address, port) with its backends: the entry of
// dcos-net's GET /v1/vips (spec dcos-net.md §1.4, §3.3) extended with the
// address and the details the agents need.
//
// A named VIP with backends of both address families is two services, one
// per family, that share VIP and Name: IPVS services have a single address.
// Protocols are separate services too, so the same label on a tcp and a udp
// port gives two. A task's IP VIP that happens to equal the address
// allocated to a named VIP gives two services with the same (Protocol, IP,
// Port), distinguished by VIP; a data plane merges their backends.
type VIPService struct {
	// VIP is the service as dcos-net's /v1/vips writes it, "<vip>:<port>"
	// (FormatVIP): "<Name>.l4lb.thisdcos.directory:<port>" for a named VIP
	// ("mygroupmyapp.marathon.l4lb.thisdcos.directory:80"), the
	// netip.AddrPort text for an IP VIP ("1.2.3.4:5000",
	// "[fd01:c::12]:5000").
	VIP      string   `json:"vip"`
	Protocol Protocol `json:"protocol"`
	// Name is the VIPAllocation.Name of a named VIP ("mygroupmyapp.marathon"),
	// empty for an IP VIP.
	Name string `json:"name,omitempty"`
	// IP is the address of this service: the allocated address of the
	// family for a named VIP, the label's address for an IP VIP.
	IP   netip.Addr `json:"ip"`
	Port uint16     `json:"port"`
	// Backend are the backends, sorted by IP, then port; each IP:port
	// appears once. The field name is dcos-net's.
	Backend []VIPBackend `json:"backend"`
}

// VIPBackend is one destination of a VIPService: a task reached at IP:Port,
// of the family of the service address.
type VIPBackend struct {
	// IP and Port are where the load balancer sends connections: the
	// agent's IP and the host port for a port with a host port mapping
	// (bridge networking), else a task IP and the port (container
	// networks, and host networking whose task IP is the agent's).
	IP   netip.Addr `json:"ip"`
	Port uint16     `json:"port"`
	// Weight is 1 for a running task that is not unhealthy, 0 for an
	// unhealthy or a killing one: kept for the established connections,
	// given no new ones (DCOS_OSS-1954, D2IQ-61077).
	Weight int `json:"weight"`
	// AgentIP is the address of the task's agent, zero if unknown; the
	// agent that hosts the task recognises its own backends by it.
	AgentIP netip.Addr `json:"agentIP,omitzero"`
	// Task is the task behind the backend.
	Task TaskKey `json:"task"`
	// Runtime is the task's containerizer.
	Runtime Runtime `json:"runtime,omitempty"`
	// ContainerIP and ContainerPort are set for a backend AgentIP:HostPort
	// when the task's own address of that family and its container port
	// are known: the agent hosting a non-Docker task uses them instead,
	// as IPVS output bypasses the port mapping's DNAT (spec dcos-net.md
	// §3.3, DCOS_OSS-2070). Zero otherwise.
	ContainerIP   netip.Addr `json:"containerIP,omitzero"`
	ContainerPort uint16     `json:"containerPort,omitempty"`
}

// FormatVIP returns the VIP text of a service, as dcos-net's /v1/vips:
// "<name>.l4lb.thisdcos.directory:<port>" when name (a VIPAllocation.Name)
// is set, else the netip.AddrPort text of ip and port.
func FormatVIP(name string, ip netip.Addr, port uint16) string {
	if name != "" {
		return name + "." + L4LBZone + ":" + strconv.FormatUint(uint64(port), 10)
	}
	return netip.AddrPortFrom(ip, port).String()
}

// CompareVIPServices orders services by VIP, then protocol, then address
// (IPv4 first): the order of Services' result.
func CompareVIPServices(a, b VIPService) int {
	if c := cmp.Compare(a.VIP, b.VIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	return a.IP.Compare(b.IP)
}

// CompareVIPBackends orders backends by IP, then port, then weight
// (highest first), then task.
func CompareVIPBackends(a, b VIPBackend) int {
	if c := a.IP.Compare(b.IP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
		return c
	}
	return a.Task.Compare(b.Task)
}

// Validate checks the protocol, the address (IPv4, or IPv6 that is not
// IPv4-mapped, without zone), the port, that VIP is FormatVIP of the
// other fields and every backend: of the service's family, unique IP:port,
// in order (CompareVIPBackends). Errors name the service and the field.
func (s VIPService) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := s.Protocol.Validate(); err != nil {
		add("protocol: %w", err)
	}
	if err := validateUnicastAddr(s.IP); err != nil {
		add("ip: %w", err)
	}
	if s.Port == 0 {
		add("port: 0")
	}
	if s.Name != "" {
		if err := validateVIPName(s.Name); err != nil {
			add("name: %w", err)
		}
	}
	if want := FormatVIP(s.Name, s.IP, s.Port); s.VIP != want {
		add("vip: %q, want %q", s.VIP, want)
	}
	for i, b := range s.Backend {
		if err := b.Validate(); err != nil {
			add("backend[%d]: %w", i, err)
			continue
		}
		if b.IP.Is4() != s.IP.Is4() {
			add("backend[%d]: %s is not of the family of %s", i, b.IP, s.IP)
		}
		if i > 0 {
			prev := s.Backend[i-1]
			switch {
			case prev.IP == b.IP && prev.Port == b.Port:
				add("backend[%d]: %s also in backend[%d]", i, netip.AddrPortFrom(b.IP, b.Port), i-1)
			case CompareVIPBackends(prev, b) > 0:
				add("backend[%d]: %s is out of order", i, netip.AddrPortFrom(b.IP, b.Port))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("VIP service %s %s (%s): %w", s.Protocol, s.VIP, s.IP, err)
	}
	return nil
}

// Validate checks the address, the port, the weight (0 or 1), the task key
// and the runtime if set, and that a container address, when set, is of the
// family of IP and comes with a container port. Errors name the field.
func (b VIPBackend) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := validateUnicastAddr(b.IP); err != nil {
		add("ip: %w", err)
	}
	if b.Port == 0 {
		add("port: 0")
	}
	if b.Weight != 0 && b.Weight != 1 {
		add("weight: %d is not 0 or 1", b.Weight)
	}
	if err := b.Task.Validate(); err != nil {
		add("task: %w", err)
	}
	if b.Runtime != "" {
		if err := b.Runtime.Validate(); err != nil {
			add("runtime: %w", err)
		}
	}
	if ip := b.AgentIP; ip.IsValid() {
		if err := validateUnicastAddr(ip); err != nil {
			add("agentIP: %w", err)
		}
	}
	switch ip := b.ContainerIP; {
	case !ip.IsValid():
		if b.ContainerPort != 0 {
			add("containerPort: %d without a container IP", b.ContainerPort)
		}
	case validateUnicastAddr(ip) != nil:
		add("containerIP: %w", validateUnicastAddr(ip))
	case ip.Is4() != b.IP.Is4():
		add("containerIP: %s is not of the family of %s", ip, b.IP)
	case b.ContainerPort == 0:
		add("containerPort: missing for container IP %s", ip)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("backend %s of task %s: %w", netip.AddrPortFrom(b.IP, b.Port), b.Task, err)
	}
	return nil
}

// validateUnicastAddr checks that a is set, IPv4 or plain IPv6 (not
// IPv4-mapped) and has no zone.
func validateUnicastAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("missing")
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address", a)
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone", a)
	}
	return nil
}
