package v1

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Bridge name prefixes of an overlay on an agent (spec dcos-net.md §4.2):
// the Mesos (UCR, CNI) bridge m-<overlay> and the Docker bridge
// d-<overlay>.
const (
	MesosBridgePrefix  = "m-"
	DockerBridgePrefix = "d-"
)

// VIP ranges (spec dcos-net.md §3.2, DESIGN §3): named VIPs get addresses
// from these prefixes, network and last address included.
var (
	// DefaultVIPPrefix is DC/OS's IPv4 VIP range, 11.0.0.0-11.255.255.255.
	DefaultVIPPrefix = netip.MustParsePrefix("11.0.0.0/8")
	// DefaultVIPPrefix6 is DC/OS's IPv6 VIP range,
	// fd01:c::-fd01:c::ffff:ffff:ffff:ffff.
	DefaultVIPPrefix6 = netip.MustParsePrefix("fd01:c::/64")
	// TestPlanVIPPrefix is the IPv4 VIP range of the test address plan;
	// its IPv6 range is DefaultVIPPrefix6.
	TestPlanVIPPrefix = netip.MustParsePrefix("198.18.128.0/17")
)

// AgentAllocation is what the master hands an agent of the overlay network
// (DC/OS's AgentInfo, spec dcos-net.md §4.2): its VTEP addresses and, per
// enabled overlay, its subnets. Allocations are never freed automatically:
// an agent that registers again gets the same one.
type AgentAllocation struct {
	// AgentIP identifies the agent, as in DC/OS: the IP it registered from.
	AgentIP netip.Addr `json:"agentIP"`
	// VTEPIP is the VTEP address with the length of vtep_subnet, e.g.
	// 44.128.0.1/20, as DC/OS's vtep_ip: ready to be assigned to vtep1024.
	VTEPIP netip.Prefix `json:"vtepIP"`
	// VTEPIP6 is the IPv6 VTEP address with the length of vtep_subnet6,
	// e.g. fd01:a::1/64; the zero Prefix if vtep_subnet6 is unset.
	VTEPIP6 netip.Prefix `json:"vtepIP6,omitzero"`
	// VTEPMAC is the MAC of vtep1024: the OUI of vtep_mac_oui followed by
	// the last 3 bytes of VTEPIP (44.128.0.1 gives 70:b3:d5:80:00:01).
	VTEPMAC MAC `json:"vtepMAC"`
	// Overlays are the agent's subnets, one entry per enabled overlay, in
	// configuration order.
	Overlays []OverlayAllocation `json:"overlays,omitempty"`
}

// OverlayAllocation is an agent's share of one overlay: a subnet per
// address family, each split into a Mesos half and a Docker half.
type OverlayAllocation struct {
	// Name is the overlay's name.
	Name string `json:"name"`
	// Subnet is the agent's IPv4 subnet, e.g. 9.0.3.0/24; the zero Prefix
	// if the overlay has no IPv4 subnet.
	Subnet netip.Prefix `json:"subnet,omitzero"`
	// Subnet6 is the agent's IPv6 subnet, e.g. fd01:b::/80; the zero
	// Prefix if the overlay has no IPv6 subnet.
	Subnet6 netip.Prefix `json:"subnet6,omitzero"`
	// MesosBridge is m-<name> with the first half of Subnet
	// (9.0.3.0/25), DockerBridge d-<name> with the second (9.0.3.128/25).
	MesosBridge  Bridge `json:"mesosBridge,omitzero"`
	DockerBridge Bridge `json:"dockerBridge,omitzero"`
	// MesosBridge6 and DockerBridge6 are the halves of Subnet6
	// (fd01:b::/81 and fd01:b::8000:0:0/81).
	MesosBridge6  Bridge `json:"mesosBridge6,omitzero"`
	DockerBridge6 Bridge `json:"dockerBridge6,omitzero"`
}

// Bridge is a bridge device of an overlay on an agent and the subnet its
// containers get addresses from.
type Bridge struct {
	Name   string       `json:"name"`
	Prefix netip.Prefix `json:"prefix"`
}

// Halves returns the two halves of the agent subnet p: the first for the
// Mesos bridge, the second for the Docker bridge. 9.0.3.0/24 gives
// 9.0.3.0/25 and 9.0.3.128/25. Host bits of p are ignored; a p that
// cannot be split (invalid, or a single address) gives two zero Prefixes.
func Halves(p netip.Prefix) (first, second netip.Prefix) {
	if !p.IsValid() || p.Bits() >= p.Addr().BitLen() {
		return netip.Prefix{}, netip.Prefix{}
	}
	p = p.Masked()
	bits := p.Bits() + 1
	first = netip.PrefixFrom(p.Addr(), bits)
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	a, _ := netip.AddrFromSlice(b)
	return first, netip.PrefixFrom(a, bits)
}

