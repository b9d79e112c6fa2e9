package zone

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// IPMode is which generation of Mesos-DNS task-IP semantics to reproduce
// (spec mesos-dns.md §0.1, §1.5).
type IPMode string

// The three generations of Mesos-DNS task-IP semantics.
const (
	// IPModeDCOS is the default: DC/OS 1.11-1.13 (Mesos-DNS branches
	// dcos/1.11-1.13, PR #508): the IPs of all sources in priority order,
	// of which the first IPv4 and the first IPv6 are kept.
	IPModeDCOS IPMode = "dcos"
	// IPModeFirst is Mesos-DNS <= v0.6.0: the first IP of the first source
	// with data.
	IPModeFirst IPMode = "first"
	// IPModeAll is Mesos-DNS master after PR #553: all IPs of the first
	// source that yields any.
	IPModeAll IPMode = "all"
)

// The task IP sources of Config.IPSources (spec mesos-dns.md §1.5).
const (
	// SourceHost is the agent IP.
	SourceHost = "host"
	// SourceNetInfo is container_status.network_infos[].ip_addresses[] of
	// the latest TASK_RUNNING status.
	SourceNetInfo = "netinfo"
	// SourceMesos is the status label
	// MesosContainerizer.NetworkSettings.IPAddress (deprecated by Mesos).
	SourceMesos = "mesos"
	// SourceDocker is the status label Docker.NetworkSettings.IPAddress
	// (deprecated by Mesos).
	SourceDocker = "docker"
)

// Defaults of Config.
const (
	DefaultDomain    = "mesos"
	DefaultTTL       = 60
	DefaultSRVWeight = 1
	DefaultDCOSTTL   = 5
	DefaultRefresh   = 60
	DefaultRetry     = 600
	DefaultExpire    = 86400
)

// DCOSOrigin is the zone of the DC/OS task records (spec dcos-net.md §1.3).
const DCOSOrigin = "dcos.thisdcos.directory."

// The fixed SOA and NS data of the dcos.thisdcos.directory zone, as
// dcos-net's erldns zone has them (spec dcos-net.md §1.3).
const (
	dcosMName   = "ns.spartan."
	dcosRName   = "support.mesosphere.com."
	dcosRefresh = 60
	dcosRetry   = 180
	dcosExpire  = 86400
	dcosMinTTL  = 1
	dcosNSTTL   = 3600
)

// DefaultIPSources is Mesos-DNS's own default. DC/OS deployments configure
// ["host", "netinfo"].
func DefaultIPSources() []string { return []string{SourceNetInfo, SourceMesos, SourceHost} }

// Config configures the record generator. The zero value plus Default is
// Mesos-DNS's default configuration.
type Config struct {
	// Domain is the Mesos-DNS domain, default "mesos". It is matched
	// case-insensitively and served lower-case.
	Domain string
	// IPSources are the task IP sources in priority order, default
	// ["netinfo","mesos","host"]; allowed host, netinfo, mesos, docker,
	// without duplicates.
	IPSources []string
	// IPMode selects how the sources combine, default IPModeDCOS.
	IPMode IPMode
	// RFC952 makes labels RFC 952 hostnames (24 characters, no leading
	// digits) instead of RFC 1123 ones (63 characters), as Mesos-DNS's
	// EnforceRFC952.
	RFC952 bool
	// TTL is the TTL of every record in Domain and the SOA minimum, default
	// 60.
	TTL uint32
	// SRVWeight is the weight of every SRV record, default 1.
	SRVWeight uint16
	// OmitLegacyNames drops the un-sanitised copy of the records of tasks
	// with a DiscoveryInfo name (e.g. big.dog.marathon.mesos. beside
	// big-dog.marathon.mesos.). Mesos-DNS emits it ("LEGACY TODO: REMOVE"),
	// so it is kept by default (spec mesos-dns.md §8).
	OmitLegacyNames bool
	// DCOS also builds the dcos.thisdcos.directory zone (spec dcos-net.md
	// §1.3).
	DCOS bool
	// DCOSTTL is the TTL of the records in dcos.thisdcos.directory,
	// default 5 as in dcos-net.
	DCOSTTL uint32
	// Masters are the configured masters, for master.D and masterN.D (the
	// leader is added per the Mesos-DNS rules) and
	// master.dcos.thisdcos.directory.
	Masters []netip.Addr
	// SOA is the SOA data of Domain.
	SOA SOA
	// Listener are the addresses of the A/AAAA records of SOA.MName (ns1.D
	// by default); empty means no such record. The caller expands a
	// wildcard listen address into the interface addresses, as Mesos-DNS
	// does for 0.0.0.0; unspecified addresses are ignored.
	Listener []netip.Addr
}

// SOA is the SOA data of the Mesos-DNS domain. Names may be given without
// the trailing dot; an '@' in RName stands for '.', as in Mesos-DNS.
type SOA struct {
	// MName is the primary name server, default "ns1.<domain>.".
	MName string
	// RName is the mailbox of the responsible person, default
	// "root.ns1.<domain>.".
	RName string
	// Refresh, Retry and Expire are in seconds: defaults 60, 600, 86400.
	Refresh, Retry, Expire uint32
}

