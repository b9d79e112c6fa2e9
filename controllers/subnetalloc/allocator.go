package subnetalloc

import (
	"errors"
	"fmt"
	"net/netip"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// ExhaustedError reports that a range has no free address or subnet left.
type ExhaustedError struct {
	// Range is the exhausted range, e.g. vtep_subnet 44.128.0.0/20 or
	// the overlay subnet 9.0.0.0/8.
	Range netip.Prefix
	// What is what was wanted from it, e.g. "VTEP IP" or "/24 subnet of
	// overlay dcos".
	What string
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%s exhausted: no free %s", e.Range, e.What)
}

// Allocate returns the allocation of the agent agentIP under cfg, given
// the allocations already recorded (see the package documentation for the
// rules). The result is not in existing: the caller records it. cfg should
// be the effective configuration (v1.OverlayNetwork.Effective). It returns
// an error wrapping *ExhaustedError when a range is full, and an error when
// cfg is invalid or agentIP is not a valid address.
//
// Allocate indexes existing on every call; a controller allocating for many
// agents in a row can keep an Allocator instead.
func Allocate(cfg v1.OverlayNetwork, existing []v1.AgentAllocation, agentIP netip.Addr) (v1.AgentAllocation, error) {
	a, err := New(cfg, existing)
	if err != nil {
		return v1.AgentAllocation{}, err
	}
	return a.Allocate(agentIP)
}

// Allocator allocates for agents under one configuration, remembering what
// it handed out. It is not safe for concurrent use.
type Allocator struct {
	cfg      v1.OverlayNetwork
	vtep     *pool
	vtep6    *pool // nil without vtep_subnet6
	overlays []overlayPools
	// existing are the records New was given (read, never written), index
	// maps an agent IP to its first record there, built on the second
	// lookup (a single lookup scans), and results holds what Allocate
	// returned, which takes precedence.
	existing []v1.AgentAllocation
	index    map[netip.Addr]int
	lookups  int
	results  map[netip.Addr]v1.AgentAllocation
}

// overlayPools are the pools of one enabled overlay; a pool is nil when the
// overlay lacks that address family.
type overlayPools struct {
	overlay v1.Overlay
	v4, v6  *pool
}

// New returns an Allocator for cfg that knows the allocations in existing.
// cfg must pass Validate (with IPv6 requirements or not: an IPv6 overlay
// without vtep_subnet6 simply gets no VTEP IPv6 address).
//
// existing is trusted to come from the store, so it is not validated: every
// address and subnet in it that lies in a range counts as used, whatever
// overlay it is recorded under; of two records for the same agent the first
// one wins. Use Check to find conflicts in recorded allocations. The
// Allocator reads existing until it is dropped, so the caller must not
// modify it meanwhile.
func New(cfg v1.OverlayNetwork, existing []v1.AgentAllocation) (*Allocator, error) {
	if err := cfg.Validate(false); err != nil {
		return nil, fmt.Errorf("subnet allocator: %w", err)
	}
	a := &Allocator{
		cfg:      cfg,
		vtep:     newHostPool(cfg.VTEPSubnet, "VTEP IP"),
		existing: existing,
		results:  make(map[netip.Addr]v1.AgentAllocation),
	}
	if cfg.VTEPSubnet6.IsValid() {
		a.vtep6 = newHostPool(cfg.VTEPSubnet6, "VTEP IPv6 address")
	}
	for _, o := range cfg.Overlays {
		if !o.Enabled() {
			continue
		}
		op := overlayPools{overlay: o}
		if o.Subnet.IsValid() {
			op.v4 = newPool(o.Subnet, o.Prefix, fmt.Sprintf("/%d subnet of overlay %s", o.Prefix, o.Name))
		}
		if o.Subnet6.IsValid() {
			op.v6 = newPool(o.Subnet6, o.Prefix6, fmt.Sprintf("/%d subnet of overlay %s", o.Prefix6, o.Name))
		}
		a.overlays = append(a.overlays, op)
	}
	// Record every address and subnet that lies in a range.
	pools := []*pool{a.vtep, a.vtep6}
	for i := range existing {
		e := &existing[i]
		a.vtep.collect(hostPrefix(e.VTEPIP))
		if a.vtep6 != nil {
			a.vtep6.collect(hostPrefix(e.VTEPIP6))
		}
		for _, o := range e.Overlays {
			for _, op := range a.overlays {
				if op.v4 != nil && o.Subnet.IsValid() {
					op.v4.collect(o.Subnet)
				}
				if op.v6 != nil && o.Subnet6.IsValid() {
					op.v6.collect(o.Subnet6)
				}
			}
		}
	}
	for _, op := range a.overlays {
		pools = append(pools, op.v4, op.v6)
	}
	for _, p := range pools {
		if p != nil {
			p.flush()
		}
	}
	return a, nil
}

// lookup returns the allocation recorded for ip.
func (a *Allocator) lookup(ip netip.Addr) (v1.AgentAllocation, bool) {
	if r, ok := a.results[ip]; ok {
		return r, true
	}
	a.lookups++
	if a.index == nil && a.lookups == 1 {
		for _, e := range a.existing {
			if e.AgentIP.Unmap() == ip {
				return e, true
			}
		}
		return v1.AgentAllocation{}, false
	}
	if a.index == nil {
		a.index = make(map[netip.Addr]int, len(a.existing))
		for i, e := range a.existing {
			if _, dup := a.index[e.AgentIP.Unmap()]; !dup {
				a.index[e.AgentIP.Unmap()] = i
			}
		}
	}
	if i, ok := a.index[ip]; ok {
		return a.existing[i], true
	}
	return v1.AgentAllocation{}, false
}

// hostPrefix returns the single-address prefix of p's address.
func hostPrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
}

