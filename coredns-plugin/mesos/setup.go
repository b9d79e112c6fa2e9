package mesos

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/logging"
	"github.com/mesosnet/mesosnet/runtime/mesos"
)

func init() { plugin.Register(pluginName, setup) }

// Zones with a meaning of their own.
const (
	// dcosOrigin is DC/OS's task zone, served with the `dcos` option.
	dcosOrigin = "dcos.thisdcos.directory."
	// thisdcosZone is the parent of DC/OS's internal zones.
	thisdcosZone = "thisdcos.directory."
	// defaultDomain is Mesos-DNS's default domain.
	defaultDomain = "mesos"
	// maxTTL is the largest TTL RFC 2181 §8 allows.
	maxTTL = 1<<31 - 1
)

// ipSources are the values ip_sources accepts, as Mesos-DNS's IPSources.
var ipSources = []string{"netinfo", "mesos", "host", "docker"}

// ipModes are the values ip_mode accepts.
var ipModes = []zone.IPMode{zone.IPModeDCOS, zone.IPModeFirst, zone.IPModeAll}

// config is a parsed `mesos` block.
type config struct {
	// file is the Corefile's name, for errors found after parsing.
	file string
	// line is the line of the `mesos` directive; lines are those of the
	// options given, by option name.
	line  int
	lines map[string]int

	zones   []string
	zone    zone.Config
	masters []string
	// tokenFile, or user and passwordFile, are read at start-up, so a
	// rotated secret is picked up by a reload.
	tokenFile    string
	user         string
	passwordFile string
	tls          mesos.TLSConfig
	api          string
	fall         fall.F

	// cluster are the mesosnet cluster API URLs of the l4lb zone, with
	// the files of its bearer token and CA bundle; l4lbOrigins are the
	// zones it feeds (zone.L4LBOrigin and the aliases within zones).
	cluster          []string
	clusterTokenFile string
	clusterCAFile    string
	l4lbOrigins      []string
}

// setup is the `mesos` directive's setup function.
func setup(c *caddy.Controller) error {
	m, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error {
		registerMetrics(c)
		if err := m.start(); err != nil {
			return plugin.Error(pluginName, err)
		}
		return nil
	})
	c.OnShutdown(func() error {
		if err := m.stop(); err != nil {
			return plugin.Error(pluginName, err)
		}
		return nil
	})
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		m.Next = next
		return m
	})
	return nil
}

// registerMetrics registers the plugin's collectors with the registry of the
// server block's prometheus plugin, or the default registry (which that
// plugin serves) without one. Registering twice is harmless.
func registerMetrics(c *caddy.Controller) {
	collectors := []prometheus.Collector{rebuildDuration, clusterRebuildDuration, instances}
	if h, ok := dnsserver.GetConfig(c).Handler("prometheus").(*metrics.Metrics); ok && h.Reg != nil {
		for _, col := range collectors {
			h.MustRegister(col)
		}
		return
	}
	for _, col := range collectors {
		_ = prometheus.DefaultRegisterer.Register(col) // only AlreadyRegisteredError is possible
	}
}

// parse reads the `mesos` block into a plugin instance (not started).
func parse(c *caddy.Controller) (*Mesos, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return nil, err
	}
	log, err := logging.New(logging.Options{})
	if err != nil {
		return nil, err
	}
	log = log.Named(pluginName)
	builder, err := zone.NewBuilder(cfg.zone, log)
	if err != nil {
		return nil, cfg.errAt(cfg.line, "invalid zone configuration: %v", err)
	}
	m := &Mesos{
		Zones:       cfg.zones,
		Fall:        cfg.fall,
		cfg:         *cfg,
		builder:     builder,
		l4lbOrigins: cfg.l4lbOrigins,
		log:         log,
		now:         time.Now,
	}
	if len(cfg.masters) > 0 {
		m.origins = originsOf(cfg.zone)
	}
	if len(cfg.cluster) > 0 {
		if m.l4lbBuilder, err = zone.NewL4LBBuilder(cfg.l4lbOrigins, log); err != nil {
			return nil, cfg.errAt(cfg.lines["cluster"], "cluster: %v", err)
		}
		m.newVIPSource = func() (VIPSource, error) {
			cc, err := cfg.clusterConfig()
			if err != nil {
				return nil, err
			}
			src, err := NewClusterSource(cc, log)
			if err != nil {
				return nil, cfg.startErrAt(cfg.lines["cluster"], "cluster: %v", err)
			}
			return src, nil
		}
	}
	m.newSource = func() (Source, error) {
		mc, err := cfg.mesosConfig()
		if err != nil {
			return nil, err
		}
		src, err := NewOperatorSource(mc, log)
		if err != nil {
			return nil, cfg.startErrAt(cfg.line, "create Mesos client: %v", err)
		}
		return src, nil
	}
	conf := dnsserver.GetConfig(c)
	m.metricLabels = [2]string{serverLabel(conf), conf.Zone}
	return m, nil
}

