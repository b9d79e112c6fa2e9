package subnetalloc

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// Check reports every conflict among recorded allocations: an agent
// recorded twice, a VTEP IP, VTEP IPv6 address or VTEP MAC held by two
// agents, and overlapping overlay subnets (across agents and overlays).
// Allocate never creates such conflicts; Check finds them in a store
// written by something else (DC/OS's master crashed on duplicate VTEP IPs,
// DCOS_OSS-5597). It costs O(n log n) in the number of addresses.
func Check(existing []v1.AgentAllocation) error {
	var errs []error
	agents := make(map[netip.Addr]int, len(existing))
	vteps := make(map[netip.Addr]netip.Addr, len(existing))
	macs := make(map[v1.MAC]netip.Addr, len(existing))
	type held struct {
		p     netip.Prefix
		agent netip.Addr
		what  string
	}
	var subnets []held
	furthest := 0
	for i, e := range existing {
		if j, dup := agents[e.AgentIP]; dup {
			errs = append(errs, fmt.Errorf("agent %s recorded twice (allocations %d and %d)", e.AgentIP, j, i))
			continue
		}
		agents[e.AgentIP] = i
		for _, p := range []netip.Prefix{e.VTEPIP, e.VTEPIP6} {
			if !p.IsValid() {
				continue
			}
			if other, dup := vteps[p.Addr()]; dup {
				errs = append(errs, fmt.Errorf("VTEP address %s held by agents %s and %s", p.Addr(), other, e.AgentIP))
			} else {
				vteps[p.Addr()] = e.AgentIP
			}
		}
		if !e.VTEPMAC.IsZero() {
			if other, dup := macs[e.VTEPMAC]; dup {
				errs = append(errs, fmt.Errorf("VTEP MAC %s held by agents %s and %s", e.VTEPMAC, other, e.AgentIP))
			} else {
				macs[e.VTEPMAC] = e.AgentIP
			}
		}
		for _, o := range e.Overlays {
			for _, p := range []netip.Prefix{o.Subnet, o.Subnet6} {
				if p.IsValid() {
					subnets = append(subnets, held{p.Masked(), e.AgentIP, o.Name})
				}
			}
		}
	}
	// Sorted by first address (IPv4 before IPv6), a subnet overlaps an
	// earlier one exactly when it starts at or before the furthest last
	// address so far, and then it overlaps the subnet reaching furthest.
	slices.SortFunc(subnets, func(a, b held) int {
		return cmp.Or(a.p.Addr().Compare(b.p.Addr()), cmp.Compare(a.p.Bits(), b.p.Bits()))
	})
	for i, s := range subnets {
		if i > 0 {
			if f := subnets[furthest]; s.p.Addr().Compare(lastAddr(f.p)) <= 0 {
				errs = append(errs, fmt.Errorf("subnet %s (agent %s, overlay %s) overlaps %s (agent %s, overlay %s)", s.p, s.agent, s.what, f.p, f.agent, f.what))
			}
		}
		if i == 0 || lastAddr(s.p).Compare(lastAddr(subnets[furthest].p)) > 0 {
			furthest = i
		}
	}
	return errors.Join(errs...)
}

// lastAddr returns the last address of the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	host := uint(p.Addr().BitLen() - p.Bits())
	ones := u128{^uint64(0), ^uint64(0)}.shr(128 - host) // 0 for host == 0
	return fromAddr(p.Addr()).add(ones).addr(p.Addr().Is4())
}
