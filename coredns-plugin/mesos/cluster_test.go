package mesos

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// testCluster is the cluster API of the setup and handler tests
// (documentation range: parsed, never connected to).
const testCluster = "http://192.0.2.21:62080"

// l4lbCorefile serves both sources: the Mesos zones of testCorefile and
// the l4lb zone (and its dclb alias, within thisdcos.directory).
const l4lbCorefile = `mesos mesos thisdcos.directory {
	master http://192.0.2.11:5050 http://192.0.2.12:5050
	cluster ` + testCluster + `
	listener 192.0.2.53
}`

// l4lbVIPs are VIP allocations of the test address plan (names of spec
// dcos-net.md §3.2).
var l4lbVIPs = []v1.VIPAllocation{
	{Name: "mygroupmyapp.marathon", Label: "/mygroup/myapp", Framework: "marathon",
		IP4: netip.MustParseAddr("198.18.128.7"), IP6: netip.MustParseAddr("fd01:c::7")},
	{Name: "api.hello-world.marathon", Label: "/api.hello-world", Framework: "marathon",
		IP4: netip.MustParseAddr("198.18.128.8")},
	{Name: "overlay-vip.hello-world", Label: "overlay-vip", Framework: "hello-world",
		IP6: netip.MustParseAddr("fd01:c::9")},
	{Name: "gone.marathon", Label: "/gone", Framework: "marathon",
		IP4: netip.MustParseAddr("198.18.128.10"), OrphanedAt: time.Unix(1_700_000_000, 0)},
}