// parseConfig parses and validates the `mesos` block.
func parseConfig(c *caddy.Controller) (*config, error) {
	cfg := &config{file: c.File(), lines: make(map[string]int)}
	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		cfg.line = c.Line()
		args := c.RemainingArgs()
		for _, a := range args {
			if len(plugin.Host(a).NormalizeExact()) == 0 {
				return nil, c.Errf("invalid zone %q", a)
			}
		}
		cfg.zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		for c.NextBlock() {
			if err := cfg.parseOption(c); err != nil {
				return nil, err
			}
		}
	}
	if len(cfg.zone.Listener) == 0 {
		cfg.zone.Listener = listenAddrs(dnsserver.GetConfig(c).ListenHosts)
	}
	return cfg, cfg.finish()
}

// parseOption parses the option at the dispenser's position.
func (cfg *config) parseOption(c *caddy.Controller) error {
	opt := c.Val()
	if first, dup := cfg.lines[opt]; dup {
		return c.Errf("%s: given twice (first on line %d)", opt, first)
	}
	cfg.lines[opt] = c.Line()
	args := c.RemainingArgs()
	want := func(n int, what string) error {
		if len(args) != n {
			return c.Errf("%s: want %s, got %d arguments", opt, what, len(args))
		}
		return nil
	}
	wantSome := func(what string) error {
		if len(args) == 0 {
			return c.Errf("%s: want %s", opt, what)
		}
		return nil
	}
	switch opt {
	case "master":
		if err := wantSome("one or more Mesos master URLs"); err != nil {
			return err
		}
		for i, u := range args {
			if slices.Contains(args[:i], u) {
				return c.Errf("%s: %q listed twice", opt, u)
			}
			// The client parses masters exactly as it will use them;
			// building one does no I/O.
			if _, err := mesos.NewClient(mesos.Config{Masters: []string{u}}); err != nil {
				return c.Errf("%s: %v", opt, err)
			}
			if ip, ok := masterIP(u); ok && !slices.Contains(cfg.zone.Masters, ip) {
				cfg.zone.Masters = append(cfg.zone.Masters, ip)
			}
		}
		cfg.masters = args
	case "cluster":
		if err := wantSome("one or more mesosnet cluster API URLs"); err != nil {
			return err
		}
		for i, u := range args {
			if slices.Contains(args[:i], u) {
				return c.Errf("%s: %q listed twice", opt, u)
			}
			if err := checkClusterURL(u); err != nil {
				return c.Errf("%s: %v", opt, err)
			}
		}
		cfg.cluster = args
	case "cluster_token_file", "cluster_ca_file":
		if err := want(1, "a file name"); err != nil {
			return err
		}
		if opt == "cluster_token_file" {
			cfg.clusterTokenFile = args[0]
		} else {
			cfg.clusterCAFile = args[0]
		}
	case "ip_sources":
		if err := wantSome("one or more of " + strings.Join(ipSources, ", ")); err != nil {
			return err
		}
		for i, s := range args {
			if !slices.Contains(ipSources, s) {
				return c.Errf("%s: unknown source %q, want %s", opt, s, strings.Join(ipSources, ", "))
			}
			if slices.Contains(args[:i], s) {
				return c.Errf("%s: %q listed twice", opt, s)
			}
		}
		cfg.zone.IPSources = args
	case "ip_mode":
		if err := want(1, "one of dcos, first, all"); err != nil {
			return err
		}
		mode := zone.IPMode(args[0])
		if !slices.Contains(ipModes, mode) {
			return c.Errf("%s: unknown mode %q, want dcos, first or all", opt, args[0])
		}
		cfg.zone.IPMode = mode
	case "ttl":
		if err := want(1, "a number of seconds"); err != nil {
			return err
		}
		ttl, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil || ttl == 0 || ttl > maxTTL {
			return c.Errf("%s: %q is not a number of seconds from 1 to %d", opt, args[0], maxTTL)
		}
		cfg.zone.TTL = uint32(ttl)
	case "rfc952":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		cfg.zone.RFC952 = true
	case "dcos":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		cfg.zone.DCOS = true
	case "omit_legacy_names":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		cfg.zone.OmitLegacyNames = true
	case "soa_mname", "soa_rname":
		if err := want(1, "a domain name"); err != nil {
			return err
		}
		name := args[0]
		if opt == "soa_rname" {
			// Mesos-DNS accepts a mail address: root@ns1.mesos.
			name = strings.Replace(name, "@", ".", 1)
		}
		if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.Contains(name, "..") {
			return c.Errf("%s: %q is not a domain name", opt, args[0])
		}
		if opt == "soa_mname" {
			cfg.zone.SOA.MName = dns.Fqdn(strings.ToLower(name))
		} else {
			cfg.zone.SOA.RName = dns.Fqdn(strings.ToLower(name))
		}
	case "listener":
		if err := wantSome("one or more IP addresses"); err != nil {
			return err
		}
		for _, a := range args {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.Zone() != "" {
				return c.Errf("%s: %q is not an IP address", opt, a)
			}
			cfg.zone.Listener = append(cfg.zone.Listener, ip.Unmap())
		}
	case "api":
		if err := want(1, "a listen address such as :8123"); err != nil {
			return err
		}
		if err := checkListenAddr(args[0]); err != nil {
			return c.Errf("%s: %v", opt, err)
		}
		cfg.api = args[0]
	case "token_file", "ca_file", "cert_file", "key_file":
		if err := want(1, "a file name"); err != nil {
			return err
		}
		switch opt {
		case "token_file":
			cfg.tokenFile = args[0]
		case "ca_file":
			cfg.tls.CAFile = args[0]
		case "cert_file":
			cfg.tls.CertFile = args[0]
		case "key_file":
			cfg.tls.KeyFile = args[0]
		}
	case "basic_auth":
		if err := want(2, "a user name and a password file"); err != nil {
			return err
		}
		cfg.user, cfg.passwordFile = args[0], args[1]
	case "fallthrough":
		for _, a := range args {
			if len(plugin.Host(a).NormalizeExact()) == 0 {
				return c.Errf("%s: invalid zone %q", opt, a)
			}
		}
		cfg.fall.SetZonesFromArgs(args)
	default:
		return c.Errf("unknown option %q", opt)
	}
	return nil
}

