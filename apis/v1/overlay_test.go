package v1

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpNet compares netip values by ==.
var cmpNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func TestParseOverlayNetworkDefault(t *testing.T) {
	got, err := ParseOverlayNetwork([]byte(DefaultOverlayNetworkJSON))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultOverlayNetwork(), got, cmpNet); diff != "" {
		t.Errorf("parsed default mismatch (-want +got):\n%s", diff)
	}
	for _, ipv6 := range []bool{true, false} {
		if err := got.Validate(ipv6); err != nil {
			t.Errorf("Validate(%v) of the default: %v", ipv6, err)
		}
		if err := TestPlanOverlayNetwork().Validate(ipv6); err != nil {
			t.Errorf("Validate(%v) of the test plan: %v", ipv6, err)
		}
	}
	// DC/OS writes "key": "value" with spaces (Python json.dumps); any
	// JSON spacing is accepted.
	spaced := `{"vtep_subnet": "44.128.0.0/20", "vtep_subnet6": "fd01:a::/64", "vtep_mac_oui": "70:B3:D5:00:00:00", "overlays": [{"name": "dcos", "subnet": "9.0.0.0/8", "prefix": 24}, {"name": "dcos6", "subnet6": "fd01:b::/64", "prefix6": 80}]}`
	got, err = ParseOverlayNetwork([]byte(spaced))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultOverlayNetwork(), got, cmpNet); diff != "" {
		t.Errorf("parsed spaced default mismatch (-want +got):\n%s", diff)
	}
}

func TestTestPlanOverlayNetwork(t *testing.T) {
	n := TestPlanOverlayNetwork()
	want := DefaultOverlayNetwork()
	want.VTEPSubnet = netip.MustParsePrefix("198.18.16.0/20")
	want.Overlays[0] = Overlay{Name: "dcos", Subnet: netip.MustParsePrefix("198.19.0.0/16"), Prefix: 24}
	if diff := cmp.Diff(want, n, cmpNet); diff != "" {
		t.Errorf("test plan mismatch (-want +got):\n%s", diff)
	}
	if DefaultOverlayNetwork().Overlays[0].Subnet != netip.MustParsePrefix("9.0.0.0/8") {
		t.Errorf("TestPlanOverlayNetwork modified the default")
	}
}

// TestOverlayNetworkGolden pins the DC/OS wire form: the default
// configuration encodes to testdata/overlay_network_default.json, which is
// DefaultOverlayNetworkJSON indented (so the DC/OS document round-trips
// byte for byte), and a configuration with every optional field to
// testdata/overlay_network_full.json. Run with -update to rewrite them.
func TestOverlayNetworkGolden(t *testing.T) {
	full := OverlayNetwork{
		VTEPSubnet:  netip.MustParsePrefix("198.18.16.0/20"),
		VTEPSubnet6: netip.MustParsePrefix("fd01:a::/64"),
		VTEPMACOUI:  MAC{0x70, 0xb3, 0xd5, 0x01, 0x02, 0x03},
		VTEPMTU:     1450,
		Overlays: []Overlay{
			{Name: "dcos", Subnet: netip.MustParsePrefix("198.19.0.0/16"), Prefix: 24, Subnet6: netip.MustParsePrefix("fd01:b::/64"), Prefix6: 80},
			{Name: "old", Subnet: netip.MustParsePrefix("198.18.64.0/20"), Prefix: 26, Disabled: true},
		},
	}
	for _, tt := range []struct {
		file string
		n    OverlayNetwork
	}{
		{"overlay_network_default.json", DefaultOverlayNetwork()},
		{"overlay_network_full.json", full},
	} {
		t.Run(tt.file, func(t *testing.T) {
			want := checkGoldenJSON(t, tt.file, tt.n)
			decoded, err := ParseOverlayNetwork(want)
			if err != nil {
				t.Fatalf("parse golden: %v", err)
			}
			if diff := cmp.Diff(tt.n, decoded, cmpNet); diff != "" {
				t.Errorf("golden decodes differently (-want +got):\n%s", diff)
			}
			if err := decoded.Validate(true); err != nil {
				t.Errorf("golden does not validate: %v", err)
			}
		})
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "overlay_network_default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, golden); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultOverlayNetworkJSON, compact.String()); diff != "" {
		t.Errorf("the DC/OS default does not round-trip (-dcos +ours):\n%s", diff)
	}
}

func TestParseOverlayNetworkErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in, wantErr string
	}{
		{"not JSON", `{"vtep_subnet":`, "parse overlay network: unexpected EOF"},
		{"trailing data", DefaultOverlayNetworkJSON + `{}`, "trailing data"},
		{"unknown field", `{"vtep_subnet":"44.128.0.0/20","vtep_subnet_6":"fd01:a::/64"}`, `unknown field "vtep_subnet_6"`},
		{"unknown overlay field", `{"overlays":[{"name":"dcos","subnet":"9.0.0.0/8","prefx":24}]}`, `unknown field "prefx"`},
		{"address without length", `{"vtep_subnet":"44.128.0.0"}`, `vtep_subnet: "44.128.0.0" is not a CIDR prefix`},
		{"bad vtep_subnet6", `{"vtep_subnet6":"fd01:a::/129"}`, `vtep_subnet6: "fd01:a::/129" is not a CIDR prefix`},
		{"bad overlay subnet", `{"overlays":[{"name":"a","subnet":"9.0.0.0/8"},{"name":"b","subnet":"9.1/16"}]}`, `overlays[1].subnet: "9.1/16" is not a CIDR prefix`},
		{"bad overlay subnet6", `{"overlays":[{"name":"a","subnet6":"fd01:b::"}]}`, `overlays[0].subnet6: "fd01:b::" is not a CIDR prefix`},
		{"bad OUI", `{"vtep_mac_oui":"70:B3:D5"}`, `vtep_mac_oui: "70:B3:D5" is not a 6-byte MAC address`},
		{"EUI-64 OUI", `{"vtep_mac_oui":"70:B3:D5:00:00:00:00:00"}`, `vtep_mac_oui: "70:B3:D5:00:00:00:00:00" is not a 6-byte MAC`},
		{"prefix as string", `{"overlays":[{"name":"a","subnet":"9.0.0.0/8","prefix":"24"}]}`, `prefix`},
		{"several errors", `{"vtep_subnet":"x","vtep_mac_oui":"y"}`, `vtep_subnet: "x" is not a CIDR prefix` + "\n" + `vtep_mac_oui: "y" is not`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOverlayNetwork([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseOverlayNetwork(%s) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestOverlayNetworkValidate(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct {
		name   string
		mutate func(n *OverlayNetwork)
		ipv6   bool
		// wantErr lists substrings of the error; none means valid.
		wantErr []string
	}{
		{"default", func(*OverlayNetwork) {}, true, nil},
		{"vtep_subnet missing", func(n *OverlayNetwork) { n.VTEPSubnet = netip.Prefix{} }, true, []string{"vtep_subnet: missing"}},
		{"vtep_subnet IPv6", func(n *OverlayNetwork) { n.VTEPSubnet = p("fd01:e::/64") }, true, []string{"vtep_subnet: fd01:e::/64 is not an IPv4 prefix"}},
		{"vtep_subnet host bits", func(n *OverlayNetwork) { n.VTEPSubnet = p("44.128.0.1/20") }, true, []string{"vtep_subnet: 44.128.0.1/20 has host bits set (want 44.128.0.0/20)"}},
		{"vtep_subnet /8 is the shortest", func(n *OverlayNetwork) { n.VTEPSubnet = p("44.0.0.0/8") }, true, nil},
		{"vtep_subnet /7 repeats MACs", func(n *OverlayNetwork) { n.VTEPSubnet = p("44.0.0.0/7") }, true, []string{"vtep_subnet: 44.0.0.0/7 is shorter than /8"}},
		{"vtep_subnet /30", func(n *OverlayNetwork) { n.VTEPSubnet = p("44.128.0.0/30") }, true, nil},
		{"vtep_subnet /31", func(n *OverlayNetwork) { n.VTEPSubnet = p("44.128.0.0/31") }, true, []string{"vtep_subnet: 44.128.0.0/31 has no host address"}},
		{"vtep_subnet6 IPv4", func(n *OverlayNetwork) { n.VTEPSubnet6 = p("44.129.0.0/16") }, true, []string{"vtep_subnet6: 44.129.0.0/16 is not an IPv6 prefix"}},
		{"vtep_subnet6 host bits", func(n *OverlayNetwork) { n.VTEPSubnet6 = p("fd01:a::1/64") }, true, []string{"vtep_subnet6: fd01:a::1/64 has host bits set (want fd01:a::/64)"}},
		{"vtep_subnet6 /127", func(n *OverlayNetwork) { n.VTEPSubnet6 = p("fd01:a::/127") }, true, []string{"vtep_subnet6: fd01:a::/127 has no host address"}},
		{"vtep_subnet6 missing with IPv6", func(n *OverlayNetwork) { n.VTEPSubnet6 = netip.Prefix{} }, true, []string{"vtep_subnet6: missing, required by the IPv6 subnet of overlays[1] (dcos6)"}},
		{"vtep_subnet6 missing without IPv6", func(n *OverlayNetwork) { n.VTEPSubnet6 = netip.Prefix{} }, false, nil},
		{"vtep_subnet6 missing, IPv6 overlay disabled", func(n *OverlayNetwork) { n.VTEPSubnet6 = netip.Prefix{}; n.Overlays[1].Disabled = true }, true, nil},
		{"OUI missing", func(n *OverlayNetwork) { n.VTEPMACOUI = MAC{} }, true, []string{"vtep_mac_oui: missing"}},
		{"OUI multicast", func(n *OverlayNetwork) { n.VTEPMACOUI = MAC{0x71, 0xb3, 0xd5} }, true, []string{"vtep_mac_oui: 71:B3:D5:00:00:00 is a multicast address"}},
		{"vtep_mtu 552", func(n *OverlayNetwork) { n.VTEPMTU = 552 }, true, nil},
		{"vtep_mtu 551", func(n *OverlayNetwork) { n.VTEPMTU = 551 }, true, []string{"vtep_mtu: 551 is outside 552-65535"}},
		{"vtep_mtu negative", func(n *OverlayNetwork) { n.VTEPMTU = -1 }, true, []string{"vtep_mtu: -1"}},
		{"vtep_mtu too large", func(n *OverlayNetwork) { n.VTEPMTU = 65536 }, true, []string{"vtep_mtu: 65536"}},
		{"no overlays", func(n *OverlayNetwork) { n.Overlays = nil }, true, []string{"overlays: empty"}},
		{"name empty", func(n *OverlayNetwork) { n.Overlays[0].Name = "" }, true, []string{"overlays[0].name: empty"}},
		{"name 13 characters", func(n *OverlayNetwork) { n.Overlays[0].Name = "abcdefghijklm" }, true, nil},
		{"name 14 characters", func(n *OverlayNetwork) { n.Overlays[0].Name = "abcdefghijklmn" }, true, []string{`overlays[0].name: "abcdefghijklmn" has 14 characters, more than 13`}},
		{"name host", func(n *OverlayNetwork) { n.Overlays[0].Name = "host" }, true, []string{`overlays[0].name: "host" is reserved`}},
		{"name bridge", func(n *OverlayNetwork) { n.Overlays[1].Name = "bridge" }, true, []string{`overlays[1].name: "bridge" is reserved`}},
		{"name default", func(n *OverlayNetwork) { n.Overlays[0].Name = "default" }, true, []string{`overlays[0].name: "default" is reserved`}},
		{"name none", func(n *OverlayNetwork) { n.Overlays[0].Name = "none" }, true, []string{`overlays[0].name: "none" is reserved`}},
		{"name with slash", func(n *OverlayNetwork) { n.Overlays[0].Name = "a/b" }, true, []string{`overlays[0].name: "a/b": want letters`}},
		{"name with space", func(n *OverlayNetwork) { n.Overlays[0].Name = "a b" }, true, []string{`overlays[0].name: "a b"`}},
		{"name with colon", func(n *OverlayNetwork) { n.Overlays[0].Name = "a:b" }, true, []string{`overlays[0].name: "a:b"`}},
		{"name leading dash", func(n *OverlayNetwork) { n.Overlays[0].Name = "-dcos" }, true, []string{`overlays[0].name: "-dcos"`}},
		{"name punctuation inside", func(n *OverlayNetwork) { n.Overlays[0].Name = "Dcos_1.a-b" }, true, nil},
		{"duplicate names", func(n *OverlayNetwork) { n.Overlays[1].Name = "dcos" }, true, []string{`overlays[1].name: "dcos" is also the name of overlays[0]`}},
		{"no subnet", func(n *OverlayNetwork) { n.Overlays[0].Subnet = netip.Prefix{} }, true, []string{"overlays[0]: neither subnet nor subnet6", "overlays[0].prefix: 24 without subnet"}},
		{"prefix6 without subnet6", func(n *OverlayNetwork) { n.Overlays[0].Prefix6 = 80 }, true, []string{"overlays[0].prefix6: 80 without subnet6"}},
		{"subnet IPv6", func(n *OverlayNetwork) { n.Overlays[0].Subnet = p("fd01:e::/64") }, true, []string{"overlays[0].subnet: fd01:e::/64 is not an IPv4 prefix"}},
		{"subnet6 IPv4", func(n *OverlayNetwork) { n.Overlays[1].Subnet6 = p("10.0.0.0/8") }, true, []string{"overlays[1].subnet6: 10.0.0.0/8 is not an IPv6 prefix"}},
		{"subnet6 IPv4-mapped", func(n *OverlayNetwork) { n.Overlays[1].Subnet6 = p("::ffff:10.0.0.0/104") }, true, []string{"overlays[1].subnet6: ::ffff:10.0.0.0/104 is not an IPv6 prefix"}},
		{"subnet host bits", func(n *OverlayNetwork) { n.Overlays[0].Subnet = p("9.0.0.1/8") }, true, []string{"overlays[0].subnet: 9.0.0.1/8 has host bits set (want 9.0.0.0/8)"}},
		{"prefix missing", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 0 }, true, []string{"overlays[0].prefix: missing"}},
		{"prefix equal to subnet", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 8 }, true, []string{"overlays[0].prefix: /8 is not longer than subnet 9.0.0.0/8"}},
		{"prefix shorter than subnet", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 7 }, true, []string{"overlays[0].prefix: /7 is not longer"}},
		{"prefix 29", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 29 }, true, nil},
		{"prefix 30", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 30 }, true, []string{"overlays[0].prefix: /30 is longer than /29: its halves /31"}},
		{"prefix 40", func(n *OverlayNetwork) { n.Overlays[0].Prefix = 40 }, true, []string{"overlays[0].prefix: /40"}},
		{"prefix6 equal", func(n *OverlayNetwork) { n.Overlays[1].Prefix6 = 64 }, true, []string{"overlays[1].prefix6: /64 is not longer than subnet6 fd01:b::/64"}},
		{"prefix6 125", func(n *OverlayNetwork) { n.Overlays[1].Prefix6 = 125 }, true, nil},
		{"prefix6 126", func(n *OverlayNetwork) { n.Overlays[1].Prefix6 = 126 }, true, []string{"overlays[1].prefix6: /126 is longer than /125"}},
		{"overlays overlap", func(n *OverlayNetwork) {
			n.Overlays = append(n.Overlays, Overlay{Name: "other", Subnet: p("9.128.0.0/9"), Prefix: 24})
		}, true, []string{"overlays[2].subnet: 9.128.0.0/9 overlaps overlays[0].subnet 9.0.0.0/8 (dcos)"}},
		{"IPv6 overlays overlap", func(n *OverlayNetwork) {
			n.Overlays = append(n.Overlays, Overlay{Name: "other", Subnet6: p("fd01:b::/48"), Prefix6: 80})
		}, true, []string{"overlays[2].subnet6: fd01:b::/48 overlaps overlays[1].subnet6 fd01:b::/64 (dcos6)"}},
		{"disabled overlays overlap too", func(n *OverlayNetwork) {
			n.Overlays = append(n.Overlays, Overlay{Name: "other", Subnet: p("9.0.0.0/16"), Prefix: 24, Disabled: true})
		}, true, []string{"overlays[2].subnet: 9.0.0.0/16 overlaps overlays[0].subnet 9.0.0.0/8 (dcos)"}},
		{"overlay overlaps vtep_subnet", func(n *OverlayNetwork) { n.Overlays[0].Subnet = p("44.0.0.0/8") }, true, []string{"overlays[0].subnet: 44.0.0.0/8 overlaps vtep_subnet 44.128.0.0/20"}},
		{"overlay overlaps vtep_subnet6", func(n *OverlayNetwork) { n.Overlays[1].Subnet6 = p("fd01:a::/64") }, true, []string{"overlays[1].subnet6: fd01:a::/64 overlaps vtep_subnet6 fd01:a::/64"}},
		{"families do not overlap", func(n *OverlayNetwork) { n.Overlays[1].Subnet = p("10.0.0.0/8"); n.Overlays[1].Prefix = 24 }, true, nil},
		{"every problem reported", func(n *OverlayNetwork) {
			n.VTEPSubnet = netip.Prefix{}
			n.VTEPMTU = 1
			n.Overlays[1].Name = "none"
		}, true, []string{"vtep_subnet: missing", "vtep_mtu: 1", `overlays[1].name: "none" is reserved`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := DefaultOverlayNetwork()
			tt.mutate(&n)
			err := n.Validate(tt.ipv6)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want nil", tt.ipv6, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%v) = nil, want errors %q", tt.ipv6, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "overlay network: ") {
				t.Errorf("error %q does not start with \"overlay network: \"", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate(%v) = %q, want it to contain %q", tt.ipv6, err, want)
				}
			}
		})
	}
}

