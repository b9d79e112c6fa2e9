package v1

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFormatVIP(t *testing.T) {
	for _, tt := range []struct {
		name string
		ip   string
		port uint16
		want string
	}{
		{"mygroupmyapp.marathon", "11.198.144.68", 80, "mygroupmyapp.marathon.l4lb.thisdcos.directory:80"},
		{"qux.ipv6", "fd01:c::6d6d:9c64:fd19:f251", 5000, "qux.ipv6.l4lb.thisdcos.directory:5000"},
		{"", "1.2.3.4", 5000, "1.2.3.4:5000"},
		{"", "fd01:c::12", 5000, "[fd01:c::12]:5000"},
	} {
		if got := FormatVIP(tt.name, netip.MustParseAddr(tt.ip), tt.port); got != tt.want {
			t.Errorf("FormatVIP(%q, %s, %d) = %q, want %q", tt.name, tt.ip, tt.port, got, tt.want)
		}
	}
}

// sampleVIPServices are a named VIP of both families (a bridge backend and
// an overlay one) and an IPv6 IP VIP.
func sampleVIPServices() []VIPService {
	a := netip.MustParseAddr
	bridge := TaskKey{FrameworkID: "fw-1", TaskID: "app.1"}
	overlay := TaskKey{FrameworkID: "fw-1", TaskID: "app.2"}
	return []VIPService{
		{
			VIP: "mygroupmyapp.marathon.l4lb.thisdcos.directory:80", Protocol: ProtocolTCP,
			Name: "mygroupmyapp.marathon", IP: a("11.198.144.68"), Port: 80,
			Backend: []VIPBackend{
				{IP: a("9.0.1.6"), Port: 8080, Weight: 0, AgentIP: a("10.0.0.5"), Task: overlay, Runtime: RuntimeMesos},
				{
					IP: a("10.0.0.4"), Port: 20560, Weight: 1, AgentIP: a("10.0.0.4"), Task: bridge, Runtime: RuntimeMesos,
					ContainerIP: a("172.31.254.3"), ContainerPort: 8080,
				},
			},
		},
		{
			VIP: "mygroupmyapp.marathon.l4lb.thisdcos.directory:80", Protocol: ProtocolTCP,
			Name: "mygroupmyapp.marathon", IP: a("fd01:c::6d7:a93:e041:647f"), Port: 80,
			Backend: []VIPBackend{
				{IP: a("fd01:b::1:0:0:6"), Port: 8080, Weight: 0, AgentIP: a("10.0.0.5"), Task: overlay, Runtime: RuntimeMesos},
			},
		},
		{
			VIP: "[fd01:c::12]:5000", Protocol: ProtocolUDP, IP: a("fd01:c::12"), Port: 5000,
			Backend: []VIPBackend{{IP: a("fd01:b::1:0:0:6"), Port: 5000, Weight: 1, Task: overlay}},
		},
	}
}

