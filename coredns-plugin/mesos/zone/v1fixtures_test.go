package zone

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/miekg/dns"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

// axfrCapture is the real Mesos-DNS /v1/axfr of a DC/OS 1.11 cluster
// (IPSources ["host","netinfo"]) running the app matrix of
// operator-api.json plus the hello-world SDK service of hello-world.json.
const axfrCapture = "mesos-api/mesos-dns-axfr/dcos-net/axfr.json"

// canonicalRE matches the "-<hash>-s<N>" part of canonical task names.
var canonicalRE = regexp.MustCompile(`-[ybndrfg8ejkmcpqxot1uwisza345h769]{5}-s[0-9]+\.`)

// shape abstracts a record from what differs between cluster instances:
// hashes and agent numbers in names, addresses (kept as their family) and
// non-zero ports.
func shape(name, typ, val string) string {
	name = canonicalRE.ReplaceAllString(name, "-H-S.")
	switch typ {
	case "SRV":
		target, port, _ := strings.Cut(val, ":")
		if port != "0" {
			port = "P"
		}
		val = canonicalRE.ReplaceAllString(target, "-H-S.") + ":" + port
	default:
		if netip.MustParseAddr(val).Is4() {
			val = "v4"
		} else {
			val = "v6"
		}
	}
	return name + " " + typ + " " + val
}

