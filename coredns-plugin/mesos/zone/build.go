package zone

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/immutable"
	"github.com/miekg/dns"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// Builder builds Zones from state snapshots, from scratch (Build) or
// incrementally from the previous zone (Update). Its methods are serialised
// by a mutex; the zones it returns are immutable and independent of later
// calls.
type Builder struct {
	g      *gen
	log    *zap.Logger
	hasher immutable.Hasher[string]
	// now is the clock of SOA serials.
	now func() time.Time

	mu sync.Mutex
	// What the last zone was built from.
	last       *Zone
	prev       *state.Snapshot
	agents     []v1.Agent
	frameworks []v1.Framework
	leader     v1.Master
	// byAgent indexes the tasks of prev by agent id, so an agent change
	// re-derives only the records of that agent's tasks.
	byAgent map[string]map[v1.TaskKey]struct{}
	// srvOwners maps every SRV target of the last zone to the names whose
	// SRV records point at it (with their number of such records), so that
	// a change of a target's first A or AAAA reaches the additional
	// sections that hold them.
	srvOwners map[string][]srvOwner
	buf       []rec
}

// srvOwner is a name with n SRV records pointing at one target.
type srvOwner struct {
	name string
	n    int32
}

// NewBuilder returns a Builder for cfg, which it defaults and validates. A
// nil logger discards logs.
func NewBuilder(cfg Config, log *zap.Logger) (*Builder, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Domain = strings.TrimSuffix(strings.ToLower(cfg.Domain), ".")
	cfg.IPSources = slices.Clone(cfg.IPSources)
	cfg.Masters = slices.Clone(cfg.Masters)
	for i, m := range cfg.Masters {
		cfg.Masters[i] = m.Unmap()
	}
	cfg.Listener = slices.Clone(cfg.Listener)
	cfg.SOA.MName = fqdn(cfg.SOA.MName)
	cfg.SOA.RName = fqdn(strings.ReplaceAll(cfg.SOA.RName, "@", "."))
	if log == nil {
		log = zap.NewNop()
	}
	return &Builder{
		g:       newGen(cfg),
		log:     log.Named("zone"),
		hasher:  newNameHasher(),
		now:     time.Now,
		byAgent: make(map[string]map[v1.TaskKey]struct{}),
	}, nil
}

// Config returns the defaulted and normalised configuration.
func (b *Builder) Config() Config {
	cfg := b.g.cfg
	cfg.IPSources = slices.Clone(cfg.IPSources)
	cfg.Masters = slices.Clone(cfg.Masters)
	cfg.Listener = slices.Clone(cfg.Listener)
	return cfg
}

// Build builds the zone of snap from scratch.
func (b *Builder) Build(snap *state.Snapshot) *Zone {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.build(snap)
}

