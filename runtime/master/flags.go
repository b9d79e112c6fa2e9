package master

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/logging"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Flags are the command line of mesosnet-master, parsed into a Config by
// Config.
type Flags struct {
	fs      *flag.FlagSet
	Logging *logging.Options

	id, dataDir                  string
	raftListen, raftAdvertise    string
	apiListen, apiAdvertise      string
	peers                        []raftstore.Peer
	join, disableIPv6            bool
	tokenFile                    string
	tlsCert, tlsKey, tlsCA       string
	mesosMasters, mesosTokenFile string
	mesosUser, mesosPassFile     string
	mesosCA, mesosCert, mesosKey string
	overlayFile                  string
	vipRange4, vipRange6         string
	removedAgentGrace, vipGrace  time.Duration
	awaitAgents, awaitTasks      time.Duration
	raftHeartbeat, raftElection  time.Duration
}

// NewFlags registers the flags of mesosnet-master on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, Logging: logging.Flags(fs)}
	fs.StringVar(&f.id, "id", "", "this master's raft server ID, unique in the cluster (required)")
	fs.StringVar(&f.dataDir, "data-dir", "/var/lib/mesosnet/master", "raft log, stable store and snapshots")
	fs.StringVar(&f.raftListen, "raft-listen", ":62501", "raft listen address")
	fs.StringVar(&f.raftAdvertise, "raft-advertise", "", "raft address the other masters dial (default: the listen address)")
	fs.StringVar(&f.apiListen, "api-listen", ":62080", "cluster API listen address")
	fs.StringVar(&f.apiAdvertise, "api-advertise", "", "cluster API address the others reach (default: the listen address)")
	fs.Func("peer", "a voter of the initial cluster as `id,raft-address,api-address`, this master included; repeat per master (ignored once bootstrapped)", func(s string) error {
		parts := strings.Split(s, ",")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return fmt.Errorf("%q: want id,raft-address,api-address", s)
		}
		for _, p := range f.peers {
			if p.ID == parts[0] {
				return fmt.Errorf("%q: peer %s given twice", s, p.ID)
			}
		}
		f.peers = append(f.peers, raftstore.Peer{ID: parts[0], RaftAddress: parts[1], APIAddress: parts[2]})
		return nil
	})
	fs.BoolVar(&f.join, "join", false, "start without bootstrapping, to be added with `mesosnetctl raft peers add`")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the cluster API bearer token (empty: no authentication)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate of the API and raft (TLS when set)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA bundle the other masters' certificates are checked with")
	fs.StringVar(&f.mesosMasters, "mesos-masters", "", "comma-separated Mesos master URLs (empty: do not follow Mesos)")
	fs.StringVar(&f.mesosTokenFile, "mesos-token-file", "", "file holding a Mesos token (Authorization: token=...)")
	fs.StringVar(&f.mesosUser, "mesos-user", "", "Mesos HTTP basic auth user (password from --mesos-password-file)")
	fs.StringVar(&f.mesosPassFile, "mesos-password-file", "", "file holding the Mesos basic auth password")
	fs.StringVar(&f.mesosCA, "mesos-ca-file", "", "PEM CA bundle of https Mesos masters")
	fs.StringVar(&f.mesosCert, "mesos-cert-file", "", "PEM client certificate for Mesos")
	fs.StringVar(&f.mesosKey, "mesos-key-file", "", "PEM client key for Mesos")
	fs.StringVar(&f.overlayFile, "overlay-config", "", "DC/OS dcos_overlay_network JSON, or a DC/OS overlay master.json holding it under \"network\" (default: DC/OS's default overlay)")
	fs.BoolVar(&f.disableIPv6, "disable-ipv6", false, "disable IPv6-only overlays and IPv6 VIPs (DC/OS enable_ipv6=false)")
	fs.StringVar(&f.vipRange4, "vip-range", v1.DefaultVIPPrefix.String(), "named-VIP IPv4 range: a prefix or first-last")
	fs.StringVar(&f.vipRange6, "vip-range6", v1.DefaultVIPPrefix6.String(), "named-VIP IPv6 range: a prefix or first-last")
	fs.DurationVar(&f.awaitAgents, "mesos-await-agents", state.DefaultRecoveredAgentsWait, "after a Mesos failover, how long to wait for recovered agents to re-register before publishing (dcos-net await_agents)")
	fs.DurationVar(&f.awaitTasks, "mesos-await-tasks", state.DefaultRecoveredTasksWait, "then how long to wait for their tasks (dcos-net await_tasks)")
	fs.DurationVar(&f.raftHeartbeat, "raft-heartbeat-timeout", time.Second, "raft heartbeat timeout: how long a follower waits for the leader before it starts an election")
	fs.DurationVar(&f.raftElection, "raft-election-timeout", time.Second, "raft election timeout")
	fs.DurationVar(&f.removedAgentGrace, "removed-agent-grace", 24*time.Hour, "how long the allocation of an agent Mesos removed is kept")
	fs.DurationVar(&f.vipGrace, "vip-grace", time.Hour, "how long a VIP keeps its address after its last backend went")
	return f
}

