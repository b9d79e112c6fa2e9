package v1

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// VIP is one virtual-IP label of a task port: the value of a DiscoveryInfo
// port label whose key starts with "VIP" or "vip" (e.g. VIP_0="/app:80"), or
// the address part of a legacy VIP_PORT<i>="tcp://name:port" task label
// (spec dcos-net.md §3.1).
//
// Exactly one of Name and IP is set. A label whose address part parses as an
// IP literal is an IP VIP, used as-is; anything else is a named VIP, whose
// name is kept raw (including a leading "/") and later turned into
// <name>.<framework>.l4lb.thisdcos.directory by the DNS layer.
type VIP struct {
	// Label is the label value as written, e.g. "/app:80" or
	// "fd01:c::12:5000". For legacy labels it is the part after "tcp://".
	Label string `json:"label"`
	// Name is the raw name of a named VIP, e.g. "/app".
	Name string `json:"name,omitempty"`
	// IP is the address of an IP VIP.
	IP netip.Addr `json:"ip,omitzero"`
	// Port is the VIP port, 1-65535.
	Port uint16 `json:"port"`
}

// ParseVIPLabel parses a VIP label value "<name>:<port>" or "<ip>:<port>".
// It splits at the last ':' so that IPv6 literals are written without
// brackets ("fd01:c::12:5000" is fd01:c::12 port 5000), as dcos-net does;
// a bracketed literal is therefore a (strange) name, not an IP. It rejects an
// empty name, a missing, non-decimal, zero or out-of-range port, and IP
// literals with a zone, naming the value in the error.
func ParseVIPLabel(value string) (VIP, error) {
	i := strings.LastIndexByte(value, ':')
	if i < 0 {
		return VIP{}, fmt.Errorf("parse VIP label %q: no ':' before the port", value)
	}
	host, portText := value[:i], value[i+1:]
	if host == "" {
		return VIP{}, fmt.Errorf("parse VIP label %q: empty name before ':'", value)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return VIP{}, fmt.Errorf("parse VIP label %q: port %q is not a number in 1-65535", value, portText)
	}
	v := VIP{Label: value, Port: uint16(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return VIP{}, fmt.Errorf("parse VIP label %q: IP %s has a zone", value, host)
		}
		v.IP = ip
	} else {
		v.Name = host
	}
	return v, nil
}

// IsNamed reports whether v is a named VIP (as opposed to an IP VIP).
func (v VIP) IsNamed() bool { return v.Name != "" }

// String returns the label value.
func (v VIP) String() string { return v.Label }

// Validate checks that exactly one of Name and IP is set, that the port is
// not zero and that an IP has no zone.
func (v VIP) Validate() error {
	switch {
	case v.Port == 0:
		return fmt.Errorf("VIP %q: port 0", v.Label)
	case v.Name == "" && !v.IP.IsValid():
		return fmt.Errorf("VIP %q: neither a name nor an IP", v.Label)
	case v.Name != "" && v.IP.IsValid():
		return fmt.Errorf("VIP %q: both name %q and IP %s", v.Label, v.Name, v.IP)
	case v.IP.Zone() != "":
		return fmt.Errorf("VIP %q: IP %s has a zone", v.Label, v.IP)
	}
	return nil
}
