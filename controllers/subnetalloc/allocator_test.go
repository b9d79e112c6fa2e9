package subnetalloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

var cmpNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// agentIP returns the i-th agent IP of the tests, 198.51.100.i style but in
// 10.0.0.0/8 so thousands fit.
func agentIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// want builds an expected allocation: VTEP address, MAC, and per overlay
// name its IPv4 and/or IPv6 subnet.
func want(agent, vtep, vtep6 string, mac v1.MAC, overlays ...[3]string) v1.AgentAllocation {
	a := v1.AgentAllocation{AgentIP: addr(agent), VTEPIP: pfx(vtep), VTEPMAC: mac}
	if vtep6 != "" {
		a.VTEPIP6 = pfx(vtep6)
	}
	for _, o := range overlays {
		var s4, s6 netip.Prefix
		if o[1] != "" {
			s4 = pfx(o[1])
		}
		if o[2] != "" {
			s6 = pfx(o[2])
		}
		a.Overlays = append(a.Overlays, v1.NewOverlayAllocation(o[0], s4, s6))
	}
	return a
}

// register allocates for the agents one after the other, recording each
// result, and returns the records.
func register(t testing.TB, cfg v1.OverlayNetwork, store []v1.AgentAllocation, agents ...netip.Addr) []v1.AgentAllocation {
	t.Helper()
	for _, ip := range agents {
		a, err := Allocate(cfg, store, ip)
		if err != nil {
			t.Fatalf("Allocate(%s): %v", ip, err)
		}
		store = put(store, a)
	}
	return store
}

// put records a, replacing the agent's previous record.
func put(store []v1.AgentAllocation, a v1.AgentAllocation) []v1.AgentAllocation {
	for i := range store {
		if store[i].AgentIP == a.AgentIP {
			store[i] = a
			return store
		}
	}
	return append(store, a)
}

func TestAllocateDCOSDefault(t *testing.T) {
	cfg := v1.DefaultOverlayNetwork()
	store := register(t, cfg, nil, addr("10.0.0.4"), addr("10.0.0.5"), addr("10.0.0.6"), addr("10.0.0.7"))
	wantStore := []v1.AgentAllocation{
		// spec dcos-net.md §4.2: the first agent gets 9.0.0.0/24 split in
		// 9.0.0.0/25 and 9.0.0.128/25, VTEP 44.128.0.1 -> 70:b3:d5:80:00:01.
		want("10.0.0.4", "44.128.0.1/20", "fd01:a::1/64", v1.MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x01},
			[3]string{"dcos", "9.0.0.0/24", ""}, [3]string{"dcos6", "", "fd01:b::/80"}),
		want("10.0.0.5", "44.128.0.2/20", "fd01:a::2/64", v1.MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x02},
			[3]string{"dcos", "9.0.1.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:1::/80"}),
		want("10.0.0.6", "44.128.0.3/20", "fd01:a::3/64", v1.MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x03},
			[3]string{"dcos", "9.0.2.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:2::/80"}),
		want("10.0.0.7", "44.128.0.4/20", "fd01:a::4/64", v1.MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x04},
			[3]string{"dcos", "9.0.3.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:3::/80"}),
	}
	if diff := cmp.Diff(wantStore, store, cmpNet); diff != "" {
		t.Errorf("allocations mismatch (-want +got):\n%s", diff)
	}
	// The bridges of the fourth agent, spelled out (spec: 9.0.3.0/25 and
	// 9.0.3.128/25; IPv6 halves are /81).
	o := store[3].Overlays
	for _, tt := range []struct {
		got  v1.Bridge
		want string
	}{
		{o[0].MesosBridge, "m-dcos 9.0.3.0/25"},
		{o[0].DockerBridge, "d-dcos 9.0.3.128/25"},
		{o[1].MesosBridge6, "m-dcos6 fd01:b:0:0:3::/81"},
		{o[1].DockerBridge6, "d-dcos6 fd01:b::3:8000:0:0/81"},
	} {
		if tt.got.String() != tt.want {
			t.Errorf("bridge %s, want %s", tt.got, tt.want)
		}
	}
	for _, a := range store {
		if err := a.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestAllocateTestPlan(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	got, err := Allocate(cfg, nil, addr("198.18.0.10"))
	if err != nil {
		t.Fatal(err)
	}
	w := want("198.18.0.10", "198.18.16.1/20", "fd01:a::1/64", v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x01},
		[3]string{"dcos", "198.19.0.0/24", ""}, [3]string{"dcos6", "", "fd01:b::/80"})
	if diff := cmp.Diff(w, got, cmpNet); diff != "" {
		t.Errorf("allocation mismatch (-want +got):\n%s", diff)
	}
	// Without IPv6, the v6-only overlay is disabled (DC/OS gen/calc.py);
	// the VTEP IPv6 address is still allocated, as vtep_subnet6 is set.
	got, err = Allocate(cfg.Effective(false), nil, addr("198.18.0.10"))
	if err != nil {
		t.Fatal(err)
	}
	w.Overlays = w.Overlays[:1]
	if diff := cmp.Diff(w, got, cmpNet); diff != "" {
		t.Errorf("allocation without IPv6 mismatch (-want +got):\n%s", diff)
	}
}

