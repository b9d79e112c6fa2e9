package state

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/logging"
)

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// maxParallelLookups bounds the concurrent lookups of one SUBSCRIBED
// snapshot, so a cluster whose agents register by DNS name resolves in
// (agents/16) lookup round trips rather than one after the other.
const maxParallelLookups = 16

// resolveHosts resolves the host names that are neither IP literals nor
// already cached, in parallel, and caches the IPv4 answers. Failures are
// logged and not cached, so the next AGENT_ADDED or SUBSCRIBED retries them.
// The caller holds s.mu.
func (s *Store) resolveHosts(hosts []string) {
	var todo []string
	seen := make(map[string]bool)
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if _, err := netip.ParseAddr(h); err == nil {
			continue
		}
		if _, ok := s.hosts[h]; ok {
			continue
		}
		todo = append(todo, h)
	}
	if len(todo) == 0 {
		return
	}

	type result struct {
		ip  netip.Addr
		err error
	}
	results := make([]result, len(todo))
	sem := make(chan struct{}, maxParallelLookups)
	var wg sync.WaitGroup
	for i, h := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i].ip, results[i].err = s.lookup(h)
		}()
	}
	wg.Wait()
	for i, h := range todo {
		r := results[i]
		if r.err != nil {
			s.log.Warn("Failed to resolve agent hostname; fell back to the agent pid", logging.Hostname(h), zap.Error(r.err))
			continue
		}
		s.hosts[h] = r.ip
	}
}

// lookup resolves one host name to its first IPv4 address ("first A wins",
// spec dcos-net.md §1.3).
func (s *Store) lookup(host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.resolveTimeout)
	defer cancel()
	start := time.Now()
	ips, err := s.resolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip = ip.Unmap(); ip.Is4() {
			s.log.Debug("Resolved agent hostname", logging.Hostname(host), logging.NodeIP(ip), logging.Elapsed(time.Since(start)))
			return ip, nil
		}
	}
	return netip.Addr{}, &noAddressError{host: host}
}

// noAddressError reports a lookup that succeeded without an IPv4 address.
type noAddressError struct{ host string }

func (e *noAddressError) Error() string { return "resolve " + e.host + ": no IPv4 address" }

// agentIP returns the address of an agent: its hostname if that is an IP,
// else the cached resolution of the hostname, else the IP of its pid, else
// the zero Addr. The caller holds s.mu and has called resolveHosts.
func (s *Store) agentIP(hostname, pid string) netip.Addr {
	if ip, err := netip.ParseAddr(hostname); err == nil && ip.Zone() == "" {
		return ip.Unmap()
	}
	if ip, ok := s.hosts[hostname]; ok {
		return ip
	}
	return pidIP(pid)
}