func TestSetupCluster(t *testing.T) {
	tests := []struct {
		name        string
		keys        []string
		input       string
		zones       []string
		l4lbOrigins []string
		origins     []string // of the Mesos zone, static
	}{
		{
			name:        "cluster only, default zones",
			input:       "mesos {\n cluster " + testCluster + "\n}",
			zones:       []string{"l4lb.thisdcos.directory."},
			l4lbOrigins: []string{"l4lb.thisdcos.directory."},
		},
		{
			name:        "cluster only, server block thisdcos.directory",
			keys:        []string{"thisdcos.directory.:53"},
			input:       "mesos {\n cluster https://192.0.2.21:62080 https://192.0.2.22:62080/ http://m3:62080\n cluster_token_file /etc/mesosnet/token\n cluster_ca_file /etc/mesosnet/ca.pem\n}",
			zones:       []string{"thisdcos.directory."},
			l4lbOrigins: []string{"l4lb.thisdcos.directory.", "dclb.thisdcos.directory."},
		},
		{
			name:        "both sources",
			input:       l4lbCorefile,
			zones:       []string{"mesos.", "thisdcos.directory."},
			l4lbOrigins: []string{"l4lb.thisdcos.directory.", "dclb.thisdcos.directory."},
			origins:     []string{"mesos.", "dcos.thisdcos.directory."},
		},
		{
			name:        "root zone: every alias",
			keys:        []string{".:53"},
			input:       "mesos {\n master " + testMaster + "\n cluster " + testCluster + "\n}",
			zones:       []string{"."},
			l4lbOrigins: []string{"l4lb.thisdcos.directory.", "dclb.thisdcos.directory.", "l4lb.thisdcos.global.", "dclb.thisdcos.global."},
			origins:     []string{"mesos."},
		},
		{
			name:        "global aliases only",
			input:       "mesos thisdcos.global {\n cluster " + testCluster + "\n}",
			zones:       []string{"thisdcos.global."},
			l4lbOrigins: []string{"l4lb.thisdcos.global.", "dclb.thisdcos.global."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.keys
			m, err := parse(c)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tc.zones, m.Zones); diff != "" {
				t.Errorf("zones (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.l4lbOrigins, m.l4lbOrigins); diff != "" {
				t.Errorf("l4lb origins (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.origins, m.origins); diff != "" {
				t.Errorf("Mesos origins (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetupClusterErrors(t *testing.T) {
	cl := " cluster " + testCluster + "\n"
	tests := []struct {
		name   string
		keys   []string
		input  string
		option string
		line   int
	}{
		{"cluster without URL", nil, "mesos {\n cluster\n}", "cluster", 2},
		{"cluster with a bad scheme", nil, "mesos {\n cluster ftp://192.0.2.21:62080\n}", "cluster", 2},
		{"cluster without scheme", nil, "mesos {\n cluster 192.0.2.21:62080\n}", "cluster", 2},
		{"cluster with credentials", nil, "mesos {\n cluster http://u:p@192.0.2.21:62080\n}", "cluster", 2},
		{"cluster with a query", nil, "mesos {\n cluster http://192.0.2.21:62080/?a=b\n}", "cluster", 2},
		{"cluster with a bad port", nil, "mesos {\n cluster http://192.0.2.21:0\n}", "cluster", 2},
		{"cluster listed twice", nil, "mesos {\n cluster " + testCluster + " " + testCluster + "\n}", "cluster", 2},
		{"cluster given twice", nil, "mesos {\n" + cl + cl + "}", "cluster", 3},
		{"cluster outside the zones", nil, "mesos mesos {\n master " + testMaster + "\n" + cl + "}", "cluster", 3},
		{"cluster_token_file without cluster", nil, "mesos {\n master " + testMaster + "\n cluster_token_file /t\n}", "cluster_token_file", 3},
		{"cluster_ca_file without cluster", nil, "mesos {\n master " + testMaster + "\n cluster_ca_file /ca\n}", "cluster_ca_file", 3},
		{"cluster_ca_file without https", nil, "mesos {\n" + cl + " cluster_ca_file /ca\n}", "cluster_ca_file", 3},
		{"cluster_token_file with two files", nil, "mesos {\n" + cl + " cluster_token_file /a /b\n}", "cluster_token_file", 3},
		{"Mesos option without master", nil, "mesos {\n" + cl + " ttl 30\n}", "ttl", 3},
		{"Mesos credentials without master", nil, "mesos {\n" + cl + " token_file /t\n}", "token_file", 3},
		{"Mesos domain overlapping the l4lb zone", []string{"directory.:53"}, "mesos {\n master " + testMaster + "\n" + cl + "}", "cluster", 3},
		{"neither master nor cluster", nil, "mesos {\n api :8123\n}", "master", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.keys
			err := setup(c)
			if err == nil {
				t.Fatal("setup succeeded, want an error")
			}
			for _, want := range []string{tc.option, fmt.Sprintf("Testfile:%d ", tc.line), "plugin/mesos"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestClusterStartupErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	cl := " cluster https://127.0.0.1:9\n"
	tests := []struct {
		name, input, option string
		line                int
	}{
		{"token file missing", "mesos {\n" + cl + " cluster_token_file " + missing + "\n}", "cluster_token_file", 3},
		{"token file empty", "mesos {\n" + cl + " cluster_token_file " + empty + "\n}", "cluster_token_file", 3},
		{"CA file missing", "mesos {\n" + cl + " cluster_ca_file " + missing + "\n}", "cluster_ca_file", 3},
		{"CA file without certificates", "mesos {\n" + cl + " cluster_ca_file " + empty + "\n}", "cluster_ca_file", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(caddy.NewTestController("dns", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			err = p.start()
			if err == nil {
				_ = p.stop()
				t.Fatal("start succeeded, want an error")
			}
			for _, want := range []string{tc.option, fmt.Sprintf("Testfile:%d ", tc.line)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// The SOAs of the l4lb zone and its dclb alias: dcos-net's
// thisdcos.directory values (test.Case does not compare serials).
const (
	soaL4LB = "l4lb.thisdcos.directory. 5 IN SOA ns.spartan. support.mesosphere.com. 1700000000 60 180 86400 1"
	soaDCLB = "dclb.thisdcos.directory. 5 IN SOA ns.spartan. support.mesosphere.com. 1700000000 60 180 86400 1"
)

var l4lbCases = []test.Case{
	// A and AAAA of named VIPs, TTL 5 (spec dcos-net.md §1.3, §3.2).
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("mygroupmyapp.marathon.l4lb.thisdcos.directory. 5 IN A 198.18.128.7")}},
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("mygroupmyapp.marathon.l4lb.thisdcos.directory. 5 IN AAAA fd01:c::7")}},
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeANY, Answer: []dns.RR{
		test.A("mygroupmyapp.marathon.l4lb.thisdcos.directory. 5 IN A 198.18.128.7"),
		test.AAAA("mygroupmyapp.marathon.l4lb.thisdcos.directory. 5 IN AAAA fd01:c::7")}},
	{Qname: "api.hello-world.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("api.hello-world.marathon.l4lb.thisdcos.directory. 5 IN A 198.18.128.8")}},
	{Qname: "overlay-vip.hello-world.l4lb.thisdcos.directory.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("overlay-vip.hello-world.l4lb.thisdcos.directory. 5 IN AAAA fd01:c::9")}},
	// Mixed case: matched case-insensitively, owners in lower case.
	{Qname: "MyGroupMyApp.Marathon.L4LB.thisdcos.Directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("mygroupmyapp.marathon.l4lb.thisdcos.directory. 5 IN A 198.18.128.7")}},
	// The dclb alias, within the plugin's zones, has its own records.
	{Qname: "mygroupmyapp.marathon.dclb.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("mygroupmyapp.marathon.dclb.thisdcos.directory. 5 IN A 198.18.128.7")}},
	{Qname: "nothing.marathon.dclb.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaDCLB)}},

	// NODATA for the other type.
	{Qname: "api.hello-world.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "overlay-vip.hello-world.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soaL4LB)}},
	// Empty non-terminals: the frameworks of label.framework.
	{Qname: "marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "hello-world.l4lb.thisdcos.directory.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "hello-world.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "Marathon.L4LB.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaL4LB)}},

	// NXDOMAIN; orphaned VIPs (no backends) are gone, as in dcos-net.
	{Qname: "nothing.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "gone.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "x.mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "mygroupmyapp.l4lb.thisdcos.directory.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaL4LB)}},

	// SOA and NS at the apex, as dcos.thisdcos.directory's.
	{Qname: "l4lb.thisdcos.directory.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "L4LB.thisdcos.directory.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("l4lb.thisdcos.directory. 3600 IN NS ns.spartan.")}},
	{Qname: "l4lb.thisdcos.directory.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaL4LB)}},
	{Qname: "l4lb.thisdcos.directory.", Qtype: dns.TypeANY, Answer: []dns.RR{
		test.SOA(soaL4LB), test.NS("l4lb.thisdcos.directory. 3600 IN NS ns.spartan.")}},
	{Qname: "dclb.thisdcos.directory.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soaDCLB)}},
	{Qname: "mygroupmyapp.marathon.l4lb.thisdcos.directory.", Qtype: dns.TypeSOA, Ns: []dns.RR{test.SOA(soaL4LB)}},

	// The Mesos zones are still served beside it.
	{Qname: "leader.mesos.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("leader.mesos. 60 IN A 192.0.2.11")}},
	{Qname: "leader.dcos.thisdcos.directory.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("leader.dcos.thisdcos.directory. 5 IN A 192.0.2.11")}},
}

// l4lbPlugin returns a plugin parsed from l4lbCorefile with the Mesos zone
// of the operator-api.json capture and the l4lb zone of l4lbVIPs loaded.
func l4lbPlugin(tb testing.TB) *Mesos {
	tb.Helper()
	m := loadedPlugin(tb, l4lbCorefile, leaderStore(tb, "operator-api.json"))
	m.applyVIPs(l4lbVIPs)
	return m
}

func TestServeDNSL4LB(t *testing.T) {
	m := l4lbPlugin(t)
	for _, tc := range l4lbCases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			for _, tcp := range []bool{false, true} {
				resp := serve(t, m, tc.Msg(), tcp)
				checkCase(t, tc, resp)
				if !resp.Authoritative {
					t.Error("reply is not authoritative")
				}
			}
		})
	}
}

// TestServeDNSL4LBCached checks that l4lb replies come from their own reply
// cache, identical to the built ones, without evicting the Mesos zone's.
func TestServeDNSL4LBCached(t *testing.T) {
	m := l4lbPlugin(t)
	for _, tc := range append(slices.Clone(l4lbCases), handlerCases[0]) {
		for range 2 {
			ref := &wireWriter{ResponseWriter: test.ResponseWriter{}}
			r := tc.Msg()
			if _, err := m.ServeDNS(context.Background(), request.NewScrubWriter(r, ref), r); err != nil {
				t.Fatal(err)
			}
			checkCase(t, tc, ref.msg)
		}
	}
	if c := m.l4lbCache.Load(); c == nil || c.zone != m.l4lb.Load() || c.len() < 10 {
		t.Errorf("l4lb reply cache %+v, want one of the l4lb zone with the replies above", c)
	}
	if c := m.cache.Load(); c == nil || c.zone != m.Zone() || c.len() == 0 {
		t.Errorf("Mesos reply cache %+v, want one of the Mesos zone", c)
	}
	// A change of the VIPs drops the l4lb cache with its zone.
	vips := slices.Clone(l4lbVIPs)
	vips[0].OrphanedAt = time.Unix(1_700_000_100, 0)
	m.applyVIPs(vips)
	resp := serve(t, m, question("mygroupmyapp.marathon.l4lb.thisdcos.directory.", dns.TypeA), false)
	if resp.Rcode != dns.RcodeNameError {
		t.Errorf("orphaned VIP: %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
}

func TestServeDNSL4LBNotLoaded(t *testing.T) {
	m := loadedPlugin(t, l4lbCorefile, leaderStore(t, "operator-api.json"))
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	if m.Ready() {
		t.Fatal("Ready before the first l4lb zone")
	}
	for _, tc := range []struct {
		qname string
		want  int
	}{
		{"mygroupmyapp.marathon.l4lb.thisdcos.directory.", dns.RcodeServerFailure},
		{"l4lb.thisdcos.directory.", dns.RcodeServerFailure},
		{"x.dclb.thisdcos.directory.", dns.RcodeServerFailure},
		// Outside the l4lb zones served (thisdcos.global is not among
		// the plugin's zones).
		{"x.l4lb.thisdcos.global.", dns.RcodeRefused},
		{"x.other.thisdcos.directory.", dns.RcodeRefused},
	} {
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := m.ServeDNS(context.Background(), w, question(tc.qname, dns.TypeA))
		if err != nil || rcode != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.qname, dns.RcodeToString[rcode], err, dns.RcodeToString[tc.want])
		}
	}
	// The Mesos zone answers meanwhile.
	if resp := serve(t, m, question("leader.mesos.", dns.TypeA), false); len(resp.Answer) != 1 {
		t.Errorf("leader.mesos. before the l4lb zone: %v", resp)
	}
	m.applyVIPs(nil)
	if !m.Ready() {
		t.Fatal("not Ready after the first l4lb zone")
	}
	resp := serve(t, m, question("mygroupmyapp.marathon.l4lb.thisdcos.directory.", dns.TypeA), false)
	if resp.Rcode != dns.RcodeNameError {
		t.Errorf("empty l4lb zone: %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
}

// TestServeDNSClusterOnly checks a plugin with only the cluster source:
// Mesos names pass on, the l4lb zone answers.
func TestServeDNSClusterOnly(t *testing.T) {
	m := newPlugin(t, "mesos mesos thisdcos.directory {\n cluster "+testCluster+"\n}")
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	m.applyVIPs(l4lbVIPs)
	if !m.Ready() {
		t.Fatal("not Ready with the l4lb zone loaded")
	}
	for _, name := range []string{"leader.mesos.", "leader.dcos.thisdcos.directory."} {
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		if rcode, _ := m.ServeDNS(context.Background(), w, question(name, dns.TypeA)); rcode != dns.RcodeRefused {
			t.Errorf("%s: %s, want the next plugin's REFUSED", name, dns.RcodeToString[rcode])
		}
	}
	checkCase(t, l4lbCases[0], serve(t, m, l4lbCases[0].Msg(), false))
}

// clusterGauges are the cluster metrics of the instances collector, with
// their help.
var clusterGauges = map[string]string{
	"coredns_mesos_cluster_vips":                          "Number of named VIPs served in the l4lb zone (allocations that are not orphaned).",
	"coredns_mesos_cluster_zone_age_seconds":              "How long the l4lb zone may lag behind the cluster: 0 while the watch is connected, else the time since it disconnected.",
	"coredns_mesos_cluster_last_update_timestamp_seconds": "Unix time of the last l4lb zone rebuild.",
	"coredns_mesos_cluster_connected":                     "1 while the plugin follows a live watch stream of the cluster API, else 0.",
}

// checkClusterMetrics compares the cluster gauges of the instances
// collector with want, lines "name{labels} value" (those absent from want
// must not be exported).
func checkClusterMetrics(tb testing.TB, want string) {
	tb.Helper()
	var exp strings.Builder
	var names []string
	for name := range clusterGauges {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.Contains(want, name+"{") {
			continue
		}
		fmt.Fprintf(&exp, "# HELP %s %s\n# TYPE %s gauge\n", name, clusterGauges[name], name)
		for line := range strings.SplitSeq(want, "\n") {
			if strings.HasPrefix(line, name+"{") {
				exp.WriteString(line + "\n")
			}
		}
	}
	if err := testutil.CollectAndCompare(instances, strings.NewReader(exp.String()), names...); err != nil {
		tb.Error(err)
	}
}

// TestClusterLifecycle follows an instance with both sources through
// /readyz, Ready and the metrics: not ready until the first VIP set, the
// last l4lb zone kept with a growing age while the cluster API is
// unreachable, nothing left behind after stop.
func TestClusterLifecycle(t *testing.T) {
	clk := &clock{now: time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)}
	m := newPlugin(t, strings.Replace(l4lbCorefile, "listener", "api 127.0.0.1:0\n\tlistener", 1))
	m.now = clk.Now
	mesosSrc := &fakeSource{store: leaderStore(t, "operator-api.json")}
	mesosSrc.setStatus(true, clk.Now())
	vipSrc := &fakeVIPSource{updates: make(chan struct{}, 1)}
	m.newSource = func() (Source, error) { return mesosSrc, nil }
	m.newVIPSource = func() (VIPSource, error) { return vipSrc, nil }
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = m.stop()
		}
	}()
	labels := fmt.Sprintf(`server=%q,zone=%q`, m.metricLabels[0], m.metricLabels[1])

	eventually(t, "the Mesos zone", func() bool { return m.Zone() != nil })
	if m.Ready() {
		t.Fatal("ready before the first VIP set")
	}
	checkReadyz(t, m, http.StatusServiceUnavailable, "not ready: serial ")
	checkReadyz(t, m, http.StatusServiceUnavailable, "; no l4lb zone loaded yet, connecting to the cluster API")
	checkClusterMetrics(t, fmt.Sprintf("coredns_mesos_cluster_connected{%s} 0\n", labels))

	vipSrc.set(l4lbVIPs, SourceStatus{Connected: true, Since: clk.Now(), Upstream: "http://192.0.2.21:62080"})
	eventually(t, "the l4lb zone", m.Ready)
	checkCase(t, l4lbCases[0], serve(t, m, l4lbCases[0].Msg(), false))
	checkReadyz(t, m, http.StatusOK, "; l4lb serial ")
	checkReadyz(t, m, http.StatusOK, ", 3 VIPs, updated 2027-01-15T08:00:00Z, age 0s, watching http://192.0.2.21:62080")
	checkClusterMetrics(t, fmt.Sprintf(`coredns_mesos_cluster_connected{%[1]s} 1
coredns_mesos_cluster_last_update_timestamp_seconds{%[1]s} 1.8e+09
coredns_mesos_cluster_vips{%[1]s} 3
coredns_mesos_cluster_zone_age_seconds{%[1]s} 0
`, labels))

	// The cluster API goes away: the zone stays, its age grows.
	vipSrc.setStatus(SourceStatus{Since: clk.Now()})
	clk.Advance(90 * time.Second)
	checkCase(t, l4lbCases[0], serve(t, m, l4lbCases[0].Msg(), false))
	if !m.Ready() {
		t.Error("not ready while serving the last l4lb zone")
	}
	checkReadyz(t, m, http.StatusOK, "age 1m30s, disconnected from the cluster API for 1m30s")
	checkClusterMetrics(t, fmt.Sprintf(`coredns_mesos_cluster_connected{%[1]s} 0
coredns_mesos_cluster_last_update_timestamp_seconds{%[1]s} 1.8e+09
coredns_mesos_cluster_vips{%[1]s} 3
coredns_mesos_cluster_zone_age_seconds{%[1]s} 90
`, labels))

	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	checkClusterMetrics(t, "")
}

// fakeVIPSource is a VIPSource the test feeds.
type fakeVIPSource struct {
	updates chan struct{}

	mu     sync.Mutex
	vips   []v1.VIPAllocation
	synced bool
	status SourceStatus
}

func (s *fakeVIPSource) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (s *fakeVIPSource) Updates() <-chan struct{} { return s.updates }

func (s *fakeVIPSource) VIPs() ([]v1.VIPAllocation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vips), s.synced
}

func (s *fakeVIPSource) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *fakeVIPSource) set(vips []v1.VIPAllocation, st SourceStatus) {
	s.mu.Lock()
	s.vips, s.synced, s.status = vips, true, st
	s.mu.Unlock()
	select {
	case s.updates <- struct{}{}:
	default:
	}
}

func (s *fakeVIPSource) setStatus(st SourceStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
}
