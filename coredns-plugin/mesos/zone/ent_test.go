package zone

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func TestEmptyNonTerminal(t *testing.T) {
	snap := replay(t, "operator-api.json", masterInfo("172.17.0.2", 5050), -1, nil).Current()
	z := newTestBuilder(t, Config{DCOS: true, Masters: []netip.Addr{netip.MustParseAddr("172.17.0.2")}}).Build(snap)
	tests := []struct {
		name string
		want bool
	}{
		{"marathon.slave.mesos.", true},
		{"_tcp.marathon.mesos.", true},
		{"_docker-on-bridge._tcp.marathon.mesos.", false}, // owns SRV records
		{"_tcp.mesos.", true},                             // _leader._tcp.mesos., _slave._tcp.mesos.
		{"_udp.mesos.", true},
		{"agentip.dcos.thisdcos.directory.", true},
		{"marathon.agentip.dcos.thisdcos.directory.", true},
		{"slave.mesos.", false}, // owns A records, and names under it
		{"leader.mesos.", false},
		{"mesos.", false}, // the apex is not counted
		{"dcos.thisdcos.directory.", false},
		{"nothing.mesos.", false},
		{"nothing.marathon.slave.mesos.", false},
		{"docker-on-bridge.marathon.slave.mesos.", false},
		{"arathon.slave.mesos.", false},
	}
	for _, tc := range tests {
		if got := z.EmptyNonTerminal(tc.name); got != tc.want {
			t.Errorf("EmptyNonTerminal(%q) = %t, want %t", tc.name, got, tc.want)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() {
		for _, tc := range tests {
			z.EmptyNonTerminal(tc.name)
		}
	}); allocs != 0 {
		t.Errorf("EmptyNonTerminal allocates %v times", allocs)
	}
}

// TestAncestorCounts checks the counts of owner names under each ancestor
// against counting every owner name's ancestors by brute force.
func TestAncestorCounts(t *testing.T) {
	z := newTestBuilder(t, benchConfig).Build(syntheticStore(t, 300).Current())
	counts := make(map[string]int32)
	for _, name := range names(z) {
		origin := "mesos."
		if strings.HasSuffix(name, "."+DCOSOrigin) {
			origin = DCOSOrigin
		} else if !strings.HasSuffix(name, ".mesos.") {
			continue
		}
		labels := dns.SplitDomainName(name)
		for i := 1; i < len(labels)-dns.CountLabel(origin); i++ {
			counts[dns.Fqdn(strings.Join(labels[i:], "."))]++
		}
	}
	var want []ent
	for name, n := range counts {
		want = append(want, ent{name, n})
	}
	slices.SortFunc(want, func(a, b ent) int { return strings.Compare(a.name, b.name) })
	if diff := cmp.Diff(want, ents(z), cmp.AllowUnexported(ent{})); diff != "" {
		t.Errorf("counts of owner names under ancestors (-brute force +zone):\n%s", diff)
	}
	if n := len(want); n < 10 {
		t.Errorf("only %d ancestors", n)
	}
}

// TestSRVExtra checks the ready-made additional sections against computing
// them at query time as Mesos-DNS does: the first A and AAAA of every
// distinct target, in the order of the rotated SRV records.
func TestSRVExtra(t *testing.T) {
	z := newTestBuilder(t, benchConfig).Build(syntheticStore(t, 300).Current())
	multi := 0
	for _, name := range names(z) {
		rs, _ := z.Lookup(name)
		for k := range rs.SRV {
			rotated := slices.Concat(rs.SRV[k:], rs.SRV[:k])
			var want []dns.RR
			seen := make(map[string]bool)
			for _, rr := range rotated {
				target := rr.(*dns.SRV).Target
				if !seen[target] {
					seen[target] = true
					want = append(want, z.Extra(target)...)
				}
			}
			head, tail := rs.SRVExtra(k)
			if got := slices.Concat(head, tail); !slices.Equal(want, got) {
				t.Errorf("%s rotated by %d: additional section\n%v\nwant\n%v", name, k, got, want)
			}
			if cap(head) != len(head) || cap(tail) != len(tail) {
				t.Errorf("%s rotated by %d: shared slices with room to append", name, k)
			}
			if len(seen) > 1 {
				multi++
			}
		}
	}
	if multi == 0 {
		t.Error("no SRV name with several targets")
	}
}