// Default fills the unset fields with their defaults.
func (c *Config) Default() {
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if len(c.IPSources) == 0 {
		c.IPSources = DefaultIPSources()
	}
	if c.IPMode == "" {
		c.IPMode = IPModeDCOS
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.SRVWeight == 0 {
		c.SRVWeight = DefaultSRVWeight
	}
	if c.DCOSTTL == 0 {
		c.DCOSTTL = DefaultDCOSTTL
	}
	domain := strings.TrimSuffix(strings.ToLower(c.Domain), ".")
	if c.SOA.MName == "" {
		c.SOA.MName = "ns1." + domain + "."
	}
	if c.SOA.RName == "" {
		c.SOA.RName = "root.ns1." + domain + "."
	}
	if c.SOA.Refresh == 0 {
		c.SOA.Refresh = DefaultRefresh
	}
	if c.SOA.Retry == 0 {
		c.SOA.Retry = DefaultRetry
	}
	if c.SOA.Expire == 0 {
		c.SOA.Expire = DefaultExpire
	}
}

// domainRE is Mesos-DNS's domain validation.
var domainRE = regexp.MustCompile(`^[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$`)

// Validate checks a defaulted Config, naming each bad field.
func (c Config) Validate() error {
	var errs []error
	domain := strings.TrimSuffix(c.Domain, ".")
	switch {
	case !domainRE.MatchString(domain):
		errs = append(errs, fmt.Errorf("field Domain %q: not dot-separated letters, digits and hyphens", c.Domain))
	case !validName(strings.ToLower(domain) + "."):
		errs = append(errs, fmt.Errorf("field Domain %q: label longer than 63 or name longer than 253", c.Domain))
	case c.DCOS && overlaps(strings.ToLower(domain)+".", DCOSOrigin):
		errs = append(errs, fmt.Errorf("field Domain %q: overlaps %s, which DCOS serves", c.Domain, DCOSOrigin))
	}
	if len(c.IPSources) == 0 {
		errs = append(errs, errors.New("field IPSources: empty"))
	}
	for i, s := range c.IPSources {
		switch s {
		case SourceHost, SourceNetInfo, SourceMesos, SourceDocker:
		default:
			errs = append(errs, fmt.Errorf("field IPSources: unknown source %q (want host, netinfo, mesos or docker)", s))
		}
		if slices.Contains(c.IPSources[:i], s) {
			errs = append(errs, fmt.Errorf("field IPSources: duplicate source %q", s))
		}
	}
	switch c.IPMode {
	case IPModeDCOS, IPModeFirst, IPModeAll:
	default:
		errs = append(errs, fmt.Errorf("field IPMode: %q is not dcos, first or all", c.IPMode))
	}
	if c.TTL == 0 {
		errs = append(errs, errors.New("field TTL: 0"))
	}
	if c.DCOS && c.DCOSTTL == 0 {
		errs = append(errs, errors.New("field DCOSTTL: 0"))
	}
	for i, m := range c.Masters {
		switch {
		case !m.IsValid() || m.IsUnspecified():
			errs = append(errs, fmt.Errorf("field Masters[%d]: invalid address %v", i, m))
		case m.Zone() != "":
			errs = append(errs, fmt.Errorf("field Masters[%d]: address %s has a zone", i, m))
		case slices.Contains(c.Masters[:i], m):
			errs = append(errs, fmt.Errorf("field Masters[%d]: duplicate address %s", i, m))
		}
	}
	for i, l := range c.Listener {
		if !l.IsValid() || l.Zone() != "" {
			errs = append(errs, fmt.Errorf("field Listener[%d]: invalid address %v", i, l))
		}
	}
	if !validName(fqdn(c.SOA.MName)) {
		errs = append(errs, fmt.Errorf("field SOA.MName %q: not a domain name", c.SOA.MName))
	}
	if !validName(fqdn(strings.ReplaceAll(c.SOA.RName, "@", "."))) {
		errs = append(errs, fmt.Errorf("field SOA.RName %q: not a domain name", c.SOA.RName))
	}
	if c.SOA.Refresh == 0 || c.SOA.Retry == 0 || c.SOA.Expire == 0 {
		errs = append(errs, fmt.Errorf("field SOA: refresh %d, retry %d and expire %d must be positive", c.SOA.Refresh, c.SOA.Retry, c.SOA.Expire))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("zone config: %w", err)
	}
	return nil
}

// fqdn lower-cases s and adds the trailing dot.
func fqdn(s string) string { return dns.Fqdn(strings.ToLower(s)) }

// overlaps reports whether one of two FQDNs is equal to or under the other.
func overlaps(a, b string) bool {
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

// validName reports whether name, a lower-case FQDN, can be served: a
// domain name of at most 255 octets on the wire, no empty label, no label
// longer than 63 octets, and only the octets our generator emits (letters,
// digits, '-', '_' and '.'), so it needs no escaping in presentation format.
func validName(name string) bool {
	if len(name) < 2 || name[len(name)-1] != '.' || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	_, ok := dns.IsDomainName(name)
	return ok
}
