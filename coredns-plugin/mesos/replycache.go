package mesos

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
)

// The reply cache. A zone is immutable, so the wire format of the reply to
// a question is fixed for as long as the zone is served, but for the
// message ID, the RD and CD bits, the case of the question name (0x20
// randomisation), the question's type and class, the OPT record a query
// with EDNS0 gets back, and the rotation of the answer. A cachedReply holds
// the reply packed once, without OPT record and unrotated, with the offsets
// of its records; serving it is copying its bytes in rotated order into a
// buffer, patching those fields and writing the buffer with
// dns.ResponseWriter.Write: no dns.Msg, no packing, no allocation.
//
// When the raw path is used (see rawWriter and cacheableQuery):
//
//   - The writer is the server's own *request.ScrubWriter, possibly behind
//     wrappers that pass Write through and need nothing of the dns.Msg for
//     a NOERROR reply: the per-plugin tracker CoreDNS puts between any two
//     plugins, and the prometheus plugin's recorder (it counts the size of
//     a Write; its rcode stays NOERROR, which every cached reply is). Any
//     other wrapper (log, cache, loadbalance, rewrite, dnssec, ... need the
//     dns.Msg that WriteMsg hands them) takes the ordinary path. The cached
//     bytes are what ScrubWriter's SizeAndDo and Scrub would make of the
//     reply: it is used only when it fits the client's size untruncated,
//     and it never exceeds 1220 octets, the smallest size Scrub compresses.
//   - The query has one question, a name without escapes, and an
//     additional section that is empty or holds an OPT record without
//     options (SizeAndDo would echo some options; a TSIG needs signing).
//   - The reply is a positive answer of A, AAAA or SRV records, or SOA or
//     NS at an apex, or NODATA. NXDOMAIN replies are not cached (a flood of
//     random names would fill the cache), nor are ANY replies (several
//     rotations) nor replies too long for the client (truncation).
//
// The cache belongs to one zone and is dropped with it (the Mesos zone and
// the l4lb zone each have theirs): a zone update is
// visible to the next query exactly as without the cache. Entries are
// created on a query's first miss, and the cache stops growing at
// maxCachedReplies entries; there is no eviction.

// maxCachedReplies bounds the entries of one zone's cache. Positive answers
// exist only for the owner names' own types and NODATA is cached once per
// name, so a zone of N names has at most about 2N entries: this covers a
// 10,000-task cluster (73,175 names) with room to spare.
const maxCachedReplies = 1 << 18

// maxCachedLen is the longest reply cached, its OPT record included: Scrub
// compresses longer UDP replies to IPv6 clients.
const maxCachedLen = 1220

// optLen is the length of an OPT record without options.
const optLen = 11

// cacheShards is the number of independently locked parts of a cache.
const cacheShards = 64

// replyCache holds the packed replies of one zone.
type replyCache struct {
	zone   *zone.Zone
	seed   maphash.Seed
	n      atomic.Int32
	shards [cacheShards]cacheShard
}

// cacheShard is a part of a replyCache, padded to its own cache lines.
type cacheShard struct {
	mu sync.RWMutex
	m  map[replyKey]*cachedReply
	_  [40]byte
}

// replyKey identifies a cached reply: the lower-case query name and the
// query type, or nodataType for the NODATA reply of the name to any type.
type replyKey struct {
	name  string
	qtype uint16
}

// nodataType is the type of replyKey of NODATA replies (type 0 is
// reserved, no query asks for it).
const nodataType = 0

func newReplyCache(z *zone.Zone) *replyCache {
	c := &replyCache{zone: z, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[replyKey]*cachedReply{}
	}
	return c
}