func TestOverlayNetworkEffective(t *testing.T) {
	p := netip.MustParsePrefix
	n := DefaultOverlayNetwork()
	n.Overlays = append(n.Overlays, Overlay{Name: "dual", Subnet: p("10.0.0.0/8"), Prefix: 24, Subnet6: p("fd01:e::/64"), Prefix6: 80})
	orig := DefaultOverlayNetwork()
	orig.Overlays = append(orig.Overlays, n.Overlays[2])

	got := n.Effective(false)
	want := orig
	want.Overlays = append([]Overlay(nil), orig.Overlays...)
	want.Overlays[1].Disabled = true // v6-only dcos6
	if diff := cmp.Diff(want, got, cmpNet); diff != "" {
		t.Errorf("Effective(false) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, n, cmpNet); diff != "" {
		t.Errorf("Effective modified its receiver (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, n.Effective(true), cmpNet); diff != "" {
		t.Errorf("Effective(true) changed the configuration (-want +got):\n%s", diff)
	}
	if !got.Overlays[0].Enabled() || got.Overlays[1].Enabled() || !got.Overlays[1].IsIPv6Only() || got.Overlays[2].IsIPv6Only() {
		t.Errorf("Enabled/IsIPv6Only wrong: %+v", got.Overlays)
	}
	// A disabled overlay encodes as DC/OS's "enabled": false and back.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `{"name":"dcos6","subnet6":"fd01:b::/64","prefix6":80,"enabled":false}`) {
		t.Errorf("encoding %s lacks \"enabled\":false for dcos6", b)
	}
	var back OverlayNetwork
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, back, cmpNet); diff != "" {
		t.Errorf("decoded mismatch (-want +got):\n%s", diff)
	}
}

func TestOverlayJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Overlay
		out  string
	}{
		{`{"name":"dcos","subnet":"9.0.0.0/8","prefix":24}`, Overlay{Name: "dcos", Subnet: netip.MustParsePrefix("9.0.0.0/8"), Prefix: 24}, ""},
		{`{"name":"a","subnet6":"fd01:b::/64","prefix6":80,"enabled":true}`, Overlay{Name: "a", Subnet6: netip.MustParsePrefix("fd01:b::/64"), Prefix6: 80},
			`{"name":"a","subnet6":"fd01:b::/64","prefix6":80}`},
		{`{"name":"a","subnet":"9.0.0.0/8","prefix":24,"enabled":false}`, Overlay{Name: "a", Subnet: netip.MustParsePrefix("9.0.0.0/8"), Prefix: 24, Disabled: true}, ""},
	} {
		var got Overlay
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpNet); diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		out := tt.out
		if out == "" {
			out = tt.in
		}
		if string(b) != out {
			t.Errorf("Marshal = %s, want %s", b, out)
		}
	}
	var o Overlay
	if err := json.Unmarshal([]byte(`{"name":"a","subnet":"9.0.0.0"}`), &o); err == nil || !strings.Contains(err.Error(), `subnet: "9.0.0.0" is not a CIDR prefix`) {
		t.Errorf("Unmarshal of a bad subnet = %v", err)
	}
}

