package mesos

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
)

// noRecords stands in for the record sets of a name the zone does not hold.
var noRecords zone.RRSet

// ServeDNS implements plugin.Handler. It answers queries under the zone
// origins within the plugin's zones from the current zone of the origin
// only (the Mesos zone, or the l4lb zone of the cluster API):
//
//   - A, AAAA and SRV from the name's record sets, SRV with the first A and
//     AAAA of each target in the additional section; ANY returns all three
//     (plus SOA and NS at the apex). Answers of several records are rotated
//     by a random offset, so repeated queries spread over the records.
//   - SOA and NS at an origin's apex in the answer section, NS with the
//     nameserver's address as glue.
//   - No records of the type but the name exists, as an owner or as an
//     empty non-terminal (a parent of owner names, RFC 8020): NOERROR with
//     the SOA in the authority section (NODATA). The name does not exist:
//     NXDOMAIN with the SOA, or the next plugin when `fallthrough` covers
//     the name.
//   - Before the first zone of the origin is loaded: SERVFAIL. Opcodes other than QUERY:
//     NOTIMP. Zone transfers: REFUSED (HTTP /v1/axfr has the zone).
//
// Replies are authoritative, carry the client's EDNS0 buffer size and are
// truncated (TC bit) to it over UDP, or to 512 bytes without EDNS0; over
// TCP they are not limited. Names outside the plugin's zones, or inside them
// but under no origin it serves (l4lb.thisdcos.directory without the
// cluster option, say), go to the next plugin.
//
// Replies are written packed from the zone's reply cache when the writer
// and the query allow it (replycache.go): no allocation. Otherwise a query
// costs one allocation for the reply and, when the answer has several
// records, one for the rotated copy of the zone's shared records (and of
// the SRV additional section, ready-made in the zone); a single record is
// answered with the zone's slices themselves.
func (m *Mesos) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	q := r.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	qname, plain := canonical(q.Name)
	if zoneOf(m.Zones, qname) == "" {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	z, origin, slot := m.zoneFor(qname)
	if origin == "" {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	if z == nil {
		return dns.RcodeServerFailure, nil
	}
	if r.Opcode != dns.OpcodeQuery {
		return dns.RcodeNotImplemented, nil
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		// Zone transfers are HTTP only (/v1/axfr), as in Mesos-DNS.
		return dns.RcodeRefused, nil
	}

	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	opt := r.IsEdns0()
	size := dns.MaxMsgSize
	if !tcp {
		size = dns.MinMsgSize
		if opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
	}
	// The reply cache (replycache.go), when the reply can be written
	// packed.
	var cache *replyCache
	if plain && q.Qtype != dns.TypeANY && rawWriter(w) && cacheableQuery(r, opt) {
		cache = replies(slot, z)
		if e := cache.get(replyKey{qname, q.Qtype}); e != nil {
			if ok, _ := e.write(w, r, q, qname, opt, size); ok { // nothing to do about a client gone
				return e.rcode, nil
			}
		}
	}

	apex := qname == origin
	rs, exists := z.Lookup(qname)
	if !exists {
		rs = &noRecords
		exists = apex || z.EmptyNonTerminal(qname)
	}
	optRoom := 0
	if opt != nil {
		optRoom = 1 // for the OPT record SizeAndDo appends
	}
	limit := maxAnswers(size)
	answer, extra := answers(z, rs, origin, q.Qtype, apex, limit, optRoom)
	if len(answer) == 0 && !exists && m.Fall.Through(qname) {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	if cache != nil && exists {
		if e := m.cacheReply(cache, z, rs, origin, qname, q, apex, len(answer) == 0); e != nil {
			if ok, _ := e.write(w, r, q, qname, opt, size); ok {
				return e.rcode, nil
			}
		}
	}

	msg, room := newReply(q, opt != nil)
	// msg.SetReply(r) without its allocation; the opcode is QUERY.
	msg.MsgHdr = dns.MsgHdr{Id: r.Id, Response: true, Opcode: r.Opcode, Authoritative: true,
		RecursionDesired: r.RecursionDesired, CheckingDisabled: r.CheckingDisabled}
	if len(answer) == 0 {
		if !exists {
			msg.Rcode = dns.RcodeNameError
		}
		msg.Ns = z.Authority(origin)
	}
	if len(extra) == cap(extra) && len(extra) < cap(room) {
		// Room for the OPT record, rather than append copying the
		// zone's shared slice.
		extra = append(room, extra...)
	}
	msg.Answer, msg.Extra = answer, extra
	// The server hands plugins a request.ScrubWriter, which does
	// SizeAndDo and Scrub on WriteMsg: writing to it directly, doing them
	// here too would only double the work. An answer cut short by
	// maxAnswers is truncated here all the same, so that its TC bit does
	// not depend on the writer.
	if _, scrubs := w.(*request.ScrubWriter); !scrubs || len(answer) >= limit {
		st := request.Request{W: w, Req: r}
		st.SizeAndDo(msg)
		fit(msg, size, tcp, w)
	}
	_ = w.WriteMsg(msg) // nothing to do about a client gone
	return msg.Rcode, nil
}

// zoneFor returns the zone that serves qname, the origin of qname in it,
// and the slot of the zone's reply cache; origin is "" when no zone the
// plugin serves holds qname, and the zone nil before its first load. The
// l4lb origins are fixed by the configuration, the Mesos zone's are its
// own once loaded.
func (m *Mesos) zoneFor(qname string) (*zone.Zone, string, *atomic.Pointer[replyCache]) {
	if len(m.l4lbOrigins) > 0 {
		if o := zoneOf(m.l4lbOrigins, qname); o != "" {
			return m.l4lb.Load(), o, &m.l4lbCache
		}
	}
	z := m.zone.Load()
	origins := m.origins
	if z != nil {
		origins = z.Origins()
	}
	return z, zoneOf(origins, qname), &m.cache
}

// reply is a reply message allocated at once with its question section.
type reply struct {
	msg      dns.Msg
	question [1]dns.Question
}

// ednsReply is a reply with room for the OPT record and one more additional
// record.
type ednsReply struct {
	reply
	rrs [2]dns.RR
}

// newReply returns a reply message to a question, in one allocation, and
// when edns is set, an empty slice with room for the additional section
// and its OPT record.
func newReply(q dns.Question, edns bool) (msg *dns.Msg, room []dns.RR) {
	var rep *reply
	if edns {
		e := new(ednsReply)
		rep, room = &e.reply, e.rrs[:0]
	} else {
		rep = new(reply)
	}
	rep.question[0] = q
	rep.msg.Question = rep.question[:]
	return &rep.msg, room
}

// canonicalName returns a query name as request.Request.Name does (in
// presentation format, lower case), without work or allocation for the
// usual name of lower-case letters, digits, '-', '_' and dots.
func canonicalName(name string) string {
	n, _ := canonical(name)
	return n
}

// canonical returns canonicalName(name) and whether name is plain: made
// of letters, digits, '-', '_' and dots only, so that its octets in wire
// format are those of its presentation format.
func canonical(name string) (_ string, plain bool) {
	upper := false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			// Escapes and other octets: the general rules.
			return strings.ToLower(dns.Name(name).String()), false
		}
	}
	if upper {
		return strings.ToLower(name), true
	}
	return name, true
}

