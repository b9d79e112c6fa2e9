package zone

import (
	"hash/maphash"
	"net/netip"
	"strings"

	"github.com/benbjohnson/immutable"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// RRSet holds the records of one owner name. Everything in it is shared
// between zones and readers and MUST NOT be modified.
type RRSet struct {
	// A, AAAA and SRV are ready-made records: owner = the name, class INET,
	// the TTL of the name's zone, SRV priority 0 and the configured weight.
	// Each slice is sorted (addresses, then SRV target and port) and holds
	// no duplicates.
	A, AAAA, SRV []dns.RR

	// extra is the first A and the first AAAA, nil if none.
	extra []dns.RR
	// refs counts, parallel to A then AAAA then SRV, how many sources
	// (tasks, agents, frameworks, the configuration) produce each record.
	refs []int32
}

// Extra returns the first A and the first AAAA record, nil if there is
// neither: what Mesos-DNS adds to the additional section for an SRV target.
func (rs *RRSet) Extra() []dns.RR {
	if rs == nil {
		return nil
	}
	return rs.extra
}

// Len returns the number of records.
func (rs *RRSet) Len() int { return len(rs.A) + len(rs.AAAA) + len(rs.SRV) }

// at returns the i-th record of A, AAAA, SRV in that order.
func (rs *RRSet) at(i int) dns.RR {
	if i < len(rs.A) {
		return rs.A[i]
	}
	i -= len(rs.A)
	if i < len(rs.AAAA) {
		return rs.AAAA[i]
	}
	return rs.SRV[i-len(rs.AAAA)]
}

// nameHasher hashes owner names for the persistent map with the runtime's
// string hash, without allocating.
type nameHasher struct{ seed maphash.Seed }

func (h *nameHasher) Hash(key string) uint32  { return uint32(maphash.String(h.seed, key)) }
func (h *nameHasher) Equal(a, b string) bool  { return a == b }
func newNameHasher() immutable.Hasher[string] { return &nameHasher{seed: maphash.MakeSeed()} }

// Zone is an immutable, fully indexed record set built from one state
// snapshot: the Mesos-DNS domain and, with Config.DCOS,
// dcos.thisdcos.directory. It is safe for concurrent readers; everything it
// returns is shared and MUST NOT be modified.
type Zone struct {
	g       *gen
	names   *immutable.Map[string, *RRSet]
	serial  uint32
	snap    *state.Snapshot
	origins []string
	soa     *dns.SOA
	ns      *dns.NS
	dcosSOA *dns.SOA
	dcosNS  *dns.NS
}

// newZone assembles a zone and its SOA and NS records.
func newZone(g *gen, names *immutable.Map[string, *RRSet], serial uint32, snap *state.Snapshot) *Zone {
	origin := g.cfg.Domain + "."
	z := &Zone{g: g, names: names, serial: serial, snap: snap, origins: []string{origin}}
	soa := g.cfg.SOA
	z.soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: g.cfg.TTL},
		Ns:      fqdn(soa.MName),
		Mbox:    fqdn(strings.ReplaceAll(soa.RName, "@", ".")),
		Serial:  serial,
		Refresh: soa.Refresh,
		Retry:   soa.Retry,
		Expire:  soa.Expire,
		Minttl:  g.cfg.TTL, // Mesos-DNS answers with ttl, not SOAMinttl
	}
	z.ns = &dns.NS{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: g.cfg.TTL},
		Ns:  z.soa.Ns,
	}
	if g.cfg.DCOS {
		z.origins = append(z.origins, DCOSOrigin)
		z.dcosSOA = &dns.SOA{
			Hdr:     dns.RR_Header{Name: DCOSOrigin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: g.cfg.DCOSTTL},
			Ns:      dcosMName,
			Mbox:    dcosRName,
			Serial:  serial,
			Refresh: dcosRefresh,
			Retry:   dcosRetry,
			Expire:  dcosExpire,
			Minttl:  dcosMinTTL,
		}
		z.dcosNS = &dns.NS{
			Hdr: dns.RR_Header{Name: DCOSOrigin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: dcosNSTTL},
			Ns:  dcosMName,
		}
	}
	return z
}

// Origins returns the zones served, lower-case FQDNs: the Mesos-DNS domain
// ("mesos.") and, with Config.DCOS, "dcos.thisdcos.directory.".
func (z *Zone) Origins() []string { return z.origins }

// Lookup returns the records of an owner name, a lower-case FQDN with the
// trailing dot such as "web.marathon.mesos.". ok is false when no record
// of any type has that owner (the caller tells NXDOMAIN from NODATA with
// it; names that exist only as parents of others, like
// "marathon.slave.mesos.", do not exist, as in Mesos-DNS). It does not
// allocate.
func (z *Zone) Lookup(name string) (rs *RRSet, ok bool) { return z.names.Get(name) }

// Extra returns the first A and the first AAAA record of an SRV target
// (for the additional section), nil if it has none.
func (z *Zone) Extra(target string) []dns.RR {
	rs, _ := z.names.Get(target)
	return rs.Extra()
}

// SOA returns the SOA record of an origin (one of Origins), nil for any
// other name. The serial of both zones is Serial.
func (z *Zone) SOA(origin string) *dns.SOA {
	switch origin {
	case z.origins[0]:
		return z.soa
	case DCOSOrigin:
		return z.dcosSOA
	}
	return nil
}

// NS returns the NS record of an origin (one of Origins), nil for any
// other name: the SOA MName of the Mesos-DNS domain, ns.spartan. for
// dcos.thisdcos.directory.
func (z *Zone) NS(origin string) *dns.NS {
	switch origin {
	case z.origins[0]:
		return z.ns
	case DCOSOrigin:
		return z.dcosNS
	}
	return nil
}

// Serial returns the SOA serial: the build time (Unix seconds) of the last
// change of the records, never decreasing.
func (z *Zone) Serial() uint32 { return z.serial }

// Len returns the number of owner names.
func (z *Zone) Len() int { return z.names.Len() }

// Snapshot returns the state snapshot the zone was built from.
func (z *Zone) Snapshot() *state.Snapshot { return z.snap }

// newRR creates the record of a value.
func newRR(name string, v value, ttl uint32, weight uint16) dns.RR {
	hdr := dns.RR_Header{Name: name, Rrtype: v.typ, Class: dns.ClassINET, Ttl: ttl}
	switch v.typ {
	case dns.TypeA:
		b := v.ip.As4()
		return &dns.A{Hdr: hdr, A: b[:]}
	case dns.TypeAAAA:
		b := v.ip.As16()
		return &dns.AAAA{Hdr: hdr, AAAA: b[:]}
	default:
		return &dns.SRV{Hdr: hdr, Weight: weight, Port: v.port, Target: v.target}
	}
}

// valueOf returns the value of a record made by newRR.
func valueOf(rr dns.RR) value {
	switch r := rr.(type) {
	case *dns.A:
		return value{typ: dns.TypeA, ip: netip.AddrFrom4([4]byte(r.A))}
	case *dns.AAAA:
		return value{typ: dns.TypeAAAA, ip: netip.AddrFrom16([16]byte(r.AAAA))}
	case *dns.SRV:
		return value{typ: dns.TypeSRV, target: r.Target, port: r.Port}
	}
	return value{}
}