// replies returns the reply cache of zone z held in slot (one per zone
// the plugin serves: the Mesos zone's, the l4lb zone's), replacing the
// cache of an earlier zone. Queries racing a zone swap may replace each
// other's cache a few times; each cache only ever holds replies of its own
// zone.
func replies(slot *atomic.Pointer[replyCache], z *zone.Zone) *replyCache {
	c := slot.Load()
	if c != nil && c.zone == z {
		return c
	}
	fresh := newReplyCache(z)
	if slot.CompareAndSwap(c, fresh) {
		return fresh
	}
	if c = slot.Load(); c != nil && c.zone == z {
		return c
	}
	return fresh
}

func (c *replyCache) shard(k replyKey) *cacheShard {
	return &c.shards[(maphash.String(c.seed, k.name)+uint64(k.qtype))%cacheShards]
}

// get returns the cached reply for k, nil if none.
func (c *replyCache) get(k replyKey) *cachedReply {
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	return e
}

// put stores e under k unless the cache is full.
func (c *replyCache) put(k replyKey, e *cachedReply) {
	if c.n.Load() >= maxCachedReplies {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok {
		s.m[k] = e
		c.n.Add(1)
	}
	s.mu.Unlock()
}

// len returns the number of cached replies.
func (c *replyCache) len() int { return int(c.n.Load()) }

// cachedReply is a reply packed without OPT record, with ID 0, RD and CD
// clear, and its answer unrotated.
type cachedReply struct {
	wire  []byte
	rcode int
	// qtypeAt is the offset of the question's type, after its name.
	qtypeAt int
	// ans holds the offsets of the answer records and the end of the
	// answer section when the answer rotates (two records or more), else
	// it is nil.
	ans []uint16
	// extraAt and extraSplit describe the additional section of a
	// rotating SRV answer: where it begins, and for rotation k where the
	// records that come first (SRVExtra(k)'s head) begin. Without an SRV
	// answer extraSplit is nil.
	extraAt    int
	extraSplit []uint16

	// msg is the reply unrotated, for building compressed. compressed
	// holds, per rotation, the reply packed with compression (as
	// dns.Msg.Truncate leaves a reply that fits the client's size only
	// compressed), built on first use; nil when msg is.
	msg        *dns.Msg
	compressed []atomic.Pointer[compressedReply]
}

// compressedReply is a cachedReply of one rotation packed with
// compression.
type compressedReply struct {
	wire []byte
	// estimate is the length dns.Msg.Truncate computes for the reply
	// (dns.Msg.Len): it keeps all records when this fits.
	estimate int
}

// newCachedReply packs the reply of rcode with answer, authority ns and
// additional section extra. rotate is the number of answer records that
// rotate (0 or 1 for none); srv, when set, is the RRSet whose SRV records
// are the answer, for the additional section of each rotation. It returns
// nil when the reply is too long to cache or does not pack.
func newCachedReply(q dns.Question, rcode int, answer, ns, extra []dns.RR, srv *zone.RRSet) *cachedReply {
	msg := dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: true, Rcode: rcode},
		Question: []dns.Question{q},
		Answer:   answer, Ns: ns, Extra: extra,
	}
	wire, err := msg.Pack()
	if err != nil || len(wire)+optLen > maxCachedLen {
		return nil
	}
	off := headerLen
	for off < len(wire) && wire[off] != 0 {
		off += 1 + int(wire[off]) // a label; packing does not compress the question
	}
	off++ // the root label
	e := &cachedReply{wire: wire, rcode: rcode, qtypeAt: off}
	off += 4 // type and class
	offsets := func(rrs []dns.RR) []uint16 {
		o := make([]uint16, len(rrs)+1)
		for i, rr := range rrs {
			o[i] = uint16(off)
			off += dns.Len(rr)
		}
		o[len(rrs)] = uint16(off)
		return o
	}
	ans := offsets(answer)
	if len(answer) > 1 {
		e.ans = ans
	}
	offsets(ns)
	e.extraAt = off
	xs := offsets(extra)
	if off != len(wire) {
		// Record lengths that do not add up: the offsets would be
		// wrong, do not cache.
		return nil
	}
	if len(wire) > dns.MinMsgSize-optLen {
		// Might not fit a client's size uncompressed.
		e.msg = &msg
		e.compressed = make([]atomic.Pointer[compressedReply], max(len(answer), 1))
	}
	if srv != nil && len(answer) > 1 {
		e.extraSplit = make([]uint16, len(answer))
		for k := range answer {
			_, tail := srv.SRVExtra(k)
			e.extraSplit[k] = xs[len(tail)]
		}
	}
	return e
}