// cacheReply returns the cached reply to q (whose lower-case name is
// qname, the name of rs under origin) or NODATA to qname, creating it if
// need be; nil when the reply is not one the cache holds.
func (m *Mesos) cacheReply(c *replyCache, z *zone.Zone, rs *zone.RRSet, origin, qname string, q dns.Question, apex, nodata bool) *cachedReply {
	k := replyKey{qname, q.Qtype}
	if nodata {
		k.qtype = nodataType
		if e := c.get(k); e != nil {
			return e
		}
	}
	if c.len() >= maxCachedReplies {
		return nil
	}
	q.Name = qname
	var e *cachedReply
	switch {
	case nodata:
		e = newCachedReply(q, dns.RcodeSuccess, nil, z.Authority(origin), nil, nil)
	case q.Qtype == dns.TypeA:
		e = newCachedReply(q, dns.RcodeSuccess, rs.A, nil, nil, nil)
	case q.Qtype == dns.TypeAAAA:
		e = newCachedReply(q, dns.RcodeSuccess, rs.AAAA, nil, nil, nil)
	case q.Qtype == dns.TypeSRV:
		head, _ := rs.SRVExtra(0)
		e = newCachedReply(q, dns.RcodeSuccess, rs.SRV, nil, head, rs)
	case apex && (q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeNS):
		answer, extra := answers(z, rs, origin, q.Qtype, apex, 1, 0)
		e = newCachedReply(q, dns.RcodeSuccess, answer, nil, extra, nil)
	}
	if e != nil {
		c.put(k, e)
	}
	return e
}

// Smallest sizes of records in a reply: the message header, and an A record
// whose owner is a compression pointer (2 octets name, 10 header, 4 data).
// No record of an answer is smaller.
const (
	headerLen = 12
	minRRLen  = 16
)

// maxAnswers returns how many records of one type an answer may hold before
// the reply surely exceeds size: any more would be truncated away, with the
// additional section, so they need not be copied.
func maxAnswers(size int) int { return (size-headerLen)/minRRLen + 1 }

// fit truncates msg to size, setting the TC bit, as request.Request.Scrub
// does (and with its compression of large UDP replies), but without
// computing the length of replies that obviously fit: over TCP, those of
// at most tcpFitRRs records without EDNS0 options.
func fit(msg *dns.Msg, size int, tcp bool, w dns.ResponseWriter) {
	if tcp && len(msg.Answer)+len(msg.Ns)+len(msg.Extra) <= tcpFitRRs && !hasOptions(msg) {
		return
	}
	l := msg.Len()
	if l > size {
		msg.Truncate(size)
		// Truncate shortens the sections, which may be the zone's shared
		// slices: leave no room after them for a later append to write
		// into.
		msg.Answer, msg.Ns, msg.Extra = slices.Clip(msg.Answer), slices.Clip(msg.Ns), slices.Clip(msg.Extra)
		return
	}
	if tcp {
		return
	}
	// Scrub's last ditch against fragmentation: compress UDP replies
	// beyond 1480 octets (IPv4) or 1220 (IPv6).
	if l > 1480 || l > 1220 && !isIPv4(w) {
		msg.Compress = true
	}
}