func TestAllocateReregistration(t *testing.T) {
	base := v1.TestPlanOverlayNetwork()
	agents := []netip.Addr{agentIP(1), agentIP(2), agentIP(3)}
	store := register(t, base, nil, agents...)
	second := store[1]

	dual := base
	dual.Overlays = append(append([]v1.Overlay(nil), base.Overlays...),
		v1.Overlay{Name: "blue", Subnet: pfx("198.18.64.0/18"), Prefix: 26, Subnet6: pfx("fd01:e::/64"), Prefix6: 96})

	for _, tt := range []struct {
		name   string
		cfg    func() v1.OverlayNetwork
		change func(w *v1.AgentAllocation)
	}{
		{"same configuration", func() v1.OverlayNetwork { return base }, func(*v1.AgentAllocation) {}},
		{"overlay added since", func() v1.OverlayNetwork { return dual }, func(w *v1.AgentAllocation) {
			// The first subnets of the new overlay: nobody else has one yet.
			w.Overlays = append(w.Overlays, v1.NewOverlayAllocation("blue", pfx("198.18.64.0/26"), pfx("fd01:e::/96")))
		}},
		{"overlay disabled", func() v1.OverlayNetwork {
			c := base.Effective(false)
			return c
		}, func(w *v1.AgentAllocation) { w.Overlays = w.Overlays[:1] }},
		{"overlay removed", func() v1.OverlayNetwork {
			c := base
			c.Overlays = base.Overlays[:1]
			return c
		}, func(w *v1.AgentAllocation) { w.Overlays = w.Overlays[:1] }},
		{"OUI changed", func() v1.OverlayNetwork {
			c := base
			c.VTEPMACOUI = v1.MAC{0x02, 0x42, 0xaa}
			return c
		}, func(w *v1.AgentAllocation) { w.VTEPMAC = v1.MAC{0x02, 0x42, 0xaa, 0x12, 0x10, 0x02} }},
		{"vtep_subnet grown", func() v1.OverlayNetwork {
			c := base
			c.VTEPSubnet = pfx("198.18.0.0/19")
			return c
		}, func(w *v1.AgentAllocation) { w.VTEPIP = pfx("198.18.16.2/19") }},
		{"vtep_subnet moved", func() v1.OverlayNetwork {
			c := base
			c.VTEPSubnet = pfx("198.18.32.0/20")
			return c
		}, func(w *v1.AgentAllocation) {
			// The lowest host: the other agents' VTEPs are outside the new subnet.
			w.VTEPIP = pfx("198.18.32.1/20")
			w.VTEPMAC = v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x20, 0x01}
		}},
		{"vtep_subnet6 removed", func() v1.OverlayNetwork {
			c := base.Effective(false)
			c.VTEPSubnet6 = netip.Prefix{}
			return c
		}, func(w *v1.AgentAllocation) { w.VTEPIP6 = netip.Prefix{}; w.Overlays = w.Overlays[:1] }},
		{"agent prefix changed", func() v1.OverlayNetwork {
			c := base
			c.Overlays = append([]v1.Overlay(nil), base.Overlays...)
			c.Overlays[0].Prefix = 26
			return c
		}, func(w *v1.AgentAllocation) {
			// The /24s 198.19.0-2.x held by the three agents are avoided.
			w.Overlays[0] = v1.NewOverlayAllocation("dcos", pfx("198.19.3.0/26"), netip.Prefix{})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			w := second.Clone()
			tt.change(&w)
			for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
				existing := []v1.AgentAllocation{store[order[0]], store[order[1]], store[order[2]]}
				got, err := Allocate(cfg, existing, agents[1])
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(w, got, cmpNet); diff != "" {
					t.Errorf("order %v: re-registration mismatch (-want +got):\n%s", order, diff)
				}
				if err := got.Validate(); err != nil {
					t.Error(err)
				}
			}
			// Asking twice from one Allocator gives the same answer.
			al, err := New(cfg, store)
			if err != nil {
				t.Fatal(err)
			}
			first, err := al.Allocate(agents[1])
			if err != nil {
				t.Fatal(err)
			}
			again, err := al.Allocate(agents[1])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, again, cmpNet); diff != "" {
				t.Errorf("second Allocate differs (-first +second):\n%s", diff)
			}
		})
	}
}