// Allocate returns the allocation of agentIP, as the package function
// Allocate, and remembers it: asking again for the same agent returns the
// same allocation, and what it holds is never handed to another agent. On
// error nothing is remembered.
func (a *Allocator) Allocate(agentIP netip.Addr) (v1.AgentAllocation, error) {
	ip := agentIP.Unmap()
	switch {
	case !ip.IsValid():
		return v1.AgentAllocation{}, errors.New("allocate overlay addresses: invalid agent IP")
	case ip.Zone() != "":
		return v1.AgentAllocation{}, fmt.Errorf("allocate overlay addresses for agent %s: agent IP has a zone", agentIP)
	}
	prev, known := a.lookup(ip)

	// Keep what still fits the configuration, collect what is missing,
	// then take the lowest free slot of every pool concerned: the pools
	// are distinct, so peeking all before marking any keeps a failed
	// allocation from consuming anything.
	res := v1.AgentAllocation{AgentIP: ip}
	type need struct {
		p   *pool
		dst *netip.Prefix
	}
	var needs []need
	if known && a.isHost(a.vtep, prev.VTEPIP) {
		res.VTEPIP = netip.PrefixFrom(prev.VTEPIP.Addr(), a.cfg.VTEPSubnet.Bits())
	} else {
		needs = append(needs, need{a.vtep, &res.VTEPIP})
	}
	if a.vtep6 != nil {
		if known && a.isHost(a.vtep6, prev.VTEPIP6) {
			res.VTEPIP6 = netip.PrefixFrom(prev.VTEPIP6.Addr(), a.cfg.VTEPSubnet6.Bits())
		} else {
			needs = append(needs, need{a.vtep6, &res.VTEPIP6})
		}
	}
	subnets := make([][2]netip.Prefix, len(a.overlays))
	for i, op := range a.overlays {
		var old v1.OverlayAllocation
		for _, o := range prev.Overlays {
			if o.Name == op.overlay.Name {
				old = o
				break
			}
		}
		for f, p := range []*pool{op.v4, op.v6} {
			if p == nil {
				continue
			}
			if q := [2]netip.Prefix{old.Subnet, old.Subnet6}[f]; isSlot(p, q) {
				subnets[i][f] = q
			} else {
				needs = append(needs, need{p, &subnets[i][f]})
			}
		}
	}
	slots := make([]uint64, len(needs))
	for i, n := range needs {
		s, ok := n.p.lowest()
		if !ok {
			return v1.AgentAllocation{}, fmt.Errorf("allocate overlay addresses for agent %s: %w", ip, &ExhaustedError{Range: n.p.prefix, What: n.p.what})
		}
		slots[i] = s
	}
	for i, n := range needs {
		n.p.mark(slots[i], slots[i])
		q := n.p.slotPrefix(slots[i])
		if n.p == a.vtep || n.p == a.vtep6 { // an address with the subnet's length
			q = netip.PrefixFrom(q.Addr(), n.p.prefix.Bits())
		}
		*n.dst = q
	}

	vtep := res.VTEPIP.Addr().As4()
	oui := a.cfg.VTEPMACOUI
	res.VTEPMAC = v1.MAC{oui[0], oui[1], oui[2], vtep[1], vtep[2], vtep[3]}
	for i, op := range a.overlays {
		res.Overlays = append(res.Overlays, v1.NewOverlayAllocation(op.overlay.Name, subnets[i][0], subnets[i][1]))
	}
	a.results[ip] = res.Clone()
	return res, nil
}

// isHost reports whether p's address is a host address of the host pool.
func (a *Allocator) isHost(pl *pool, p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	lo, _, ok := pl.slots(hostPrefix(p))
	if !ok || lo == 0 {
		return false
	}
	// The last address is the broadcast address (IPv4) or excluded like
	// it (IPv6) when the pool is not capped.
	k := pl.prefix.Addr().BitLen() - pl.prefix.Bits()
	return k >= 63 || lo != pl.n-1
}

// isSlot reports whether q is exactly one slot of the pool.
func isSlot(p *pool, q netip.Prefix) bool {
	if !q.IsValid() || q.Bits() != p.bits || q != q.Masked() {
		return false
	}
	_, _, ok := p.slots(q)
	return ok
}
