package mesos_test

// An end-to-end test with real parts only: the simulated Mesos master
// (runtime/mesossim) replaying a real capture over loopback HTTP, and a
// CoreDNS server started in-process from a Corefile with the mesos plugin,
// queried over UDP and TCP on loopback. Every wait polls with a deadline.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	// The plugins of the test Corefile.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/mesosnet/mesosnet/coredns-plugin/mesos"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

// e2eWait bounds every wait of the test.
const e2eWait = 20 * time.Second

func init() {
	// mesosnet-coredns's order: mesos right after hosts.
	if !slices.Contains(dnsserver.Directives, "mesos") {
		i := slices.Index(dnsserver.Directives, "hosts")
		dnsserver.Directives = slices.Insert(slices.Clone(dnsserver.Directives), i+1, "mesos")
	}
}

// corefileInput is a Corefile for caddy.Start.
type corefileInput string

func (c corefileInput) Body() []byte       { return []byte(c) }
func (c corefileInput) Path() string       { return "Corefile" }
func (c corefileInput) ServerType() string { return "dns" }

func TestCoreDNSWithSimulatedMesos(t *testing.T) {
	sc, err := mesossim.LoadScenario(fixtures.Path(t, statetest.Rel("operator-api.json")))
	if err != nil {
		t.Fatal(err)
	}
	sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, HeartbeatInterval: 100 * time.Millisecond})
	apiAddr, metricsAddr := freeLoopbackPort(t), freeLoopbackPort(t)
	corefile := fmt.Sprintf(`.:0 {
	bind 127.0.0.1
	prometheus %s
	mesos mesos thisdcos.directory {
		master %s
		ip_sources host netinfo
		api %s
	}
}
`, metricsAddr, ts.URL, apiAddr)
	inst := startCoreDNS(t, corefile)
	srv := inst.Servers()[0]
	udp, tcp := srv.LocalAddr().String(), srv.Addr().String()

	// The replayed tasks resolve over both transports. With ip_sources
	// host netinfo, a task's A record is its agent's IP (spec mesos-dns.md
	// §0.1) and its AAAA its container's IPv6.
	for _, tr := range []struct{ net, addr string }{{"udp", udp}, {"tcp", tcp}} {
		waitAnswer(t, tr.net, tr.addr, "docker-on-ipv6.marathon.mesos.", dns.TypeA, "172.17.0.4")
		waitAnswer(t, tr.net, tr.addr, "docker-on-ipv6.marathon.mesos.", dns.TypeAAAA, "fd01:b::2:8000:0:2")
		waitAnswer(t, tr.net, tr.addr, "pod-on-dcos.marathon.containerip.dcos.thisdcos.directory.", dns.TypeA, "9.0.1.3")
		waitAnswer(t, tr.net, tr.addr, "_pod-on-dcos._tcp.marathon.mesos.", dns.TypeSRV, "8080")
		waitAnswer(t, tr.net, tr.addr, "leader.mesos.", dns.TypeA, "127.0.0.1")
	}
	checkHTTP(t, "http://"+apiAddr+"/readyz", "ready: serial")
	for _, metric := range []string{
		"coredns_mesos_source_connected{server=\"dns://127.0.0.1:0\",zone=\".\"} 1",
		"coredns_mesos_zone_age_seconds{server=\"dns://127.0.0.1:0\",zone=\".\"} 0",
		"coredns_mesos_zone_records{",
		"coredns_mesos_last_update_timestamp_seconds{",
		"coredns_mesos_zone_rebuild_duration_seconds_count{",
	} {
		checkHTTP(t, "http://"+metricsAddr+"/metrics", metric)
	}
	var hosts []zone.HostRecord
	getJSON(t, "http://"+apiAddr+"/v1/hosts/slave.mesos", &hosts)
	if len(hosts) != 2 {
		t.Errorf("/v1/hosts/slave.mesos: %v, want the two agents", hosts)
	}

	// A task launched appears, and goes when it is killed.
	task, err := sim.LaunchTask(mesossim.TaskSpec{
		Name: "e2e-web", Framework: "marathon", Container: "MESOS", Network: "container",
		IPs:   []string{"198.19.7.7"},
		Ports: []mesossim.PortSpec{{Name: "http", Protocol: "tcp", ContainerPort: 8080}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, "udp", udp, "e2e-web.marathon.containerip.dcos.thisdcos.directory.", dns.TypeA, "198.19.7.7")
	waitAnswer(t, "tcp", tcp, "_http._e2e-web._tcp.marathon.mesos.", dns.TypeSRV, "8080")
	if _, err := sim.KillTask(task.TaskID.Value, task.FrameworkID.Value); err != nil {
		t.Fatal(err)
	}
	waitRcode(t, "udp", udp, "e2e-web.marathon.containerip.dcos.thisdcos.directory.", dns.TypeA, dns.RcodeNameError)
	waitRcode(t, "tcp", tcp, "_http._e2e-web._tcp.marathon.mesos.", dns.TypeSRV, dns.RcodeNameError)

	// A Corefile reload starts a new instance beside the old one (same
	// DNS and API listeners, same metric labels) and then stops the old.
	restarted, err := inst.Restart(corefileInput(corefile))
	if err != nil {
		t.Fatalf("reload CoreDNS: %v", err)
	}
	inst = restarted
	srv = inst.Servers()[0]
	udp = srv.LocalAddr().String()
	waitAnswer(t, "udp", udp, "docker-on-ipv6.marathon.mesos.", dns.TypeAAAA, "fd01:b::2:8000:0:2")
	checkHTTP(t, "http://"+apiAddr+"/readyz", "ready: serial")
}

// freeLoopbackPort returns a loopback address whose port was free a moment
// ago.
func freeLoopbackPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// exchange sends one query.
func exchange(network, addr, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	r.SetEdns0(4096, false)
	resp, _, err := c.Exchange(r, addr)
	return resp, err
}

// waitAnswer polls until an answer record of name contains want.
func waitAnswer(t *testing.T, network, addr, name string, qtype uint16, want string) {
	t.Helper()
	poll(t, fmt.Sprintf("%s %s over %s to contain %q", name, dns.TypeToString[qtype], network, want), func() (bool, string) {
		resp, err := exchange(network, addr, name, qtype)
		if err != nil {
			return false, err.Error()
		}
		for _, rr := range resp.Answer {
			if strings.Contains(rr.String(), want) {
				return resp.Authoritative, resp.String()
			}
		}
		return false, resp.String()
	})
}

// waitRcode polls until the reply to name has rcode.
func waitRcode(t *testing.T, network, addr, name string, qtype uint16, rcode int) {
	t.Helper()
	poll(t, fmt.Sprintf("%s %s over %s to be %s", name, dns.TypeToString[qtype], network, dns.RcodeToString[rcode]), func() (bool, string) {
		resp, err := exchange(network, addr, name, qtype)
		if err != nil {
			return false, err.Error()
		}
		return resp.Rcode == rcode, resp.String()
	})
}

// poll calls f until it reports done or e2eWait passes.
func poll(t *testing.T, what string, f func() (done bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done, last := f()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last:\n%s", what, last)
		}
		<-tick.C
	}
}

// checkHTTP fetches url and checks that the body contains want.
func checkHTTP(t *testing.T, url, want string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("GET %s: %d %q, want 200 with %q", url, resp.StatusCode, body, want)
	}
}

// getJSON decodes the body of a GET.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// startCoreDNS starts an in-process CoreDNS server with corefile and stops it
// when the test ends.
func startCoreDNS(tb testing.TB, corefile string) *caddy.Instance {
	tb.Helper()
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(corefileInput(corefile))
	if err != nil {
		tb.Fatalf("start CoreDNS: %v", err)
	}
	tb.Cleanup(func() {
		// Stop closes the listeners; the plugins stop in the shutdown
		// callbacks, as in a CoreDNS process that exits.
		if err := inst.Stop(); err != nil {
			tb.Errorf("stop CoreDNS: %v", err)
		}
		if errs := inst.ShutdownCallbacks(); len(errs) > 0 {
			tb.Errorf("shut down CoreDNS: %v", errs)
		}
	})
	return inst
}