func TestAllocateFillsHoles(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	store := register(t, cfg, nil, agentIP(1), agentIP(2), agentIP(3))
	// Agent 2 was deleted (POST /overlay-master/agents/delete).
	store = append(store[:1], store[2:]...)
	got, err := Allocate(cfg, store, agentIP(9))
	if err != nil {
		t.Fatal(err)
	}
	w := want(agentIP(9).String(), "198.18.16.2/20", "fd01:a::2/64", v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x02},
		[3]string{"dcos", "198.19.1.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:1::/80"})
	if diff := cmp.Diff(w, got, cmpNet); diff != "" {
		t.Errorf("allocation mismatch (-want +got):\n%s", diff)
	}
}

// TestAllocateAvoidsForeignRecords checks that whatever a record holds in a
// range is avoided, even under another overlay name or another length.
func TestAllocateAvoidsForeignRecords(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	existing := []v1.AgentAllocation{{
		AgentIP: agentIP(1),
		VTEPIP:  pfx("198.18.16.1/20"),
		VTEPMAC: v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x01},
		Overlays: []v1.OverlayAllocation{
			v1.NewOverlayAllocation("renamed", pfx("198.19.0.0/24"), pfx("fd01:b::/80")),
			v1.NewOverlayAllocation("bigger", pfx("198.19.2.0/23"), pfx("fd01:b:0:0:2::/79")),
			v1.NewOverlayAllocation("elsewhere", pfx("10.99.0.0/24"), netip.Prefix{}),
		},
	}, {
		// A VTEP recorded with another length still holds its address.
		AgentIP: agentIP(2), VTEPIP: pfx("198.18.16.2/24"), VTEPMAC: v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x02},
		Overlays: []v1.OverlayAllocation{v1.NewOverlayAllocation("smaller", pfx("198.19.1.0/26"), netip.Prefix{})},
	}}
	got, err := Allocate(cfg, existing, agentIP(3))
	if err != nil {
		t.Fatal(err)
	}
	w := want(agentIP(3).String(), "198.18.16.3/20", "fd01:a::1/64", v1.MAC{0x70, 0xb3, 0xd5, 0x12, 0x10, 0x03},
		[3]string{"dcos", "198.19.4.0/24", ""}, [3]string{"dcos6", "", "fd01:b:0:0:1::/80"})
	if diff := cmp.Diff(w, got, cmpNet); diff != "" {
		t.Errorf("allocation mismatch (-want +got):\n%s", diff)
	}
}

