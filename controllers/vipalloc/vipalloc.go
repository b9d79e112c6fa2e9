package vipalloc

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// Range is an inclusive range of VIP addresses, Min to Max, of one address
// family. Its hash modulus is Q = Max - Min (the number of addresses minus
// one), as dcos-net's: first choices lie in [Min, Max), and Max is only
// reached by probing.
type Range struct {
	Min netip.Addr `json:"min"`
	Max netip.Addr `json:"max"`
}

// RangeOf returns the range of all the addresses of p, from its network
// address to its last address: RangeOf(11.0.0.0/8) is DC/OS's default
// 11.0.0.0-11.255.255.255 (Q = 16777215), RangeOf(fd01:c::/64) its IPv6
// default. An invalid prefix gives an invalid range.
func RangeOf(p netip.Prefix) Range {
	if !p.IsValid() {
		return Range{}
	}
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return Range{Min: p.Addr(), Max: last}
}

// Validate checks that Min and Max are addresses of the same family, IPv4 or
// IPv6 but not IPv4-mapped IPv6, without zone, and that Min < Max (a range
// needs Q >= 1, as erlang:phash2 rejects the range 0).
func (r Range) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		a    netip.Addr
	}{{"min", r.Min}, {"max", r.Max}} {
		switch {
		case !f.a.IsValid():
			errs = append(errs, fmt.Errorf("%s: missing", f.name))
		case f.a.Is4In6():
			errs = append(errs, fmt.Errorf("%s: %s is an IPv4-mapped IPv6 address", f.name, f.a))
		case f.a.Zone() != "":
			errs = append(errs, fmt.Errorf("%s: %s has a zone", f.name, f.a))
		}
	}
	if errs == nil {
		switch {
		case r.Min.Is4() != r.Max.Is4():
			errs = append(errs, fmt.Errorf("max: %s is not of the family of min %s", r.Max, r.Min))
		case r.Min.Compare(r.Max) >= 0:
			errs = append(errs, fmt.Errorf("max: %s is not above min %s", r.Max, r.Min))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("VIP range %s: %w", r, err)
	}
	return nil
}

// Contains reports whether a lies in the range.
func (r Range) Contains(a netip.Addr) bool {
	return a.IsValid() && a.Is4() == r.Min.Is4() && a.Zone() == "" &&
		r.Min.Compare(a) <= 0 && a.Compare(r.Max) <= 0
}

// String returns "min-max", e.g. "11.0.0.0-11.255.255.255".
func (r Range) String() string { return r.Min.String() + "-" + r.Max.String() }

// ExhaustedError is returned by Choose when every address of the range is in
// use. dcos-net crashes with out_of_ips in this case.
type ExhaustedError struct {
	// Range is the full range.
	Range Range
	// Name is the VIP name that found no address.
	Name string
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("VIP range %s exhausted: no free address for %q", e.Range, e.Name)
}

// FirstChoice returns the address dcos-net tries first for the VIP name in
// r: Min + erlang:phash2(name, Q) for IPv4, Min + SHA-1(name) mod Q for IPv6,
// with Q = Max - Min. With the DC/OS ranges "foo.bar" gives 11.138.58.156 and
// fd01:c::6d7:a93:e041:647f.
func FirstChoice(name string, r Range) (netip.Addr, error) {
	if err := r.Validate(); err != nil {
		return netip.Addr{}, fmt.Errorf("choose VIP for %q: %w", name, err)
	}
	return r.first(name), nil
}

// first is FirstChoice for a valid range.
func (r Range) first(name string) netip.Addr {
	if r.Min.Is4() {
		lo, hi := r.Min.As4(), r.Max.As4()
		base := be32(lo[:])
		v := base + Phash2([]byte(name), be32(hi[:])-base) // Q >= 1, never the 2^32 case
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	lo, hi := r.Min.As16(), r.Max.As16()
	base := new(big.Int).SetBytes(lo[:])
	q := new(big.Int).Sub(new(big.Int).SetBytes(hi[:]), base)
	sum := sha1.Sum([]byte(name))
	v := new(big.Int).SetBytes(sum[:])
	v.Mod(v, q).Add(v, base) // < Max, so it fits 128 bits
	var b [16]byte
	v.FillBytes(b[:])
	return netip.AddrFrom16(b)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Choose returns the address of the VIP name in r: its FirstChoice if used
// reports it free, else the next free address, probing upwards and wrapping
// from Max to Min (dcos-net's linear probing). used reports whether an
// address is taken by another name; nil means none is. It returns
// *ExhaustedError when every address of r is used, and an error naming the
// field when r is invalid.
func Choose(name string, r Range, used func(netip.Addr) bool) (netip.Addr, error) {
	start, err := FirstChoice(name, r)
	if err != nil {
		return netip.Addr{}, err
	}
	if used == nil {
		return start, nil
	}
	for a := start; ; {
		if !used(a) {
			return a, nil
		}
		if a == r.Max {
			a = r.Min
		} else {
			a = a.Next()
		}
		if a == start {
			return netip.Addr{}, &ExhaustedError{Range: r, Name: name}
		}
	}
}