func TestMAC(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"70:B3:D5:00:00:00", "70:b3:d5:00:00:00"},
		{"70-b3-d5-80-00-01", "70:b3:d5:80:00:01"},
		{"70b3.d580.0001", "70:b3:d5:80:00:01"},
	} {
		m, err := ParseMAC(tt.in)
		if err != nil || m.String() != tt.want {
			t.Errorf("ParseMAC(%q) = %v, %v, want %s", tt.in, m, err, tt.want)
		}
	}
	for _, in := range []string{"", "70:b3:d5", "70:b3:d5:00:00:00:00:00", "zz:b3:d5:00:00:00"} {
		if _, err := ParseMAC(in); err == nil {
			t.Errorf("ParseMAC(%q) succeeded", in)
		}
	}
	var zero MAC
	if b, _ := zero.MarshalText(); string(b) != "" || !zero.IsZero() {
		t.Errorf("zero MAC encodes as %q", b)
	}
	if err := zero.UnmarshalText([]byte("70:b3:d5:00:00:01")); err != nil || zero != (MAC{0x70, 0xb3, 0xd5, 0, 0, 1}) {
		t.Errorf("UnmarshalText = %v, %v", zero, err)
	}
	if err := zero.UnmarshalText(nil); err != nil || !zero.IsZero() {
		t.Errorf("UnmarshalText(\"\") = %v, %v, want the zero MAC", zero, err)
	}
}

// FuzzParseOverlayNetwork checks that parsing never panics, that whatever
// parses re-encodes to something that parses to the same value, and that
// Validate never panics.
func FuzzParseOverlayNetwork(f *testing.F) {
	f.Add([]byte(DefaultOverlayNetworkJSON))
	f.Add([]byte(`{"vtep_subnet":"198.18.16.0/20","vtep_mac_oui":"70:B3:D5:00:00:00","vtep_mtu":1450,"overlays":[{"name":"a","subnet":"198.19.0.0/16","prefix":24,"subnet6":"fd01:b::/64","prefix6":80,"enabled":false}]}`))
	f.Add([]byte(`{"overlays":[{"name":"x","subnet":"1.2.3.4/40","prefix":-1}],"vtep_subnet":"::/0"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"overlays":[null,{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseOverlayNetwork(data)
		if err != nil {
			return
		}
		_ = n.Validate(true)
		_ = n.Validate(false)
		_ = n.Effective(false).Validate(false)
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", n, err)
		}
		back, err := ParseOverlayNetwork(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if diff := cmp.Diff(n, back, cmpNet, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %s mismatch (-first +second):\n%s", data, diff)
		}
	})
}