// Update builds the zone of snap from the last zone built, re-deriving only
// the records of the changed tasks, of the tasks of agents that changed,
// and of changed agents, frameworks and leader. changed must list every task
// that differs between the snapshot of the last Build or Update and snap,
// as state.Notification.Changed does; after a Reset notification call Build.
// Without a previous zone it builds from scratch.
func (b *Builder) Update(snap *state.Snapshot, changed []v1.TaskKey) *Zone {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return b.build(snap)
	}
	if snap == b.prev {
		return b.last
	}
	start := time.Now()
	prev := b.prev
	d := make(deltas)
	affected := make(map[v1.TaskKey]struct{}, len(changed))
	for _, k := range changed {
		affected[k] = struct{}{}
	}

	leader := snap.Leader()
	if leader != b.leader {
		d.add(b.g.static(b.buf[:0], b.leader), -1)
		d.add(b.g.static(b.buf[:0], leader), 1)
	}
	agents := snap.Agents()
	diffSorted(b.agents, agents, func(a v1.Agent) string { return a.ID }, func(id string, old, cur *v1.Agent) {
		if old != nil {
			d.add(b.g.agent(b.buf[:0], *old), -1)
		}
		if cur != nil {
			d.add(b.g.agent(b.buf[:0], *cur), 1)
		}
		for k := range b.byAgent[id] {
			affected[k] = struct{}{}
		}
	})
	frameworks := snap.Frameworks()
	diffSorted(b.frameworks, frameworks, func(f v1.Framework) string { return f.ID }, func(_ string, old, cur *v1.Framework) {
		if old != nil {
			d.add(b.g.framework(b.buf[:0], *old), -1)
		}
		if cur != nil {
			d.add(b.g.framework(b.buf[:0], *cur), 1)
		}
	})
	for k := range affected {
		if t, ok := prev.Task(k); ok {
			d.add(b.taskRecords(prev, &t), -1)
			b.unindex(k, t.AgentID)
		}
		if t, ok := snap.Task(k); ok {
			d.add(b.taskRecords(snap, &t), 1)
			b.index(k, t.AgentID)
		}
	}

	names, ents := b.last.names, b.last.ents
	setChanged := false
	// The record sets this update creates, not yet shared: their
	// additional sections are filled in below.
	fresh := make(map[string]*RRSet)
	// Names whose extra (first A and AAAA) changed, and the counts of
	// owner names under their ancestors.
	var extraChanged []string
	entDeltas := make(map[string]int32)
	for name, nd := range d {
		if !nd.reduce() {
			continue
		}
		old, _ := names.Get(name)
		rs, changed, ok := b.merge(old, name, nd)
		if !ok {
			return b.rebuild(snap, name)
		}
		setChanged = setChanged || changed
		if !slices.Equal(old.Extra(), rs.Extra()) {
			extraChanged = append(extraChanged, name)
		}
		switch {
		case old == nil && rs != nil:
			b.g.ancestors(name, func(a string) { entDeltas[a]++ })
		case old != nil && rs == nil:
			b.g.ancestors(name, func(a string) { entDeltas[a]-- })
		}
		if rs == nil {
			names = names.Delete(name)
		} else {
			names = names.Set(name, rs)
			fresh[name] = rs
		}
	}
	for name, n := range entDeltas {
		if n == 0 {
			continue
		}
		cur, _ := ents.Get(name)
		switch cur += n; {
		case cur < 0:
			return b.rebuild(snap, name)
		case cur == 0:
			ents = ents.Delete(name)
		default:
			ents = ents.Set(name, cur)
		}
	}
	// Additional sections: of the new record sets with SRV records, and of
	// the names whose SRV records point at a target whose extra changed
	// (a copy of their set, the old one being shared).
	get := func(name string) *RRSet {
		rs, _ := names.Get(name)
		return rs
	}
	for _, rs := range fresh {
		if len(rs.SRV) > 0 {
			rs.srv = srvExtraOf(get, rs.SRV)
		}
	}
	for _, target := range extraChanged {
		for _, o := range b.srvOwners[target] {
			if _, done := fresh[o.name]; done {
				continue
			}
			old, ok := names.Get(o.name)
			if !ok {
				continue
			}
			rs := *old
			rs.srv = srvExtraOf(get, rs.SRV)
			names = names.Set(o.name, &rs)
			fresh[o.name] = &rs
		}
	}
	serial := b.last.serial
	if setChanged {
		serial = b.serial()
	}
	z := newZone(b.g, names, ents, serial, snap)
	b.last, b.prev, b.agents, b.frameworks, b.leader = z, snap, agents, frameworks, leader
	b.log.Debug("Updated the zone", zap.Int("changedTasks", len(changed)), zap.Int("names", z.Len()),
		zap.Bool("recordsChanged", setChanged), zap.Duration("elapsed", time.Since(start)))
	return z
}

// rebuild logs that the counts of name disagree with the snapshots and
// builds the zone of snap from scratch. The caller holds b.mu.
func (b *Builder) rebuild(snap *state.Snapshot, name string) *Zone {
	b.log.Warn("Found record counts inconsistent with the snapshots; rebuilt the zone from scratch",
		zap.String("name", name), zap.Uint64("revision", snap.Revision()))
	return b.build(snap)
}