// tcpFitRRs is a number of records that always fits a TCP reply: a record
// (an OPT without options included) is at most 795 octets (an SOA: 255
// owner, 10 header, two 255-octet names and 20), 64 of them with the header
// and a question 51,151.
const tcpFitRRs = 64

// hasOptions reports whether the OPT record of msg carries EDNS0 options.
func hasOptions(msg *dns.Msg) bool {
	opt := msg.IsEdns0()
	return opt != nil && len(opt.Option) > 0
}

// isIPv4 reports whether the client's address is IPv4, as
// request.Request.Family.
func isIPv4(w dns.ResponseWriter) bool {
	var ip net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	return ip.To4() != nil
}

// answers returns the answer and additional sections for qtype. Sections
// that need no rotation are the zone's shared slices, whose capacity is
// their length (so that appending copies them); a rotated copy has room
// for room more additional records. Of an answer of more than limit
// records, limit are copied and no additional section: the rest could not
// fit the reply.
func answers(z *zone.Zone, rs *zone.RRSet, origin string, qtype uint16, apex bool, limit, room int) (answer, extra []dns.RR) {
	switch qtype {
	case dns.TypeA:
		return rotated(rs.A, limit, room)
	case dns.TypeAAAA:
		return rotated(rs.AAAA, limit, room)
	case dns.TypeSRV:
		return rotatedSRV(rs, limit, room)
	case dns.TypeSOA:
		if apex {
			return z.Authority(origin), nil
		}
	case dns.TypeNS:
		if apex {
			ns := z.NS(origin)
			return []dns.RR{ns}, z.Extra(ns.Ns)
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
		answer = appendRotated(answer, rs.A, randOffset(len(rs.A)), len(rs.A))
		answer = appendRotated(answer, rs.AAAA, randOffset(len(rs.AAAA)), len(rs.AAAA))
		if len(rs.SRV) > 0 {
			k := randOffset(len(rs.SRV))
			answer = appendRotated(answer, rs.SRV, k, len(rs.SRV))
			head, tail := rs.SRVExtra(k)
			extra = make([]dns.RR, 0, len(head)+len(tail)+room)
			extra = append(append(extra, head...), tail...)
		}
		if apex {
			answer = append(answer, z.SOA(origin), z.NS(origin))
		}
		return answer, extra
	}
	return nil, nil
}

// rotated returns rrs rotated by a random offset: rrs itself when it has
// one record, else a copy of the first limit records of the rotation, with
// an empty additional section of capacity room.
func rotated(rrs []dns.RR, limit, room int) (answer, extra []dns.RR) {
	n := len(rrs)
	if n <= 1 {
		return rrs, nil
	}
	n = min(n, limit)
	buf := make([]dns.RR, 0, n+room)
	buf = appendRotated(buf, rrs, randOffset(len(rrs)), n)
	return buf[:n:n], buf[n:n]
}

// rotatedSRV returns the SRV records of rs rotated by a random offset and
// their additional section: rs's own slices when it has one SRV record,
// else a copy of both in one allocation with room for room more additional
// records. Of more than limit SRV records, it copies the first limit of
// the rotation and no additional section.
func rotatedSRV(rs *zone.RRSet, limit, room int) (answer, extra []dns.RR) {
	n := len(rs.SRV)
	if n <= 1 {
		head, _ := rs.SRVExtra(0)
		return rs.SRV, head
	}
	k := randOffset(n)
	if n > limit {
		buf := make([]dns.RR, 0, limit+room)
		buf = appendRotated(buf, rs.SRV, k, limit)
		return buf[:limit:limit], buf[limit:limit]
	}
	head, tail := rs.SRVExtra(k)
	buf := make([]dns.RR, 0, n+len(head)+len(tail)+room)
	buf = appendRotated(buf, rs.SRV, k, n)
	buf = append(append(buf, head...), tail...)
	return buf[:n:n], buf[n:]
}

// randOffset returns a random offset of a rotation of n records.
func randOffset(n int) int {
	if n <= 1 {
		return 0
	}
	return randIntN(n)
}

// randIntN is rand.IntN; tests replace it to choose rotations.
var randIntN = defaultRandIntN

// defaultRandIntN is rand.IntN.
func defaultRandIntN(n int) int { return rand.IntN(n) }

// appendRotated appends the first n records of src rotated to start at
// src[k] to dst. src is shared with the zone and is never modified.
func appendRotated(dst, src []dns.RR, k, n int) []dns.RR {
	if head := src[k:]; len(head) < n {
		return append(append(dst, head...), src[:n-len(head)]...)
	}
	return append(dst, src[k:k+n]...)
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
