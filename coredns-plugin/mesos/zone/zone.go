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

	// srv is the additional section of SRV, nil when it is empty.
	srv *srvSection
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

// SRVExtra returns what Mesos-DNS adds to the additional section for the
// SRV records rotated to start at SRV[k] (0 <= k < len(SRV)): the first A
// and the first AAAA record of every distinct target, in the order the
// targets first appear in SRV[k:] then SRV[:k], as head followed by tail.
// The section is computed when the zone is built and follows the targets'
// records; both slices are shared, with their length as capacity.
func (rs *RRSet) SRVExtra(k int) (head, tail []dns.RR) {
	if rs == nil || rs.srv == nil {
		return nil, nil
	}
	s := rs.srv
	if k == 0 || s.at == nil {
		return s.rrs, nil
	}
	at := s.at[k]
	return s.rrs[at:], s.rrs[:at:at]
}

// srvSection is the additional section of the SRV records of a name.
type srvSection struct {
	// rrs is the extra of each distinct target in the order of SRV
	// (which sorts by target, so the records of one target are
	// adjacent): the target's own extra when SRV has one target.
	rrs []dns.RR
	// at[i] is where the records of SRV[i]'s target begin in rrs; nil
	// when that is always 0 (one target).
	at []int32
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

// Zone is an immutable, fully indexed record set: the Mesos-DNS domain and,
// with Config.DCOS, dcos.thisdcos.directory, built from one state snapshot
// by a Builder; or the named VIPs of l4lb.thisdcos.directory (and the
// aliases the plugin serves), built by an L4LBBuilder. It is safe for
// concurrent readers; everything it returns is shared and MUST NOT be
// modified.
type Zone struct {
	// g and snap are those of a Mesos zone, nil in an l4lb zone.
	g     *gen
	names *immutable.Map[string, *RRSet]
	// ents counts, for every proper ancestor of an owner name below the
	// name's origin, the owner names under it ("marathon.mesos." 2 for
	// "a.marathon.mesos." and "b.marathon.mesos."). Those that own no
	// record themselves are the empty non-terminals.
	ents    *immutable.Map[string, int32]
	serial  uint32
	snap    *state.Snapshot
	origins []string
	// apexes are the SOA and NS of each origin, in the order of origins.
	apexes []apex
}

// apex is the SOA and NS records of one origin, and the SOA alone: the
// authority section of negative answers.
type apex struct {
	origin string
	soa    *dns.SOA
	ns     *dns.NS
	auth   []dns.RR
}

// newApex returns the apex records of origin.
func newApex(soa *dns.SOA, ns *dns.NS) apex {
	return apex{origin: soa.Hdr.Name, soa: soa, ns: ns, auth: []dns.RR{soa}}
}

// dcosApex returns the SOA and NS of one of dcos-net's thisdcos.directory
// zones, as its erldns zones have them (spec dcos-net.md §1.3): SOA TTL
// ttl, mname ns.spartan., rname support.mesosphere.com., refresh 60, retry
// 180, expire 86400, minimum 1; NS ns.spartan. with TTL 3600.
func dcosApex(origin string, ttl, serial uint32) apex {
	return newApex(&dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      dcosMName,
		Mbox:    dcosRName,
		Serial:  serial,
		Refresh: dcosRefresh,
		Retry:   dcosRetry,
		Expire:  dcosExpire,
		Minttl:  dcosMinTTL,
	}, &dns.NS{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: dcosNSTTL},
		Ns:  dcosMName,
	})
}