// NewOverlayAllocation returns the allocation of overlay name with the agent
// subnets subnet and subnet6 (either may be the zero Prefix), with the
// bridges named and the subnets halved as DC/OS does.
func NewOverlayAllocation(name string, subnet, subnet6 netip.Prefix) OverlayAllocation {
	a := OverlayAllocation{Name: name, Subnet: subnet, Subnet6: subnet6}
	if subnet.IsValid() {
		m, d := Halves(subnet)
		a.MesosBridge = Bridge{Name: MesosBridgePrefix + name, Prefix: m}
		a.DockerBridge = Bridge{Name: DockerBridgePrefix + name, Prefix: d}
	}
	if subnet6.IsValid() {
		m, d := Halves(subnet6)
		a.MesosBridge6 = Bridge{Name: MesosBridgePrefix + name, Prefix: m}
		a.DockerBridge6 = Bridge{Name: DockerBridgePrefix + name, Prefix: d}
	}
	return a
}

// Clone returns a deep copy of a.
func (a AgentAllocation) Clone() AgentAllocation {
	a.Overlays = append([]OverlayAllocation(nil), a.Overlays...)
	return a
}

// Validate checks the allocation on its own (not against the configuration
// or other agents): a valid agent IP; an IPv4 VTEP address that is neither
// the network nor the broadcast address of its prefix; an IPv6 VTEP address
// if any; a unicast VTEP MAC ending in the last 3 bytes of the VTEP IPv4;
// per overlay a valid unique name, at least one subnet, and bridges that are
// exactly NewOverlayAllocation's. Errors name the field.
func (a AgentAllocation) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch ip := a.AgentIP; {
	case !ip.IsValid():
		add("agentIP: missing")
	case ip.Is4In6():
		add("agentIP: %s is an IPv4-mapped IPv6 address", ip)
	case ip.Zone() != "":
		add("agentIP: %s has a zone", ip)
	}
	switch p := a.VTEPIP; {
	case !p.IsValid():
		add("vtepIP: missing")
	case !p.Addr().Is4():
		add("vtepIP: %s is not IPv4", p)
	case p.Bits() > 30 || p.Addr() == p.Masked().Addr() || p.Addr() == lastAddr(p):
		add("vtepIP: %s is not a host address of its subnet", p)
	}
	if p := a.VTEPIP6; p.IsValid() {
		switch {
		case !p.Addr().Is6() || p.Addr().Is4In6():
			add("vtepIP6: %s is not IPv6", p)
		case p.Addr().Zone() != "":
			add("vtepIP6: %s has a zone", p)
		}
	}
	switch m := a.VTEPMAC; {
	case m.IsZero():
		add("vtepMAC: missing")
	case m[0]&1 != 0:
		add("vtepMAC: %s is a multicast address", m)
	case a.VTEPIP.Addr().Is4():
		if ip := a.VTEPIP.Addr().As4(); [3]byte(m[3:]) != [3]byte(ip[1:]) {
			add("vtepMAC: %s does not end in the last 3 bytes of vtepIP %s", m, a.VTEPIP.Addr())
		}
	}
	seen := make(map[string]int, len(a.Overlays))
	for i, o := range a.Overlays {
		path := fmt.Sprintf("overlays[%d]", i)
		if err := validateOverlayName(o.Name); err != nil {
			add("%s.name: %w", path, err)
		} else if j, dup := seen[o.Name]; dup {
			add("%s.name: %q is also the name of overlays[%d]", path, o.Name, j)
		} else {
			seen[o.Name] = i
		}
		if !o.Subnet.IsValid() && !o.Subnet6.IsValid() {
			add("%s: neither subnet nor subnet6", path)
		}
		for _, f := range []struct {
			field string
			p     netip.Prefix
			is4   bool
		}{{"subnet", o.Subnet, true}, {"subnet6", o.Subnet6, false}} {
			switch p := f.p; {
			case !p.IsValid():
			case p.Addr().Is4() != f.is4 || p.Addr().Is4In6():
				add("%s.%s: %s is of the wrong address family", path, f.field, p)
			case p != p.Masked():
				add("%s.%s: %s has host bits set", path, f.field, p)
			case p.Bits() == p.Addr().BitLen():
				add("%s.%s: %s cannot be split in halves", path, f.field, p)
			}
		}
		if o.Subnet.IsValid() && o.Subnet.Bits() == o.Subnet.Addr().BitLen() ||
			o.Subnet6.IsValid() && o.Subnet6.Bits() == o.Subnet6.Addr().BitLen() {
			continue // Halves would make no sense
		}
		want := NewOverlayAllocation(o.Name, o.Subnet.Masked(), o.Subnet6.Masked())
		for _, b := range []struct {
			field      string
			have, want Bridge
		}{
			{"mesosBridge", o.MesosBridge, want.MesosBridge},
			{"dockerBridge", o.DockerBridge, want.DockerBridge},
			{"mesosBridge6", o.MesosBridge6, want.MesosBridge6},
			{"dockerBridge6", o.DockerBridge6, want.DockerBridge6},
		} {
			if b.have != b.want {
				add("%s.%s: %s, want %s", path, b.field, b.have, b.want)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent allocation %s: %w", a.AgentIP, err)
	}
	return nil
}

// String returns "name prefix", e.g. "m-dcos 9.0.3.0/25", or "none" for
// the zero Bridge.
func (b Bridge) String() string {
	if b == (Bridge{}) {
		return "none"
	}
	return b.Name + " " + prefixText(b.Prefix)
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// VIPAllocation is the address recorded for a named VIP (spec dcos-net.md
// §3.2): one IPv4 and/or one IPv6 address, chosen by the leader with
// controllers/vipalloc and served by every node.
type VIPAllocation struct {
	// Name is "<label>.<framework>", each normalised with domain_frag
	// (e.g. "mygroupmyapp.marathon"): the key of the allocation, the hash
	// input, and, with ".l4lb.thisdcos.directory" appended, the DNS name.
	Name string `json:"name"`
	// Label is the VIP name as written in the label, e.g. "/mygroup/myapp".
	Label string `json:"label"`
	// Framework is the raw name of the framework of the tasks.
	Framework string `json:"framework"`
	// IP4 and IP6 are the VIP's addresses; at least one is set.
	IP4 netip.Addr `json:"ip4,omitzero"`
	IP6 netip.Addr `json:"ip6,omitzero"`
	// OrphanedAt is when the VIP's last backend went away, zero while it
	// has backends. The allocation (and its addresses) is kept for a grace
	// period after it, so that a VIP whose tasks are all restarted keeps
	// its addresses, then deleted (dcos-net DCOS_OSS-5356).
	OrphanedAt time.Time `json:"orphanedAt,omitzero"`
}

// maxVIPNameLen is the longest VIP name whose DNS name
// "<name>.l4lb.thisdcos.directory" fits in 253 characters.
const maxVIPNameLen = 253 - len(".l4lb.thisdcos.directory")

// Validate checks that the name is made of at least two lower-case DNS
// labels (letters, digits and inner '-', 1-63 characters) and short enough
// for its DNS name, that label and framework are set, and that there is an
// IPv4 address in IP4 and/or an IPv6 address in IP6, without zones, and
// that OrphanedAt, when set, is not before the Unix epoch. Errors name the
// field.
func (v VIPAllocation) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := validateVIPName(v.Name); err != nil {
		add("name: %w", err)
	}
	if v.Label == "" {
		add("label: missing")
	}
	if v.Framework == "" {
		add("framework: missing")
	}
	if !v.IP4.IsValid() && !v.IP6.IsValid() {
		add("ip4, ip6: neither is set")
	}
	if ip := v.IP4; ip.IsValid() && (!ip.Is4() || ip.Zone() != "") {
		add("ip4: %s is not an IPv4 address", ip)
	}
	if ip := v.IP6; ip.IsValid() && (!ip.Is6() || ip.Is4In6() || ip.Zone() != "") {
		add("ip6: %s is not an IPv6 address without zone", ip)
	}
	if t := v.OrphanedAt; !t.IsZero() && t.Before(time.Unix(0, 0)) {
		add("orphanedAt: %s is before 1970", t.Format(time.RFC3339))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("VIP allocation %q: %w", v.Name, err)
	}
	return nil
}

func validateVIPName(name string) error {
	if name == "" {
		return errors.New("missing")
	}
	if len(name) > maxVIPNameLen {
		return fmt.Errorf("%d characters, more than %d", len(name), maxVIPNameLen)
	}
	if !strings.Contains(name, ".") {
		return fmt.Errorf("%q is not <label>.<framework>", name)
	}
	for l := range strings.SplitSeq(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q has an empty, too long or hyphen-edged label %q", name, l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q has a character outside [a-z0-9-.]", name)
			}
		}
	}
	return nil
}