// Config returns the configuration the parsed flags describe, reading the
// files they name. Errors name the flag.
func (f *Flags) Config() (Config, error) {
	var errs []error
	add := func(flagName string, err error) { errs = append(errs, fmt.Errorf("--%s: %w", flagName, err)) }
	if f.fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", f.fs.Args()))
	}
	cfg := Config{
		ID: f.id, DataDir: f.dataDir,
		RaftAddress: f.raftListen, RaftAdvertise: f.raftAdvertise,
		APIAddress: f.apiListen, APIAdvertise: f.apiAdvertise,
		Peers: f.peers, Join: f.join, TokenFile: f.tokenFile,
		DisableIPv6:       f.disableIPv6,
		RemovedAgentGrace: f.removedAgentGrace, VIPGrace: f.vipGrace,
		RecoveredAgentsWait: f.awaitAgents, RecoveredTasksWait: f.awaitTasks,
	}
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout = f.raftHeartbeat, f.raftElection
	// The leader lease must not exceed the heartbeat timeout: half of it,
	// as hashicorp/raft's defaults.
	cfg.Raft.LeaderLeaseTimeout = f.raftHeartbeat / 2
	if f.raftHeartbeat < 10*time.Millisecond {
		add("raft-heartbeat-timeout", fmt.Errorf("%s: want at least 10ms", f.raftHeartbeat))
	}
	if f.raftElection < 10*time.Millisecond {
		add("raft-election-timeout", fmt.Errorf("%s: want at least 10ms", f.raftElection))
	}
	if f.id == "" {
		add("id", errors.New("required"))
	}
	if f.join && len(f.peers) > 0 {
		add("join", errors.New("exclusive with --peer"))
	}
	if !f.join && len(f.peers) > 0 {
		found := false
		for _, p := range f.peers {
			found = found || p.ID == f.id
		}
		if !found {
			add("peer", fmt.Errorf("this master (--id %s) is not among the peers", f.id))
		}
	}
	if f.tokenFile != "" {
		if _, err := readToken(f.tokenFile); err != nil {
			add("token-file", err)
		}
	}
	if f.tlsCert != "" || f.tlsKey != "" || f.tlsCA != "" {
		srv, cli, err := loadTLS(f.tlsCert, f.tlsKey, f.tlsCA)
		if err != nil {
			add("tls-cert", err)
		}
		cfg.TLS, cfg.ClientTLS = srv, cli
	}
	if f.mesosMasters != "" {
		for _, m := range strings.Split(f.mesosMasters, ",") {
			if m = strings.TrimSpace(m); m != "" {
				cfg.Mesos.Masters = append(cfg.Mesos.Masters, m)
			}
		}
		token, err := readSecret(f.mesosTokenFile)
		if err != nil {
			add("mesos-token-file", err)
		}
		pass, err := readSecret(f.mesosPassFile)
		if err != nil {
			add("mesos-password-file", err)
		}
		cfg.Mesos.Auth = mesos.Auth{Token: token, Username: f.mesosUser, Password: pass}
		cfg.Mesos.TLS = mesos.TLSConfig{CAFile: f.mesosCA, CertFile: f.mesosCert, KeyFile: f.mesosKey}
		if _, err := mesos.NewClient(cfg.Mesos); err != nil {
			add("mesos-masters", err)
		}
	}
	cfg.Overlay = v1.DefaultOverlayNetwork()
	if f.overlayFile != "" {
		n, err := LoadOverlayConfig(f.overlayFile)
		if err != nil {
			add("overlay-config", err)
		}
		cfg.Overlay = n
	}
	if err := cfg.Overlay.Validate(!f.disableIPv6); err != nil {
		add("overlay-config", err)
	}
	var err error
	if cfg.VIPRange4, err = ParseRange(f.vipRange4); err != nil {
		add("vip-range", err)
	} else if !cfg.VIPRange4.Min.Is4() {
		add("vip-range", fmt.Errorf("%s is not IPv4", f.vipRange4))
	}
	if cfg.VIPRange6, err = ParseRange(f.vipRange6); err != nil {
		add("vip-range6", err)
	} else if !cfg.VIPRange6.Min.Is6() {
		add("vip-range6", fmt.Errorf("%s is not IPv6", f.vipRange6))
	}
	if f.removedAgentGrace <= 0 {
		add("removed-agent-grace", fmt.Errorf("%s: want a positive duration", f.removedAgentGrace))
	}
	if f.vipGrace <= 0 {
		add("vip-grace", fmt.Errorf("%s: want a positive duration", f.vipGrace))
	}
	return cfg, errors.Join(errs...)
}