// shapes returns the shapes of the records of an AXFR body.
func shapes(a AXFR) map[string]bool {
	out := map[string]bool{}
	for typ, m := range map[string]map[string][]string{"A": a.Records.As, "AAAA": a.Records.AAAAs, "SRV": a.Records.SRVs} {
		for name, vals := range m {
			for _, v := range vals {
				out[shape(name, typ, v)] = true
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRealAXFRShapes compares our zone with a real Mesos-DNS AXFR of a
// different instance of the same cluster: the app matrix of
// operator-api.json (final state) and the hello-world service of
// hello-world.json (its SUBSCRIBED snapshot). With Mesos-DNS's DC/OS
// configuration the set of record shapes (owner names with hashes and agent
// numbers abstracted, address families, SRV targets, port 0 vs other) must
// be the same, except _framework._tcp.F.D, which the v1 API cannot produce
// (no scheduler pid).
func TestRealAXFRShapes(t *testing.T) {
	cfg := Config{
		IPSources: []string{SourceHost, SourceNetInfo},
		Listener:  []netip.Addr{netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("fd01:a::1")},
	}
	leader := masterInfo("172.17.0.2", 5050)
	ours := map[string]bool{}
	for _, src := range []struct {
		fixture string
		events  int
	}{{"operator-api.json", -1}, {"hello-world.json", 1}} {
		s := replay(t, src.fixture, leader, src.events, nil)
		for k := range shapes(newTestBuilder(t, cfg).Build(s.Current()).AXFR()) {
			ours[k] = true
		}
	}

	var capture AXFR
	if err := json.Unmarshal(fixtures.Read(t, axfrCapture), &capture); err != nil {
		t.Fatalf("decode %s: %v", axfrCapture, err)
	}
	theirs := shapes(capture)
	for k := range theirs {
		if strings.HasPrefix(k, "_framework._tcp.") {
			delete(theirs, k)
		}
	}
	t.Logf("%d record shapes in the capture, %d ours", len(theirs), len(ours))
	if diff := cmp.Diff(sortedKeys(theirs), sortedKeys(ours)); diff != "" {
		t.Errorf("record shapes differ from the real Mesos-DNS AXFR (-capture +ours):\n%s", diff)
	}
	// Spot checks of families the shapes cover.
	for _, k := range []string{
		"_default._none-on-dcos._tcp.marathon.mesos. SRV none-on-dcos-H-S.marathon.mesos.:0",
		"docker-on-ipv6.marathon.mesos. AAAA v6",
		"_api._hello-world._tcp.marathon.mesos. SRV hello-world-H-S.marathon.mesos.:P",
		"_docker-on-bridge._udp.marathon.slave.mesos. SRV docker-on-bridge-H-S.marathon.slave.mesos.:P",
		"hello-0-server.hello-world.mesos. A v4",
	} {
		if !ours[k] {
			t.Errorf("missing %q", k)
		}
	}
}

// TestOperatorAPIRecords checks concrete records of the operator-api.json
// app matrix with DC/OS's IP sources, and its dcos.thisdcos.directory zone.
func TestOperatorAPIRecords(t *testing.T) {
	s := replay(t, "operator-api.json", masterInfo("172.17.0.2", 5050), -1, nil)
	z := newTestBuilder(t, Config{IPSources: []string{SourceHost, SourceNetInfo}, DCOS: true}).Build(s.Current())
	const d = "dcos.thisdcos.directory."
	checkWants(t, z, []want{
		// Docker on dcos6: agent IPv4 first (host), container IPv6.
		{"docker-on-ipv6.marathon.mesos.", typeA, []string{"172.17.0.4"}},
		{"docker-on-ipv6.marathon.mesos.", typeV, []string{"fd01:b::2:8000:0:2"}},
		{"marathon.mesos.", typeA, []string{"172.17.0.2"}},
		{"metronome.mesos.", typeA, []string{"172.17.0.2"}},
		{"slave.mesos.", typeA, []string{"172.17.0.3", "172.17.0.4"}},
		// Pods: the DiscoveryInfo name, not TaskInfo.name "app".
		{"app.marathon.mesos.", typeA, nil},
		{"_http._pod-on-bridge._tcp.marathon.mesos.", typeSRV, []string{"pod-on-bridge-cag51-s1.marathon.mesos.:2254"}},
		// dcos.thisdcos.directory (spec dcos-net.md §1.3).
		{"docker-on-bridge.marathon.agentip." + d, typeA, []string{"172.17.0.4"}},
		{"docker-on-bridge.marathon.containerip." + d, typeA, []string{"172.18.0.2"}},
		{"docker-on-bridge.marathon.autoip." + d, typeA, []string{"172.17.0.4"}},
		{"docker-on-dcos.marathon.autoip." + d, typeA, []string{"9.0.2.130"}},
		{"docker-on-ipv6.marathon.containerip." + d, typeA, []string{"172.19.0.2"}},
		{"docker-on-ipv6.marathon.containerip." + d, typeV, []string{"fd01:b::2:8000:0:2"}},
		{"docker-on-ipv6.marathon.autoip." + d, typeV, []string{"fd01:b::2:8000:0:2"}},
		{"none-on-host.marathon.autoip." + d, typeA, []string{"172.17.0.4"}},
		{"ucr-on-bridge.marathon.autoip." + d, typeA, []string{"172.17.0.3"}},
		{"ucr-on-bridge.marathon.containerip." + d, typeA, []string{"172.31.254.3"}},
		{"pod-on-bridge.marathon.autoip." + d, typeA, []string{"172.17.0.3"}},
		{"pod-on-dcos.marathon.autoip." + d, typeA, []string{"9.0.1.3"}},
		{"leader." + d, typeA, []string{"172.17.0.2"}},
		{"master." + d, typeA, []string{"172.17.0.2"}},
		{"app.marathon.autoip." + d, typeA, nil},
	})
	rs, ok := z.Lookup("docker-on-dcos.marathon.agentip." + d)
	if !ok || rs.A[0].Header().Ttl != DefaultDCOSTTL {
		t.Errorf("dcos record TTL: %v", rs)
	}
	rs, _ = z.Lookup("docker-on-dcos.marathon.mesos.")
	if rs.A[0].Header().Ttl != DefaultTTL {
		t.Errorf("mesos record TTL: %v", rs.A[0])
	}
	if diff := cmp.Diff([]string{"mesos.", d}, z.Origins()); diff != "" {
		t.Errorf("Origins (-want +got):\n%s", diff)
	}
	soa := z.SOA(d)
	if soa == nil || soa.Ns != "ns.spartan." || soa.Mbox != "support.mesosphere.com." || soa.Hdr.Ttl != 5 ||
		soa.Refresh != 60 || soa.Retry != 180 || soa.Expire != 86400 || soa.Minttl != 1 || soa.Serial != z.Serial() {
		t.Errorf("dcos SOA = %v", soa)
	}
	if ns := z.NS(d); ns == nil || ns.Ns != "ns.spartan." || ns.Hdr.Ttl != 3600 {
		t.Errorf("dcos NS = %v", ns)
	}
	// AXFR covers the Mesos-DNS domain only.
	for name := range z.AXFR().Records.As {
		if strings.HasSuffix(name, d) {
			t.Errorf("AXFR lists %s", name)
		}
	}
}

// TestPodTasksShareNames replays pod-tasks.json: the pod's two tasks share
// the DiscoveryInfo name "app" (and the container IP), so app.marathon.mesos.
// is one record referenced twice; when bar finishes the record stays,
// referenced by foo, while bar's canonical names go.
func TestPodTasksShareNames(t *testing.T) {
	b := newTestBuilder(t, Config{})
	var zones []*Zone
	replay(t, "pod-tasks.json", masterInfo("172.17.0.2", 5050), -1, func(n state.Notification) {
		if n.Reset {
			zones = append(zones, b.Build(n.Snapshot))
		} else {
			zones = append(zones, b.Update(n.Snapshot, n.Changed))
		}
	})
	const (
		name   = "app.marathon.mesos."
		fooCan = "app-un5eb-s0.marathon.mesos."
		barCan = "app-71fy8-s0.marathon.mesos."
	)
	type step struct {
		Refs     []int32
		Bar, Foo bool
	}
	var got []step
	for _, z := range zones {
		_, bar := z.Lookup(barCan)
		_, foo := z.Lookup(fooCan)
		got = append(got, step{Refs: refsOf(z, name), Bar: bar, Foo: foo})
	}
	wantSteps := []step{
		{},                                       // SUBSCRIBED: no tasks
		{},                                       // TASK_ADDED foo (staging)
		{},                                       // TASK_ADDED bar
		{},                                       // foo STARTING
		{},                                       // bar STARTING
		{Refs: []int32{1}, Foo: true},            // foo RUNNING (9.0.0.2)
		{Refs: []int32{2}, Foo: true, Bar: true}, // bar RUNNING (9.0.0.2)
		{Refs: []int32{1}, Foo: true},            // bar FINISHED
	}
	if diff := cmp.Diff(wantSteps, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	last := zones[len(zones)-1]
	checkWants(t, last, []want{
		{name, typeA, []string{"9.0.0.2"}},
		{"app.marathon.slave.mesos.", typeA, []string{"172.17.0.3"}},
		{"_app._tcp.marathon.mesos.", typeSRV, nil},
	})
	if diff := diffZones(newTestBuilder(t, Config{}).Build(last.Snapshot()), last); diff != "" {
		t.Errorf("incremental zone differs from a fresh build (-build +update):\n%s", diff)
	}
}

// TestHelloWorldReplay replays hello-world.json, where every task ends
// killed or finished and the SDK framework is torn down: each incremental
// zone equals a fresh build, and the last has no task records.
func TestHelloWorldReplay(t *testing.T) {
	cfg := Config{DCOS: true}
	b := newTestBuilder(t, cfg)
	var z *Zone
	steps := 0
	replay(t, "hello-world.json", masterInfo("172.17.0.2", 5050), -1, func(n state.Notification) {
		steps++
		if n.Reset {
			z = b.Build(n.Snapshot)
		} else {
			z = b.Update(n.Snapshot, n.Changed)
		}
		if diff := diffZones(newTestBuilder(t, cfg).Build(n.Snapshot), z); diff != "" {
			t.Errorf("step %d: incremental zone differs from a fresh build (-build +update):\n%s", steps, diff)
		}
	})
	if steps < 5 {
		t.Fatalf("only %d notifications", steps)
	}
	for _, n := range names(z) {
		if strings.Contains(n, "hello") || strings.Contains(n, "world") {
			t.Errorf("record of a finished task or removed framework left: %s", n)
		}
	}
	if _, ok := z.Lookup("marathon.mesos."); !ok {
		t.Errorf("marathon.mesos. missing")
	}
}

// TestAgentRemovedAndBack removes the agent of running tasks: Mesos-DNS
// records need a registered agent, so they go (and come back with the
// agent, at its new address); dcos.thisdcos.directory keeps the records,
// as dcos-net does while the store keeps the tasks.
func TestAgentRemovedAndBack(t *testing.T) {
	s := replay(t, "operator-api.json", masterInfo("172.17.0.2", 5050), -1, nil)
	cfg := Config{DCOS: true}
	b := newTestBuilder(t, cfg)
	b.Build(s.Current())
	sub := s.Subscribe()
	<-sub.C() // initial Reset
	const s1 = "30257977-0153-499d-a5b0-35afd842ef4d-S1"
	agent, _ := s.Current().RawAgent(s1)
	moved := *agent
	moved.AgentInfo.Hostname = "172.17.0.9"
	moved.PID = str("slave(1)@172.17.0.9:5051")

	apply := func(ev *master.Event) *Zone {
		t.Helper()
		if err := s.Apply(ev); err != nil {
			t.Fatal(err)
		}
		n := <-sub.C()
		z := b.Update(n.Snapshot, n.Changed)
		if diff := diffZones(newTestBuilder(t, cfg).Build(n.Snapshot), z); diff != "" {
			t.Fatalf("after %s: incremental zone differs from a fresh build (-build +update):\n%s", ev.Type, diff)
		}
		return z
	}
	z := apply(&master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: *agent.AgentInfo.GetID()}})
	checkWants(t, z, []want{
		{"ucr-on-host.marathon.mesos.", typeA, nil},
		{"slave.mesos.", typeA, []string{"172.17.0.4"}},
		{"ucr-on-host.marathon.agentip.dcos.thisdcos.directory.", typeA, []string{"172.17.0.3"}},
	})
	z = apply(&master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: moved}})
	checkWants(t, z, []want{
		// ucr-on-host reports its (old) agent IP as netinfo: first source.
		{"ucr-on-host.marathon.mesos.", typeA, []string{"172.17.0.3"}},
		{"ucr-on-host.marathon.slave.mesos.", typeA, []string{"172.17.0.9"}},
		{"slave.mesos.", typeA, []string{"172.17.0.4", "172.17.0.9"}},
		{"ucr-on-host.marathon.agentip.dcos.thisdcos.directory.", typeA, []string{"172.17.0.9"}},
	})
}

// TestEveryV1Fixture builds every v1 capture and checks that each owner
// name and SRV target is a valid name and every record packs.
func TestEveryV1Fixture(t *testing.T) {
	for _, rel := range fixtures.Glob(t, "mesos-api/v1-operator-api/dcos-net/*.json") {
		t.Run(rel, func(t *testing.T) {
			s := newStore(t)
			body := fixtures.Read(t, rel)
			if err := loadAny(s, rel, body); err != nil {
				t.Fatal(err)
			}
			z := newTestBuilder(t, Config{DCOS: true, Listener: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}).Build(s.Current())
			checkServable(t, z)
		})
	}
}

// checkServable fails the test for any owner name or SRV target that is
// not a valid lower-case FQDN, or any record that does not pack.
func checkServable(t *testing.T, z *Zone) {
	t.Helper()
	for itr := z.names.Iterator(); !itr.Done(); {
		name, rs, _ := itr.Next()
		if _, ok := dns.IsDomainName(name); !ok || !validName(name) {
			t.Errorf("invalid owner name %q", name)
		}
		for i := range rs.Len() {
			rr := rs.at(i)
			if rr.Header().Name != name {
				t.Errorf("record %v under %q", rr, name)
			}
			if srv, ok := rr.(*dns.SRV); ok && !validName(srv.Target) {
				t.Errorf("invalid SRV target %q", srv.Target)
			}
			m := new(dns.Msg)
			m.SetQuestion(name, rr.Header().Rrtype)
			m.Answer = []dns.RR{rr}
			if _, err := m.Pack(); err != nil {
				t.Errorf("pack %v: %v", rr, err)
			}
		}
	}
}

// loadAny loads a v1 fixture: a stream event by event, else GET_STATE.
func loadAny(s *state.Store, rel string, body []byte) error {
	first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(first), &probe) != nil || probe.Type != "SUBSCRIBED" {
		return s.LoadStateJSON(body, masterInfo("10.0.0.1", 5050))
	}
	for i, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		ev := new(master.Event)
		if err := json.Unmarshal([]byte(line), ev); err != nil {
			return fmt.Errorf("%s line %d: %w", rel, i+1, err)
		}
		var err error
		if i == 0 {
			err = s.Subscribed(ev.Subscribed, masterInfo("10.0.0.1", 5050))
		} else {
			err = s.Apply(ev)
		}
		if err != nil {
			return fmt.Errorf("%s event %d: %w", rel, i, err)
		}
	}
	return nil
}

