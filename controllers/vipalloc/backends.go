package vipalloc

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// ServiceOptions configures Services and Wanted.
type ServiceOptions struct {
	// DisableIPv6 turns the IPv6 load balancer off, as DC/OS's
	// DCOS_NET_IPV6=false: named VIPs get IPv4 backends (and addresses)
	// only, and IPv6 IP VIPs are dropped. By default both families are
	// balanced.
	DisableIPv6 bool
}

// WantedVIP is a named VIP that has backends, with the address families the
// backends have: the allocation it needs.
type WantedVIP struct {
	// Name is the VIP's name, Name(Label, Framework).
	Name string
	// Label and Framework are the raw VIP name and framework name. When
	// several pairs fold to the same Name, the smallest pair (by label,
	// then framework) is kept, so the choice does not depend on task order.
	Label, Framework string
	// IPv4 and IPv6 report backends of each family, so the VIP needs an
	// address of that family.
	IPv4, IPv6 bool
}

// Unresolved is what Services left out, for the caller to log.
type Unresolved struct {
	// Unallocated are the names of the named VIPs that have backends of a
	// family their allocation has no address of (or that have no
	// allocation at all), sorted, each once: the allocator has not caught
	// up yet, or the range is exhausted.
	Unallocated []string
	// Invalid are the named VIP labels that make no VIP name (Name
	// fails), as "<label> of framework <framework>", sorted, each once.
	Invalid []string
}

// candidate is a potential backend of one task port, before the VIP filters
// it by family.
type candidate = v1.VIPBackend

// serviceKey identifies one service of the result.
type serviceKey struct {
	proto v1.Protocol
	name  string // "" for an IP VIP
	ip    netip.Addr
	port  uint16
}

// Services returns the L4LB services of tasks (spec dcos-net.md §3.3),
// sorted by v1.CompareVIPServices, with their backends sorted by
// v1.CompareVIPBackends; named VIPs get their addresses from vips (keyed by
// VIPAllocation.Name). The rules:
//
//   - Only running and killing tasks are backends. The weight is 1 for a
//     running task that is not unhealthy, 0 for an unhealthy or a killing
//     one (drained: existing connections only).
//   - A port with a host port gives the backend AgentIP:HostPort, recording
//     the task's address of the agent's family and the container port for
//     the local substitution of §3.3 (none when the agent IP is unknown).
//     Any other port gives one backend per task IP, IP:Port.
//   - Backends go to the services of their family: an IPv4 IP VIP takes
//     IPv4 backends, an IPv6 one IPv6 backends; a named VIP takes both,
//     each to its allocated address of that family (IPv4 only with
//     DisableIPv6).
//   - Every (protocol, VIP) is a service of its own, so the same label on a
//     tcp and a udp port gives two. Legacy VIP_PORT<n> labels arrive as
//     Port.VIPs like the others after normalisation.
//   - An IPVS service holds an address:port once: when two tasks give the
//     same backend (a task replacing a killing one on the same host port),
//     the higher weight wins, then the smaller task key.
//
// Named VIPs with no allocation, or none of a family that has backends, are
// left out and listed in Unresolved.Unallocated; labels that make no name,
// in Unresolved.Invalid.
func Services(tasks []v1.Task, vips map[string]v1.VIPAllocation, opts ServiceOptions) ([]v1.VIPService, Unresolved) {
	out := []v1.VIPService{}
	index := make(map[serviceKey]int) // into out
	unallocated := make(map[string]struct{})
	invalid := make(map[string]struct{})
	names := make(nameCache)
	var cands []candidate
	add := func(k serviceKey, b candidate) {
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, v1.VIPService{Protocol: k.proto, Name: k.name, IP: k.ip, Port: k.port})
		}
		out[i].Backend = append(out[i].Backend, b)
	}
	for i := range tasks {
		t := &tasks[i]
		weight, ok := backendWeight(t)
		if !ok {
			continue
		}
		for _, p := range t.Ports {
			if len(p.VIPs) == 0 {
				continue
			}
			cands = portCandidates(cands[:0], t, p, weight)
			if len(cands) == 0 {
				continue
			}
			for _, vip := range p.VIPs {
				if !vip.IsNamed() {
					ip := vip.IP.Unmap()
					if !ip.IsValid() || opts.DisableIPv6 && !ip.Is4() {
						continue
					}
					for _, c := range cands {
						if c.IP.Is4() == ip.Is4() {
							add(serviceKey{p.Protocol, "", ip, vip.Port}, c)
						}
					}
					continue
				}
				name, ok := names.get(vip.Name, t.Framework)
				if !ok {
					invalid[vip.Name+" of framework "+t.Framework] = struct{}{}
					continue
				}
				alloc := vips[name]
				for _, c := range cands {
					ip := alloc.IP4
					if !c.IP.Is4() {
						if opts.DisableIPv6 {
							continue
						}
						ip = alloc.IP6
					}
					if !ip.IsValid() {
						unallocated[name] = struct{}{}
						continue
					}
					add(serviceKey{p.Protocol, name, ip, vip.Port}, c)
				}
			}
		}
	}
	for i := range out {
		s := &out[i]
		s.VIP = v1.FormatVIP(s.Name, s.IP, s.Port)
		slices.SortFunc(s.Backend, v1.CompareVIPBackends)
		// After sorting, the first of equal IP:port has the highest weight.
		s.Backend = slices.CompactFunc(s.Backend, func(a, b v1.VIPBackend) bool {
			return a.IP == b.IP && a.Port == b.Port
		})
	}
	slices.SortFunc(out, v1.CompareVIPServices)
	return out, Unresolved{
		Unallocated: slices.Sorted(maps.Keys(unallocated)),
		Invalid:     slices.Sorted(maps.Keys(invalid)),
	}
}