// fits reports whether the reply, with an OPT record when edns is set,
// fits a client's size.
func (e *cachedReply) fits(size int, edns bool) bool {
	l := len(e.wire)
	if edns {
		l += optLen
	}
	return l <= size
}

// compressedFor returns the reply of rotation k packed with compression
// if it fits size (with an OPT record when edns is set) without
// truncation, else nil.
func (e *cachedReply) compressedFor(k, size int, edns bool) *compressedReply {
	if e.compressed == nil {
		return nil
	}
	c := e.compressed[k].Load()
	if c == nil {
		msg := *e.msg
		msg.Compress = true
		if n := len(msg.Answer); n > 1 {
			msg.Answer = appendRotated(make([]dns.RR, 0, n), e.msg.Answer, k, n)
			if e.extraSplit != nil {
				// The additional section of a rotating SRV answer:
				// rotate at its split for k.
				at := 0
				for i, off := e.extraAt, int(e.extraSplit[k]); off > i; at++ {
					i += dns.Len(e.msg.Extra[at])
				}
				msg.Extra = slices.Concat(e.msg.Extra[at:], e.msg.Extra[:at])
			}
		}
		wire, err := msg.Pack()
		if err != nil {
			return nil
		}
		c = &compressedReply{wire: wire, estimate: msg.Len()}
		e.compressed[k].Store(c)
	}
	opt := 0
	if edns {
		opt = optLen
	}
	if c.estimate+opt > size || len(c.wire)+opt > size {
		return nil
	}
	return c
}

// bufPool holds the buffers replies are assembled in.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, maxCachedLen)
	return &b
}}

// write writes the reply to query r, whose question is q and OPT record
// opt, to w, rotating a rotating answer by a random offset as answers does.
// The name of q is plain (see canonical), lname its lower-case form.
//
// A reply that does not fit size is written compressed if it fits so (and
// the name is in lower case: compression depends on case), as
// dns.Msg.Truncate would leave it; write reports false, writing nothing,
// when it does not fit either way.
func (e *cachedReply) write(w dns.ResponseWriter, r *dns.Msg, q dns.Question, lname string, opt *dns.OPT, size int) (bool, error) {
	k := 0
	if n := len(e.ans) - 1; n > 0 {
		k = randOffset(n)
	}
	wire := e.wire
	var c *compressedReply
	if !e.fits(size, opt != nil) {
		if q.Name != lname {
			return false, nil
		}
		if c = e.compressedFor(k, size, opt != nil); c == nil {
			return false, nil
		}
		wire = c.wire
	}
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], wire[:e.qtypeAt+4]...)

	// Header: the query's ID, RD and CD; QR, AA and the rcode are cached.
	binary.BigEndian.PutUint16(b[0:], r.Id)
	if r.RecursionDesired {
		b[2] |= 0x01
	}
	if r.CheckingDisabled {
		b[3] |= 0x10
	}
	if opt != nil {
		binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1)
	}
	// The question as asked. A plain name's octets in wire format are
	// those of its presentation format shifted by one, the dots being
	// label lengths.
	if q.Name != lname {
		for i := 0; i < len(q.Name); i++ {
			if c := q.Name[i]; c != '.' {
				b[headerLen+1+i] = c
			}
		}
	}
	binary.BigEndian.PutUint16(b[e.qtypeAt:], q.Qtype)
	binary.BigEndian.PutUint16(b[e.qtypeAt+2:], q.Qclass)

	// The sections, rotated.
	rest := e.qtypeAt + 4
	if c != nil {
		b = append(b, c.wire[rest:]...)
	} else if n := len(e.ans) - 1; n > 0 {
		start, end := int(e.ans[0]), int(e.ans[n])
		at := int(e.ans[k])
		b = append(append(b, e.wire[at:end]...), e.wire[start:at]...)
		if e.extraSplit != nil {
			at := int(e.extraSplit[k])
			b = append(b, e.wire[end:e.extraAt]...)
			b = append(append(b, e.wire[at:]...), e.wire[e.extraAt:at]...)
			rest = len(e.wire)
		} else {
			rest = end
		}
		b = append(b, e.wire[rest:]...)
	} else {
		b = append(b, e.wire[rest:]...)
	}

	if opt != nil {
		// SizeAndDo's echo of the query's OPT record: root name, the
		// client's UDP size, version 0, the DO bit and the upper Z bits
		// kept (Ttl &= 0xff00), no options.
		b = append(b, 0, 0, byte(dns.TypeOPT), 0, 0, 0, 0, 0, 0, 0, 0)
		o := len(b) - optLen
		binary.BigEndian.PutUint16(b[o+3:], opt.Hdr.Class)
		b[o+7] = byte(opt.Hdr.Ttl >> 8)
	}
	_, err := w.Write(b)
	*bp = b
	bufPool.Put(bp)
	return true, err
}

