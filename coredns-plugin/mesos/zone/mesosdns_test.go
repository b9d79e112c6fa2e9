package zone

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

const (
	fakeJSON     = "mesos-dns/fake.json"
	fake113JSON  = "mesos-dns/dcos-1.13/fake.json"
	stateDIJSON  = "mesos-api/v0-master-state/dcos-net-l4lb-2016/state_di.json"
	typeA, typeV = dns.TypeA, dns.TypeAAAA
	typeSRV      = dns.TypeSRV
)

// want is one expectation on a zone: the values of one type of a name (nil:
// no such records).
type want struct {
	name   string
	typ    uint16
	values []string
}

func checkWants(t *testing.T, z *Zone, wants []want) {
	t.Helper()
	for _, w := range wants {
		if diff := cmp.Diff(w.values, values(z, w.name, w.typ)); diff != "" {
			t.Errorf("%s %s mismatch (-want +got):\n%s", w.name, dns.TypeToString[w.typ], diff)
		}
	}
}

// TestMesosDNSFixture checks the record catalogue against Mesos-DNS's own
// fixture (factories/fake.json, a Mesos 0.19 master state). Expectations
// are derived by hand from spec mesos-dns.md §1.4-1.6; hashes were computed
// independently (sha1 + z-base-32 in Python). IP sources are docker, mesos,
// netinfo, host so the deprecated label sources are exercised.
//
// Differences from Mesos-DNS that the fixture shows, all documented in the
// package: the fixture lists two marathon tasks with the same id
// (liquor.store and big.dog2); the v1 state model keys tasks by id, so only
// the later one (big.dog2, DiscoveryInfo name big.dog) exists, and
// liquor-store.marathon.mesos. holds only the other liquor.store task.
// Framework records need a pid in Mesos-DNS; here they need an IP hostname,
// and every framework of the fixture has a name (localhost, google.com).
func TestMesosDNSFixture(t *testing.T) {
	b := newTestBuilder(t, Config{IPSources: []string{SourceDocker, SourceMesos, SourceNetInfo, SourceHost}})
	z := b.Build(loadV0(t, fakeJSON))
	checkWants(t, z, []want{
		// Leader and masters (leader "master@1.2.3.4:5050", no configured masters).
		{"leader.mesos.", typeA, []string{"1.2.3.4"}},
		{"master.mesos.", typeA, []string{"1.2.3.4"}},
		{"master0.mesos.", typeA, []string{"1.2.3.4"}},
		{"master1.mesos.", typeA, nil},
		{"_leader._tcp.mesos.", typeSRV, []string{"leader.mesos.:5050"}},
		{"_leader._udp.mesos.", typeSRV, []string{"leader.mesos.:5050"}},
		{"_master._tcp.mesos.", typeSRV, nil},
		// Agents, one of them IPv6 (pid slave(1)@[2001:db8::1]:5051).
		{"slave.mesos.", typeA, []string{"1.2.3.10", "1.2.3.11", "1.2.3.12"}},
		{"slave.mesos.", typeV, []string{"2001:db8::1"}},
		{"_slave._tcp.mesos.", typeSRV, []string{"slave.mesos.:5051"}},
		{"agent.mesos.", typeA, nil},
		// No framework records: no framework hostname is an IP.
		{"marathon.mesos.", typeA, nil},
		{"ipv6-framework.mesos.", typeV, nil},
		// toy-store: netinfo of the latest RUNNING status (first IPv4 of two
		// network_infos, first IPv6), agent IPv6 under .slave, no
		// DiscoveryInfo so resource-port SRVs under F.D and F.slave.D.
		{"toy-store.ipv6-framework.mesos.", typeA, []string{"12.0.1.3"}},
		{"toy-store.ipv6-framework.mesos.", typeV, []string{"fd01:b::1:8000:2"}},
		{"toy-store-go588-3.ipv6-framework.mesos.", typeA, []string{"12.0.1.3"}},
		{"toy-store-go588-3.ipv6-framework.mesos.", typeV, []string{"fd01:b::1:8000:2"}},
		{"toy-store.ipv6-framework.slave.mesos.", typeA, nil},
		{"toy-store.ipv6-framework.slave.mesos.", typeV, []string{"2001:db8::1"}},
		{"toy-store-go588-3.ipv6-framework.slave.mesos.", typeV, []string{"2001:db8::1"}},
		{"_toy-store._tcp.ipv6-framework.mesos.", typeSRV, []string{
			"toy-store-go588-3.ipv6-framework.slave.mesos.:31354", "toy-store-go588-3.ipv6-framework.slave.mesos.:31355"}},
		{"_toy-store._udp.ipv6-framework.mesos.", typeSRV, []string{
			"toy-store-go588-3.ipv6-framework.slave.mesos.:31354", "toy-store-go588-3.ipv6-framework.slave.mesos.:31355"}},
		{"_toy-store._udp.ipv6-framework.slave.mesos.", typeSRV, []string{
			"toy-store-go588-3.ipv6-framework.slave.mesos.:31354", "toy-store-go588-3.ipv6-framework.slave.mesos.:31355"}},
		// some-box: framework name DomainFrag keeps the dots; no status IP,
		// so the host source gives the agent IP.
		{"some-box.chronoswithaspaceandmixedcase-2.0.1.mesos.", typeA, []string{"1.2.3.11"}},
		{"some-box-h3dyr-0.chronoswithaspaceandmixedcase-2.0.1.mesos.", typeA, []string{"1.2.3.11"}},
		{"_some-box._tcp.chronoswithaspaceandmixedcase-2.0.1.mesos.", typeSRV, []string{
			"some-box-h3dyr-0.chronoswithaspaceandmixedcase-2.0.1.slave.mesos.:31354"}},
		// big.dog2: DiscoveryInfo name "big.dog" -> label big-dog plus the
		// legacy raw copy; docker IP of the latest RUNNING status (10.3.0.1,
		// not the older 10.3.0.4); DI ports 80/443 tcp under F.D with named
		// variants; resource ports only under F.slave.D.
		{"big-dog.marathon.mesos.", typeA, []string{"10.3.0.1"}},
		{"big-dog-4dfjd-0.marathon.mesos.", typeA, []string{"10.3.0.1"}},
		{"big-dog.marathon.slave.mesos.", typeA, []string{"1.2.3.11"}},
		{"big-dog-4dfjd-0.marathon.slave.mesos.", typeA, []string{"1.2.3.11"}},
		{"big.dog.marathon.mesos.", typeA, []string{"10.3.0.1"}},
		{"big.dog-4dfjd-0.marathon.mesos.", typeA, []string{"10.3.0.1"}},
		{"big.dog.marathon.slave.mesos.", typeA, []string{"1.2.3.11"}},
		{"_big-dog._tcp.marathon.mesos.", typeSRV, []string{"big-dog-4dfjd-0.marathon.mesos.:80", "big-dog-4dfjd-0.marathon.mesos.:443"}},
		{"_big-dog._udp.marathon.mesos.", typeSRV, nil},
		{"_http._big-dog._tcp.marathon.mesos.", typeSRV, []string{"big-dog-4dfjd-0.marathon.mesos.:80"}},
		{"_https._big-dog._tcp.marathon.mesos.", typeSRV, []string{"big-dog-4dfjd-0.marathon.mesos.:443"}},
		{"_big-dog._tcp.marathon.slave.mesos.", typeSRV, []string{
			"big-dog-4dfjd-0.marathon.slave.mesos.:31354", "big-dog-4dfjd-0.marathon.slave.mesos.:31355"}},
		{"_big-dog._udp.marathon.slave.mesos.", typeSRV, []string{
			"big-dog-4dfjd-0.marathon.slave.mesos.:31354", "big-dog-4dfjd-0.marathon.slave.mesos.:31355"}},
		{"_big.dog._tcp.marathon.mesos.", typeSRV, []string{"big.dog-4dfjd-0.marathon.mesos.:80", "big.dog-4dfjd-0.marathon.mesos.:443"}},
		{"_http._big.dog._tcp.marathon.mesos.", typeSRV, []string{"big.dog-4dfjd-0.marathon.mesos.:80"}},
		{"_big.dog._tcp.marathon.slave.mesos.", typeSRV, []string{
			"big.dog-4dfjd-0.marathon.slave.mesos.:31354", "big.dog-4dfjd-0.marathon.slave.mesos.:31355"}},
		// non-human-readable-liquor-store: DiscoveryInfo name liquor.store.
		{"liquor-store.marathon.mesos.", typeA, []string{"10.3.0.2"}},
		{"liquor.store.marathon.mesos.", typeA, []string{"10.3.0.2"}},
		{"liquor-store-zasmd-1.marathon.mesos.", typeA, []string{"10.3.0.2"}},
		{"liquor-store.marathon.slave.mesos.", typeA, []string{"1.2.3.12"}},
		{"_liquor-store._tcp.marathon.mesos.", typeSRV, []string{"liquor-store-zasmd-1.marathon.mesos.:80", "liquor-store-zasmd-1.marathon.mesos.:443"}},
		{"_liquor-store._tcp.marathon.slave.mesos.", typeSRV, []string{
			"liquor-store-zasmd-1.marathon.slave.mesos.:31737", "liquor-store-zasmd-1.marathon.slave.mesos.:31738"}},
		{"non-human-readable-liquor-store.marathon.mesos.", typeA, nil},
		// car.store: task name with a dot -> one label; no DiscoveryInfo, so
		// no legacy copy and resource-port SRVs under F.D too.
		{"car-store.marathon.mesos.", typeA, []string{"1.2.3.11"}},
		{"car.store.marathon.mesos.", typeA, nil},
		{"_car-store._tcp.marathon.mesos.", typeSRV, []string{
			"car-store-zinaz-0.marathon.slave.mesos.:31364", "car-store-zinaz-0.marathon.slave.mesos.:31365"}},
		{"_car-store._udp.marathon.slave.mesos.", typeSRV, []string{
			"car-store-zinaz-0.marathon.slave.mesos.:31364", "car-store-zinaz-0.marathon.slave.mesos.:31365"}},
		{"chronos.marathon.mesos.", typeA, []string{"1.2.3.11"}},
		{"_chronos._tcp.marathon.mesos.", typeSRV, []string{"chronos-rx8q6-0.marathon.slave.mesos.:31332"}},
		// nginx: no ports (no SRV); the mesos label source.
		{"nginx.marathon.mesos.", typeA, []string{"10.3.0.3"}},
		{"nginx-6ud99-0.marathon.mesos.", typeA, []string{"10.3.0.3"}},
		{"nginx.marathon.slave.mesos.", typeA, []string{"1.2.3.11"}},
		{"_nginx._tcp.marathon.mesos.", typeSRV, nil},
		{"reviewbot.marathon.mesos.", typeA, []string{"1.2.3.12"}},
		{"_reviewbot._tcp.marathon.mesos.", typeSRV, []string{"reviewbot-8sq89-1.marathon.slave.mesos.:31744"}},
		// poseidon is TASK_KILLED.
		{"poseidon.marathon.mesos.", typeA, nil},
		{"poseidon.marathon.slave.mesos.", typeA, nil},
		{"_poseidon._tcp.marathon.mesos.", typeSRV, nil},
	})
	// Several tasks on one agent share .slave values: counted per task.
	if diff := cmp.Diff([]int32{1}, refsOf(z, "big-dog.marathon.slave.mesos.")); diff != "" {
		t.Errorf("refs of big-dog.marathon.slave.mesos. (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{1, 1, 1, 1}, refsOf(z, "slave.mesos.")); diff != "" {
		t.Errorf("refs of slave.mesos. (-want +got):\n%s", diff)
	}
}

// TestIPModes checks the three generations of task-IP semantics on the
// toy-store task of both Mesos-DNS fixtures: master's fake.json has two
// network_infos (12.0.1.3; 12.0.1.2 + fd01:b::1:8000:2), the DC/OS branch's
// only the second. The agent is IPv6 (2001:db8::1).
func TestIPModes(t *testing.T) {
	const name = "toy-store.ipv6-framework.mesos."
	dcosSources := []string{SourceHost, SourceNetInfo}
	tests := []struct {
		name     string
		fixture  string
		sources  []string
		mode     IPMode
		wantA    []string
		wantAAAA []string
	}{
		{"dcos keeps first v4 and first v6", fakeJSON, nil, IPModeDCOS, []string{"12.0.1.3"}, []string{"fd01:b::1:8000:2"}},
		{"first keeps one address", fakeJSON, nil, IPModeFirst, []string{"12.0.1.3"}, nil},
		{"all keeps the whole first source", fakeJSON, nil, IPModeAll, []string{"12.0.1.2", "12.0.1.3"}, []string{"fd01:b::1:8000:2"}},
		{"dcos branch fixture", fake113JSON, nil, IPModeDCOS, []string{"12.0.1.2"}, []string{"fd01:b::1:8000:2"}},
		{"dcos branch fixture first", fake113JSON, nil, IPModeFirst, []string{"12.0.1.2"}, nil},
		// DC/OS's ["host","netinfo"]: the IPv6 agent comes first, so the
		// first IPv6 is the agent's and the first IPv4 the container's.
		{"dc/os sources dcos", fakeJSON, dcosSources, IPModeDCOS, []string{"12.0.1.3"}, []string{"2001:db8::1"}},
		{"dc/os sources first", fakeJSON, dcosSources, IPModeFirst, nil, []string{"2001:db8::1"}},
		{"dc/os sources all", fakeJSON, dcosSources, IPModeAll, nil, []string{"2001:db8::1"}},
		{"host only", fakeJSON, []string{SourceHost}, IPModeDCOS, nil, []string{"2001:db8::1"}},
		{"mesos label only: no IP", fakeJSON, []string{SourceMesos}, IPModeDCOS, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := newTestBuilder(t, Config{IPSources: tt.sources, IPMode: tt.mode}).Build(loadV0(t, tt.fixture))
			checkWants(t, z, []want{
				{name, typeA, tt.wantA},
				{name, typeV, tt.wantAAAA},
				// .slave names always carry the agent IP.
				{"toy-store.ipv6-framework.slave.mesos.", typeV, []string{"2001:db8::1"}},
			})
			if _, ok := z.Lookup(name); ok != (tt.wantA != nil || tt.wantAAAA != nil) {
				t.Errorf("Lookup(%s) ok = %v", name, ok)
			}
		})
	}
}

