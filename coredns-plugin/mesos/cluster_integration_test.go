package mesos_test

// The l4lb zone end to end with real parts only: a raft cluster
// (raftstoretest), the cluster API server (runtime/api) over loopback HTTP
// with a bearer token, and CoreDNS started from a Corefile using `cluster`,
// queried over UDP and TCP on loopback. Every wait polls with a deadline.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

func TestCoreDNSWithClusterAPI(t *testing.T) {
	cluster := raftstoretest.NewCluster(t, 1, raftstoretest.Options{
		Kinds: map[string]raftstore.ValidateFunc{vipalloc.KindVIP: vipalloc.ValidateVIP},
	})
	leader := cluster.Leader(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-cluster-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiServer, err := api.NewServer(api.ServerOptions{Store: leader.Store(), TokenFile: tokenFile, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(apiServer)
	apiURL := ts.URL
	t.Cleanup(func() { closeServer(ts) })

	put := func(v v1.VIPAllocation) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		leader.Apply(t, raftstore.Put{Kind: vipalloc.KindVIP, Key: v.Name, Value: b})
	}
	vip := v1.VIPAllocation{Name: "mygroupmyapp.marathon", Label: "/mygroup/myapp", Framework: "marathon",
		IP4: netip.MustParseAddr("198.18.128.7"), IP6: netip.MustParseAddr("fd01:c::7")}
	put(vip)

	httpAddr, metricsAddr := freeLoopbackPort(t), freeLoopbackPort(t)
	corefile := fmt.Sprintf(`.:0 {
	bind 127.0.0.1
	prometheus %s
	mesos thisdcos.directory {
		cluster %s
		cluster_token_file %s
		api %s
	}
}
`, metricsAddr, apiURL, tokenFile, httpAddr)
	inst := startCoreDNS(t, corefile)
	srv := inst.Servers()[0]
	udp, tcp := srv.LocalAddr().String(), srv.Addr().String()
	const name = "mygroupmyapp.marathon.l4lb.thisdcos.directory."

	// The VIP resolves over both transports, under the dclb alias too.
	for _, tr := range []struct{ net, addr string }{{"udp", udp}, {"tcp", tcp}} {
		waitAnswer(t, tr.net, tr.addr, name, dns.TypeA, "198.18.128.7")
		waitAnswer(t, tr.net, tr.addr, name, dns.TypeAAAA, "fd01:c::7")
		waitAnswer(t, tr.net, tr.addr, "MyGroupMyApp.Marathon.DCLB.thisdcos.directory.", dns.TypeA, "198.18.128.7")
		waitRcode(t, tr.net, tr.addr, "marathon.l4lb.thisdcos.directory.", dns.TypeA, dns.RcodeSuccess)
		waitRcode(t, tr.net, tr.addr, "other.marathon.l4lb.thisdcos.directory.", dns.TypeA, dns.RcodeNameError)
	}
	metric := func(name, value string) string {
		return fmt.Sprintf("%s{server=\"dns://127.0.0.1:0\",zone=\".\"} %s\n", name, value)
	}
	waitHTTP(t, "http://"+metricsAddr+"/metrics", metric("coredns_mesos_cluster_connected", "1"))
	waitHTTP(t, "http://"+metricsAddr+"/metrics", metric("coredns_mesos_cluster_vips", "1"))
	waitHTTP(t, "http://"+httpAddr+"/readyz", "ready: l4lb serial ")

	// Orphaned (no backends): the name goes, as in dcos-net; back when
	// backends return; gone when deleted.
	orphaned := vip
	orphaned.OrphanedAt = time.Now().UTC().Truncate(time.Second)
	put(orphaned)
	waitRcode(t, "udp", udp, name, dns.TypeA, dns.RcodeNameError)
	waitRcode(t, "tcp", tcp, name, dns.TypeAAAA, dns.RcodeNameError)
	put(vip)
	waitAnswer(t, "udp", udp, name, dns.TypeA, "198.18.128.7")
	leader.Apply(t, raftstore.Delete{Kind: vipalloc.KindVIP, Key: vip.Name})
	waitRcode(t, "udp", udp, name, dns.TypeA, dns.RcodeNameError)
	waitRcode(t, "tcp", tcp, name, dns.TypeAAAA, dns.RcodeNameError)
	waitRcode(t, "udp", udp, "marathon.l4lb.thisdcos.directory.", dns.TypeA, dns.RcodeNameError)

	// The API server goes away: the last snapshot is served, and its age
	// reported.
	put(vip)
	waitAnswer(t, "udp", udp, name, dns.TypeA, "198.18.128.7")
	closeServer(ts)
	waitHTTP(t, "http://"+metricsAddr+"/metrics", metric("coredns_mesos_cluster_connected", "0"))
	waitHTTP(t, "http://"+httpAddr+"/readyz", "disconnected from the cluster API for ")
	waitAnswer(t, "udp", udp, name, dns.TypeA, "198.18.128.7")
	waitAnswer(t, "tcp", tcp, name, dns.TypeAAAA, "fd01:c::7")
	checkHTTP(t, "http://"+httpAddr+"/readyz", "ready: l4lb serial ")

	// Changes made meanwhile arrive once it is back on the same address.
	other := v1.VIPAllocation{Name: "api.hello-world.marathon", Label: "/api.hello-world", Framework: "marathon",
		IP4: netip.MustParseAddr("198.18.128.8")}
	put(other)
	ts = restartServer(t, apiServer, strings.TrimPrefix(apiURL, "http://"))
	t.Cleanup(func() { closeServer(ts) })
	waitAnswer(t, "udp", udp, "api.hello-world.marathon.l4lb.thisdcos.directory.", dns.TypeA, "198.18.128.8")
	waitAnswer(t, "tcp", tcp, name, dns.TypeA, "198.18.128.7")
	waitHTTP(t, "http://"+metricsAddr+"/metrics", metric("coredns_mesos_cluster_connected", "1"))
	waitHTTP(t, "http://"+metricsAddr+"/metrics", metric("coredns_mesos_cluster_vips", "2"))
}

// closeServer stops an httptest server, ending its watch streams first
// (Close waits for running requests).
func closeServer(ts *httptest.Server) {
	ts.CloseClientConnections()
	ts.Close()
}

// restartServer serves h on addr again, once the port is free.
func restartServer(t *testing.T, h http.Handler, addr string) *httptest.Server {
	t.Helper()
	var ln net.Listener
	poll(t, "the API address to be free again", func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	ts := httptest.NewUnstartedServer(h)
	_ = ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	return ts
}

// waitHTTP polls url until its body contains want.
func waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	poll(t, fmt.Sprintf("GET %s to contain %q", url, want), func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(body), want), string(body)
	})
}
