package mesos

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// testLeader is the leading master the handler tests' stores know.
const testLeader = "192.0.2.11"

// leaderStore returns a store with a stream capture applied as the wire
// client would, with testLeader:5050 as the leading master.
func leaderStore(tb testing.TB, fixture string) *state.Store {
	tb.Helper()
	s := newStore(tb)
	events := statetest.Events(tb, statetest.Rel(fixture))
	ip := testLeader
	leader := &mesosv1.MasterInfo{ID: "master-1", Address: &mesosv1.Address{IP: &ip, Port: 5050}}
	if err := s.Subscribed(events[0].Subscribed, leader); err != nil {
		tb.Fatal(err)
	}
	for _, ev := range events[1:] {
		if err := s.Apply(ev); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// Records of the operator-api.json capture (spec mesos-dns.md §1.4,
// dcos-net.md §1.3; task facts in statetest.Expected): agents S0 172.17.0.4
// and S1 172.17.0.3 (port 5051), framework marathon on 172.17.0.2, the
// masters and listener of testCorefile, leader testLeader:5050.
const (
	soaMesos = "mesos. 60 IN SOA ns1.mesos. root.ns1.mesos. 1 60 600 86400 60"
	soaDCOS  = "dcos.thisdcos.directory. 5 IN SOA ns.spartan. support.mesosphere.com. 1 60 180 86400 1"
	// bridge is docker-on-bridge: Docker BRIDGE on S0, container IP
	// 172.18.0.2, discovery port http 8080 with host port 20560.
	bridgeTarget = "docker-on-bridge-bcie5-s0.marathon.mesos."
	// ipv6 is docker-on-ipv6: container IPs 172.19.0.2 and
	// fd01:b::2:8000:0:2, port 8080, no host port.
	ipv6Target = "docker-on-ipv6-8w9xo-s0.marathon.mesos."
)

var handlerCases = []test.Case{
	// Masters, agents, the name server (spec mesos-dns.md §1.4).
	{Qname: "leader.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("leader.mesos. 60 IN A 192.0.2.11")}},
	{Qname: "master.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("master.mesos. 60 IN A 192.0.2.11"), test.A("master.mesos. 60 IN A 192.0.2.12")}},
	{Qname: "master1.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("master1.mesos. 60 IN A 192.0.2.12")}},
	{Qname: "slave.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("slave.mesos. 60 IN A 172.17.0.3"), test.A("slave.mesos. 60 IN A 172.17.0.4")}},
	{Qname: "ns1.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns1.mesos. 60 IN A 192.0.2.53")}},
	{Qname: "marathon.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("marathon.mesos. 60 IN A 172.17.0.2")}},
	{Qname: "_leader._tcp.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_leader._tcp.mesos. 60 IN SRV 0 1 5050 leader.mesos.")},
		Extra:  []dns.RR{test.A("leader.mesos. 60 IN A 192.0.2.11")}},
	{Qname: "_leader._udp.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_leader._udp.mesos. 60 IN SRV 0 1 5050 leader.mesos.")},
		Extra:  []dns.RR{test.A("leader.mesos. 60 IN A 192.0.2.11")}},
	{Qname: "_slave._tcp.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_slave._tcp.mesos. 60 IN SRV 0 1 5051 slave.mesos.")},
		Extra:  []dns.RR{test.A("slave.mesos. 60 IN A 172.17.0.3")}},

	// Task A and AAAA: IPSources netinfo, mesos, host; first IPv4 and
	// first IPv6 (spec mesos-dns.md §1.5).
	{Qname: "docker-on-bridge.marathon.mesos.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-bridge.marathon.mesos. 60 IN A 172.18.0.2")}},
	{Qname: bridgeTarget, Qtype: dns.TypeA, Answer: []dns.RR{test.A(bridgeTarget + " 60 IN A 172.18.0.2")}},
	{Qname: "docker-on-bridge.marathon.slave.mesos.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-bridge.marathon.slave.mesos. 60 IN A 172.17.0.4")}},
	{Qname: "docker-on-ipv6.marathon.mesos.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("docker-on-ipv6.marathon.mesos. 60 IN AAAA fd01:b::2:8000:0:2")}},
	{Qname: "pod-on-bridge.marathon.mesos.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("pod-on-bridge.marathon.mesos. 60 IN A 172.31.254.4")}},
	// Query names match case-insensitively; owners are lower case.
	{Qname: "Docker-On-IPv6.MARATHON.mesos.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-ipv6.marathon.mesos. 60 IN A 172.19.0.2")}},

	// Task SRV with the targets' A and AAAA in the additional section.
	{Qname: "_docker-on-bridge._tcp.marathon.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_docker-on-bridge._tcp.marathon.mesos. 60 IN SRV 0 1 20560 " + bridgeTarget)},
		Extra:  []dns.RR{test.A(bridgeTarget + " 60 IN A 172.18.0.2")}},
	{Qname: "_http._docker-on-bridge._tcp.marathon.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_http._docker-on-bridge._tcp.marathon.mesos. 60 IN SRV 0 1 20560 " + bridgeTarget)},
		Extra:  []dns.RR{test.A(bridgeTarget + " 60 IN A 172.18.0.2")}},
	{Qname: "_docker-on-ipv6._tcp.marathon.mesos.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_docker-on-ipv6._tcp.marathon.mesos. 60 IN SRV 0 1 8080 " + ipv6Target)},
		Extra: []dns.RR{
			test.A(ipv6Target + " 60 IN A 172.19.0.2"),
			test.AAAA(ipv6Target + " 60 IN AAAA fd01:b::2:8000:0:2"),
		}},

	// ANY: A, AAAA and SRV of the name; SOA and NS at the apex.
	{Qname: "docker-on-ipv6.marathon.mesos.", Qtype: dns.TypeANY, Answer: []dns.RR{
		test.A("docker-on-ipv6.marathon.mesos. 60 IN A 172.19.0.2"),
		test.AAAA("docker-on-ipv6.marathon.mesos. 60 IN AAAA fd01:b::2:8000:0:2"),
	}},
	{Qname: "_docker-on-bridge._tcp.marathon.mesos.", Qtype: dns.TypeANY,
		Answer: []dns.RR{test.SRV("_docker-on-bridge._tcp.marathon.mesos. 60 IN SRV 0 1 20560 " + bridgeTarget)},
		Extra:  []dns.RR{test.A(bridgeTarget + " 60 IN A 172.18.0.2")}},
	{Qname: "mesos.", Qtype: dns.TypeANY, Answer: []dns.RR{test.SOA(soaMesos), test.NS("mesos. 60 IN NS ns1.mesos.")}},

	// SOA and NS at the apexes, in the answer section; NS with glue.
	{Qname: "mesos.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "mesos.", Qtype: dns.TypeNS, Answer: []dns.RR{test.NS("mesos. 60 IN NS ns1.mesos.")},
		Extra: []dns.RR{test.A("ns1.mesos. 60 IN A 192.0.2.53")}},
	{Qname: "dcos.thisdcos.directory.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soaDCOS)}},
	{Qname: "dcos.thisdcos.directory.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("dcos.thisdcos.directory. 3600 IN NS ns.spartan.")}},
	{Qname: "dcos.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaDCOS)}},

	// NODATA: the name exists, not with that type.
	{Qname: "leader.mesos.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "leader.mesos.", Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "leader.mesos.", Qtype: dns.TypeSOA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "leader.mesos.", Qtype: dns.TypeNS, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "docker-on-bridge.marathon.mesos.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_leader._tcp.mesos.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaMesos)}},

	// Empty non-terminals: names that exist as parents of others only get
	// NODATA, not NXDOMAIN, which would deny everything under them
	// (RFC 8020). Mesos-DNS answered NXDOMAIN.
	{Qname: "marathon.slave.mesos.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "marathon.slave.mesos.", Qtype: dns.TypeANY, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_tcp.marathon.mesos.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_tcp.marathon.slave.mesos.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_docker-on-ipv6._tcp.marathon.mesos.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_tcp.mesos.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_udp.mesos.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "Marathon.Slave.mesos.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "agentip.dcos.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaDCOS)}},
	{Qname: "marathon.containerip.dcos.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaDCOS)}},

	// NXDOMAIN.
	{Qname: "nothing.marathon.mesos.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "nothing.marathon.slave.mesos.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_tcp.slave.mesos.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "athon.slave.mesos.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "_nothing._tcp.marathon.mesos.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaMesos)}},
	{Qname: "nothing.marathon.autoip.dcos.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaDCOS)}},

	// dcos.thisdcos.directory (spec dcos-net.md §1.3), TTL 5.
	{Qname: "docker-on-bridge.marathon.agentip.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-bridge.marathon.agentip.dcos.thisdcos.directory. 5 IN A 172.17.0.4")}},
	{Qname: "docker-on-bridge.marathon.containerip.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-bridge.marathon.containerip.dcos.thisdcos.directory. 5 IN A 172.18.0.2")}},
	// A host port mapping makes autoip the agent IP; without, the
	// container IPs.
	{Qname: "docker-on-bridge.marathon.autoip.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-bridge.marathon.autoip.dcos.thisdcos.directory. 5 IN A 172.17.0.4")}},
	{Qname: "docker-on-dcos.marathon.autoip.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("docker-on-dcos.marathon.autoip.dcos.thisdcos.directory. 5 IN A 9.0.2.130")}},
	{Qname: "docker-on-ipv6.marathon.containerip.dcos.thisdcos.directory.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("docker-on-ipv6.marathon.containerip.dcos.thisdcos.directory. 5 IN AAAA fd01:b::2:8000:0:2")}},
	{Qname: "leader.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("leader.dcos.thisdcos.directory. 5 IN A 192.0.2.11")}},
	{Qname: "master.dcos.thisdcos.directory.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("master.dcos.thisdcos.directory. 5 IN A 192.0.2.11"), test.A("master.dcos.thisdcos.directory. 5 IN A 192.0.2.12")}},
}

func TestServeDNS(t *testing.T) {
	m := loadedPlugin(t, testCorefile, leaderStore(t, "operator-api.json"))
	for _, tc := range handlerCases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			resp := serve(t, m, tc.Msg(), false)
			checkCase(t, tc, resp)
			if !resp.Authoritative {
				t.Error("reply is not authoritative")
			}
			if resp.Truncated {
				t.Error("reply is truncated")
			}
		})
	}
}

