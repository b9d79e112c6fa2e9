package master_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/ctl"
	"github.com/mesosnet/mesosnet/runtime/master"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// register posts a registration through cl, retrying while the cluster has
// no leader.
func register(t *testing.T, cl *api.Client, req v1.AgentRegistration) v1.AgentRecord {
	t.Helper()
	var rec v1.AgentRecord
	var err error
	raftstoretest.WaitFor(t, "registration of "+req.IP.String(), func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err = cl.Do(ctx, http.MethodPost, "/v1/agents", req, &rec)
		return err == nil
	})
	return rec
}

func TestRegisterThroughFollower(t *testing.T) {
	c := newTestCluster(t, 3, clusterOptions{})
	l := c.leader()
	follower := (l + 1) % 3
	// Talk to the follower only: it forwards to the leader.
	cl, err := api.NewClient(api.ClientOptions{URLs: c.urls(follower)[:1], Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	rec := register(t, cl, v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.1"), Hostname: "agent-1"})
	want := v1.AgentAllocation{
		AgentIP: netip.MustParseAddr("198.18.32.1"),
		VTEPIP:  netip.MustParsePrefix("198.18.16.1/20"),
		VTEPMAC: v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x01},
	}
	if diff := cmp.Diff(want.VTEPIP, rec.VTEPIP, cmpNet); diff != "" {
		t.Errorf("VTEP IP (-want +got):\n%s", diff)
	}
	if rec.VTEPMAC != want.VTEPMAC {
		t.Errorf("VTEP MAC %s, want %s", rec.VTEPMAC, want.VTEPMAC)
	}
	if len(rec.Overlays) == 0 || rec.Overlays[0].Subnet != netip.MustParsePrefix("198.19.0.0/24") {
		t.Errorf("overlays %+v, want the first /24 of 198.19.0.0/16 first", rec.Overlays)
	}
	// Again, through the leader this time: the same allocation.
	again := register(t, c.client(l), v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.1"), Hostname: "agent-1"})
	if diff := cmp.Diff(rec.AgentAllocation, again.AgentAllocation, cmpNet); diff != "" {
		t.Errorf("re-registration changed the allocation (-first +again):\n%s", diff)
	}

	// Every master serves the record from its replica.
	for i := range c.masters {
		raftstoretest.WaitFor(t, "agent on "+c.masters[i].peer.ID, func() bool {
			_, ok := c.master(i).Store().Get(subnetalloc.KindAgent, "198.18.32.1")
			return ok
		})
		var agents []v1.AgentRecord
		one, err := api.NewClient(api.ClientOptions{URLs: c.urls(i)[:1], Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		if err := one.Do(t.Context(), http.MethodGet, "/v1/agents", nil, &agents); err != nil {
			t.Fatalf("GET /v1/agents on %s: %v", c.masters[i].peer.ID, err)
		}
		if len(agents) != 1 || agents[0].AgentIP != rec.AgentIP || agents[0].Hostname != "agent-1" {
			t.Errorf("GET /v1/agents on %s: %+v", c.masters[i].peer.ID, agents)
		}
	}

	// Bad bodies are 400 and change nothing.
	for _, body := range []any{
		map[string]any{"ip": "not-an-ip"},
		map[string]any{"ip": "198.18.32.2", "color": "blue"},
		map[string]any{},
	} {
		err := cl.Do(t.Context(), http.MethodPost, "/v1/agents", body, nil)
		var se *api.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /v1/agents %v: %v, want 400", body, err)
		}
	}
	// Two objects in one body: the second is not silently dropped.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.urls(follower)[0]+"/v1/agents",
		strings.NewReader(`{"ip":"198.18.32.2"}{"ip":"198.18.32.3"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /v1/agents with two objects: %d, want 400", resp.StatusCode)
	}
	if n := len(c.master(l).Store().List(subnetalloc.KindAgent)); n != 1 {
		t.Errorf("%d agent records after bad requests, want 1", n)
	}

	// Operator delete through a follower, then it is gone everywhere.
	if err := cl.Do(t.Context(), http.MethodDelete, "/v1/agents/198.18.32.1", nil, nil); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	err = cl.Do(t.Context(), http.MethodDelete, "/v1/agents/198.18.32.1", nil, nil)
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %v, want 404", err)
	}
}

func TestUnauthorizedChangesNothing(t *testing.T) {
	c := newTestCluster(t, 1, clusterOptions{})
	c.leader()
	cl, err := api.NewClient(api.ClientOptions{URLs: c.urls(0), Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.1")}},
		{http.MethodDelete, "/v1/agents/198.18.32.1", nil},
		{http.MethodGet, "/v1/agents", nil},
		{http.MethodGet, "/v1/vips", nil},
		{http.MethodGet, "/v1/status", nil},
		{http.MethodPost, "/v1/raft/peers", raftstore.Peer{ID: "evil", RaftAddress: "127.0.0.1:1", APIAddress: "127.0.0.1:2"}},
		{http.MethodPost, "/raft/apply", nil},
	} {
		err := cl.Do(t.Context(), r.method, r.path, r.body, nil)
		var se *api.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %v, want 401", r.method, r.path, err)
		}
	}
	if n := len(c.master(0).Store().List(subnetalloc.KindAgent)); n != 0 {
		t.Errorf("%d agents after unauthorised requests", n)
	}
	servers, err := c.master(0).Store().Servers()
	if err != nil || len(servers) != 1 {
		t.Errorf("servers %v, %v: want the one master", servers, err)
	}
	// Health and metrics need no token.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(c.urls(0)[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// ctlRun runs mesosnetctl against the cluster.
// command is the command's words (e.g. "agent delete"); the connection
// flags go after them, before args.
func ctlRun(t *testing.T, c *testCluster, command string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(append(strings.Fields(command), "--api", strings.Join(c.urls(0), ","), "--api-token-file", c.tokenFile), args...)
	if code := ctl.Main(t.Context(), args, &ctl.Env{Stdout: &out, Stderr: &errb}); code != 0 {
		return out.String(), errors.New(errb.String())
	}
	return out.String(), nil
}

func TestMesosnetctlCluster(t *testing.T) {
	c := newTestCluster(t, 3, clusterOptions{})
	c.leader()
	for i := range 3 {
		register(t, c.client(i), v1.AgentRegistration{IP: netip.AddrFrom4([4]byte{198, 18, 32, byte(i + 1)})})
	}
	// mesosnetctl reads from the first master, maybe a follower that has
	// not applied the last registration yet: it asks for a consistent
	// read, so it sees all three at once.
	out, err := ctlRun(t, c, "agents")
	if err != nil {
		t.Fatalf("agents: %v", err)
	}
	for _, want := range []string{"AGENT IP", "198.18.32.1", "198.18.16.1/20", "70:b3:d5:12:10:03"} {
		if !strings.Contains(out, want) {
			t.Errorf("agents output lacks %q:\n%s", want, out)
		}
	}
	out, err = ctlRun(t, c, "subnets", "-o", "json")
	if err != nil {
		t.Fatalf("subnets: %v", err)
	}
	var subnets []struct {
		AgentIP netip.Addr   `json:"agentIP"`
		Overlay string       `json:"overlay"`
		Subnet  netip.Prefix `json:"subnet"`
	}
	if err := json.Unmarshal([]byte(out), &subnets); err != nil {
		t.Fatalf("subnets -o json: %v\n%s", err, out)
	}
	seen := map[netip.Prefix]bool{}
	for _, s := range subnets {
		if s.Subnet.IsValid() {
			if seen[s.Subnet] {
				t.Errorf("subnet %s twice", s.Subnet)
			}
			seen[s.Subnet] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d IPv4 subnets, want 3:\n%s", len(seen), out)
	}
	out, err = ctlRun(t, c, "status")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, want := range []string{"raft leader", "masters", "agents"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, err = ctlRun(t, c, "raft peers")
	if err != nil {
		t.Fatalf("raft peers: %v", err)
	}
	if strings.Count(out, "leader") != 1 || strings.Count(out, "follower") != 2 {
		t.Errorf("raft peers: want one leader and two followers:\n%s", out)
	}
	if _, err := ctlRun(t, c, "agent delete", "198.18.32.2"); err != nil {
		t.Fatalf("agent delete: %v", err)
	}
	raftstoretest.WaitFor(t, "the deleted agent gone", func() bool {
		_, ok := c.master(0).Store().Get(subnetalloc.KindAgent, "198.18.32.2")
		return !ok
	})
}

func flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("mesosnet-master", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	overlapping := filepath.Join(t.TempDir(), "overlay.json")
	if err := os.WriteFile(overlapping, []byte(`{"vtep_subnet":"198.18.16.0/20","vtep_mac_oui":"70:B3:D5:00:00:00",
		"overlays":[{"name":"a","subnet":"198.19.0.0/16","prefix":24},{"name":"b","subnet":"198.19.128.0/17","prefix":24}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--id: required"},
		{[]string{"--id", "m1", "--vip-range", "11.0.0.0/33"}, "--vip-range"},
		{[]string{"--id", "m1", "--vip-range6", "11.0.0.0/8"}, "--vip-range6"},
		{[]string{"--id", "m1", "--peer", "m2,a:1,b:2"}, "--peer: this master"},
		{[]string{"--id", "m1", "--overlay-config", "/nonexistent.json"}, "--overlay-config"},
		{[]string{"--id", "m1", "--token-file", "/nonexistent"}, "--token-file"},
		{[]string{"--id", "m1", "--overlay-config", overlapping}, "overlap"},
		{[]string{"--id", "m1", "--removed-agent-grace", "-1s"}, "--removed-agent-grace"},
		{[]string{"--id", "m1", "--raft-heartbeat-timeout", "1ms"}, "--raft-heartbeat-timeout"},
	} {
		fs := flagSet()
		f := master.NewFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			if !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "--")) {
				t.Errorf("%q: parse error %v, want it to name %s", tc.args, err, tc.want)
			}
			continue
		}
		_, err := f.Config()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestTLS runs the cluster API and raft over mutual TLS: a registration
// through a follower is forwarded to the leader over TLS, and a client
// without a certificate gets nowhere.
func TestTLS(t *testing.T) {
	c := newTestCluster(t, 3, clusterOptions{tls: raftstoretest.NewTLSConfigs(t)})
	l := c.leader()
	follower := (l + 1) % 3
	cl, err := api.NewClient(api.ClientOptions{URLs: c.urls(follower)[:1], Token: testToken, HTTPClient: c.httpClient()})
	if err != nil {
		t.Fatal(err)
	}
	rec := register(t, cl, v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.7")})
	if rec.VTEPIP != netip.MustParsePrefix("198.18.16.1/20") {
		t.Errorf("VTEP IP %s, want 198.18.16.1/20", rec.VTEPIP)
	}
	plain, err := api.NewClient(api.ClientOptions{URLs: c.urls(follower)[:1], Token: testToken,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Do(t.Context(), http.MethodGet, "/v1/agents", nil, &[]v1.AgentRecord{}); err == nil {
		t.Error("a client without the CA and a certificate was served")
	}
}

// TestRaftPeersAddRemove grows a 3-master cluster to 4 with mesosnetctl,
// checks the new master replicates, then removes it again.
func TestRaftPeersAddRemove(t *testing.T) {
	c := newTestCluster(t, 3, clusterOptions{})
	c.leader()
	register(t, c.client(0), v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.1")})
	j := c.addJoiner()
	p := c.masters[j].peer
	out, err := ctlRun(t, c, "raft peers add", "--id", p.ID, "--raft-address", p.RaftAddress, "--api-address", p.APIAddress)
	if err != nil {
		t.Fatalf("raft peers add: %v (%s)", err, out)
	}
	raftstoretest.WaitFor(t, "the new master to replicate the agent", func() bool {
		_, ok := c.master(j).Store().Get(subnetalloc.KindAgent, "198.18.32.1")
		return ok
	})
	// mesosnetctl asks the first master, maybe a follower that learns the
	// new configuration a moment after the leader.
	raftstoretest.WaitFor(t, "raft peers to list four servers", func() bool {
		out, err = ctlRun(t, c, "raft peers")
		return err == nil && strings.Contains(out, p.ID) && strings.Count(out, "follower")+strings.Count(out, "leader") == 4
	})
	if out, err := ctlRun(t, c, "raft peers remove", p.ID); err != nil {
		t.Fatalf("raft peers remove: %v (%s)", err, out)
	}
	raftstoretest.WaitFor(t, "three servers again", func() bool {
		servers, err := c.master(c.leader()).Store().Servers()
		return err == nil && len(servers) == 3
	})
	// Adding a peer with a bad address is refused, naming it.
	_, err = ctlRun(t, c, "raft peers add", "--id", "m9", "--raft-address", "nowhere", "--api-address", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("raft peers add with a bad address: %v, want an error naming it", err)
	}
}

// TestVIPsETag: GET /v1/vips carries the raft index as its entity tag, so
// a poller gets 304 until the state changes.
func TestVIPsETag(t *testing.T) {
	c := newTestCluster(t, 1, clusterOptions{})
	c.leader()
	get := func(etag string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.urls(0)[0]+"/v1/vips", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	// A new leader's first entries (barriers) move the index for a moment:
	// wait until two reads agree.
	var etag string
	raftstoretest.WaitFor(t, "a 304 for the last ETag", func() bool {
		code, e := get("")
		if code != http.StatusOK || e == "" {
			t.Fatalf("GET /v1/vips: %d, ETag %q; want 200 with an ETag", code, e)
		}
		etag = e
		code, again := get(etag)
		return code == http.StatusNotModified && again == etag
	})
	register(t, c.client(0), v1.AgentRegistration{IP: netip.MustParseAddr("198.18.32.1")})
	if code, next := get(etag); code != http.StatusOK || next == etag {
		t.Errorf("GET /v1/vips after a change: %d, ETag %q (was %q); want 200 with a new one", code, next, etag)
	}
}