// build builds the zone of snap from scratch. The caller holds b.mu.
func (b *Builder) build(snap *state.Snapshot) *Zone {
	start := time.Now()
	d := make(deltas, snap.TaskCount()*8)
	leader := snap.Leader()
	d.add(b.g.static(b.buf[:0], leader), 1)
	agents := snap.Agents()
	for _, a := range agents {
		d.add(b.g.agent(b.buf[:0], a), 1)
	}
	frameworks := snap.Frameworks()
	for _, f := range frameworks {
		d.add(b.g.framework(b.buf[:0], f), 1)
	}
	b.byAgent = make(map[string]map[v1.TaskKey]struct{}, len(agents))
	for t, raw := range snap.All() {
		b.buf = b.g.task(b.buf[:0], &t, raw, agentOf(snap, t.AgentID))
		d.add(b.buf, 1)
		b.index(t.Key, t.AgentID)
	}
	b.srvOwners = make(map[string][]srvOwner, len(d)/4)
	mb := immutable.NewMapBuilder[string, *RRSet](b.hasher)
	// sets mirrors mb for the lookups of SRV targets, cheaper than the
	// persistent map's.
	sets := make(map[string]*RRSet, len(d))
	entCounts := make(map[string]int32)
	var withSRV []*RRSet
	for name, nd := range d {
		if !nd.reduce() {
			continue
		}
		rs, _, _ := b.merge(nil, name, nd)
		if rs == nil {
			continue
		}
		mb.Set(name, rs)
		sets[name] = rs
		b.g.ancestors(name, func(a string) { entCounts[a]++ })
		if len(rs.SRV) > 0 {
			withSRV = append(withSRV, rs)
		}
	}
	// The sets are not shared yet: fill in their additional sections.
	get := func(name string) *RRSet { return sets[name] }
	for _, rs := range withSRV {
		rs.srv = srvExtraOf(get, rs.SRV)
	}
	names := mb.Map()
	eb := immutable.NewMapBuilder[string, int32](b.hasher)
	for name, n := range entCounts {
		eb.Set(name, n)
	}
	z := newZone(b.g, names, eb.Map(), b.serial(), snap)
	b.last, b.prev, b.agents, b.frameworks, b.leader = z, snap, agents, frameworks, leader
	b.log.Debug("Built the zone", zap.Int("tasks", snap.TaskCount()), zap.Int("names", z.Len()),
		zap.Duration("elapsed", time.Since(start)))
	return z
}

// serial returns the serial of a zone whose records changed now: the Unix
// time, never less than the last serial.
func (b *Builder) serial() uint32 {
	s := uint32(b.now().Unix())
	if b.last != nil && s < b.last.serial {
		s = b.last.serial
	}
	return s
}

// taskRecords derives the records of task t of snap into b.buf.
func (b *Builder) taskRecords(snap *state.Snapshot, t *v1.Task) []rec {
	raw, _ := snap.RawTask(t.Key)
	b.buf = b.g.task(b.buf[:0], t, raw, agentOf(snap, t.AgentID))
	return b.buf
}

// agentOf returns the registered agent of id, nil if unknown.
func agentOf(snap *state.Snapshot, id string) *v1.Agent {
	if a, ok := snap.Agent(id); ok {
		return &a
	}
	return nil
}

func (b *Builder) index(k v1.TaskKey, agentID string) {
	set := b.byAgent[agentID]
	if set == nil {
		set = make(map[v1.TaskKey]struct{})
		b.byAgent[agentID] = set
	}
	set[k] = struct{}{}
}

func (b *Builder) unindex(k v1.TaskKey, agentID string) {
	if set := b.byAgent[agentID]; set != nil {
		delete(set, k)
		if len(set) == 0 {
			delete(b.byAgent, agentID)
		}
	}
}

// diffSorted walks two slices sorted by id and calls f for every id whose
// element was added, removed or changed (old or cur nil when absent).
func diffSorted[T comparable](old, cur []T, id func(T) string, f func(id string, old, cur *T)) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || i < len(old) && id(old[i]) < id(cur[j]):
			f(id(old[i]), &old[i], nil)
			i++
		case i == len(old) || id(cur[j]) < id(old[i]):
			f(id(cur[j]), nil, &cur[j])
			j++
		default:
			if old[i] != cur[j] {
				f(id(cur[j]), &old[i], &cur[j])
			}
			i++
			j++
		}
	}
}