// TestRFC952Fixture builds fake.json with RFC 952 labels: 24 characters,
// leading digits stripped (the framework "chronos with a space AND MIXED
// CASE-2.0.1" loses its version parts entirely).
func TestRFC952Fixture(t *testing.T) {
	z := newTestBuilder(t, Config{RFC952: true}).Build(loadV0(t, fakeJSON))
	checkWants(t, z, []want{
		{"some-box.chronoswithaspaceandmixe.mesos.", typeA, []string{"1.2.3.11"}},
		{"some-box.chronoswithaspaceandmixedcase-2.0.1.mesos.", typeA, nil},
		{"_some-box._tcp.chronoswithaspaceandmixe.mesos.", typeSRV, []string{"some-box-h3dyr-0.chronoswithaspaceandmixe.slave.mesos.:31354"}},
		{"liquor-store.marathon.mesos.", typeA, []string{"1.2.3.12"}},
	})
}

// TestTwoFrameworksNamedMarathon uses a real capture with two frameworks
// named marathon: they merge into one F, and the framework A record (both
// schedulers run on 10.0.5.163) is one record with two references.
func TestTwoFrameworksNamedMarathon(t *testing.T) {
	z := newTestBuilder(t, Config{}).Build(loadV0(t, stateDIJSON))
	checkWants(t, z, []want{
		{"marathon.mesos.", typeA, []string{"10.0.5.163"}},
		{"leader.mesos.", typeA, []string{"10.0.5.163"}},
		{"_leader._tcp.mesos.", typeSRV, []string{"leader.mesos.:5050"}},
		{"slave.mesos.", typeA, []string{"10.0.2.234", "10.0.4.192", "10.0.5.163"}},
		// sleep: netinfo IP (the agent's, host networking), DI port myport.
		{"sleep.marathon.mesos.", typeA, []string{"10.0.2.234"}},
		{"sleep-ctih1-s0.marathon.mesos.", typeA, []string{"10.0.2.234"}},
		{"sleep.marathon.slave.mesos.", typeA, []string{"10.0.2.234"}},
		{"_sleep._tcp.marathon.mesos.", typeSRV, []string{"sleep-ctih1-s0.marathon.mesos.:19426"}},
		{"_myport._sleep._tcp.marathon.mesos.", typeSRV, []string{"sleep-ctih1-s0.marathon.mesos.:19426"}},
		{"_sleep._tcp.marathon.slave.mesos.", typeSRV, []string{"sleep-ctih1-s0.marathon.slave.mesos.:19426"}},
		{"_sleep._udp.marathon.mesos.", typeSRV, nil},
	})
	if diff := cmp.Diff([]int32{2}, refsOf(z, "marathon.mesos.")); diff != "" {
		t.Errorf("refs of marathon.mesos. (-want +got):\n%s", diff)
	}
	e := z.Enumerate()
	var got []string
	for _, f := range e.Frameworks {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff([]string{"marathon", "marathon"}, got); diff != "" {
		t.Errorf("enumerated frameworks (-want +got):\n%s", diff)
	}
}

// TestMasters checks leader.D, master.D and masterN.D numbering against
// Mesos-DNS's masterRecord rules.
func TestMasters(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	tests := []struct {
		name    string
		masters []netip.Addr
		leader  string
		want    map[string][]string
	}{
		{"leader only", nil, "10.0.0.2", map[string][]string{
			"master.mesos.": {"10.0.0.2"}, "master0.mesos.": {"10.0.0.2"}, "leader.mesos.": {"10.0.0.2"},
		}},
		{"leader listed second", []netip.Addr{a, b, c}, "10.0.0.2", map[string][]string{
			"master.mesos.":  {"10.0.0.1", "10.0.0.2", "10.0.0.3"},
			"master0.mesos.": {"10.0.0.1"}, "master1.mesos.": {"10.0.0.2"}, "master2.mesos.": {"10.0.0.3"},
			"leader.mesos.": {"10.0.0.2"},
		}},
		{"leader not listed is appended", []netip.Addr{a, c}, "10.0.0.2", map[string][]string{
			"master.mesos.":  {"10.0.0.1", "10.0.0.2", "10.0.0.3"},
			"master0.mesos.": {"10.0.0.1"}, "master1.mesos.": {"10.0.0.3"}, "master2.mesos.": {"10.0.0.2"},
			"leader.mesos.": {"10.0.0.2"},
		}},
		{"no leader", []netip.Addr{a, b}, "", map[string][]string{
			"master.mesos.": {"10.0.0.1", "10.0.0.2"}, "master0.mesos.": {"10.0.0.1"}, "master1.mesos.": {"10.0.0.2"},
		}},
		{"ipv6 leader", []netip.Addr{a}, "fd00::1", map[string][]string{
			"master.mesos.": {"10.0.0.1", "fd00::1"}, "master0.mesos.": {"10.0.0.1"}, "master1.mesos.": {"fd00::1"},
			"leader.mesos.": {"fd00::1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var leader = masterInfo(tt.leader, 5050)
			if tt.leader == "" {
				leader = nil
			}
			events := replayEvents(t, "pod-tasks.json")
			if err := s.Subscribed(events[0].Subscribed, leader); err != nil {
				t.Fatal(err)
			}
			z := newTestBuilder(t, Config{Masters: tt.masters}).Build(s.Current())
			got := map[string][]string{}
			for _, n := range []string{"master.mesos.", "master0.mesos.", "master1.mesos.", "master2.mesos.", "master3.mesos.", "leader.mesos."} {
				if v := append(values(z, n, typeA), values(z, n, typeV)...); v != nil {
					got[n] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("master records (-want +got):\n%s", diff)
			}
			_, hasSRV := z.Lookup("_leader._tcp.mesos.")
			if hasSRV != (tt.leader != "") {
				t.Errorf("_leader._tcp.mesos. exists = %v", hasSRV)
			}
		})
	}
}
