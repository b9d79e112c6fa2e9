package statetest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// Clock is a manual state.Clock: time moves only with Advance, which runs the
// AfterFunc callbacks that fall due synchronously, in deadline order, in the
// caller's goroutine. Do not call Advance from inside a callback.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*timer
}

type timer struct {
	c   *Clock
	at  time.Time
	seq int
	f   func()
}

// NewClock returns a Clock reading now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run once the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) state.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer, reporting whether it was still pending.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Pending returns the number of timers not yet fired or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the clock forward by d and runs the callbacks due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*timer
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
		if t.at.After(c.now) {
			return false
		}
		due = append(due, t)
		return true
	})
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *timer) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, t := range due {
		t.f()
	}
}

// Resolver is a static state.Resolver: host name -> addresses. Unknown names
// fail as NXDOMAIN; network "ip4"/"ip6" filter the family.
type Resolver map[string][]netip.Addr

// LookupNetIP implements state.Resolver.
func (r Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range r[host] {
		if (network == "ip4" && !ip.Is4()) || (network == "ip6" && !ip.Is6()) {
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// FixtureResolver resolves the only agent hostname of the fixtures that is
// not an IP, "localhost" (dns-hostname.json), to 127.0.0.1 as /etc/hosts
// does, so tests do not depend on the machine's resolver.
func FixtureResolver() Resolver {
	return Resolver{"localhost": {netip.MustParseAddr("127.0.0.1")}}
}