// serve sends r to m over UDP, or TCP, and returns the reply, failing the
// test if m wrote none.
func serve(tb testing.TB, m *Mesos, r *dns.Msg, tcp bool) *dns.Msg {
	tb.Helper()
	w := dnstest.NewRecorder(&test.ResponseWriter{TCP: tcp})
	rcode, err := m.ServeDNS(context.Background(), w, r)
	if err != nil {
		tb.Fatalf("ServeDNS: %v", err)
	}
	if w.Msg == nil {
		tb.Fatalf("ServeDNS returned %s and wrote no reply", dns.RcodeToString[rcode])
	}
	if rcode != w.Msg.Rcode {
		tb.Errorf("ServeDNS returned %s, wrote %s", dns.RcodeToString[rcode], dns.RcodeToString[w.Msg.Rcode])
	}
	return w.Msg
}

// checkCase compares a reply with a case, sections in any order.
func checkCase(tb testing.TB, tc test.Case, resp *dns.Msg) {
	tb.Helper()
	for _, sec := range [][]dns.RR{tc.Answer, tc.Ns, tc.Extra} {
		sort.Sort(test.RRSet(sec))
	}
	if err := test.SortAndCheck(resp, tc); err != nil {
		tb.Errorf("%v\nreply:\n%s", err, resp)
	}
}