// newZone assembles a zone and its SOA and NS records.
func newZone(g *gen, names *immutable.Map[string, *RRSet], ents *immutable.Map[string, int32], serial uint32, snap *state.Snapshot) *Zone {
	origin := g.cfg.Domain + "."
	z := &Zone{g: g, names: names, ents: ents, serial: serial, snap: snap, origins: []string{origin}}
	soa := g.cfg.SOA
	mesosSOA := &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: g.cfg.TTL},
		Ns:      fqdn(soa.MName),
		Mbox:    fqdn(strings.ReplaceAll(soa.RName, "@", ".")),
		Serial:  serial,
		Refresh: soa.Refresh,
		Retry:   soa.Retry,
		Expire:  soa.Expire,
		Minttl:  g.cfg.TTL, // Mesos-DNS answers with ttl, not SOAMinttl
	}
	z.apexes = []apex{newApex(mesosSOA, &dns.NS{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: g.cfg.TTL},
		Ns:  mesosSOA.Ns,
	})}
	if g.cfg.DCOS {
		z.origins = append(z.origins, DCOSOrigin)
		z.apexes = append(z.apexes, dcosApex(DCOSOrigin, g.cfg.DCOSTTL, serial))
	}
	return z
}

// Origins returns the zones served, lower-case FQDNs: the Mesos-DNS domain
// ("mesos.") and, with Config.DCOS, "dcos.thisdcos.directory."; or the
// origins of an l4lb zone.
func (z *Zone) Origins() []string { return z.origins }

// Lookup returns the records of an owner name, a lower-case FQDN with the
// trailing dot such as "web.marathon.mesos.". ok is false when no record
// of any type has that owner; the name may still exist as an empty
// non-terminal (see EmptyNonTerminal). It does not allocate.
func (z *Zone) Lookup(name string) (rs *RRSet, ok bool) { return z.names.Get(name) }

// EmptyNonTerminal reports whether name, a lower-case FQDN below one of
// Origins, owns no record but has owner names under it, like
// "marathon.slave.mesos." or "_tcp.marathon.mesos.": such a name exists
// (RFC 8020), so queries for it get NODATA, not NXDOMAIN. It does not
// allocate.
func (z *Zone) EmptyNonTerminal(name string) bool {
	if n, _ := z.ents.Get(name); n <= 0 {
		return false
	}
	_, owner := z.names.Get(name)
	return !owner
}

// Extra returns the first A and the first AAAA record of an SRV target
// (for the additional section), nil if it has none.
func (z *Zone) Extra(target string) []dns.RR {
	rs, _ := z.names.Get(target)
	return rs.Extra()
}

// apex returns the apex records of origin, nil if it is not one of
// Origins.
func (z *Zone) apex(origin string) *apex {
	for i := range z.apexes {
		if z.apexes[i].origin == origin {
			return &z.apexes[i]
		}
	}
	return nil
}

// SOA returns the SOA record of an origin (one of Origins), nil for any
// other name. The serial of every origin is Serial.
func (z *Zone) SOA(origin string) *dns.SOA {
	if a := z.apex(origin); a != nil {
		return a.soa
	}
	return nil
}

// Authority returns the authority section of negative answers under an
// origin (one of Origins): its SOA alone; nil for any other name. The slice
// is shared, its length is its capacity.
func (z *Zone) Authority(origin string) []dns.RR {
	if a := z.apex(origin); a != nil {
		return a.auth
	}
	return nil
}

// NS returns the NS record of an origin (one of Origins), nil for any
// other name: the SOA MName of the Mesos-DNS domain, ns.spartan. for the
// thisdcos.directory zones.
func (z *Zone) NS(origin string) *dns.NS {
	if a := z.apex(origin); a != nil {
		return a.ns
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

// newRR creates the record of a value. An address is allocated with its
// record, which saves a cache miss when a reply is packed.
func newRR(name string, v value, ttl uint32, weight uint16) dns.RR {
	hdr := dns.RR_Header{Name: name, Rrtype: v.typ, Class: dns.ClassINET, Ttl: ttl}
	switch v.typ {
	case dns.TypeA:
		r := &struct {
			dns.A
			ip [4]byte
		}{ip: v.ip.As4()}
		r.A = dns.A{Hdr: hdr, A: r.ip[:]}
		return &r.A
	case dns.TypeAAAA:
		r := &struct {
			dns.AAAA
			ip [16]byte
		}{ip: v.ip.As16()}
		r.AAAA = dns.AAAA{Hdr: hdr, AAAA: r.ip[:]}
		return &r.AAAA
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