// TestVIPServiceJSON pins the wire encoding of VIP services in
// testdata/vipservice.json (the API serves them). Run with -update to
// rewrite it.
func TestVIPServiceJSON(t *testing.T) {
	in := sampleVIPServices()
	for _, s := range in {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	want := checkGoldenJSON(t, "vipservice.json", in)
	var decoded []VIPService
	if err := json.Unmarshal(want, &decoded); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if diff := cmp.Diff(in, decoded, cmpNet); diff != "" {
		t.Errorf("golden decodes differently (-want +got):\n%s", diff)
	}
}

func TestVIPServiceValidate(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		name    string
		mutate  func(s *VIPService)
		wantErr []string // substrings; nil: valid
	}{
		{"valid", func(*VIPService) {}, nil},
		{"no backends", func(s *VIPService) { s.Backend = nil }, nil},
		{"bad protocol", func(s *VIPService) { s.Protocol = "sctp" }, []string{`protocol: protocol "sctp"`}},
		{"no address", func(s *VIPService) { s.IP = netip.Addr{} }, []string{"ip: missing"}},
		{"mapped address", func(s *VIPService) { s.IP = a("::ffff:11.198.144.68") }, []string{"ip: ::ffff:11.198.144.68 is an IPv4-mapped"}},
		{"port 0", func(s *VIPService) { s.Port = 0 }, []string{"port: 0"}},
		{"vip text", func(s *VIPService) { s.VIP = "mygroupmyapp.marathon:80" }, []string{`vip: "mygroupmyapp.marathon:80", want "mygroupmyapp.marathon.l4lb.thisdcos.directory:80"`}},
		{"bad name", func(s *VIPService) { s.Name = "App"; s.VIP = FormatVIP(s.Name, s.IP, s.Port) }, []string{"name:"}},
		{"backend of the other family", func(s *VIPService) { s.Backend[0].IP = a("fd01:b::6") }, []string{"backend[0]: fd01:b::6 is not of the family of 11.198.144.68"}},
		{"duplicate backend", func(s *VIPService) { s.Backend[1].IP, s.Backend[1].Port = s.Backend[0].IP, s.Backend[0].Port }, []string{"backend[1]: 9.0.1.6:8080 also in backend[0]"}},
		{"backends out of order", func(s *VIPService) { s.Backend[0], s.Backend[1] = s.Backend[1], s.Backend[0] }, []string{"backend[1]: 9.0.1.6:8080 is out of order"}},
		{"backend weight", func(s *VIPService) { s.Backend[0].Weight = 2 }, []string{"backend[0]: backend 9.0.1.6:8080 of task fw-1/app.2: weight: 2 is not 0 or 1"}},
		{"backend port", func(s *VIPService) { s.Backend[0].Port = 0 }, []string{"backend[0]: backend 9.0.1.6:0 of task fw-1/app.2: port: 0"}},
		{"backend task", func(s *VIPService) { s.Backend[0].Task = TaskKey{} }, []string{"task: task key: empty"}},
		{"backend runtime", func(s *VIPService) { s.Backend[0].Runtime = "rkt" }, []string{`runtime: runtime "rkt"`}},
		{"container IP of the other family", func(s *VIPService) { s.Backend[1].ContainerIP = a("fd01:b::2") }, []string{"containerIP: fd01:b::2 is not of the family of 10.0.0.4"}},
		{"container IP without port", func(s *VIPService) { s.Backend[1].ContainerPort = 0 }, []string{"containerPort: missing for container IP 172.31.254.3"}},
		{"container port without IP", func(s *VIPService) { s.Backend[1].ContainerIP = netip.Addr{} }, []string{"containerPort: 8080 without a container IP"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := sampleVIPServices()[0]
			s.Backend = append([]VIPBackend(nil), s.Backend...)
			tt.mutate(&s)
			err := s.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors containing %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "VIP service ") {
				t.Errorf("Validate() = %q, want it to name the service", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCompareVIPBackends(t *testing.T) {
	a := netip.MustParseAddr
	k1, k2 := TaskKey{FrameworkID: "f", TaskID: "1"}, TaskKey{FrameworkID: "f", TaskID: "2"}
	ordered := []VIPBackend{
		{IP: a("9.0.0.1"), Port: 80, Weight: 1, Task: k2},
		{IP: a("9.0.0.1"), Port: 80, Weight: 0, Task: k1},
		{IP: a("9.0.0.1"), Port: 80, Weight: 0, Task: k2},
		{IP: a("9.0.0.1"), Port: 81, Weight: 1, Task: k1},
		{IP: a("9.0.0.2"), Port: 1, Weight: 1, Task: k1},
		{IP: a("fd01:b::1"), Port: 1, Weight: 1, Task: k1},
	}
	for i := range ordered {
		for j := range ordered {
			got := CompareVIPBackends(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("CompareVIPBackends(#%d, #%d) = %d, want %d", i, j, got, want)
			}
		}
	}
}

func TestVIPAllocationOrphanedAt(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := VIPAllocation{Name: "foo.bar", Label: "foo", Framework: "bar", IP4: netip.MustParseAddr("11.138.58.156"), OrphanedAt: at}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"foo.bar","label":"foo","framework":"bar","ip4":"11.138.58.156","orphanedAt":"2026-03-01T12:00:00Z"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back VIPAllocation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.OrphanedAt.Equal(at) {
		t.Errorf("decoded orphanedAt %s, want %s", back.OrphanedAt, at)
	}
	// Zero while the VIP has backends: not encoded at all.
	v.OrphanedAt = time.Time{}
	if b, _ := json.Marshal(v); strings.Contains(string(b), "orphanedAt") {
		t.Errorf("JSON of a VIP with backends = %s, want no orphanedAt", b)
	}
	v.OrphanedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)
	if err := v.Validate(); err == nil || !strings.Contains(err.Error(), "orphanedAt: 1969-12-31T00:00:00Z is before 1970") {
		t.Errorf("Validate() = %v, want an orphanedAt error", err)
	}
}
