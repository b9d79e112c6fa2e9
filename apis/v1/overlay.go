package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// Overlay defaults of DC/OS that are not part of the overlay network
// configuration (spec dcos-net.md §4.1, §4.4; DESIGN §3).
const (
	// DefaultOverlayMTU is the MTU of container interfaces and bridges on
	// an overlay (DC/OS dcos_overlay_mtu): below the 1446 that VXLAN
	// overhead allows, chosen by DC/OS for GCE.
	DefaultOverlayMTU = 1420
	// VTEPName is the name of the VXLAN device on every node.
	VTEPName = "vtep1024"
	// VTEPVNI is the VXLAN network identifier, hard-coded by DC/OS.
	VTEPVNI = 1024
	// VTEPPort is the VXLAN UDP destination port.
	VTEPPort = 64000
	// MinVTEPMTU is the smallest vtep_mtu DC/OS accepts.
	MinVTEPMTU = 552
	// MaxOverlayNameLen is the longest overlay name: a Linux interface
	// name has at most 15 characters, less the "m-" or "d-" of the
	// bridge names.
	MaxOverlayNameLen = 13
)

// DefaultOverlayNetworkJSON is DC/OS's default dcos_overlay_network
// (dcos/dcos gen/calc.py), verbatim.
const DefaultOverlayNetworkJSON = `{"vtep_subnet":"44.128.0.0/20","vtep_subnet6":"fd01:a::/64","vtep_mac_oui":"70:B3:D5:00:00:00","overlays":[{"name":"dcos","subnet":"9.0.0.0/8","prefix":24},{"name":"dcos6","subnet6":"fd01:b::/64","prefix6":80}]}`

// DefaultOverlayNetwork returns the DC/OS default configuration,
// DefaultOverlayNetworkJSON decoded: VTEPs in 44.128.0.0/20 and fd01:a::/64
// with OUI 70:B3:D5, overlay "dcos" 9.0.0.0/8 with a /24 per agent and
// "dcos6" fd01:b::/64 with a /80 per agent.
func DefaultOverlayNetwork() OverlayNetwork {
	return OverlayNetwork{
		VTEPSubnet:  netip.MustParsePrefix("44.128.0.0/20"),
		VTEPSubnet6: netip.MustParsePrefix("fd01:a::/64"),
		VTEPMACOUI:  MAC{0x70, 0xb3, 0xd5},
		Overlays: []Overlay{
			{Name: "dcos", Subnet: netip.MustParsePrefix("9.0.0.0/8"), Prefix: 24},
			{Name: "dcos6", Subnet6: netip.MustParsePrefix("fd01:b::/64"), Prefix6: 80},
		},
	}
}

// TestPlanOverlayNetwork returns the configuration of the test address plan
// (DESIGN §3): DefaultOverlayNetwork with overlay "dcos" in 198.19.0.0/16
// (a /24 per agent) and VTEPs in 198.18.16.0/20, so that tests only send
// packets to 198.18.0.0/15 and ULA ranges.
func TestPlanOverlayNetwork() OverlayNetwork {
	n := DefaultOverlayNetwork()
	n.VTEPSubnet = netip.MustParsePrefix("198.18.16.0/20")
	n.Overlays[0].Subnet = netip.MustParsePrefix("198.19.0.0/16")
	return n
}