// LoadOverlayConfig reads a DC/OS dcos_overlay_network document, bare or
// inside a DC/OS overlay master.json/agent.json under "network".
func LoadOverlayConfig(path string) (v1.OverlayNetwork, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return v1.OverlayNetwork{}, err
	}
	var wrapper map[string]json.RawMessage
	if err := json.Unmarshal(b, &wrapper); err != nil {
		return v1.OverlayNetwork{}, fmt.Errorf("%s: %w", path, err)
	}
	if inner, ok := wrapper["network"]; ok {
		b = inner
	}
	n, err := v1.ParseOverlayNetwork(b)
	if err != nil {
		return v1.OverlayNetwork{}, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// ParseRange parses a VIP range given as a prefix ("11.0.0.0/8", network
// and last address included, as DC/OS) or as "first-last".
func ParseRange(s string) (vipalloc.Range, error) {
	var r vipalloc.Range
	if first, last, ok := strings.Cut(s, "-"); ok {
		var err1, err2 error
		r.Min, err1 = netip.ParseAddr(strings.TrimSpace(first))
		r.Max, err2 = netip.ParseAddr(strings.TrimSpace(last))
		if err := errors.Join(err1, err2); err != nil {
			return r, fmt.Errorf("range %q: %w", s, err)
		}
	} else {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return r, fmt.Errorf("range %q: %w", s, err)
		}
		r = vipalloc.RangeOf(p)
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("range %q: %w", s, err)
	}
	return r, nil
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// loadTLS returns the server and client TLS configurations of the API and
// raft: the same certificate on both sides, peers checked against ca (the
// system roots when empty).
func loadTLS(certFile, keyFile, caFile string) (srv, cli *tls.Config, err error) {
	if certFile == "" || keyFile == "" {
		return nil, nil, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	srv = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	cli = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", caFile)
		}
		cli.RootCAs = pool
		srv.ClientCAs = pool
	}
	return srv, cli, nil
}
