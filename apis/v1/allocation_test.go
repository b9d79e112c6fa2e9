package v1

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHalves(t *testing.T) {
	for _, tt := range []struct {
		in, first, second string
	}{
		{"9.0.3.0/24", "9.0.3.0/25", "9.0.3.128/25"},
		{"9.0.0.0/8", "9.0.0.0/9", "9.128.0.0/9"},
		{"198.19.7.0/24", "198.19.7.0/25", "198.19.7.128/25"},
		{"198.19.7.8/29", "198.19.7.8/30", "198.19.7.12/30"},
		{"9.0.3.77/24", "9.0.3.0/25", "9.0.3.128/25"}, // host bits ignored
		{"fd01:b::/80", "fd01:b::/81", "fd01:b::8000:0:0/81"},
		{"fd01:b:0:0:1::/80", "fd01:b:0:0:1::/81", "fd01:b::1:8000:0:0/81"},
		{"fd01:b::/64", "fd01:b::/65", "fd01:b::8000:0:0:0/65"},
	} {
		f, s := Halves(netip.MustParsePrefix(tt.in))
		if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix(tt.first), netip.MustParsePrefix(tt.second)}, []netip.Prefix{f, s}, cmpNet); diff != "" {
			t.Errorf("Halves(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, in := range []netip.Prefix{{}, netip.MustParsePrefix("9.0.0.1/32"), netip.MustParsePrefix("fd01:b::1/128")} {
		if f, s := Halves(in); f.IsValid() || s.IsValid() {
			t.Errorf("Halves(%s) = %s, %s, want zero Prefixes", in, f, s)
		}
	}
}

// sampleAgentAllocation is the second agent of the DC/OS default.
func sampleAgentAllocation() AgentAllocation {
	p := netip.MustParsePrefix
	return AgentAllocation{
		AgentIP: netip.MustParseAddr("10.0.0.5"),
		VTEPIP:  p("44.128.0.2/20"),
		VTEPIP6: p("fd01:a::2/64"),
		VTEPMAC: MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x02},
		Overlays: []OverlayAllocation{
			NewOverlayAllocation("dcos", p("9.0.1.0/24"), netip.Prefix{}),
			NewOverlayAllocation("dcos6", netip.Prefix{}, p("fd01:b:0:0:1::/80")),
		},
	}
}

func TestNewOverlayAllocation(t *testing.T) {
	p := netip.MustParsePrefix
	got := NewOverlayAllocation("dual", p("9.0.3.0/24"), p("fd01:b::/80"))
	want := OverlayAllocation{
		Name:          "dual",
		Subnet:        p("9.0.3.0/24"),
		Subnet6:       p("fd01:b::/80"),
		MesosBridge:   Bridge{Name: "m-dual", Prefix: p("9.0.3.0/25")},
		DockerBridge:  Bridge{Name: "d-dual", Prefix: p("9.0.3.128/25")},
		MesosBridge6:  Bridge{Name: "m-dual", Prefix: p("fd01:b::/81")},
		DockerBridge6: Bridge{Name: "d-dual", Prefix: p("fd01:b::8000:0:0/81")},
	}
	if diff := cmp.Diff(want, got, cmpNet); diff != "" {
		t.Errorf("NewOverlayAllocation mismatch (-want +got):\n%s", diff)
	}
	if got := NewOverlayAllocation("v4", p("9.0.3.0/24"), netip.Prefix{}); got.MesosBridge6 != (Bridge{}) || got.DockerBridge6 != (Bridge{}) {
		t.Errorf("IPv4-only allocation has IPv6 bridges: %+v", got)
	}
}