// delta is a change of the reference count of one value.
type delta struct {
	v value
	n int32
}

// nameDelta collects the deltas of one owner name.
type nameDelta struct {
	dcos bool
	ds   []delta
}

// reduce sorts the deltas by value, sums those of equal values and drops
// the zero sums. It reports whether any delta remains.
func (nd *nameDelta) reduce() bool {
	ds := nd.ds
	if len(ds) > 1 {
		slices.SortFunc(ds, func(a, b delta) int { return a.v.compare(b.v) })
	}
	out := ds[:0]
	for _, x := range ds {
		if n := len(out); n > 0 && out[n-1].v == x.v {
			out[n-1].n += x.n
			continue
		}
		out = append(out, x)
	}
	nd.ds = slices.DeleteFunc(out, func(x delta) bool { return x.n == 0 })
	return len(nd.ds) > 0
}

// deltas maps owner names to their deltas.
type deltas map[string]*nameDelta

// add counts every record of recs n times.
func (d deltas) add(recs []rec, n int32) {
	for _, r := range recs {
		nd := d[r.name]
		if nd == nil {
			nd = &nameDelta{dcos: r.dcos}
			d[r.name] = nd
		}
		nd.ds = append(nd.ds, delta{v: r.v, n: n})
	}
}

// merge applies reduced deltas to the record set of a name (nil when it has
// none) and returns the new set (nil when empty), whether records were
// added or removed (rather than only recounted), and false when a delta
// removes more references than exist, which means the zone and the
// snapshots disagree.
func (b *Builder) merge(old *RRSet, name string, nd *nameDelta) (rs *RRSet, changed, ok bool) {
	ttl := b.g.cfg.TTL
	if nd.dcos {
		ttl = b.g.cfg.DCOSTTL
	}
	nOld := 0
	if old != nil {
		nOld = old.Len()
	}
	rrs := make([]dns.RR, 0, nOld+len(nd.ds))
	refs := make([]int32, 0, nOld+len(nd.ds))
	ok = true
	i, j := 0, 0
	for i < nOld || j < len(nd.ds) {
		c := 0
		var oldRR dns.RR
		switch {
		case i == nOld:
			c = 1
		case j == len(nd.ds):
			c = -1
		default:
			oldRR = old.at(i)
			c = valueOf(oldRR).compare(nd.ds[j].v)
		}
		switch {
		case c < 0:
			rrs = append(rrs, old.at(i))
			refs = append(refs, old.refs[i])
			i++
		case c > 0:
			x := nd.ds[j]
			if x.n > 0 {
				rrs = append(rrs, newRR(name, x.v, ttl, b.g.cfg.SRVWeight))
				refs = append(refs, x.n)
				changed = true
				if x.v.typ == dns.TypeSRV {
					b.indexSRV(name, x.v.target, 1)
				}
			} else {
				ok = false
			}
			j++
		default:
			n := old.refs[i] + nd.ds[j].n
			if n > 0 {
				rrs = append(rrs, oldRR)
				refs = append(refs, n)
			} else {
				changed = true
				ok = ok && n == 0
				if srv, isSRV := oldRR.(*dns.SRV); isSRV {
					b.indexSRV(name, srv.Target, -1)
				}
			}
			i++
			j++
		}
	}
	if len(rrs) == 0 {
		return nil, changed, ok
	}
	return newRRSet(rrs, refs), changed, ok
}

// indexSRV counts n more (or fewer) SRV records of owner pointing at
// target in b.srvOwners.
func (b *Builder) indexSRV(owner, target string, n int32) {
	owners := b.srvOwners[target]
	for i := range owners {
		if owners[i].name != owner {
			continue
		}
		if owners[i].n += n; owners[i].n <= 0 {
			owners = slices.Delete(owners, i, i+1)
			if len(owners) == 0 {
				delete(b.srvOwners, target)
				return
			}
		}
		b.srvOwners[target] = owners
		return
	}
	if n > 0 {
		b.srvOwners[target] = append(owners, srvOwner{name: owner, n: n})
	}
}