func TestAllocateExhausted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(c *v1.OverlayNetwork)
		fits   int // agents that get an allocation
		want   ExhaustedError
	}{
		{"VTEP /30", func(c *v1.OverlayNetwork) { c.VTEPSubnet = pfx("198.18.16.0/30") }, 2,
			ExhaustedError{Range: pfx("198.18.16.0/30"), What: "VTEP IP"}},
		{"VTEP IPv6 /126", func(c *v1.OverlayNetwork) { c.VTEPSubnet6 = pfx("fd01:a::/126") }, 2,
			ExhaustedError{Range: pfx("fd01:a::/126"), What: "VTEP IPv6 address"}},
		{"overlay of three /26", func(c *v1.OverlayNetwork) {
			c.Overlays[0].Subnet, c.Overlays[0].Prefix = pfx("198.19.0.0/24"), 26
		}, 4, ExhaustedError{Range: pfx("198.19.0.0/24"), What: "/26 subnet of overlay dcos"}},
		{"smallest overlay", func(c *v1.OverlayNetwork) {
			c.Overlays[0].Subnet, c.Overlays[0].Prefix = pfx("198.19.0.0/28"), 29
		}, 2, ExhaustedError{Range: pfx("198.19.0.0/28"), What: "/29 subnet of overlay dcos"}},
		{"IPv6 overlay", func(c *v1.OverlayNetwork) {
			c.Overlays[1].Subnet6, c.Overlays[1].Prefix6 = pfx("fd01:b::/120"), 122
		}, 4, ExhaustedError{Range: pfx("fd01:b::/120"), What: "/122 subnet of overlay dcos6"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := v1.TestPlanOverlayNetwork()
			tt.mutate(&cfg)
			var store []v1.AgentAllocation
			for i := range tt.fits {
				store = register(t, cfg, store, agentIP(i+1))
			}
			al, err := New(cfg, store)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(al)
			_, err = al.Allocate(agentIP(100))
			var ex *ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("Allocate = %v, want *ExhaustedError", err)
			}
			if diff := cmp.Diff(&tt.want, ex, cmpNet); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want.Range.String()) || !strings.Contains(msg, agentIP(100).String()) {
				t.Errorf("error %q names neither the range nor the agent", msg)
			}
			// The failure consumed nothing, and known agents still
			// re-register.
			if diff := cmp.Diff(before, snapshot(al), cmp.AllowUnexported(span{})); diff != "" {
				t.Errorf("a failed Allocate changed the pools (-before +after):\n%s", diff)
			}
			again, err := al.Allocate(agentIP(1))
			if err != nil {
				t.Fatalf("re-registration after exhaustion: %v", err)
			}
			if diff := cmp.Diff(store[0], again, cmpNet); diff != "" {
				t.Errorf("re-registration mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// snapshot returns the used slots of every pool of al.
func snapshot(al *Allocator) map[string][]span {
	m := map[string][]span{"vtep": append([]span(nil), al.vtep.used...)}
	if al.vtep6 != nil {
		m["vtep6"] = append([]span(nil), al.vtep6.used...)
	}
	for _, op := range al.overlays {
		for _, p := range []*pool{op.v4, op.v6} {
			if p != nil {
				m[p.what] = append([]span(nil), p.used...)
			}
		}
	}
	return m
}

func TestAllocateErrors(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	bad := cfg
	bad.VTEPSubnet = netip.Prefix{}
	for _, tt := range []struct {
		name    string
		cfg     v1.OverlayNetwork
		ip      netip.Addr
		wantErr string
	}{
		{"invalid configuration", bad, agentIP(1), "subnet allocator: overlay network: vtep_subnet: missing"},
		{"no agent IP", cfg, netip.Addr{}, "invalid agent IP"},
		{"zone", cfg, addr("fe80::1%eth0"), "agent IP has a zone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Allocate(tt.cfg, nil, tt.ip)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Allocate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	// An IPv4-mapped agent IP is the IPv4 agent.
	store := register(t, cfg, nil, agentIP(1))
	got, err := Allocate(cfg, store, netip.AddrFrom16(agentIP(1).As16()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store[0], got, cmpNet); diff != "" {
		t.Errorf("mapped agent IP mismatch (-want +got):\n%s", diff)
	}
}

func TestCheck(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	store := register(t, cfg, nil, agentIP(1), agentIP(2), agentIP(3))
	if err := Check(store); err != nil {
		t.Fatalf("Check of Allocate's results: %v", err)
	}
	for _, tt := range []struct {
		name    string
		mutate  func(s []v1.AgentAllocation) []v1.AgentAllocation
		wantErr string
	}{
		{"agent twice", func(s []v1.AgentAllocation) []v1.AgentAllocation { return append(s, s[0]) },
			"agent 10.0.0.1 recorded twice (allocations 0 and 3)"},
		{"VTEP IP twice", func(s []v1.AgentAllocation) []v1.AgentAllocation { s[2].VTEPIP = s[0].VTEPIP; return s },
			"VTEP address 198.18.16.1 held by agents 10.0.0.1 and 10.0.0.3"},
		{"VTEP IPv6 twice", func(s []v1.AgentAllocation) []v1.AgentAllocation { s[1].VTEPIP6 = s[2].VTEPIP6; return s },
			"VTEP address fd01:a::3 held by agents 10.0.0.2 and 10.0.0.3"},
		{"MAC twice", func(s []v1.AgentAllocation) []v1.AgentAllocation { s[1].VTEPMAC = s[0].VTEPMAC; return s },
			"VTEP MAC 70:b3:d5:12:10:01 held by agents 10.0.0.1 and 10.0.0.2"},
		{"same subnet", func(s []v1.AgentAllocation) []v1.AgentAllocation {
			s[2].Overlays[0] = s[1].Overlays[0]
			return s
		}, "subnet 198.19.1.0/24 (agent 10.0.0.3, overlay dcos) overlaps 198.19.1.0/24 (agent 10.0.0.2, overlay dcos)"},
		{"nested subnet of another overlay", func(s []v1.AgentAllocation) []v1.AgentAllocation {
			s[0].Overlays = append(s[0].Overlays, v1.NewOverlayAllocation("wide", pfx("198.19.0.0/22"), netip.Prefix{}))
			return s
		}, "subnet 198.19.1.0/24 (agent 10.0.0.2, overlay dcos) overlaps 198.19.0.0/22 (agent 10.0.0.1, overlay wide)"},
		{"IPv6 subnet", func(s []v1.AgentAllocation) []v1.AgentAllocation {
			s[0].Overlays[1] = v1.NewOverlayAllocation("dcos6", netip.Prefix{}, pfx("fd01:b::/78"))
			return s
		}, "subnet fd01:b:0:0:1::/80 (agent 10.0.0.2, overlay dcos6) overlaps fd01:b::/78 (agent 10.0.0.1, overlay dcos6)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := make([]v1.AgentAllocation, len(store))
			for i, a := range store {
				s[i] = a.Clone()
			}
			err := Check(tt.mutate(s))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPool(t *testing.T) {
	for _, tt := range []struct {
		name   string
		marks  []span
		want   []span
		lowest uint64
	}{
		{"empty", nil, nil, 0},
		{"first", []span{{0, 0}}, []span{{0, 0}}, 1},
		{"ascending merges", []span{{0, 0}, {1, 1}, {2, 2}}, []span{{0, 2}}, 3},
		{"gap", []span{{0, 0}, {2, 2}}, []span{{0, 0}, {2, 2}}, 1},
		{"gap filled", []span{{0, 0}, {2, 2}, {1, 1}}, []span{{0, 2}}, 3},
		{"not from zero", []span{{3, 5}}, []span{{3, 5}}, 0},
		{"descending", []span{{5, 5}, {4, 4}, {2, 2}}, []span{{2, 2}, {4, 5}}, 0},
		{"overlapping", []span{{2, 4}, {3, 8}, {0, 1}}, []span{{0, 8}}, 9},
		{"covering several", []span{{1, 1}, {3, 3}, {5, 5}, {0, 6}}, []span{{0, 6}}, 7},
		{"inside", []span{{0, 9}, {3, 4}}, []span{{0, 9}}, 10},
		{"beyond the end clamped", []span{{14, 99}, {200, 300}}, []span{{14, 15}}, 0},
		{"full", []span{{0, 15}}, []span{{0, 15}}, 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(pfx("198.19.0.0/24"), 28, "test") // 16 slots
			for _, s := range tt.marks {
				p.mark(s.lo, s.hi)
			}
			if diff := cmp.Diff(tt.want, p.used, cmp.AllowUnexported(span{})); diff != "" {
				t.Errorf("spans mismatch (-want +got):\n%s", diff)
			}
			got, ok := p.lowest()
			if wantOK := tt.lowest < 16; ok != wantOK || ok && got != tt.lowest {
				t.Errorf("lowest() = %d, %v, want %d, %v", got, ok, tt.lowest, wantOK)
			}
		})
	}
	// Slot arithmetic at the edges of IPv6.
	p := newPool(pfx("fd01:b::/64"), 80, "v6")
	if got := p.slotPrefix(0xffff); got != pfx("fd01:b:0:0:ffff::/80") {
		t.Errorf("slotPrefix(0xffff) = %s", got)
	}
	if lo, hi, ok := p.slots(pfx("fd01:b:0:0:ff00::/72")); !ok || lo != 0xff00 || hi != 0xffff {
		t.Errorf("slots(/72) = %d, %d, %v", lo, hi, ok)
	}
	huge := newPool(pfx("fd00::/8"), 120, "huge")
	if huge.n != maxSlots {
		t.Errorf("slots of a /8 cut in /120 = %d, want capped at %d", huge.n, uint64(maxSlots))
	}
	if _, _, ok := huge.slots(pfx("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120")); ok {
		t.Errorf("a slot beyond the cap is addressable")
	}
	if got := huge.slotPrefix(1); got != pfx("fd00::100/120") {
		t.Errorf("slotPrefix(1) = %s", got)
	}
	if got := lastAddr(pfx("fd01:b::/64")); got != addr("fd01:b::ffff:ffff:ffff:ffff") {
		t.Errorf("lastAddr = %s", got)
	}
	if got := lastAddr(pfx("198.19.1.0/24")); got != addr("198.19.1.255") {
		t.Errorf("lastAddr = %s", got)
	}
}

// TestAllocateProperty replays random registrations, re-registrations and
// deletions and checks after every step that nothing is handed out twice,
// that known agents keep their allocation, that new ones get the lowest
// free addresses whatever the order of the records, and that an Allocator
// kept across calls agrees with the stateless Allocate.
func TestAllocateProperty(t *testing.T) {
	cfg := v1.TestPlanOverlayNetwork()
	cfg.VTEPSubnet = pfx("198.18.16.0/23") // 510 VTEPs
	cfg.Overlays = append(cfg.Overlays, v1.Overlay{Name: "blue", Subnet: pfx("198.18.64.0/18"), Prefix: 27, Subnet6: pfx("fd01:e::/64"), Prefix6: 72})
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			var store []v1.AgentAllocation
			kept, err := New(cfg, nil) // sees no deletions
			if err != nil {
				t.Fatal(err)
			}
			deleted := false
			for step := range 400 {
				var ip netip.Addr
				switch r := rng.IntN(10); {
				case r < 6 || len(store) == 0:
					ip = agentIP(1 + rng.IntN(1<<20))
				case r < 9:
					ip = store[rng.IntN(len(store))].AgentIP
				default:
					i := rng.IntN(len(store))
					store = append(store[:i], store[i+1:]...)
					deleted = true
					continue
				}
				var prev *v1.AgentAllocation
				for i := range store {
					if store[i].AgentIP == ip {
						prev = &store[i]
					}
				}
				shuffled := append([]v1.AgentAllocation(nil), store...)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				got, err := Allocate(cfg, shuffled, ip)
				if err != nil {
					t.Fatalf("step %d: Allocate(%s): %v", step, ip, err)
				}
				if err := got.Validate(); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				other, err := Allocate(cfg, store, ip)
				if err != nil || !cmp.Equal(got, other, cmpNet) {
					t.Fatalf("step %d: the order of the records changed the result:\n%s", step, cmp.Diff(got, other, cmpNet))
				}
				if prev != nil {
					if diff := cmp.Diff(*prev, got, cmpNet); diff != "" {
						t.Fatalf("step %d: re-registration of %s changed (-before +after):\n%s", step, ip, diff)
					}
				} else {
					checkLowest(t, cfg, store, got)
				}
				if !deleted {
					k, err := kept.Allocate(ip)
					if err != nil || !cmp.Equal(got, k, cmpNet) {
						t.Fatalf("step %d: Allocator disagrees (%v):\n%s", step, err, cmp.Diff(got, k, cmpNet))
					}
				}
				store = put(store, got)
				checkUnique(t, store)
				if err := Check(store); err != nil {
					t.Fatalf("step %d: Check: %v", step, err)
				}
			}
		})
	}
}

// checkUnique fails if a VTEP address, MAC or subnet is held twice (all
// agent subnets of an overlay have the same length, so equal is overlap).
func checkUnique(t *testing.T, store []v1.AgentAllocation) {
	t.Helper()
	seen := map[any]netip.Addr{}
	for _, a := range store {
		keys := []any{a.VTEPIP.Addr(), a.VTEPMAC}
		if a.VTEPIP6.IsValid() {
			keys = append(keys, a.VTEPIP6.Addr())
		}
		for _, o := range a.Overlays {
			keys = append(keys, o.Subnet, o.Subnet6, o.MesosBridge.Prefix, o.DockerBridge.Prefix, o.MesosBridge6.Prefix, o.DockerBridge6.Prefix)
		}
		for _, k := range keys {
			if p, ok := k.(netip.Prefix); ok && !p.IsValid() {
				continue
			}
			if other, dup := seen[k]; dup {
				t.Fatalf("%v held by %s and %s", k, other, a.AgentIP)
			}
			seen[k] = a.AgentIP
		}
	}
}

// checkLowest fails unless a new agent's VTEP IP and subnets are the
// lowest ones not held in store, found by brute force.
func checkLowest(t *testing.T, cfg v1.OverlayNetwork, store []v1.AgentAllocation, got v1.AgentAllocation) {
	t.Helper()
	held := map[any]bool{}
	for _, a := range store {
		held[a.VTEPIP.Addr()] = true
		held[a.VTEPIP6.Addr()] = true
		for _, o := range a.Overlays {
			held[o.Subnet] = true
			held[o.Subnet6] = true
		}
	}
	vtep := cfg.VTEPSubnet.Addr().Next()
	for held[vtep] {
		vtep = vtep.Next()
	}
	if got.VTEPIP.Addr() != vtep {
		t.Fatalf("new agent %s got VTEP %s, lowest free is %s", got.AgentIP, got.VTEPIP, vtep)
	}
	for i, o := range cfg.Overlays {
		for f, sp := range []struct {
			subnet netip.Prefix
			bits   int
			have   netip.Prefix
		}{{o.Subnet, o.Prefix, got.Overlays[i].Subnet}, {o.Subnet6, o.Prefix6, got.Overlays[i].Subnet6}} {
			if !sp.subnet.IsValid() {
				continue
			}
			p := netip.PrefixFrom(sp.subnet.Addr(), sp.bits)
			for held[p] {
				p = netip.PrefixFrom(lastAddr(p).Next(), sp.bits)
			}
			if sp.have != p {
				t.Fatalf("new agent %s got %s subnet %d %s, lowest free is %s", got.AgentIP, o.Name, f, sp.have, p)
			}
		}
	}
}

// BenchmarkAllocate1000 registers 1,000 agents one after the other with the
// stateless Allocate, which indexes all recorded allocations on every call
// (the controller's worst case): one op is the whole cluster.
func BenchmarkAllocate1000(b *testing.B) {
	cfg := v1.DefaultOverlayNetwork()
	for b.Loop() {
		store := make([]v1.AgentAllocation, 0, 1000)
		for i := range 1000 {
			a, err := Allocate(cfg, store, agentIP(i+1))
			if err != nil {
				b.Fatal(err)
			}
			store = append(store, a)
		}
	}
}

// BenchmarkAllocator1000 registers 1,000 agents through one Allocator.
func BenchmarkAllocator1000(b *testing.B) {
	cfg := v1.DefaultOverlayNetwork()
	for b.Loop() {
		al, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			if _, err := al.Allocate(agentIP(i + 1)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAllocateInto10000 is one registration into a 10,000-agent
// cluster with the stateless Allocate.
func BenchmarkAllocateInto10000(b *testing.B) {
	cfg := v1.DefaultOverlayNetwork()
	cfg.VTEPSubnet = pfx("44.128.0.0/16")
	al, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	store := make([]v1.AgentAllocation, 0, 10000)
	for i := range 10000 {
		a, err := al.Allocate(agentIP(i + 1))
		if err != nil {
			b.Fatal(err)
		}
		store = append(store, a)
	}
	for b.Loop() {
		if _, err := Allocate(cfg, store, agentIP(20000)); err != nil {
			b.Fatal(err)
		}
	}
}
