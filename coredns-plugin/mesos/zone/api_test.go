package zone

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fakeZone builds Mesos-DNS's fake.json with the deprecated label sources.
func fakeZone(tb testing.TB, cfg Config) *Zone {
	tb.Helper()
	cfg.IPSources = []string{SourceDocker, SourceMesos, SourceNetInfo, SourceHost}
	return newTestBuilder(tb, cfg).Build(loadV0(tb, fakeJSON))
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-golden +got):\n%s", name, diff)
	}
}

// TestHTTPViewsGolden pins the /v1/axfr and /v1/enumerate bodies of
// fake.json (reviewed by hand against spec mesos-dns.md §1.4 and §3).
func TestHTTPViewsGolden(t *testing.T) {
	z := fakeZone(t, Config{})
	golden(t, "fake-axfr.json", z.AXFR())
	golden(t, "fake-enumerate.json", z.Enumerate())
}

func TestHosts(t *testing.T) {
	z := fakeZone(t, Config{})
	tests := []struct {
		name string
		want []HostRecord
	}{
		{"nginx.marathon.mesos", []HostRecord{{"nginx.marathon.mesos.", "10.3.0.3"}}},
		{"NGINX.Marathon.mesos.", []HostRecord{{"nginx.marathon.mesos.", "10.3.0.3"}}},
		{"nginx.*.marathon.mesos", []HostRecord{{"nginx.marathon.mesos.", "10.3.0.3"}}},
		{"toy-store.ipv6-framework.mesos.", []HostRecord{
			{"toy-store.ipv6-framework.mesos.", "12.0.1.3"}, {"toy-store.ipv6-framework.mesos.", "fd01:b::1:8000:2"}}},
		{"slave.mesos", []HostRecord{
			{"slave.mesos.", "1.2.3.10"}, {"slave.mesos.", "1.2.3.11"}, {"slave.mesos.", "1.2.3.12"}, {"slave.mesos.", "2001:db8::1"}}},
		{"nope.mesos", []HostRecord{{}}},
		{"_leader._tcp.mesos.", []HostRecord{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, z.Hosts(tt.name)); diff != "" {
				t.Errorf("Hosts(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestServices(t *testing.T) {
	z := fakeZone(t, Config{})
	const toy = "toy-store-go588-3.ipv6-framework.slave.mesos."
	tests := []struct {
		name string
		want []ServiceRecord
	}{
		{"_leader._tcp.mesos", []ServiceRecord{{"_leader._tcp.mesos", "leader.mesos.", "1.2.3.4", "5050"}}},
		{"_big-dog._tcp.marathon.mesos.", []ServiceRecord{
			{"_big-dog._tcp.marathon.mesos.", "big-dog-4dfjd-0.marathon.mesos.", "10.3.0.1", "80"},
			{"_big-dog._tcp.marathon.mesos.", "big-dog-4dfjd-0.marathon.mesos.", "10.3.0.1", "443"},
		}},
		// The target has only an AAAA record: the AAAA row alone.
		{"_toy-store._udp.ipv6-framework.mesos.", []ServiceRecord{
			{"_toy-store._udp.ipv6-framework.mesos.", toy, "2001:db8::1", "31354"},
			{"_toy-store._udp.ipv6-framework.mesos.", toy, "2001:db8::1", "31355"},
		}},
		{"_slave._tcp.mesos.", []ServiceRecord{
			{"_slave._tcp.mesos.", "slave.mesos.", "1.2.3.10", "5051"},
			{"_slave._tcp.mesos.", "slave.mesos.", "2001:db8::1", "5051"},
		}},
		{"_nope._tcp.mesos.", []ServiceRecord{{}}},
		{"nginx.marathon.mesos.", []ServiceRecord{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, z.Services(tt.name)); diff != "" {
				t.Errorf("Services(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

func TestLookupAndExtra(t *testing.T) {
	z := fakeZone(t, Config{TTL: 30, SRVWeight: 7})
	tests := []struct {
		name      string
		wantExtra []string
	}{
		{"toy-store-go588-3.ipv6-framework.mesos.", []string{
			"toy-store-go588-3.ipv6-framework.mesos.\t30\tIN\tA\t12.0.1.3",
			"toy-store-go588-3.ipv6-framework.mesos.\t30\tIN\tAAAA\tfd01:b::1:8000:2"}},
		{"slave.mesos.", []string{"slave.mesos.\t30\tIN\tA\t1.2.3.10", "slave.mesos.\t30\tIN\tAAAA\t2001:db8::1"}},
		{"nginx.marathon.mesos.", []string{"nginx.marathon.mesos.\t30\tIN\tA\t10.3.0.3"}},
		{"toy-store-go588-3.ipv6-framework.slave.mesos.", []string{"toy-store-go588-3.ipv6-framework.slave.mesos.\t30\tIN\tAAAA\t2001:db8::1"}},
		{"_leader._tcp.mesos.", nil},
		{"unknown.mesos.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.wantExtra, rrStrings(z.Extra(tt.name))); diff != "" {
				t.Errorf("Extra(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	rs, ok := z.Lookup("_big-dog._tcp.marathon.mesos.")
	if !ok {
		t.Fatal("Lookup(_big-dog._tcp.marathon.mesos.) not found")
	}
	want := []string{
		"_big-dog._tcp.marathon.mesos.\t30\tIN\tSRV\t0 7 80 big-dog-4dfjd-0.marathon.mesos.",
		"_big-dog._tcp.marathon.mesos.\t30\tIN\tSRV\t0 7 443 big-dog-4dfjd-0.marathon.mesos.",
	}
	if diff := cmp.Diff(want, rrStrings(rs.SRV)); diff != "" {
		t.Errorf("SRV records (-want +got):\n%s", diff)
	}
	if rs.A != nil || rs.AAAA != nil || rs.Extra() != nil {
		t.Errorf("SRV name has addresses: %v %v", rs.A, rs.AAAA)
	}
	for _, name := range []string{"marathon.slave.mesos.", "_tcp.marathon.mesos.", "mesos.", "NGINX.marathon.mesos.", "nginx.marathon.mesos"} {
		if _, ok := z.Lookup(name); ok {
			t.Errorf("Lookup(%q) found a name that does not exist", name)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		z.Lookup("nginx.marathon.mesos.")
		z.Lookup("unknown.mesos.")
		z.Extra("slave.mesos.")
	}); allocs != 0 {
		t.Errorf("Lookup and Extra allocate %v times", allocs)
	}
}

func TestSOAAndNS(t *testing.T) {
	z := newTestBuilder(t, Config{
		Listener: []netip.Addr{netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("::"), netip.MustParseAddr("fd00::9")},
	}).Build(loadV0(t, stateDIJSON))
	if got, want := z.SOA("mesos.").String(), "mesos.\t60\tIN\tSOA\tns1.mesos. root.ns1.mesos. 1700000000 60 600 86400 60"; got != want {
		t.Errorf("SOA = %q, want %q", got, want)
	}
	if got, want := z.NS("mesos.").String(), "mesos.\t60\tIN\tNS\tns1.mesos."; got != want {
		t.Errorf("NS = %q, want %q", got, want)
	}
	if z.SOA(DCOSOrigin) != nil || z.NS("example.com.") != nil {
		t.Errorf("SOA or NS of a zone not served")
	}
	if diff := cmp.Diff([]string{"mesos."}, z.Origins()); diff != "" {
		t.Errorf("Origins (-want +got):\n%s", diff)
	}
	// The listener record; the unspecified address is skipped.
	checkWants(t, z, []want{
		{"ns1.mesos.", typeA, []string{"10.0.0.9"}},
		{"ns1.mesos.", typeV, []string{"fd00::9"}},
	})
	if z.Serial() != 1700000000 {
		t.Errorf("Serial = %d", z.Serial())
	}
}