// finish checks the options together and fills the defaults.
func (cfg *config) finish() error {
	if len(cfg.masters) == 0 && len(cfg.cluster) == 0 {
		return cfg.errAt(cfg.line, "master: at least one Mesos master, or cluster API URLs (cluster), is required")
	}
	if len(cfg.masters) == 0 {
		// The options of the Mesos source need it.
		for _, opt := range mesosOptions {
			if line, ok := cfg.lines[opt]; ok {
				return cfg.errAt(line, "%s: applies to the Mesos source, and no master is given", opt)
			}
		}
	}
	if len(cfg.cluster) == 0 {
		for _, opt := range []string{"cluster_token_file", "cluster_ca_file"} {
			if line, ok := cfg.lines[opt]; ok {
				return cfg.errAt(line, "%s: applies to the cluster API source, and no cluster URL is given", opt)
			}
		}
	}
	if cfg.clusterCAFile != "" && !slices.ContainsFunc(cfg.cluster, func(u string) bool { return strings.HasPrefix(u, "https://") }) {
		return cfg.errAt(cfg.lines["cluster_ca_file"], "cluster_ca_file: no cluster URL is https")
	}
	if cfg.tokenFile != "" && cfg.user != "" {
		return cfg.errAt(cfg.lines["basic_auth"], "basic_auth: token_file (line %d) is set too; use one", cfg.lines["token_file"])
	}
	if (cfg.tls.CertFile == "") != (cfg.tls.KeyFile == "") {
		opt, other := "cert_file", "key_file"
		if cfg.tls.CertFile == "" {
			opt, other = other, opt
		}
		return cfg.errAt(cfg.lines[opt], "%s: needs %s too", opt, other)
	}
	explicitDCOS := cfg.zone.DCOS
	cfg.zone.Domain = domainOf(cfg.zones)
	for _, z := range cfg.zones {
		if z == thisdcosZone || z == dcosOrigin {
			cfg.zone.DCOS = true
		}
	}
	if len(cfg.zones) == 0 {
		if len(cfg.masters) > 0 {
			cfg.zones = originsOf(cfg.zone)
		}
		if len(cfg.cluster) > 0 {
			cfg.zones = append(cfg.zones, zone.L4LBOrigin)
		}
	}
	if len(cfg.cluster) > 0 {
		// The l4lb zone and those of its aliases within the plugin's
		// zones (spec dcos-net.md §1.2: dcos-net answers them by
		// renaming to l4lb.thisdcos.directory).
		for _, o := range append([]string{zone.L4LBOrigin}, zone.L4LBAliases...) {
			if plugin.Zones(cfg.zones).Matches(o) != "" {
				cfg.l4lbOrigins = append(cfg.l4lbOrigins, o)
			}
		}
		if len(cfg.l4lbOrigins) == 0 {
			return cfg.errAt(cfg.lines["cluster"], "cluster: %s is outside the plugin's zones %v", zone.L4LBOrigin, cfg.zones)
		}
		if len(cfg.masters) > 0 {
			for _, mo := range originsOf(cfg.zone) {
				for _, o := range cfg.l4lbOrigins {
					if dns.IsSubDomain(mo, o) || dns.IsSubDomain(o, mo) {
						return cfg.errAt(cfg.lines["cluster"], "cluster: %s overlaps %s, which master serves", o, mo)
					}
				}
			}
		}
	}
	if explicitDCOS && plugin.Zones(cfg.zones).Matches(dcosOrigin) == "" {
		return cfg.errAt(cfg.lines["dcos"], "dcos: %s is outside the plugin's zones %v", dcosOrigin, cfg.zones)
	}
	cfg.zone.Default()
	if err := cfg.zone.Validate(); err != nil {
		return cfg.errAt(cfg.line, "invalid zone configuration: %v", err)
	}
	return nil
}

