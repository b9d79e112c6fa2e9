package subnetalloc

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// maxSlots caps the slots of a pool so that slot numbers and hi+1 never
// overflow a uint64.
const maxSlots = 1 << 63

// u128 is an unsigned 128-bit integer, an IPv6 (or IPv4-mapped) address.
type u128 struct{ hi, lo uint64 }

func fromAddr(a netip.Addr) u128 {
	b := a.As16()
	return u128{be64(b[:8]), be64(b[8:])}
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func (x u128) addr(is4 bool) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(x.hi >> (56 - 8*i))
		b[8+i] = byte(x.lo >> (56 - 8*i))
	}
	a := netip.AddrFrom16(b)
	if is4 {
		a = a.Unmap()
	}
	return a
}

func (x u128) add(y u128) u128 {
	lo := x.lo + y.lo
	carry := uint64(0)
	if lo < x.lo {
		carry = 1
	}
	return u128{x.hi + y.hi + carry, lo}
}

func (x u128) sub(y u128) u128 {
	lo := x.lo - y.lo
	borrow := uint64(0)
	if x.lo < y.lo {
		borrow = 1
	}
	return u128{x.hi - y.hi - borrow, lo}
}

func (x u128) shl(n uint) u128 {
	switch {
	case n == 0:
		return x
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{x.lo << (n - 64), 0}
	}
	return u128{x.hi<<n | x.lo>>(64-n), x.lo << n}
}

func (x u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return x
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{0, x.hi >> (n - 64)}
	}
	return u128{x.hi >> n, x.lo>>n | x.hi<<(64-n)}
}

// span is an inclusive interval of slot numbers.
type span struct{ lo, hi uint64 }

// pool hands out the slots of a range: the /bits prefixes of prefix (single
// addresses when bits is the address length), numbered from 0 upwards.
type pool struct {
	prefix  netip.Prefix // masked
	base    u128         // prefix.Addr()
	is4     bool
	bits    int    // slot prefix length
	n       uint64 // number of slots, capped at maxSlots
	used    []span // sorted, disjoint and non-adjacent
	pending []span // collected, not yet merged into used
	what    string // for ExhaustedError
}

// newPool returns the pool of the /bits slots of prefix, which must be
// masked and not longer than bits.
func newPool(prefix netip.Prefix, bits int, what string) *pool {
	n := uint64(maxSlots)
	if k := bits - prefix.Bits(); k < 63 {
		n = 1 << k
	}
	return &pool{prefix: prefix, base: fromAddr(prefix.Addr()), is4: prefix.Addr().Is4(), bits: bits, n: n, what: what}
}

// newHostPool returns the pool of the host addresses of prefix: every
// address but the first (network) and the last (broadcast).
func newHostPool(prefix netip.Prefix, what string) *pool {
	p := newPool(prefix, prefix.Addr().BitLen(), what)
	p.mark(0, 0)
	if k := prefix.Addr().BitLen() - prefix.Bits(); k < 63 {
		p.mark(p.n-1, p.n-1)
	}
	return p
}

func (p *pool) hostBits() uint { return uint(p.prefix.Addr().BitLen() - p.bits) }

// lowest returns the lowest free slot.
func (p *pool) lowest() (uint64, bool) {
	if len(p.used) == 0 || p.used[0].lo > 0 {
		return 0, p.n > 0
	}
	s := p.used[0].hi + 1
	return s, s < p.n
}

// mark records the slots lo to hi as used.
func (p *pool) mark(lo, hi uint64) {
	if lo > hi || lo >= p.n {
		return
	}
	hi = min(hi, p.n-1)
	// i is the first span that overlaps or touches [lo, hi]; j the first
	// after it that does not.
	i, _ := slices.BinarySearchFunc(p.used, lo, func(s span, lo uint64) int {
		if s.hi+1 < lo {
			return -1
		}
		return 1
	})
	j := i
	for j < len(p.used) && p.used[j].lo <= hi+1 {
		lo = min(lo, p.used[j].lo)
		hi = max(hi, p.used[j].hi)
		j++
	}
	p.used = slices.Replace(p.used, i, j, span{lo, hi})
}

// slots returns the slots covered by q, or false when q is not inside the
// pool's prefix or beyond the capped slots.
func (p *pool) slots(q netip.Prefix) (lo, hi uint64, ok bool) {
	if !q.IsValid() || q.Addr().Is4() != p.is4 || q.Bits() < p.prefix.Bits() || !p.prefix.Contains(q.Addr()) {
		return 0, 0, false
	}
	off := fromAddr(q.Addr()).sub(p.base).shr(p.hostBits())
	if off.hi != 0 || off.lo >= p.n {
		return 0, 0, false
	}
	lo, hi = off.lo, off.lo
	if k := p.bits - q.Bits(); k > 0 { // q is larger than a slot
		if k >= 63 {
			hi = math.MaxUint64
		} else {
			hi = lo + (1<<k - 1)
		}
	}
	return lo, min(hi, p.n-1), true
}

// collect records the slots covered by q, if any, in pending: bulk loading
// for a pool built from many records, finished by flush.
func (p *pool) collect(q netip.Prefix) {
	if lo, hi, ok := p.slots(q); ok {
		p.pending = append(p.pending, span{lo, hi})
	}
}

// flush merges the collected spans into used: a sort and one pass.
func (p *pool) flush() {
	if len(p.pending) == 0 {
		return
	}
	all := append(p.pending, p.used...)
	p.pending = nil
	slices.SortFunc(all, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	merged := all[:1]
	for _, s := range all[1:] {
		last := &merged[len(merged)-1]
		if s.lo <= last.hi+1 {
			last.hi = max(last.hi, s.hi)
		} else {
			merged = append(merged, s)
		}
	}
	p.used = slices.Clip(merged)
}

// slotPrefix returns slot s as a prefix of length bits.
func (p *pool) slotPrefix(s uint64) netip.Prefix {
	a := p.base.add(u128{0, s}.shl(p.hostBits())).addr(p.is4)
	return netip.PrefixFrom(a, p.bits)
}
