package statetest

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "a") })
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "c") })
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop() should report true once, then false")
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 || c.Pending() != 3 {
		t.Fatalf("fired %v with %d pending before any deadline", fired, c.Pending())
	}
	c.Advance(5 * time.Second)
	if diff := cmp.Diff([]string{"a", "b", "c"}, fired); diff != "" {
		t.Errorf("fired mismatch (-want +got):\n%s", diff)
	}
	if got := c.Now(); !got.Equal(start.Add(5999 * time.Millisecond)) {
		t.Errorf("Now() = %v", got)
	}
	if c.Pending() != 0 {
		t.Errorf("%d timers still pending", c.Pending())
	}
}

func TestResolver(t *testing.T) {
	r := Resolver{"dual": {netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("fd00::1")}}
	for _, tt := range []struct {
		network, host string
		want          []netip.Addr
	}{
		{"ip", "dual", []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("fd00::1")}},
		{"ip4", "dual", []netip.Addr{netip.MustParseAddr("198.51.100.1")}},
		{"ip6", "dual", []netip.Addr{netip.MustParseAddr("fd00::1")}},
	} {
		got, err := r.LookupNetIP(t.Context(), tt.network, tt.host)
		if err != nil {
			t.Fatalf("LookupNetIP(%s, %s): %v", tt.network, tt.host, err)
		}
		if diff := cmp.Diff(tt.want, got, CmpOptions()); diff != "" {
			t.Errorf("LookupNetIP(%s, %s) mismatch (-want +got):\n%s", tt.network, tt.host, diff)
		}
	}
	_, err := r.LookupNetIP(t.Context(), "ip", "missing")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown host: error %v, want a not-found DNSError", err)
	}
}

func TestExpected(t *testing.T) {
	a := Expected("operator-api.json")
	a[0].Name = "changed"
	if b := Expected("operator-api.json"); b[0].Name == "changed" {
		t.Error("Expected returned a shared slice")
	}
	if got := Expected("hello-world.json"); got == nil || len(got) != 0 {
		t.Errorf("Expected(hello-world.json) = %#v, want an empty non-nil slice", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Expected of an unknown fixture did not panic")
		}
	}()
	Expected("nope.json")
}

func TestIsStream(t *testing.T) {
	for name, want := range map[string]bool{
		"operator-api.json": true, "recovered-agents.json": true,
		"tcp-and-udp.json": false, "vip-labels.json": false,
	} {
		if got := IsStream(fixtures.Read(t, Rel(name))); got != want {
			t.Errorf("IsStream(%s) = %v, want %v", name, got, want)
		}
	}
	if IsStream([]byte("not json")) {
		t.Error("IsStream(garbage) = true")
	}
}