// mesosOptions are the options of the Mesos source, refused without
// master.
var mesosOptions = []string{"ip_sources", "ip_mode", "ttl", "rfc952", "dcos", "omit_legacy_names",
	"soa_mname", "soa_rname", "listener", "token_file", "basic_auth", "ca_file", "cert_file", "key_file"}

// errAt is c.Errf for a line other than the dispenser's.
func (cfg *config) errAt(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d - Error during parsing: %s", cfg.file, line, fmt.Sprintf(format, args...))
}

// startErrAt is errAt for what start-up finds (secret and TLS files).
func (cfg *config) startErrAt(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d - Error during start-up: %s", cfg.file, line, fmt.Sprintf(format, args...))
}

// mesosConfig returns the Mesos client configuration, reading the secret
// files. Errors name the option and its line.
func (cfg *config) mesosConfig() (mesos.Config, error) {
	mc := mesos.Config{Masters: cfg.masters, TLS: cfg.tls, Version: "coredns-mesos"}
	if cfg.tokenFile != "" {
		token, err := readSecret(cfg.tokenFile)
		if err != nil {
			return mc, cfg.startErrAt(cfg.lines["token_file"], "token_file: %v", err)
		}
		mc.Auth.Token = token
	}
	if cfg.user != "" {
		password, err := readSecret(cfg.passwordFile)
		if err != nil {
			return mc, cfg.startErrAt(cfg.lines["basic_auth"], "basic_auth: %v", err)
		}
		mc.Auth.Username, mc.Auth.Password = cfg.user, password
	}
	// The client loads the TLS files too; loading them here first puts
	// the option and its line in the error.
	if f := cfg.tls.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return mc, cfg.startErrAt(cfg.lines["ca_file"], "ca_file: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return mc, cfg.startErrAt(cfg.lines["ca_file"], "ca_file: %s holds no PEM certificate", f)
		}
	}
	if cfg.tls.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.tls.CertFile, cfg.tls.KeyFile); err != nil {
			return mc, cfg.startErrAt(cfg.lines["cert_file"], "cert_file, key_file: %v", err)
		}
	}
	return mc, nil
}