// Wanted returns the named VIPs that tasks give backends to, by name, with
// the families of their backends: what the allocator must have recorded.
// It applies the rules of Services (task states, host port or task IPs,
// DisableIPv6) and skips labels that make no name.
func Wanted(tasks []v1.Task, opts ServiceOptions) map[string]WantedVIP {
	out := make(map[string]WantedVIP)
	names := make(nameCache)
	var cands []candidate
	for i := range tasks {
		t := &tasks[i]
		weight, ok := backendWeight(t)
		if !ok {
			continue
		}
		for _, p := range t.Ports {
			if !hasNamedVIP(p.VIPs) {
				continue
			}
			cands = portCandidates(cands[:0], t, p, weight)
			var has4, has6 bool
			for _, c := range cands {
				if c.IP.Is4() {
					has4 = true
				} else if !opts.DisableIPv6 {
					has6 = true
				}
			}
			if !has4 && !has6 {
				continue
			}
			for _, vip := range p.VIPs {
				if !vip.IsNamed() {
					continue
				}
				name, ok := names.get(vip.Name, t.Framework)
				if !ok {
					continue
				}
				w, seen := out[name]
				if !seen || cmp.Or(cmp.Compare(vip.Name, w.Label), cmp.Compare(t.Framework, w.Framework)) < 0 {
					w.Name, w.Label, w.Framework = name, vip.Name, t.Framework
				}
				w.IPv4 = w.IPv4 || has4
				w.IPv6 = w.IPv6 || has6
				out[name] = w
			}
		}
	}
	return out
}

// backendWeight returns the weight of t's backends, and false when t is no
// backend at all (neither running nor killing).
func backendWeight(t *v1.Task) (int, bool) {
	switch t.State {
	case v1.TaskRunning:
		if t.Health == v1.HealthUnhealthy {
			return 0, true
		}
		return 1, true
	case v1.TaskKilling:
		return 0, true
	}
	return 0, false
}

// portCandidates appends to dst the backends of port p of t, of both
// families: AgentIP:HostPort for a mapped port, else TaskIP:Port for every
// task IP.
func portCandidates(dst []candidate, t *v1.Task, p v1.Port, weight int) []candidate {
	base := candidate{Weight: weight, AgentIP: t.AgentIP.Unmap(), Task: t.Key, Runtime: t.Runtime}
	if p.HostPort != 0 {
		agent := t.AgentIP.Unmap()
		if !agent.IsValid() {
			return dst
		}
		c := base
		c.IP, c.Port = agent, p.HostPort
		if p.Port != 0 {
			for _, ip := range t.IPs {
				if ip = ip.Unmap(); ip.IsValid() && ip.Is4() == agent.Is4() {
					c.ContainerIP, c.ContainerPort = ip, p.Port
					break
				}
			}
		}
		return append(dst, c)
	}
	if p.Port == 0 {
		return dst
	}
	for _, ip := range t.IPs {
		if ip = ip.Unmap(); ip.IsValid() {
			c := base
			c.IP, c.Port = ip, p.Port
			dst = append(dst, c)
		}
	}
	return dst
}

// hasNamedVIP reports whether vips has a named VIP.
func hasNamedVIP(vips []v1.VIP) bool {
	for _, v := range vips {
		if v.IsNamed() {
			return true
		}
	}
	return false
}

// nameCache memoises Name for the (label, framework) pairs of one call:
// many tasks share a VIP.
type nameCache map[[2]string]string

// get returns Name(label, framework) and whether it is valid.
func (c nameCache) get(label, framework string) (string, bool) {
	k := [2]string{label, framework}
	if n, ok := c[k]; ok {
		return n, n != ""
	}
	n, err := Name(label, framework)
	if err != nil {
		n = ""
	}
	c[k] = n
	return n, n != ""
}