// TestDCOSZoneMatchesExpectedTasks checks dcos.thisdcos.directory against
// the hand-written normalised tasks of every v1 capture (statetest): per
// running task, agentip is its agent IP, containerip its IPs, and autoip
// the agent IP when a port has a host port or there is no container IP,
// else the container IPs.
func TestDCOSZoneMatchesExpectedTasks(t *testing.T) {
	for _, fixture := range statetest.Fixtures() {
		t.Run(fixture, func(t *testing.T) {
			s := newStore(t)
			statetest.ApplyFixture(t, s, statetest.Rel(fixture))
			z := newTestBuilder(t, Config{DCOS: true}).Build(s.Current())
			wantIPs := map[string]map[string]bool{}
			add := func(name string, ips ...netip.Addr) {
				if wantIPs[name] == nil {
					wantIPs[name] = map[string]bool{}
				}
				for _, ip := range ips {
					wantIPs[name][ip.String()] = true
				}
			}
			for _, task := range statetest.Expected(fixture) {
				if task.State != v1.TaskRunning {
					continue
				}
				base := v1.DCOSLabel(task.Name) + "." + v1.DCOSLabel(task.Framework) + "."
				add(base+"agentip."+DCOSOrigin, task.AgentIP)
				add(base+"containerip."+DCOSOrigin, task.IPs...)
				hostPort := slices.ContainsFunc(task.Ports, func(p v1.Port) bool { return p.HostPort != 0 })
				if hostPort || len(task.IPs) == 0 {
					add(base+"autoip."+DCOSOrigin, task.AgentIP)
				} else {
					add(base+"autoip."+DCOSOrigin, task.IPs...)
				}
			}
			got := map[string]map[string]bool{}
			for _, name := range names(z) {
				if !inDCOSZone(name) || name == "leader."+DCOSOrigin || name == "master."+DCOSOrigin {
					continue
				}
				got[name] = map[string]bool{}
				for _, v := range append(values(z, name, typeA), values(z, name, typeV)...) {
					got[name][v] = true
				}
			}
			if diff := cmp.Diff(wantIPs, got); diff != "" {
				t.Errorf("dcos.thisdcos.directory task records (-want +got):\n%s", diff)
			}
		})
	}
}