func TestServeDNSNotLoaded(t *testing.T) {
	m := newPlugin(t, testCorefile)
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	if m.Ready() {
		t.Fatal("Ready before the first zone")
	}
	tests := []struct {
		qname string
		want  int
	}{
		{"leader.mesos.", dns.RcodeServerFailure},
		{"mesos.", dns.RcodeServerFailure},
		{"x.marathon.autoip.dcos.thisdcos.directory.", dns.RcodeServerFailure},
		// Not under a zone the plugin serves: the next plugin's.
		{"vip.marathon.l4lb.thisdcos.directory.", dns.RcodeRefused},
		{"example.org.", dns.RcodeRefused},
	}
	for _, tc := range tests {
		r := new(dns.Msg)
		r.SetQuestion(tc.qname, dns.TypeA)
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := m.ServeDNS(context.Background(), w, r)
		if err != nil || rcode != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.qname, dns.RcodeToString[rcode], err, dns.RcodeToString[tc.want])
		}
		if w.Msg != nil {
			t.Errorf("%s: wrote a reply; SERVFAIL and the next plugin's rcode are written by the server", tc.qname)
		}
	}
	m.apply(state.Notification{Snapshot: fixtureStore(t, "operator-api.json").Current(), Reset: true})
	if !m.Ready() {
		t.Fatal("not Ready after the first zone")
	}
}