func TestAgentAllocationValidate(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct {
		name    string
		mutate  func(a *AgentAllocation)
		wantErr []string
	}{
		{"valid", func(*AgentAllocation) {}, nil},
		{"no IPv6 VTEP, no overlays", func(a *AgentAllocation) { a.VTEPIP6 = netip.Prefix{}; a.Overlays = nil }, nil},
		{"IPv6 agent", func(a *AgentAllocation) { a.AgentIP = netip.MustParseAddr("fd00::5") }, nil},
		{"agentIP missing", func(a *AgentAllocation) { a.AgentIP = netip.Addr{} }, []string{"agentIP: missing"}},
		{"agentIP mapped", func(a *AgentAllocation) { a.AgentIP = netip.MustParseAddr("::ffff:10.0.0.5") }, []string{"agentIP: ::ffff:10.0.0.5 is an IPv4-mapped"}},
		{"agentIP zone", func(a *AgentAllocation) { a.AgentIP = netip.MustParseAddr("fe80::1%eth0") }, []string{"agentIP: fe80::1%eth0 has a zone"}},
		{"vtepIP missing", func(a *AgentAllocation) { a.VTEPIP = netip.Prefix{} }, []string{"vtepIP: missing"}},
		{"vtepIP IPv6", func(a *AgentAllocation) { a.VTEPIP = p("fd01:a::2/64") }, []string{"vtepIP: fd01:a::2/64 is not IPv4"}},
		{"vtepIP network address", func(a *AgentAllocation) { a.VTEPIP = p("44.128.0.0/20"); a.VTEPMAC[5] = 0 }, []string{"vtepIP: 44.128.0.0/20 is not a host address"}},
		{"vtepIP broadcast", func(a *AgentAllocation) { a.VTEPIP = p("44.128.15.255/20") }, []string{"vtepIP: 44.128.15.255/20 is not a host address"}},
		{"vtepIP6 IPv4", func(a *AgentAllocation) { a.VTEPIP6 = p("44.128.0.2/20") }, []string{"vtepIP6: 44.128.0.2/20 is not IPv6"}},
		{"vtepMAC missing", func(a *AgentAllocation) { a.VTEPMAC = MAC{} }, []string{"vtepMAC: missing"}},
		{"vtepMAC multicast", func(a *AgentAllocation) { a.VTEPMAC[0] = 0x71 }, []string{"vtepMAC: 71:b3:d5:80:00:02 is a multicast address"}},
		{"vtepMAC not from vtepIP", func(a *AgentAllocation) { a.VTEPMAC[5] = 3 }, []string{"vtepMAC: 70:b3:d5:80:00:03 does not end in the last 3 bytes of vtepIP 44.128.0.2"}},
		{"overlay name", func(a *AgentAllocation) { a.Overlays[0].Name = "host" }, []string{`overlays[0].name: "host" is reserved`}},
		{"duplicate overlay", func(a *AgentAllocation) { a.Overlays[1] = a.Overlays[0] }, []string{`overlays[1].name: "dcos" is also the name of overlays[0]`}},
		{"no subnet", func(a *AgentAllocation) { a.Overlays[0] = OverlayAllocation{Name: "dcos"} }, []string{"overlays[0]: neither subnet nor subnet6"}},
		{"subnet host bits", func(a *AgentAllocation) { a.Overlays[0].Subnet = p("9.0.1.1/24") }, []string{"overlays[0].subnet: 9.0.1.1/24 has host bits set"}},
		{"subnet of the wrong family", func(a *AgentAllocation) { a.Overlays[1].Subnet = p("fd01:b::/80") }, []string{"overlays[1].subnet: fd01:b::/80 is of the wrong address family"}},
		{"single-address subnet", func(a *AgentAllocation) { a.Overlays[0].Subnet = p("9.0.1.0/32") }, []string{"overlays[0].subnet: 9.0.1.0/32 cannot be split"}},
		{"bridge name", func(a *AgentAllocation) { a.Overlays[0].MesosBridge.Name = "m-other" }, []string{"overlays[0].mesosBridge: m-other 9.0.1.0/25, want m-dcos 9.0.1.0/25"}},
		{"bridges swapped", func(a *AgentAllocation) {
			o := &a.Overlays[0]
			o.MesosBridge.Prefix, o.DockerBridge.Prefix = o.DockerBridge.Prefix, o.MesosBridge.Prefix
		}, []string{"overlays[0].mesosBridge: m-dcos 9.0.1.128/25, want m-dcos 9.0.1.0/25", "overlays[0].dockerBridge: d-dcos 9.0.1.0/25, want d-dcos 9.0.1.128/25"}},
		{"missing IPv6 bridge", func(a *AgentAllocation) { a.Overlays[1].DockerBridge6 = Bridge{} }, []string{"overlays[1].dockerBridge6: none, want d-dcos6 fd01:b::1:8000:0:0/81"}},
		{"stray bridge", func(a *AgentAllocation) { a.Overlays[1].MesosBridge = Bridge{Name: "m-dcos6", Prefix: p("9.0.9.0/25")} }, []string{"overlays[1].mesosBridge: m-dcos6 9.0.9.0/25, want none"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := sampleAgentAllocation().Clone()
			tt.mutate(&a)
			err := a.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "agent allocation ") {
				t.Errorf("error %q does not start with \"agent allocation \"", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestAgentAllocationClone(t *testing.T) {
	a := sampleAgentAllocation()
	c := a.Clone()
	c.Overlays[0].Name = "changed"
	if a.Overlays[0].Name != "dcos" {
		t.Errorf("Clone shares Overlays with the original")
	}
}

func TestVIPAllocationValidate(t *testing.T) {
	valid := VIPAllocation{
		Name: "mygroupmyapp.marathon", Label: "/mygroup/myapp", Framework: "marathon",
		IP4: netip.MustParseAddr("11.198.144.68"), IP6: netip.MustParseAddr("fd01:c::1"),
	}
	for _, tt := range []struct {
		name    string
		mutate  func(v *VIPAllocation)
		wantErr []string
	}{
		{"valid", func(*VIPAllocation) {}, nil},
		{"IPv4 only", func(v *VIPAllocation) { v.IP6 = netip.Addr{} }, nil},
		{"IPv6 only", func(v *VIPAllocation) { v.IP4 = netip.Addr{} }, nil},
		{"dotted label", func(v *VIPAllocation) { v.Name = "api.hello-world.marathon" }, nil},
		{"no name", func(v *VIPAllocation) { v.Name = "" }, []string{"name: missing"}},
		{"single label", func(v *VIPAllocation) { v.Name = "myapp" }, []string{`name: "myapp" is not <label>.<framework>`}},
		{"not normalised", func(v *VIPAllocation) { v.Name = "/mygroup/myapp.marathon" }, []string{"name: ", "outside [a-z0-9-.]"}},
		{"upper case", func(v *VIPAllocation) { v.Name = "MyApp.marathon" }, []string{"outside [a-z0-9-.]"}},
		{"empty label", func(v *VIPAllocation) { v.Name = "a..marathon" }, []string{`empty, too long or hyphen-edged label ""`}},
		{"hyphen edge", func(v *VIPAllocation) { v.Name = "a-.marathon" }, []string{`hyphen-edged label "a-"`}},
		{"label too long", func(v *VIPAllocation) { v.Name = strings.Repeat("a", 64) + ".marathon" }, []string{"too long"}},
		{"name too long", func(v *VIPAllocation) { v.Name = strings.Repeat(strings.Repeat("a", 60)+".", 4) + "m" }, []string{"name: 245 characters, more than 229"}},
		{"no label", func(v *VIPAllocation) { v.Label = "" }, []string{"label: missing"}},
		{"no framework", func(v *VIPAllocation) { v.Framework = "" }, []string{"framework: missing"}},
		{"no IP", func(v *VIPAllocation) { v.IP4, v.IP6 = netip.Addr{}, netip.Addr{} }, []string{"ip4, ip6: neither is set"}},
		{"IPv6 in ip4", func(v *VIPAllocation) { v.IP4 = netip.MustParseAddr("fd01:c::2") }, []string{"ip4: fd01:c::2 is not an IPv4 address"}},
		{"IPv4 in ip6", func(v *VIPAllocation) { v.IP6 = netip.MustParseAddr("11.0.0.1") }, []string{"ip6: 11.0.0.1 is not an IPv6 address"}},
		{"mapped in ip6", func(v *VIPAllocation) { v.IP6 = netip.MustParseAddr("::ffff:11.0.0.1") }, []string{"ip6: ::ffff:11.0.0.1 is not"}},
		{"zone", func(v *VIPAllocation) { v.IP6 = netip.MustParseAddr("fe80::1%eth0") }, []string{"ip6: fe80::1%eth0 is not an IPv6 address without zone"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := valid
			tt.mutate(&v)
			err := v.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			for _, want := range append(tt.wantErr, "VIP allocation ") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestVIPPrefixes(t *testing.T) {
	for _, tt := range []struct {
		got  netip.Prefix
		want string
	}{
		{DefaultVIPPrefix, "11.0.0.0/8"},
		{DefaultVIPPrefix6, "fd01:c::/64"},
		{TestPlanVIPPrefix, "198.18.128.0/17"},
	} {
		if tt.got.String() != tt.want {
			t.Errorf("VIP prefix %s, want %s", tt.got, tt.want)
		}
	}
}

// TestAllocationJSON pins the wire encoding of allocations in
// testdata/allocation.json (raft commands and the watch API carry them).
// Run with -update to rewrite it.
func TestAllocationJSON(t *testing.T) {
	type file struct {
		Agents []AgentAllocation `json:"agents"`
		VIPs   []VIPAllocation   `json:"vips"`
	}
	first := AgentAllocation{
		AgentIP: netip.MustParseAddr("10.0.0.4"),
		VTEPIP:  netip.MustParsePrefix("44.128.0.1/20"),
		VTEPMAC: MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x01},
		Overlays: []OverlayAllocation{
			NewOverlayAllocation("dual", netip.MustParsePrefix("9.0.0.0/24"), netip.MustParsePrefix("fd01:b::/80")),
		},
	}
	in := file{
		Agents: []AgentAllocation{first, sampleAgentAllocation()},
		VIPs: []VIPAllocation{
			{Name: "mygroupmyapp.marathon", Label: "/mygroup/myapp", Framework: "marathon", IP4: netip.MustParseAddr("11.198.144.68")},
			{Name: "qux.ipv6", Label: "qux", Framework: "ipv6", IP4: netip.MustParseAddr("11.0.0.1"), IP6: netip.MustParseAddr("fd01:c::6d6d:9c64:fd19:f251")},
		},
	}
	for _, a := range in.Agents {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range in.VIPs {
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	want := checkGoldenJSON(t, "allocation.json", in)
	var decoded file
	if err := json.Unmarshal(want, &decoded); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if diff := cmp.Diff(in, decoded, cmpNet); diff != "" {
		t.Errorf("golden decodes differently (-want +got):\n%s", diff)
	}
}
