package ctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// EnvAPI names the environment variable holding the default --api.
const EnvAPI = "MESOSNET_API"

// EnvTokenFile names the environment variable holding the default
// --api-token-file.
const EnvTokenFile = "MESOSNET_TOKEN_FILE"

// clusterFlags are the connection flags of the commands that talk to the
// mesosnet masters.
type clusterFlags struct {
	urls, tokenFile, caFile string
	timeout                 time.Duration
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	f := &clusterFlags{}
	def := os.Getenv(EnvAPI)
	if def == "" {
		def = "http://127.0.0.1:62080"
	}
	fs.StringVar(&f.urls, "api", def, "comma-separated mesosnet-master API URLs, tried in order (default from $"+EnvAPI+")")
	fs.StringVar(&f.tokenFile, "api-token-file", os.Getenv(EnvTokenFile), "file holding the cluster API bearer token (default from $"+EnvTokenFile+")")
	fs.StringVar(&f.caFile, "api-ca-file", "", "PEM CA bundle for https masters")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of the command")
	return f
}

func (f *clusterFlags) client() (*api.Client, error) {
	token, err := readSecret("api-token-file", f.tokenFile)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{}
	if f.caFile != "" {
		tlsCfg, err := caConfig(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--api-ca-file: %w", err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	}
	var urls []string
	for _, u := range strings.Split(f.urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: --api: no URL", ErrUsage)
	}
	return api.NewClient(api.ClientOptions{URLs: urls, Token: token, HTTPClient: hc})
}

// get runs one GET against the masters into out.
func (f *clusterFlags) get(ctx context.Context, path string, out any) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// clusterStatus is the part of the master's GET /v1/status shown here.
type clusterStatus struct {
	ID           string             `json:"id"`
	Leader       raftstore.Peer     `json:"leader"`
	Leading      bool               `json:"leading"`
	LeadingSince time.Time          `json:"leadingSince"`
	Revision     uint64             `json:"revision"`
	Servers      []raftstore.Server `json:"servers"`
	Mesos        *struct {
		Connected bool   `json:"connected"`
		Leader    string `json:"leader"`
		Tasks     int    `json:"tasks"`
		Agents    int    `json:"agents"`
	} `json:"mesos,omitempty"`
	Counts map[string]int `json:"counts"`
}

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("status", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var st clusterStatus
	if err := cf.get(ctx, "/v1/status", &st); err != nil {
		return err
	}
	// The leader's status holds the Mesos view: ask it when another master
	// answered.
	if !st.Leading && st.Leader.APIAddress != "" {
		var ls clusterStatus
		c := *cf
		c.urls = leaderURL(cf.urls, st.Leader.APIAddress)
		if err := c.get(ctx, "/v1/status", &ls); err == nil && ls.Leading {
			st.Mesos = ls.Mesos
		}
	}
	if *out == "json" {
		return out.write(env.Stdout, st, nil, nil)
	}
	leader := st.Leader.ID
	if leader == "" {
		leader = "none"
	}
	rows := [][]string{
		{"answered by", st.ID},
		{"raft leader", leader + " " + st.Leader.APIAddress},
		{"revision", strconv.FormatUint(st.Revision, 10)},
		{"masters", strconv.Itoa(len(st.Servers))},
		{"agents", strconv.Itoa(st.Counts["agent"])},
		{"tasks", strconv.Itoa(st.Counts["task"])},
		{"vips", strconv.Itoa(st.Counts["vip"])},
	}
	if st.Mesos != nil {
		rows = append(rows, []string{"mesos", fmt.Sprintf("connected=%t leader=%s tasks=%d agents=%d",
			st.Mesos.Connected, st.Mesos.Leader, st.Mesos.Tasks, st.Mesos.Agents)})
	} else {
		rows = append(rows, []string{"mesos", "unknown (the leader did not report)"})
	}
	return out.write(env.Stdout, st, []string{"FIELD", "VALUE"}, rows)
}

// leaderURL is the URL of the leader's API, with the scheme of the first
// configured URL.
func leaderURL(urls, apiAddress string) string {
	scheme := "http"
	if u, err := url.Parse(strings.TrimSpace(strings.Split(urls, ",")[0])); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	return scheme + "://" + apiAddress
}

func runAgents(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("agents", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var agents []v1.AgentRecord
	if err := cf.get(ctx, "/v1/agents?consistent", &agents); err != nil {
		return err
	}
	rows := make([][]string, 0, len(agents))
	for _, a := range agents {
		removed := "-"
		if !a.RemovedAt.IsZero() {
			removed = a.RemovedAt.UTC().Format(time.RFC3339)
		}
		host, mesosID := a.Hostname, a.MesosAgentID
		if host == "" {
			host = "-"
		}
		if mesosID == "" {
			mesosID = "-"
		}
		rows = append(rows, []string{addr(a.AgentIP), host, prefix(a.VTEPIP), prefix(a.VTEPIP6), a.VTEPMAC.String(),
			strconv.Itoa(len(a.Overlays)), mesosID, removed})
	}
	return out.write(env.Stdout, agents,
		[]string{"AGENT IP", "HOSTNAME", "VTEP IP", "VTEP IP6", "VTEP MAC", "OVERLAYS", "MESOS AGENT", "REMOVED"}, rows)
}

// subnetRow is one row of `mesosnetctl subnets`.
type subnetRow struct {
	AgentIP       netip.Addr   `json:"agentIP"`
	Overlay       string       `json:"overlay"`
	Subnet        netip.Prefix `json:"subnet,omitzero"`
	Subnet6       netip.Prefix `json:"subnet6,omitzero"`
	MesosBridge   v1.Bridge    `json:"mesosBridge,omitzero"`
	DockerBridge  v1.Bridge    `json:"dockerBridge,omitzero"`
	MesosBridge6  v1.Bridge    `json:"mesosBridge6,omitzero"`
	DockerBridge6 v1.Bridge    `json:"dockerBridge6,omitzero"`
}

func runSubnets(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("subnets", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	overlay := fs.String("overlay", "", "only this overlay")
	if err := parse(fs, args); err != nil {
		return err
	}
	var agents []v1.AgentRecord
	if err := cf.get(ctx, "/v1/agents?consistent", &agents); err != nil {
		return err
	}
	var subnets []subnetRow
	var rows [][]string
	for _, a := range agents {
		for _, o := range a.Overlays {
			if *overlay != "" && o.Name != *overlay {
				continue
			}
			subnets = append(subnets, subnetRow{a.AgentIP, o.Name, o.Subnet, o.Subnet6,
				o.MesosBridge, o.DockerBridge, o.MesosBridge6, o.DockerBridge6})
			rows = append(rows, []string{addr(a.AgentIP), o.Name, prefix(o.Subnet), prefix(o.Subnet6),
				bridges(o.MesosBridge, o.MesosBridge6), bridges(o.DockerBridge, o.DockerBridge6)})
		}
	}
	if subnets == nil {
		subnets = []subnetRow{}
	}
	return out.write(env.Stdout, subnets, []string{"AGENT IP", "OVERLAY", "SUBNET", "SUBNET6", "MESOS BRIDGE", "DOCKER BRIDGE"}, rows)
}

func bridges(b4, b6 v1.Bridge) string {
	var parts []string
	for _, b := range []v1.Bridge{b4, b6} {
		if b.Name != "" {
			parts = append(parts, b.Name+" "+b.Prefix.String())
		}
	}
	if parts == nil {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func prefix(p netip.Prefix) string {
	if !p.IsValid() {
		return "-"
	}
	return p.String()
}

func runVIPs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("vips", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var services []v1.VIPService
	if err := cf.get(ctx, "/v1/vips?consistent", &services); err != nil {
		return err
	}
	rows := make([][]string, 0, len(services))
	for _, s := range services {
		backends := make([]string, len(s.Backend))
		for i, b := range s.Backend {
			backends[i] = netip.AddrPortFrom(b.IP, b.Port).String()
			if b.Weight == 0 {
				backends[i] += "(drain)"
			}
		}
		name := s.Name
		if name == "" {
			name = "-"
		}
		bs := strings.Join(backends, ",")
		if bs == "" {
			bs = "-"
		}
		rows = append(rows, []string{s.VIP, string(s.Protocol), netip.AddrPortFrom(s.IP, s.Port).String(), name, bs})
	}
	return out.write(env.Stdout, services, []string{"VIP", "PROTOCOL", "ADDRESS", "NAME", "BACKENDS"}, rows)
}

func runTasks(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("tasks", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var tasks []v1.Task
	if err := cf.get(ctx, "/v1/tasks?consistent", &tasks); err != nil {
		return err
	}
	rows := make([][]string, 0, len(tasks))
	for _, t := range tasks {
		rows = append(rows, taskRow(t))
	}
	return out.write(env.Stdout, tasks, taskHeader, rows)
}

func runRaftPeers(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("raft peers", env)
	cf, out := addClusterFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var servers []raftstore.Server
	if err := cf.get(ctx, "/v1/raft/peers", &servers); err != nil {
		return err
	}
	rows := make([][]string, 0, len(servers))
	for _, s := range servers {
		role := "follower"
		switch {
		case s.Leader:
			role = "leader"
		case !s.Voter:
			role = "nonvoter"
		}
		rows = append(rows, []string{s.ID, s.RaftAddress, s.APIAddress, role})
	}
	return out.write(env.Stdout, servers, []string{"ID", "RAFT ADDRESS", "API ADDRESS", "ROLE"}, rows)
}

func runRaftPeersAdd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("raft peers add", env)
	cf := addClusterFlags(fs)
	var p raftstore.Peer
	fs.StringVar(&p.ID, "id", "", "the new master's raft server ID (required)")
	fs.StringVar(&p.RaftAddress, "raft-address", "", "its raft address host:port (required)")
	fs.StringVar(&p.APIAddress, "api-address", "", "its API address host:port (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if p.ID == "" || p.RaftAddress == "" || p.APIAddress == "" {
		return fmt.Errorf("%w: --id, --raft-address and --api-address are required", ErrUsage)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if err := c.Do(ctx, http.MethodPost, "/v1/raft/peers", p, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "added voter %s (raft %s, api %s)\n", p.ID, p.RaftAddress, p.APIAddress)
	return err
}

func runRaftPeersRemove(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("raft peers remove", env)
	cf := addClusterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want exactly one server ID", ErrUsage)
	}
	id := fs.Arg(0)
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if err := c.Do(ctx, http.MethodDelete, "/v1/raft/peers/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "removed server %s\n", id)
	return err
}

func runAgentDelete(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("agent delete", env)
	cf := addClusterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: want the IPs of the agents to delete", ErrUsage)
	}
	var ips []netip.Addr
	for _, a := range fs.Args() {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("%w: agent IP %q: %v", ErrUsage, a, err)
		}
		ips = append(ips, ip)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	for _, ip := range ips {
		if err := c.Do(ctx, http.MethodDelete, "/v1/agents/"+ip.String(), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted agent %s and released its allocation\n", ip)
	}
	return nil
}

// caConfig returns a TLS configuration trusting the PEM bundle in path.
func caConfig(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