// TestServeDNSPassesOn checks what goes to the next plugin: names outside
// the plugin's zones or their origins, other classes, and with fallthrough
// the names that do not exist.
func TestServeDNSPassesOn(t *testing.T) {
	store := fixtureStore(t, "operator-api.json")
	plain := loadedPlugin(t, testCorefile, store)
	falls := loadedPlugin(t, "mesos mesos thisdcos.directory {\n master http://192.0.2.11:5050\n fallthrough mesos\n}", store)
	root := loadedPlugin(t, "mesos . {\n master http://192.0.2.11:5050\n fallthrough\n}", store)
	tests := []struct {
		name  string
		m     *Mesos
		q     *dns.Msg
		wantN bool
	}{
		{"outside the zones", plain, question("example.org.", dns.TypeA), true},
		{"within the zones, outside the origins", plain, question("vip.marathon.l4lb.thisdcos.directory.", dns.TypeA), true},
		{"CHAOS class", plain, chaos("leader.mesos."), true},
		{"two questions", plain, twoQuestions(), true},
		{"NXDOMAIN without fallthrough", plain, question("nothing.mesos.", dns.TypeA), false},
		{"NXDOMAIN with fallthrough", falls, question("nothing.mesos.", dns.TypeA), true},
		{"NXDOMAIN outside the fallthrough zones", falls, question("nothing.agentip.dcos.thisdcos.directory.", dns.TypeA), false},
		{"NODATA with fallthrough", falls, question("slave.mesos.", dns.TypeTXT), false},
		{"empty non-terminal with fallthrough", falls, question("marathon.slave.mesos.", dns.TypeA), false},
		{"answer with fallthrough", falls, question("slave.mesos.", dns.TypeA), false},
		{"root zone, other names", root, question("example.org.", dns.TypeA), true},
		{"root zone, NXDOMAIN with fallthrough", root, question("nothing.mesos.", dns.TypeA), true},
		{"root zone, answer", root, question("slave.mesos.", dns.TypeA), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			passed := false
			tc.m.Next = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				passed = true
				return dns.RcodeSuccess, nil
			})
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := tc.m.ServeDNS(context.Background(), w, tc.q); err != nil {
				t.Fatal(err)
			}
			if passed != tc.wantN {
				t.Errorf("passed to the next plugin: %t, want %t (reply: %v)", passed, tc.wantN, w.Msg)
			}
		})
	}
}

func question(name string, qtype uint16) *dns.Msg {
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	return r
}

func chaos(name string) *dns.Msg {
	r := question(name, dns.TypeA)
	r.Question[0].Qclass = dns.ClassCHAOS
	return r
}

