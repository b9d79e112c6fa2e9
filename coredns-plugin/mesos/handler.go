package mesos

import (
	"context"
	"math/rand/v2"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
)

// exactDedupLimit is the largest SRV answer whose targets are de-duplicated
// by comparing with every earlier one; longer answers use a map.
const exactDedupLimit = 64

// noRecords stands in for the record sets of a name the zone does not hold.
var noRecords zone.RRSet

// ServeDNS implements plugin.Handler. It answers queries under the zone
// origins within the plugin's zones from the current zone only:
//
//   - A, AAAA and SRV from the name's record sets, SRV with the first A and
//     AAAA of each target in the additional section; ANY returns all three
//     (plus SOA and NS at the apex). Answers are copied and rotated by a
//     random offset, so repeated queries spread over the records.
//   - SOA and NS at an origin's apex in the answer section, NS with the
//     nameserver's address as glue.
//   - No records of the type but the name exists: NOERROR with the SOA in
//     the authority section (NODATA). The name does not exist: NXDOMAIN with
//     the SOA, or the next plugin when `fallthrough` covers the name.
//   - Before the first zone is loaded: SERVFAIL. Opcodes other than QUERY:
//     NOTIMP. Zone transfers: REFUSED (HTTP /v1/axfr has the zone).
//
// Replies are authoritative, carry the client's EDNS0 buffer size and are
// truncated (TC bit) to it over UDP, or to 512 bytes without EDNS0; over
// TCP they are not limited. Names outside the plugin's zones, or inside them
// but under no origin it serves (l4lb.thisdcos.directory, say), go to the
// next plugin.
func (m *Mesos) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	if c := r.Question[0].Qclass; c != dns.ClassINET && c != dns.ClassANY {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	st := request.Request{W: w, Req: r}
	qname := st.Name()
	if zoneOf(m.Zones, qname) == "" {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	z := m.zone.Load()
	origins := m.origins
	if z != nil {
		origins = z.Origins()
	}
	origin := zoneOf(origins, qname)
	if origin == "" {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	if z == nil {
		return dns.RcodeServerFailure, nil
	}
	if r.Opcode != dns.OpcodeQuery {
		return dns.RcodeNotImplemented, nil
	}

	qtype := st.QType()
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		// Zone transfers are HTTP only (/v1/axfr), as in Mesos-DNS.
		return dns.RcodeRefused, nil
	}
	apex := qname == origin
	rs, exists := z.Lookup(qname)
	if rs == nil {
		rs = &noRecords
	}
	answer, extra := answers(z, rs, origin, qtype, apex)

	msg := new(dns.Msg)
	msg.SetReply(r)
	msg.Authoritative = true
	msg.Answer, msg.Extra = answer, extra
	if len(answer) == 0 {
		if !exists && !apex {
			if m.Fall.Through(qname) {
				return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
			}
			msg.Rcode = dns.RcodeNameError
		}
		msg.Ns = []dns.RR{z.SOA(origin)}
	}
	st.SizeAndDo(msg)
	msg = st.Scrub(msg)
	_ = w.WriteMsg(msg) // nothing to do about a client gone
	return msg.Rcode, nil
}

// answers returns the answer and additional sections for qtype.
func answers(z *zone.Zone, rs *zone.RRSet, origin string, qtype uint16, apex bool) (answer, extra []dns.RR) {
	switch qtype {
	case dns.TypeA:
		return appendRotated(nil, rs.A), nil
	case dns.TypeAAAA:
		return appendRotated(nil, rs.AAAA), nil
	case dns.TypeSRV:
		answer = appendRotated(nil, rs.SRV)
		return answer, srvExtra(z, answer)
	case dns.TypeSOA:
		if apex {
			return []dns.RR{z.SOA(origin)}, nil
		}
	case dns.TypeNS:
		if apex {
			ns := z.NS(origin)
			return []dns.RR{ns}, appendExtra(nil, z, ns.Ns)
		}
	case dns.TypeANY:
		n := len(rs.A) + len(rs.AAAA) + len(rs.SRV)
		if apex {
			n += 2
		}
		if n == 0 {
			return nil, nil
		}
		answer = make([]dns.RR, 0, n)
		answer = appendRotated(answer, rs.A)
		answer = appendRotated(answer, rs.AAAA)
		answer = appendRotated(answer, rs.SRV)
		extra = srvExtra(z, answer[len(answer)-len(rs.SRV):])
		if apex {
			answer = append(answer, z.SOA(origin), z.NS(origin))
		}
		return answer, extra
	}
	return nil, nil
}

// appendRotated appends src to dst rotated by a random offset. src is
// shared with the zone and is never modified. A nil dst is allocated with
// exactly the room src needs.
func appendRotated(dst, src []dns.RR) []dns.RR {
	n := len(src)
	if n == 0 {
		return dst
	}
	if dst == nil {
		dst = make([]dns.RR, 0, n)
	}
	k := 0
	if n > 1 {
		k = rand.IntN(n)
	}
	dst = append(dst, src[k:]...)
	return append(dst, src[:k]...)
}

// srvExtra returns the first A and AAAA record of every distinct target of
// srvs.
func srvExtra(z *zone.Zone, srvs []dns.RR) []dns.RR {
	var extra []dns.RR
	if len(srvs) <= exactDedupLimit {
	next:
		for i, rr := range srvs {
			target := rr.(*dns.SRV).Target
			for _, prev := range srvs[:i] {
				if prev.(*dns.SRV).Target == target {
					continue next
				}
			}
			extra = appendExtra(extra, z, target)
		}
		return extra
	}
	seen := make(map[string]struct{}, len(srvs))
	for _, rr := range srvs {
		target := rr.(*dns.SRV).Target
		if _, dup := seen[target]; dup {
			continue
		}
		seen[target] = struct{}{}
		extra = appendExtra(extra, z, target)
	}
	return extra
}

// appendExtra appends the additional records of target to extra.
func appendExtra(extra []dns.RR, z *zone.Zone, target string) []dns.RR {
	rrs := z.Extra(target)
	if len(rrs) == 0 {
		return extra
	}
	if extra == nil {
		extra = make([]dns.RR, 0, 2*len(rrs))
	}
	return append(extra, rrs...)
}

// zoneOf returns the longest of zones that qname is equal to or under, ""
// if none. Names are lower-case FQDNs in presentation format. It is
// plugin.Zones.Matches without its allocations (dns.Split per zone).
func zoneOf(zones []string, qname string) string {
	best := ""
	for _, z := range zones {
		if len(z) > len(best) && isSubdomain(qname, z) {
			best = z
		}
	}
	return best
}

// isSubdomain reports whether name is zone or under it, both lower-case
// FQDNs in presentation format.
func isSubdomain(name, zone string) bool {
	switch {
	case zone == ".":
		return true
	case len(name) < len(zone):
		return false
	case len(name) == len(zone):
		return name == zone
	}
	i := len(name) - len(zone) - 1
	if name[i] != '.' || name[i+1:] != zone {
		return false
	}
	// The dot ends a label unless it is escaped ("a\.mesos." is one
	// label): an odd number of backslashes before it escapes it.
	n := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}