// rawWriter reports whether a packed reply can be written to w with Write:
// whether w is the server's own ScrubWriter behind nothing but wrappers
// that pass Write through and need no dns.Msg (see the package comment).
func rawWriter(w dns.ResponseWriter) bool {
	for range 16 {
		switch t := w.(type) {
		case *request.ScrubWriter:
			return true
		case *metrics.Recorder:
			w = t.Recorder.ResponseWriter
		default:
			inner, ok := unwrapTracker(w)
			if !ok {
				return false
			}
			w = inner
		}
	}
	return false
}

// trackerType and trackerField describe the writer CoreDNS's
// plugin.NextOrFailure hands the next plugin (an unexported type that
// embeds the ResponseWriter it wraps and records which plugin wrote):
// learnt once by calling NextOrFailure, so no type name is hard-coded. A
// CoreDNS that stops wrapping, or wraps differently, leaves trackerType
// nil and the raw path for the first plugin only.
var trackerType, trackerField = learnTracker()

func learnTracker() (reflect.Type, int) {
	var seen dns.ResponseWriter
	probe := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		seen = w
		return dns.RcodeSuccess, nil
	})
	base := &request.ScrubWriter{}
	_, _ = plugin.NextOrFailure("mesos", probe, context.Background(), base, new(dns.Msg))
	if seen == nil || seen == dns.ResponseWriter(base) {
		return nil, 0
	}
	t := reflect.TypeOf(seen)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, 0
	}
	for i := range t.Elem().NumField() {
		f := t.Elem().Field(i)
		if f.Anonymous && f.Type == reflect.TypeFor[dns.ResponseWriter]() {
			if inner, ok := reflect.ValueOf(seen).Elem().Field(i).Interface().(dns.ResponseWriter); ok && inner == dns.ResponseWriter(base) {
				return t, i
			}
		}
	}
	return nil, 0
}

// unwrapTracker returns the writer CoreDNS's per-plugin tracker w wraps.
func unwrapTracker(w dns.ResponseWriter) (dns.ResponseWriter, bool) {
	if trackerType == nil || reflect.TypeOf(w) != trackerType {
		return nil, false
	}
	inner, ok := reflect.ValueOf(w).Elem().Field(trackerField).Interface().(dns.ResponseWriter)
	return inner, ok && inner != nil
}

// cacheableQuery reports whether a query's reply may come from the cache:
// its name is plain and its additional section empty or only an OPT record
// without options (opt).
func cacheableQuery(r *dns.Msg, opt *dns.OPT) bool {
	switch len(r.Extra) {
	case 0:
		return true
	case 1:
		return opt != nil && len(opt.Option) == 0
	}
	return false
}