func twoQuestions() *dns.Msg {
	r := question("leader.mesos.", dns.TypeA)
	r.Question = append(r.Question, dns.Question{Name: "slave.mesos.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	return r
}

func TestServeDNSRefusals(t *testing.T) {
	m := loadedPlugin(t, testCorefile, fixtureStore(t, "operator-api.json"))
	update := question("mesos.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	tests := []struct {
		name string
		r    *dns.Msg
		want int
	}{
		{"AXFR", question("mesos.", dns.TypeAXFR), dns.RcodeRefused},
		{"IXFR", question("mesos.", dns.TypeIXFR), dns.RcodeRefused},
		{"UPDATE", update, dns.RcodeNotImplemented},
	}
	for _, tc := range tests {
		w := dnstest.NewRecorder(&test.ResponseWriter{TCP: true})
		rcode, err := m.ServeDNS(context.Background(), w, tc.r)
		if err != nil || rcode != tc.want || w.Msg != nil {
			t.Errorf("%s: got %s, %v, reply written %t; want %s for the server to write", tc.name, dns.RcodeToString[rcode], err, w.Msg != nil, dns.RcodeToString[tc.want])
		}
	}
}

// bigStore returns a store holding n running tasks named "web" with two TCP
// ports each, on 4 host-networked agents, plus their framework: one name
// with n A records, SRV records with a repeated target.
func bigStore(tb testing.TB, n int) *state.Store {
	tb.Helper()
	sim, err := mesossim.New(mesossim.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer sim.Close()
	for i := range 4 {
		if _, err := sim.AddAgent(mesossim.AgentSpec{Hostname: fmt.Sprintf("198.18.0.%d", i+1)}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := sim.AddFramework(mesossim.FrameworkSpec{Name: "marathon"}); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		_, err := sim.LaunchTask(mesossim.TaskSpec{
			Name: "web", Container: "MESOS", Network: "container",
			IPs:   []string{fmt.Sprintf("198.19.%d.%d", i/250, i%250+1)},
			Ports: []mesossim.PortSpec{{Name: "http", Protocol: "tcp", ContainerPort: 80}, {Name: "admin", Protocol: "tcp", ContainerPort: 81}},
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	s := newStore(tb)
	if err := s.LoadState(sim.State(), nil); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestServeDNSTruncation(t *testing.T) {
	const tasks = 300
	m := loadedPlugin(t, testCorefile, bigStore(t, tasks))
	tests := []struct {
		name     string
		qtype    uint16
		bufsize  uint16 // 0: no EDNS0
		tcp      bool
		maxSize  int
		truncate bool
	}{
		{"UDP without EDNS0", dns.TypeA, 0, false, 512, true},
		{"UDP with a 1232-byte buffer", dns.TypeA, 1232, false, 1232, true},
		{"UDP with a buffer below 512", dns.TypeA, 100, false, 512, true},
		{"UDP SRV with additionals", dns.TypeSRV, 1232, false, 1232, true},
		{"TCP", dns.TypeA, 0, true, dns.MaxMsgSize, false},
		{"TCP SRV with additionals", dns.TypeSRV, 0, true, dns.MaxMsgSize, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "web.marathon.mesos."
			if tc.qtype == dns.TypeSRV {
				name = "_web._tcp.marathon.mesos."
			}
			r := question(name, tc.qtype)
			if tc.bufsize != 0 {
				r.SetEdns0(tc.bufsize, false)
			}
			resp := serve(t, m, r, tc.tcp)
			packed, err := resp.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if len(packed) > tc.maxSize {
				t.Errorf("reply is %d bytes, want at most %d", len(packed), tc.maxSize)
			}
			if resp.Truncated != tc.truncate {
				t.Errorf("TC bit %t, want %t", resp.Truncated, tc.truncate)
			}
			if tc.bufsize != 0 && resp.IsEdns0() == nil {
				t.Error("reply has no OPT record")
			}
			want := tasks
			if tc.qtype == dns.TypeSRV {
				want = 2 * tasks
			}
			if tc.truncate && (len(resp.Answer) == 0 || len(resp.Answer) >= want) {
				t.Errorf("truncated reply has %d answers, want between 1 and %d", len(resp.Answer), want-1)
			}
			if !tc.truncate && len(resp.Answer) != want {
				t.Errorf("reply has %d answers, want %d", len(resp.Answer), want)
			}
			if tc.tcp && tc.qtype == dns.TypeSRV && len(resp.Extra) != tasks {
				t.Errorf("reply has %d additional records, want one A per distinct target (%d)", len(resp.Extra), tasks)
			}
		})
	}
}

// TestServeDNSRotates checks that answers are rotated: the same set in
// different orders, and the zone's own slices untouched.
func TestServeDNSRotates(t *testing.T) {
	m := loadedPlugin(t, testCorefile, bigStore(t, 20))
	z := m.Zone()
	rs, _ := z.Lookup("web.marathon.mesos.")
	before := slices.Clone(rs.A)
	firsts := make(map[string]bool)
	var want []string
	for i := range 50 {
		resp := serve(t, m, question("web.marathon.mesos.", dns.TypeA), true)
		got := make([]string, len(resp.Answer))
		for j, rr := range resp.Answer {
			got[j] = rr.String()
		}
		firsts[got[0]] = true
		slices.Sort(got)
		if i == 0 {
			want = got
		} else if !slices.Equal(want, got) {
			t.Fatalf("answer %d has other records:\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if len(firsts) < 2 {
		t.Errorf("50 answers all started with the same record: %v", firsts)
	}
	if !slices.Equal(before, rs.A) {
		t.Error("serving modified the zone's record slice")
	}
}

// TestServeDNSMatchesReference compares replies octet for octet with the
// straightforward way of building them, given the rotation the reply
// shows: the whole record set rotated, the additional section looked up
// per distinct target, request.Request's SizeAndDo and Scrub. The
// shortcuts of ServeDNS (shared slices, ready-made additional sections,
// long answers cut before truncation, no sizing twice for the server's
// ScrubWriter) must not change a reply.
func TestServeDNSMatchesReference(t *testing.T) {
	fixture := loadedPlugin(t, testCorefile, leaderStore(t, "operator-api.json"))
	big := loadedPlugin(t, testCorefile, bigStore(t, 300))
	type query struct {
		m     *Mesos
		name  string
		qtype uint16
	}
	var queries []query
	for _, name := range append(zoneNames(fixture.Zone()), "nothing.mesos.", "marathon.slave.mesos.", "mesos.") {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT, dns.TypeSOA} {
			queries = append(queries, query{fixture, name, qtype})
		}
	}
	for _, name := range []string{"web.marathon.mesos.", "_web._tcp.marathon.mesos.", "_http._web._tcp.marathon.mesos.", "slave.mesos."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			queries = append(queries, query{big, name, qtype})
		}
	}
	transports := []struct {
		name    string
		tcp     bool
		bufsize uint16
	}{{"UDP", false, 0}, {"UDP 1232", false, 1232}, {"UDP 4096", false, 4096}, {"TCP", true, 0}}
	for _, tr := range transports {
		for _, scrubbed := range []bool{false, true} {
			n := 0
			for _, q := range queries {
				r := question(q.name, q.qtype)
				if tr.bufsize != 0 {
					r.SetEdns0(tr.bufsize, false)
				}
				// Written through the server's ScrubWriter, replies
				// may come packed from the reply cache.
				rec := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: tr.tcp}}
				var w dns.ResponseWriter = rec
				if scrubbed {
					w = request.NewScrubWriter(r, rec)
				}
				if _, err := q.m.ServeDNS(context.Background(), w, r); err != nil {
					t.Fatal(err)
				}
				if rec.msg == nil {
					t.Fatalf("%s: no reply", q.name)
				}
				want := referenceReply(t, q.m.Zone(), rec, r, rec.msg)
				if wantWire, _ := want.Pack(); !slices.Equal(rec.wire, wantWire) {
					t.Errorf("%s, ScrubWriter %t: %s %s: reply\n%s\nwant\n%s", tr.name, scrubbed, dns.TypeToString[q.qtype], q.name, rec.msg, want)
				}
				if rec.msg.Truncated {
					n++
				}
			}
			if tr.name == "UDP" && n < 3 {
				t.Errorf("%s: only %d truncated replies", tr.name, n)
			}
		}
	}
}

// referenceReply builds the reply to r as ServeDNS did before its
// shortcuts, with the rotation of got's answer.
func referenceReply(tb testing.TB, z *zone.Zone, w dns.ResponseWriter, r, got *dns.Msg) *dns.Msg {
	tb.Helper()
	st := request.Request{W: w, Req: r}
	qname := st.Name()
	origin := zoneOf(z.Origins(), qname)
	rs, exists := z.Lookup(qname)
	if rs == nil {
		rs = &zone.RRSet{}
	}
	rotate := func(rrs []dns.RR) []dns.RR {
		k := 0
		if len(got.Answer) > 0 {
			// got may be unpacked from the wire: compare records,
			// not pointers.
			first := got.Answer[0].String()
			k = max(slices.IndexFunc(rrs, func(rr dns.RR) bool { return rr.String() == first }), 0)
		}
		return slices.Concat(rrs[k:], rrs[:k])
	}
	msg := new(dns.Msg)
	msg.SetReply(r)
	msg.Authoritative = true
	switch r.Question[0].Qtype {
	case dns.TypeA:
		msg.Answer = rotate(rs.A)
	case dns.TypeAAAA:
		msg.Answer = rotate(rs.AAAA)
	case dns.TypeSRV:
		msg.Answer = rotate(rs.SRV)
		seen := make(map[string]bool)
		for _, rr := range msg.Answer {
			if target := rr.(*dns.SRV).Target; !seen[target] {
				seen[target] = true
				msg.Extra = append(msg.Extra, z.Extra(target)...)
			}
		}
	case dns.TypeSOA:
		if qname == origin {
			msg.Answer = []dns.RR{z.SOA(origin)}
		}
	}
	if len(msg.Answer) == 0 {
		if !exists && qname != origin && !z.EmptyNonTerminal(qname) {
			msg.Rcode = dns.RcodeNameError
		}
		msg.Ns = []dns.RR{z.SOA(origin)}
	}
	st.SizeAndDo(msg)
	return st.Scrub(msg)
}

// zoneNames returns the owner names of a zone's Mesos-DNS domain, from its
// AXFR.
func zoneNames(z *zone.Zone) []string {
	axfr := z.AXFR()
	var names []string
	for _, m := range []map[string][]string{axfr.Records.As, axfr.Records.AAAAs, axfr.Records.SRVs} {
		for name := range m {
			names = append(names, dns.Fqdn(name))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestServeDNSEDNS0(t *testing.T) {
	m := loadedPlugin(t, testCorefile, fixtureStore(t, "operator-api.json"))
	r := question("slave.mesos.", dns.TypeA)
	r.SetEdns0(4096, true)
	resp := serve(t, m, r, false)
	opt := resp.IsEdns0()
	if opt == nil {
		t.Fatal("reply has no OPT record")
	}
	if opt.UDPSize() != 4096 || !opt.Do() {
		t.Errorf("OPT: size %d, DO %t; want 4096, true", opt.UDPSize(), opt.Do())
	}
}

func TestZoneOf(t *testing.T) {
	zones := []string{"mesos.", "thisdcos.directory.", "dcos.thisdcos.directory."}
	tests := []struct{ name, want string }{
		{"mesos.", "mesos."},
		{"leader.mesos.", "mesos."},
		{"a.b.c.mesos.", "mesos."},
		{"xmesos.", ""},
		{"mesos.org.", ""},
		{"a\\.mesos.", ""},
		{"a\\\\.mesos.", "mesos."},
		{"a.marathon.autoip.dcos.thisdcos.directory.", "dcos.thisdcos.directory."},
		{"vip.l4lb.thisdcos.directory.", "thisdcos.directory."},
		{"directory.", ""},
		{".", ""},
	}
	for _, tc := range tests {
		if got := zoneOf(zones, tc.name); got != tc.want {
			t.Errorf("zoneOf(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if got := plugin.Zones(zones).Matches(tc.name); got != tc.want {
			t.Errorf("plugin.Zones.Matches(%q) = %q, the reference disagrees with the table", tc.name, got)
		}
	}
	if got := zoneOf([]string{".", "mesos."}, "example.org."); got != "." {
		t.Errorf("zoneOf with the root zone = %q, want %q", got, ".")
	}
}

// FuzzZoneOf checks zoneOf against CoreDNS's plugin.Zones.Matches.
func FuzzZoneOf(f *testing.F) {
	for _, s := range []string{"leader.mesos.", "a\\.mesos.", "x.dcos.thisdcos.directory.", "."} {
		f.Add(s)
	}
	zones := []string{"mesos.", "thisdcos.directory.", "dcos.thisdcos.directory.", "b.mesos."}
	f.Fuzz(func(t *testing.T, name string) {
		if _, ok := dns.IsDomainName(name); !ok {
			return
		}
		name = strings.ToLower(dns.Fqdn(name))
		if got, want := zoneOf(zones, name), plugin.Zones(zones).Matches(name); got != want {
			t.Errorf("zoneOf(%q) = %q, plugin.Zones.Matches = %q", name, got, want)
		}
	})
}

// FuzzCanonicalName checks canonicalName against request.Request.Name,
// which it replaces.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"leader.mesos.", "Docker-On-IPv6.MARATHON.mesos.", "a\\.b.mesos.", "_http._web._tcp.marathon.mesos.", "a\\065.mesos.", "x y.mesos.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		st := request.Request{Req: question(name, dns.TypeA)}
		if got, want := canonicalName(name), st.Name(); got != want {
			t.Errorf("canonicalName(%q) = %q, request.Request.Name = %q", name, got, want)
		}
	})
}