// OverlayNetwork is the overlay network configuration of a cluster. It
// encodes as DC/OS's dcos_overlay_network JSON, whose snake_case field
// names it keeps so that a DC/OS configuration is accepted verbatim
// (ParseOverlayNetwork):
//
//	{"vtep_subnet":"44.128.0.0/20","vtep_subnet6":"fd01:a::/64",
//	 "vtep_mac_oui":"70:B3:D5:00:00:00","vtep_mtu":1450,
//	 "overlays":[{"name":"dcos","subnet":"9.0.0.0/8","prefix":24,"enabled":false}]}
//
// vtep_subnet6, vtep_mtu and, per overlay, subnet/prefix or
// subnet6/prefix6 and enabled are optional. The OUI is written upper-case
// as DC/OS writes it; MACs of allocations are written lower-case.
type OverlayNetwork struct {
	// VTEPSubnet is the IPv4 subnet of VTEP addresses (vtep_subnet).
	VTEPSubnet netip.Prefix
	// VTEPSubnet6 is the IPv6 subnet of VTEP addresses (vtep_subnet6),
	// the zero Prefix if unset.
	VTEPSubnet6 netip.Prefix
	// VTEPMACOUI is vtep_mac_oui: its first 3 bytes, the OUI, start every
	// VTEP MAC; the last 3 are ignored.
	VTEPMACOUI MAC
	// VTEPMTU is the MTU of the VTEP device (vtep_mtu), 0 if unset (the
	// kernel's default then applies).
	VTEPMTU int
	// Overlays are the virtual networks, in configuration order.
	Overlays []Overlay
}

// Overlay is one virtual network of OverlayNetwork: an IPv4 subnet, an IPv6
// subnet or both, each cut into one subnet per agent.
type Overlay struct {
	// Name names the network (CNI network, Docker network) and its bridges
	// m-<name> and d-<name>.
	Name string
	// Subnet is the IPv4 subnet of the network, the zero Prefix if none.
	Subnet netip.Prefix
	// Prefix is the prefix length of each agent's IPv4 subnet.
	Prefix int
	// Subnet6 is the IPv6 subnet of the network, the zero Prefix if none.
	Subnet6 netip.Prefix
	// Prefix6 is the prefix length of each agent's IPv6 subnet.
	Prefix6 int
	// Disabled is the negation of DC/OS's "enabled" (which defaults to
	// true), so that the zero value is enabled. Subnets are allocated for
	// enabled overlays only.
	Disabled bool
}

// Enabled reports whether subnets are allocated for the overlay.
func (o Overlay) Enabled() bool { return !o.Disabled }

// IsIPv6Only reports whether the overlay has an IPv6 subnet and no IPv4
// one.
func (o Overlay) IsIPv6Only() bool { return o.Subnet6.IsValid() && !o.Subnet.IsValid() }

// overlayNetworkJSON and overlayJSON are the DC/OS wire form. Addresses are
// strings so that a parse error can name the field.
type overlayNetworkJSON struct {
	VTEPSubnet  string        `json:"vtep_subnet"`
	VTEPSubnet6 string        `json:"vtep_subnet6,omitempty"`
	VTEPMACOUI  string        `json:"vtep_mac_oui"`
	VTEPMTU     int           `json:"vtep_mtu,omitempty"`
	Overlays    []overlayJSON `json:"overlays"`
}

type overlayJSON struct {
	Name    string `json:"name"`
	Subnet  string `json:"subnet,omitempty"`
	Prefix  int    `json:"prefix,omitempty"`
	Subnet6 string `json:"subnet6,omitempty"`
	Prefix6 int    `json:"prefix6,omitempty"`
	Enabled *bool  `json:"enabled,omitempty"`
}