// srvExtraOf returns the additional section of sorted SRV records (see
// srvSection) from the extras of their targets, which get returns (nil for
// a name without records); nil when the section is empty.
func srvExtraOf(get func(string) *RRSet, srv []dns.RR) *srvSection {
	first := srv[0].(*dns.SRV).Target
	last := srv[len(srv)-1].(*dns.SRV).Target
	if first == last {
		// One target (sorted by target): share its extra.
		t := get(first)
		if t.Extra() == nil {
			return nil
		}
		return &srvSection{rrs: t.Extra()}
	}
	s := &srvSection{at: make([]int32, len(srv))}
	start := 0
	for i, rr := range srv {
		target := rr.(*dns.SRV).Target
		if i == 0 || target != srv[i-1].(*dns.SRV).Target {
			start = len(s.rrs)
			s.rrs = append(s.rrs, get(target).Extra()...)
		}
		s.at[i] = int32(start)
	}
	if len(s.rrs) == 0 {
		return nil
	}
	s.rrs = slices.Clip(s.rrs)
	return s
}

// ancestors calls f with every proper ancestor of name below its origin
// (the Mesos-DNS domain or dcos.thisdcos.directory): "b.c.mesos." and
// "c.mesos." for "a.b.c.mesos.". Names outside the origins have none.
func (g *gen) ancestors(name string, f func(string)) {
	origin := g.tail[1:]
	if !strings.HasSuffix(name, g.tail) {
		if !g.cfg.DCOS || !strings.HasSuffix(name, g.dcosTail) {
			return
		}
		origin = DCOSOrigin
	}
	// Owner names are plain lower-case labels (validName): every dot ends
	// a label.
	for i := strings.IndexByte(name, '.') + 1; len(name)-i > len(origin); i += strings.IndexByte(name[i:], '.') + 1 {
		f(name[i:])
	}
}

// rrSet1 and rrSet2 are RRSets allocated with their records and counts,
// for the many names of one or two records: one object rather than three,
// which saves cache misses when answering and objects for the garbage
// collector to mark.
type (
	rrSet1 struct {
		rs   RRSet
		rrs  [1]dns.RR
		refs [1]int32
	}
	rrSet2 struct {
		rs   RRSet
		rrs  [2]dns.RR
		refs [2]int32
	}
)

// newRRSet splits sorted records into an RRSet.
func newRRSet(rrs []dns.RR, refs []int32) *RRSet {
	var rs *RRSet
	switch len(rrs) {
	case 1:
		s := &rrSet1{}
		copy(s.rrs[:], rrs)
		copy(s.refs[:], refs)
		rs, rrs, refs = &s.rs, s.rrs[:], s.refs[:]
	case 2:
		s := &rrSet2{}
		copy(s.rrs[:], rrs)
		copy(s.refs[:], refs)
		rs, rrs, refs = &s.rs, s.rrs[:], s.refs[:]
	default:
		rs = new(RRSet)
	}
	rs.refs = refs
	na, n6 := 0, 0
	for _, rr := range rrs {
		switch rr.Header().Rrtype {
		case dns.TypeA:
			na++
		case dns.TypeAAAA:
			n6++
		}
	}
	if na > 0 {
		rs.A = rrs[:na:na]
	}
	if n6 > 0 {
		rs.AAAA = rrs[na : na+n6 : na+n6]
	}
	if len(rrs) > na+n6 {
		rs.SRV = rrs[na+n6 : len(rrs) : len(rrs)]
	}
	switch {
	case na+n6 == 0:
	case na <= 1:
		// A[0] (if any) and AAAA[0] (if any) are adjacent.
		k := na + min(n6, 1)
		rs.extra = rrs[:k:k]
	case n6 == 0:
		rs.extra = rrs[:1:1]
	default:
		rs.extra = []dns.RR{rrs[0], rrs[na]}
	}
	return rs
}