// clusterConfig returns the configuration of the cluster API source,
// reading the token and CA files. Errors name the option and its line.
func (cfg *config) clusterConfig() (ClusterConfig, error) {
	cc := ClusterConfig{URLs: cfg.cluster}
	if cfg.clusterTokenFile != "" {
		token, err := readSecret(cfg.clusterTokenFile)
		if err != nil {
			return cc, cfg.startErrAt(cfg.lines["cluster_token_file"], "cluster_token_file: %v", err)
		}
		cc.Token = token
	}
	if f := cfg.clusterCAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return cc, cfg.startErrAt(cfg.lines["cluster_ca_file"], "cluster_ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cc, cfg.startErrAt(cfg.lines["cluster_ca_file"], "cluster_ca_file: %s holds no PEM certificate", f)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cc.Transport = tr
	}
	return cc, nil
}

// checkClusterURL validates a cluster API base URL: http or https, a
// host, no credentials, query or fragment.
func checkClusterURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not an http or https URL", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q has credentials; use cluster_token_file", s)
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("%q has a query or fragment", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q has a bad port", s)
		}
	}
	return nil
}

// readSecret reads a token or password file, without surrounding white
// space.
func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

// domainOf returns the Mesos-DNS domain for the plugin's zones: the first
// zone that is neither the root nor within thisdcos.directory, else "mesos".
func domainOf(zones []string) string {
	for _, z := range zones {
		if z == "." || dns.IsSubDomain(thisdcosZone, z) {
			continue
		}
		return strings.TrimSuffix(z, ".")
	}
	return defaultDomain
}

// originsOf returns the zone origins cfg serves, as Zone.Origins will.
func originsOf(cfg zone.Config) []string {
	origins := []string{dns.Fqdn(cfg.Domain)}
	if cfg.DCOS {
		origins = append(origins, dcosOrigin)
	}
	return origins
}

// masterIP returns the host of a master URL when it is an IP address.
func masterIP(master string) (netip.Addr, bool) {
	if !strings.Contains(master, "://") {
		master = "http://" + master
	}
	u, err := url.Parse(master)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// checkListenAddr validates a host:port listen address.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			return fmt.Errorf("host %q is not an IP address", host)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 && port != "0" {
		return fmt.Errorf("port %q is not a port number", port)
	}
	return nil
}

// listenAddrs returns the specific IP addresses among a server block's
// listen hosts (the bind plugin's), which name the nameserver by default.
func listenAddrs(hosts []string) []netip.Addr {
	var ips []netip.Addr
	for _, h := range hosts {
		ip, err := netip.ParseAddr(h)
		if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
			continue
		}
		ips = append(ips, ip.Unmap())
	}
	return ips
}

// serverLabel is the server label of the instance's metrics, as CoreDNS's
// own ("dns://:53").
func serverLabel(conf *dnsserver.Config) string {
	host := ""
	if len(conf.ListenHosts) > 0 {
		host = conf.ListenHosts[0]
	}
	transport := conf.Transport
	if transport == "" {
		transport = "dns"
	}
	return transport + "://" + net.JoinHostPort(host, conf.Port)
}
