package v1

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

func TestParseVIPLabel(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  VIP
	}{
		{"marathon app id", "/app:80", VIP{Label: "/app:80", Name: "/app", Port: 80}},
		{"dotted name", "/api.hello-world:80", VIP{Label: "/api.hello-world:80", Name: "/api.hello-world", Port: 80}},
		{"sdk name", "overlay-vip:80", VIP{Label: "overlay-vip:80", Name: "overlay-vip", Port: 80}},
		{"ipv4", "1.2.3.4:5000", VIP{Label: "1.2.3.4:5000", IP: netip.MustParseAddr("1.2.3.4"), Port: 5000}},
		{"ipv6 without brackets", "fd01:c::12:5000", VIP{Label: "fd01:c::12:5000", IP: netip.MustParseAddr("fd01:c::12"), Port: 5000}},
		{"ipv6 all colons", "::1:53", VIP{Label: "::1:53", IP: netip.MustParseAddr("::1"), Port: 53}},
		{"bracketed ipv6 is a name", "[fd01::1]:80", VIP{Label: "[fd01::1]:80", Name: "[fd01::1]", Port: 80}},
		{"name with colon", "a:b:443", VIP{Label: "a:b:443", Name: "a:b", Port: 443}},
		{"highest port", "x:65535", VIP{Label: "x:65535", Name: "x", Port: 65535}},
		{"leading zero port", "x:080", VIP{Label: "x:080", Name: "x", Port: 80}},
		// An IPv6 literal without a port cannot be told apart: the last
		// group becomes the port and the rest a (useless) name, as in dcos-net.
		{"ipv6 without port", "fd01:c::12", VIP{Label: "fd01:c::12", Name: "fd01:c:", Port: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVIPLabel(tt.value)
			if err != nil {
				t.Fatalf("ParseVIPLabel(%q): %v", tt.value, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("ParseVIPLabel(%q) mismatch (-want +got):\n%s", tt.value, diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if got.IsNamed() != (tt.want.Name != "") {
				t.Errorf("IsNamed() = %v", got.IsNamed())
			}
		})
	}
}

func TestParseVIPLabelErrors(t *testing.T) {
	tests := []struct {
		name, value, wantErr string
	}{
		{"empty", "", `parse VIP label "": no ':'`},
		{"no colon", "app", `parse VIP label "app": no ':'`},
		{"empty name", ":80", `parse VIP label ":80": empty name`},
		{"port zero", "/app:0", `parse VIP label "/app:0": port "0" is not a number in 1-65535`},
		{"port too big", "/app:65536", `port "65536" is not a number`},
		{"negative port", "/app:-1", `port "-1" is not a number`},
		{"empty port", "/app:", `port "" is not a number`},
		{"port with space", "/app: 80", `port " 80" is not a number`},
		{"zone", "fe80::1%eth0:80", `IP fe80::1%eth0 has a zone`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVIPLabel(tt.value)
			if err == nil {
				t.Fatalf("ParseVIPLabel(%q) = %+v, want error", tt.value, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseVIPLabel(%q) error %q does not contain %q", tt.value, err, tt.wantErr)
			}
		})
	}
}

func TestVIPValidate(t *testing.T) {
	tests := []struct {
		name    string
		vip     VIP
		wantErr string
	}{
		{"named", VIP{Label: "/a:1", Name: "/a", Port: 1}, ""},
		{"ip", VIP{Label: "1.1.1.1:1", IP: netip.MustParseAddr("1.1.1.1"), Port: 1}, ""},
		{"port zero", VIP{Label: "/a:0", Name: "/a"}, "port 0"},
		{"neither", VIP{Label: ":1", Port: 1}, "neither a name nor an IP"},
		{"both", VIP{Label: "x", Name: "/a", IP: netip.MustParseAddr("1.1.1.1"), Port: 1}, "both name"},
		{"zone", VIP{Label: "x", IP: netip.MustParseAddr("fe80::1%eth0"), Port: 1}, "has a zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.vip.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParseVIPLabel checks that any accepted label is valid, keeps its raw
// value, and reparses from its canonical form to the same VIP.
func FuzzParseVIPLabel(f *testing.F) {
	for _, s := range []string{"/app:80", "fd01:c::12:5000", "1.2.3.4:5000", ":80", "a:0", "a:65536", "[::1]:1", "fe80::1%x:1", "", "::", "\xff:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		v, err := ParseVIPLabel(value)
		if err != nil {
			if v != (VIP{}) {
				t.Fatalf("ParseVIPLabel(%q) returned %+v with error %v", value, v, err)
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("ParseVIPLabel(%q) = %+v, invalid: %v", value, v, err)
		}
		if v.Label != value {
			t.Fatalf("Label = %q, want %q", v.Label, value)
		}
		host := v.Name
		if v.IP.IsValid() {
			host = v.IP.String()
		}
		again, err := ParseVIPLabel(host + ":" + strconv.Itoa(int(v.Port)))
		if err != nil {
			t.Fatalf("reparse of %+v: %v", v, err)
		}
		again.Label = v.Label
		if diff := cmp.Diff(v, again, cmpAddr); diff != "" {
			t.Fatalf("reparse of %q mismatch (-first +second):\n%s", value, diff)
		}
	})
}