// ParseOverlayNetwork decodes a dcos_overlay_network JSON document. It
// rejects unknown fields (a misspelt "vtep_subnet_6" would otherwise be
// silently ignored), trailing data and malformed prefixes or MACs, naming
// the field. It does not Validate the result: that needs to know whether
// IPv6 is enabled.
func ParseOverlayNetwork(data []byte) (OverlayNetwork, error) {
	var n OverlayNetwork
	if err := decodeStrict(data, &n); err != nil {
		return OverlayNetwork{}, fmt.Errorf("parse overlay network: %w", err)
	}
	return n, nil
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// MarshalJSON encodes n as DC/OS's dcos_overlay_network.
func (n OverlayNetwork) MarshalJSON() ([]byte, error) {
	w := overlayNetworkJSON{
		VTEPSubnet:  prefixText(n.VTEPSubnet),
		VTEPSubnet6: prefixText(n.VTEPSubnet6),
		VTEPMACOUI:  strings.ToUpper(n.VTEPMACOUI.String()),
		VTEPMTU:     n.VTEPMTU,
		Overlays:    make([]overlayJSON, 0, len(n.Overlays)),
	}
	for _, o := range n.Overlays {
		w.Overlays = append(w.Overlays, o.wire())
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes DC/OS's dcos_overlay_network strictly, as
// ParseOverlayNetwork.
func (n *OverlayNetwork) UnmarshalJSON(data []byte) error {
	var w overlayNetworkJSON
	if err := decodeStrict(data, &w); err != nil {
		return err
	}
	var v OverlayNetwork
	var errs []error
	var err error
	if v.VTEPSubnet, err = parsePrefixField("vtep_subnet", w.VTEPSubnet); err != nil {
		errs = append(errs, err)
	}
	if v.VTEPSubnet6, err = parsePrefixField("vtep_subnet6", w.VTEPSubnet6); err != nil {
		errs = append(errs, err)
	}
	if err := v.VTEPMACOUI.UnmarshalText([]byte(w.VTEPMACOUI)); err != nil {
		errs = append(errs, fmt.Errorf("vtep_mac_oui: %w", err))
	}
	v.VTEPMTU = w.VTEPMTU
	if w.Overlays != nil {
		v.Overlays = make([]Overlay, len(w.Overlays))
	}
	for i, ow := range w.Overlays {
		o, err := ow.overlay(fmt.Sprintf("overlays[%d].", i))
		if err != nil {
			errs = append(errs, err)
		}
		v.Overlays[i] = o
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*n = v
	return nil
}

// MarshalJSON encodes o as an element of DC/OS's "overlays", writing
// "enabled" only when it is false.
func (o Overlay) MarshalJSON() ([]byte, error) { return json.Marshal(o.wire()) }

// UnmarshalJSON decodes an element of DC/OS's "overlays" strictly.
func (o *Overlay) UnmarshalJSON(data []byte) error {
	var w overlayJSON
	if err := decodeStrict(data, &w); err != nil {
		return err
	}
	v, err := w.overlay("")
	if err != nil {
		return err
	}
	*o = v
	return nil
}

func (o Overlay) wire() overlayJSON {
	w := overlayJSON{
		Name:    o.Name,
		Subnet:  prefixText(o.Subnet),
		Prefix:  o.Prefix,
		Subnet6: prefixText(o.Subnet6),
		Prefix6: o.Prefix6,
	}
	if o.Disabled {
		w.Enabled = new(bool)
	}
	return w
}

func (w overlayJSON) overlay(path string) (Overlay, error) {
	o := Overlay{Name: w.Name, Prefix: w.Prefix, Prefix6: w.Prefix6, Disabled: w.Enabled != nil && !*w.Enabled}
	var errs []error
	var err error
	if o.Subnet, err = parsePrefixField(path+"subnet", w.Subnet); err != nil {
		errs = append(errs, err)
	}
	if o.Subnet6, err = parsePrefixField(path+"subnet6", w.Subnet6); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func parsePrefixField(field, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %q is not a CIDR prefix", field, s)
	}
	return p, nil
}

// Effective returns the configuration the master allocates from: with
// enableIPv6 false, IPv6-only overlays are disabled, as DC/OS's gen/calc.py
// does (dual-stack overlays keep their IPv6 subnet, which agents ignore).
// n itself is not modified.
func (n OverlayNetwork) Effective(enableIPv6 bool) OverlayNetwork {
	n.Overlays = append([]Overlay(nil), n.Overlays...)
	if !enableIPv6 {
		for i := range n.Overlays {
			if n.Overlays[i].IsIPv6Only() {
				n.Overlays[i].Disabled = true
			}
		}
	}
	return n
}

// Validate applies DC/OS's rules (spec dcos-net.md §4.1) and the ones the
// allocator relies on, returning every problem, each naming its field
// ("overlays[1].subnet: ..."):
//
//   - vtep_subnet is a canonical IPv4 prefix of length /8 to /30: VTEP
//     MACs are the OUI plus the last 3 bytes of the VTEP IP, so a subnet
//     shorter than /8 would repeat MACs, and network and broadcast
//     addresses are never handed out;
//   - vtep_subnet6, if set, is a canonical IPv6 prefix of length at most
//     /126; with enableIPv6 it is required when an enabled overlay has
//     subnet6;
//   - vtep_mac_oui is set and unicast;
//   - vtep_mtu, if set, is 552-65535;
//   - there is at least one overlay; names are unique, at most 13
//     characters of [A-Za-z0-9_.-] starting with a letter or digit (so
//     m-<name> and d-<name> are valid Linux interface names, and the name
//     a valid CNI and Docker network name), and not host, bridge, default
//     or none (Docker's and Mesos' own networks);
//   - an overlay has subnet or subnet6 or both; subnet is a canonical IPv4
//     prefix with prefix longer than it and at most /29, subnet6 a
//     canonical IPv6 prefix with prefix6 longer than it and at most /125,
//     so each agent subnet splits into two halves (m-<name> and d-<name>)
//     that hold a gateway and containers;
//   - no overlay subnet overlaps another overlay's nor the VTEP subnets.
//
// Disabled overlays are validated too, so enabling one later cannot break
// the configuration.
func (n OverlayNetwork) Validate(enableIPv6 bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch p := n.VTEPSubnet; {
	case !p.IsValid():
		add("vtep_subnet: missing")
	case !p.Addr().Is4():
		add("vtep_subnet: %s is not an IPv4 prefix", p)
	case p != p.Masked():
		add("vtep_subnet: %s has host bits set (want %s)", p, p.Masked())
	case p.Bits() < 8:
		add("vtep_subnet: %s is shorter than /8: VTEP MACs (OUI + last 3 bytes of the VTEP IP) would not be unique", p)
	case p.Bits() > 30:
		add("vtep_subnet: %s has no host address besides network and broadcast", p)
	}
	if p := n.VTEPSubnet6; p.IsValid() {
		switch {
		case !p.Addr().Is6() || p.Addr().Is4In6():
			add("vtep_subnet6: %s is not an IPv6 prefix", p)
		case p != p.Masked():
			add("vtep_subnet6: %s has host bits set (want %s)", p, p.Masked())
		case p.Bits() > 126:
			add("vtep_subnet6: %s has no host address besides the first and the last", p)
		}
	}
	switch oui := n.VTEPMACOUI; {
	case oui.IsZero():
		add("vtep_mac_oui: missing")
	case oui[0]&1 != 0:
		add("vtep_mac_oui: %s is a multicast address", strings.ToUpper(oui.String()))
	}
	if n.VTEPMTU != 0 && (n.VTEPMTU < MinVTEPMTU || n.VTEPMTU > 65535) {
		add("vtep_mtu: %d is outside %d-65535", n.VTEPMTU, MinVTEPMTU)
	}
	if len(n.Overlays) == 0 {
		add("overlays: empty")
	}

	// Subnets checked so far, for the overlap check.
	type named struct {
		field string // e.g. "overlays[0].subnet"
		p     netip.Prefix
		note  string // e.g. " (dcos)"
	}
	var seen []named
	if p := n.VTEPSubnet; p.IsValid() && p.Addr().Is4() {
		seen = append(seen, named{"vtep_subnet", p.Masked(), ""})
	}
	if p := n.VTEPSubnet6; p.IsValid() {
		seen = append(seen, named{"vtep_subnet6", p.Masked(), ""})
	}
	names := make(map[string]int, len(n.Overlays))
	v6Overlay := -1
	for i, o := range n.Overlays {
		path := fmt.Sprintf("overlays[%d]", i)
		if err := validateOverlayName(o.Name); err != nil {
			add("%s.name: %w", path, err)
		} else if j, dup := names[o.Name]; dup {
			add("%s.name: %q is also the name of overlays[%d]", path, o.Name, j)
		} else {
			names[o.Name] = i
		}
		if !o.Subnet.IsValid() && !o.Subnet6.IsValid() {
			add("%s: neither subnet nor subnet6", path)
		}
		for _, f := range []struct {
			subnet, prefix string
			p              netip.Prefix
			bits           int
			is4            bool
			maxBits        int
		}{
			{"subnet", "prefix", o.Subnet, o.Prefix, true, 29},
			{"subnet6", "prefix6", o.Subnet6, o.Prefix6, false, 125},
		} {
			if !f.p.IsValid() {
				if f.bits != 0 {
					add("%s.%s: %d without %s", path, f.prefix, f.bits, f.subnet)
				}
				continue
			}
			family := "IPv4"
			if !f.is4 {
				family = "IPv6"
			}
			switch {
			case f.p.Addr().Is4() != f.is4 || f.p.Addr().Is4In6():
				add("%s.%s: %s is not an %s prefix", path, f.subnet, f.p, family)
				continue
			case f.p != f.p.Masked():
				add("%s.%s: %s has host bits set (want %s)", path, f.subnet, f.p, f.p.Masked())
			}
			switch {
			case f.bits == 0:
				add("%s.%s: missing (the agent subnet length for %s %s)", path, f.prefix, f.subnet, f.p)
			case f.bits <= f.p.Bits():
				add("%s.%s: /%d is not longer than %s %s", path, f.prefix, f.bits, f.subnet, f.p)
			case f.bits > f.maxBits:
				add("%s.%s: /%d is longer than /%d: its halves /%d cannot hold a gateway and containers", path, f.prefix, f.bits, f.maxBits, f.bits+1)
			}
			p := f.p.Masked()
			for _, s := range seen {
				if s.p.Overlaps(p) {
					add("%s.%s: %s overlaps %s %s%s", path, f.subnet, f.p, s.field, s.p, s.note)
				}
			}
			note := ""
			if o.Name != "" {
				note = " (" + o.Name + ")"
			}
			seen = append(seen, named{path + "." + f.subnet, p, note})
			if !f.is4 && o.Enabled() && v6Overlay < 0 {
				v6Overlay = i
			}
		}
	}
	if enableIPv6 && v6Overlay >= 0 && !n.VTEPSubnet6.IsValid() {
		add("vtep_subnet6: missing, required by the IPv6 subnet of overlays[%d] (%s) when IPv6 is enabled", v6Overlay, n.Overlays[v6Overlay].Name)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("overlay network: %w", err)
	}
	return nil
}

// validateOverlayName checks an overlay name (see Validate).
func validateOverlayName(name string) error {
	switch name {
	case "":
		return errors.New("empty")
	case "host", "bridge", "default", "none":
		return fmt.Errorf("%q is reserved", name)
	}
	if len(name) > MaxOverlayNameLen {
		return fmt.Errorf("%q has %d characters, more than %d (m-%s must be a Linux interface name of at most 15)", name, len(name), MaxOverlayNameLen, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return fmt.Errorf("%q: want letters, digits, '-', '_' and '.', starting with a letter or digit", name)
		}
	}
	return nil
}

// MAC is an EUI-48 hardware address. Unlike net.HardwareAddr it is
// comparable. It encodes as lower-case colon-separated hex
// ("70:b3:d5:80:00:01", as iproute2 prints it); the zero MAC encodes as "".
type MAC [6]byte

// ParseMAC parses an EUI-48 address in any form net.ParseMAC accepts
// ("70:B3:D5:00:00:01", "70-b3-d5-00-00-01", "70b3.d500.0001").
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("%q is not a 6-byte MAC address", s)
	}
	return MAC(hw), nil
}

// IsZero reports whether m is the zero MAC, which stands for "unset".
func (m MAC) IsZero() bool { return m == MAC{} }

// String returns m as "70:b3:d5:80:00:01", or "" for the zero MAC.
func (m MAC) String() string {
	if m.IsZero() {
		return ""
	}
	return net.HardwareAddr(m[:]).String()
}

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; "" is the zero MAC.
func (m *MAC) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*m = MAC{}
		return nil
	}
	v, err := ParseMAC(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
