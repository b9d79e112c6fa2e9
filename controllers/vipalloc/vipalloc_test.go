package vipalloc

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

var (
	dcosRange  = RangeOf(netip.MustParsePrefix("11.0.0.0/8"))
	dcosRange6 = RangeOf(netip.MustParsePrefix("fd01:c::/64"))
	// unitRange is the range of the upstream unit tests, Q = 254.
	unitRange = Range{Min: netip.MustParseAddr("11.0.0.0"), Max: netip.MustParseAddr("11.0.0.254")}
	// planRange is the VIP range of the test address plan (DESIGN §3).
	planRange = RangeOf(netip.MustParsePrefix("198.18.128.0/17"))
)

// TestHash2 checks the raw make_hash2 values computed with OTP 25 (spec
// dcos-net.md §3.2).
func TestHash2(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint32
	}{
		{"foo.bar", 1166686807},
		{"baz.qux", 2489270397},
		{"l4lbtest.marathon", 226511253},
		{"mygroupmyapp.marathon", 3049688975},
		{"merp.marathon", 3539652343},
		{"a", 1589197455},
		{"", 147926629},
	} {
		if got := Hash2([]byte(tt.in)); got != tt.want {
			t.Errorf("Hash2(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if got, want := Phash2([]byte(tt.in), 0), tt.want; got != want {
			t.Errorf("Phash2(%q, 0) = %d, want %d", tt.in, got, want)
		}
		if got, want := Phash2([]byte(tt.in), 254), tt.want%254; got != want {
			t.Errorf("Phash2(%q, 254) = %d, want %d", tt.in, got, want)
		}
	}
}

// TestHash2Blocks covers every tail length of block_hash (0-11 bytes after
// whole 12-byte blocks): changing any byte or the length changes the hash.
func TestHash2Blocks(t *testing.T) {
	seen := map[uint32]string{}
	for n := range 40 {
		b := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 2)[:n])
		for i := range n + 1 {
			c := append([]byte(nil), b...)
			if i < n {
				c[i] ^= 0x80
			}
			h := Hash2(c)
			if prev, ok := seen[h]; ok {
				t.Fatalf("Hash2(%q) = Hash2(%q) = %d", c, prev, h)
			}
			seen[h] = string(c)
		}
	}
}

func TestFirstChoice(t *testing.T) {
	for _, tt := range []struct {
		name  string
		r     Range
		label string
		want  string
	}{
		// Q = 254: upstream dcos_l4lb_lashup_vip_listener_SUITE and the spec.
		{"unit foo.bar", unitRange, "foo.bar", "11.0.0.37"},
		{"unit baz.qux", unitRange, "baz.qux", "11.0.0.39"},
		{"unit l4lbtest.marathon", unitRange, "l4lbtest.marathon", "11.0.0.149"},
		{"unit merp.marathon collides with foo.bar", unitRange, "merp.marathon", "11.0.0.37"},
		// DC/OS range 11.0.0.0-11.255.255.255, Q = 16777215.
		{"dcos foo.bar", dcosRange, "foo.bar", "11.138.58.156"},
		{"dcos baz.qux", dcosRange, "baz.qux", "11.95.65.17"},
		{"dcos l4lbtest.marathon", dcosRange, "l4lbtest.marathon", "11.128.73.162"},
		{"dcos mygroupmyapp.marathon", dcosRange, "mygroupmyapp.marathon", "11.198.144.68"},
		{"dcos api.hello-world.marathon", dcosRange, "api.hello-world.marathon", "11.46.7.19"},
		{"dcos merp.marathon", dcosRange, "merp.marathon", "11.250.207.201"},
		// IPv6: fd01:c:: + SHA-1 mod (2^64-1).
		{"ipv6 qux.ipv6", dcosRange6, "qux.ipv6", "fd01:c::6d6d:9c64:fd19:f251"},
		{"ipv6 foo.bar", dcosRange6, "foo.bar", "fd01:c::6d7:a93:e041:647f"},
		{"ipv6 l4lbtest.marathon", dcosRange6, "l4lbtest.marathon", "fd01:c::a571:402b:82ab:ef77"},
		// Test address plan 198.18.128.0/17, Q = 32767 (derived from the raw hashes).
		{"plan foo.bar", planRange, "foo.bar", "198.18.197.108"},
		{"plan baz.qux", planRange, "baz.qux", "198.18.233.61"},
		{"plan l4lbtest.marathon", planRange, "l4lbtest.marathon", "198.18.228.149"},
		{"plan mygroupmyapp.marathon", planRange, "mygroupmyapp.marathon", "198.18.251.30"},
		{"plan merp.marathon", planRange, "merp.marathon", "198.18.244.239"},
		// Q = 1: the first choice is always Min.
		{"two addresses", Range{Min: netip.MustParseAddr("198.18.128.7"), Max: netip.MustParseAddr("198.18.128.8")}, "foo.bar", "198.18.128.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FirstChoice(tt.label, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(netip.MustParseAddr(tt.want), got, cmpAddr); diff != "" {
				t.Errorf("FirstChoice(%q, %s) mismatch (-want +got):\n%s", tt.label, tt.r, diff)
			}
			// With nothing in use Choose takes the first choice.
			got, err = Choose(tt.label, tt.r, nil)
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Errorf("Choose(%q, %s, nil) = %v, %v, want %s", tt.label, tt.r, got, err, tt.want)
			}
		})
	}
}

// usedSet is a used callback over a set that counts its calls.
type usedSet struct {
	set   map[netip.Addr]bool
	calls int
}

func newUsed(addrs ...netip.Addr) *usedSet {
	u := &usedSet{set: map[netip.Addr]bool{}}
	for _, a := range addrs {
		u.set[a] = true
	}
	return u
}

func (u *usedSet) used(a netip.Addr) bool { u.calls++; return u.set[a] }

// span returns the addresses from a to b inclusive.
func span(a, b string) []netip.Addr {
	var out []netip.Addr
	for x, end := netip.MustParseAddr(a), netip.MustParseAddr(b); x.Compare(end) <= 0; x = x.Next() {
		out = append(out, x)
	}
	return out
}

func TestChooseProbing(t *testing.T) {
	small6 := Range{Min: netip.MustParseAddr("fd01:c::"), Max: netip.MustParseAddr("fd01:c::ff")}
	first6, err := FirstChoice("qux.ipv6", small6)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		r         Range
		label     string
		used      []netip.Addr
		want      string
		wantCalls int
	}{
		{"first choice free", unitRange, "foo.bar", span("11.0.0.36", "11.0.0.36"), "11.0.0.37", 1},
		// Upstream SUITE: foo.bar holds .37, merp.marathon hashes to .37 too.
		{"collision takes the next address", unitRange, "merp.marathon", span("11.0.0.37", "11.0.0.37"), "11.0.0.38", 2},
		{"probing skips a run", unitRange, "foo.bar", span("11.0.0.37", "11.0.0.40"), "11.0.0.41", 5},
		{"max is reachable by probing", unitRange, "foo.bar", span("11.0.0.37", "11.0.0.253"), "11.0.0.254", 218},
		{"wraps from max to min", unitRange, "foo.bar", span("11.0.0.37", "11.0.0.254"), "11.0.0.0", 219},
		{"wraps and keeps probing", unitRange, "foo.bar", append(span("11.0.0.37", "11.0.0.254"), span("11.0.0.0", "11.0.0.1")...), "11.0.0.2", 221},
		{"last free address below the first choice", unitRange, "foo.bar", append(span("11.0.0.0", "11.0.0.35"), span("11.0.0.37", "11.0.0.254")...), "11.0.0.36", 255},
		{"ipv6 collision", dcosRange6, "qux.ipv6", span("fd01:c::6d6d:9c64:fd19:f251", "fd01:c::6d6d:9c64:fd19:f252"), "fd01:c::6d6d:9c64:fd19:f253", 3},
		{"ipv6 wrap", small6, "qux.ipv6", span(first6.String(), "fd01:c::ff"), "fd01:c::", 256 - int(first6.As16()[15]) + 1},
		{"ipv6 range top", dcosRange6, "x", span("fd01:c::ffff:ffff:ffff:ffff", "fd01:c::ffff:ffff:ffff:ffff"), "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUsed(tt.used...)
			got, err := Choose(tt.label, tt.r, u.used)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" { // only checks that the result is free and in range
				if u.set[got] || !tt.r.Contains(got) {
					t.Errorf("Choose(%q) = %s: used or outside %s", tt.label, got, tt.r)
				}
				return
			}
			if diff := cmp.Diff(netip.MustParseAddr(tt.want), got, cmpAddr); diff != "" {
				t.Errorf("Choose(%q) mismatch (-want +got):\n%s", tt.label, diff)
			}
			if u.calls != tt.wantCalls {
				t.Errorf("used called %d times, want %d", u.calls, tt.wantCalls)
			}
		})
	}
}

func TestChooseExhausted(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Range
	}{
		{"two addresses", Range{Min: netip.MustParseAddr("198.18.128.0"), Max: netip.MustParseAddr("198.18.128.1")}},
		{"unit range", unitRange},
		{"ipv6", Range{Min: netip.MustParseAddr("fd01:c::"), Max: netip.MustParseAddr("fd01:c::1:0")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := Choose("foo.bar", tt.r, func(netip.Addr) bool { calls++; return true })
			var ex *ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("Choose = %v, %v, want *ExhaustedError", got, err)
			}
			if diff := cmp.Diff(&ExhaustedError{Range: tt.r, Name: "foo.bar"}, ex, cmpAddr); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.r.String()) {
				t.Errorf("error %q does not name the range %s", err, tt.r)
			}
			// Every address was tried exactly once.
			size := 0
			for a := tt.r.Min; a.Compare(tt.r.Max) <= 0 && a.IsValid(); a = a.Next() {
				size++
			}
			if calls != size {
				t.Errorf("used called %d times, want %d (every address once)", calls, size)
			}
		})
	}
}

func TestRangeOf(t *testing.T) {
	for _, tt := range []struct {
		prefix, min, max string
	}{
		{"11.0.0.0/8", "11.0.0.0", "11.255.255.255"},
		{"198.18.128.0/17", "198.18.128.0", "198.18.255.255"},
		{"198.18.200.1/17", "198.18.128.0", "198.18.255.255"},
		{"198.18.128.4/30", "198.18.128.4", "198.18.128.7"},
		{"fd01:c::/64", "fd01:c::", "fd01:c::ffff:ffff:ffff:ffff"},
		{"fd01:c::/127", "fd01:c::", "fd01:c::1"},
	} {
		got := RangeOf(netip.MustParsePrefix(tt.prefix))
		want := Range{Min: netip.MustParseAddr(tt.min), Max: netip.MustParseAddr(tt.max)}
		if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
			t.Errorf("RangeOf(%s) mismatch (-want +got):\n%s", tt.prefix, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("RangeOf(%s).Validate() = %v", tt.prefix, err)
		}
	}
	if got := RangeOf(netip.Prefix{}); got != (Range{}) {
		t.Errorf("RangeOf(invalid) = %v, want the zero Range", got)
	}
}

func TestRangeValidate(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		name    string
		r       Range
		wantErr string
	}{
		{"zero", Range{}, "min: missing"},
		{"no max", Range{Min: a("11.0.0.0")}, "max: missing"},
		{"mixed families", Range{Min: a("11.0.0.0"), Max: a("fd01:c::1")}, "max: fd01:c::1 is not of the family of min 11.0.0.0"},
		{"empty", Range{Min: a("11.0.0.1"), Max: a("11.0.0.1")}, "max: 11.0.0.1 is not above min 11.0.0.1"},
		{"reversed", Range{Min: a("11.0.0.2"), Max: a("11.0.0.1")}, "not above"},
		{"mapped", Range{Min: a("::ffff:11.0.0.0"), Max: a("::ffff:11.0.0.9")}, "min: ::ffff:11.0.0.0 is an IPv4-mapped IPv6 address"},
		{"zone", Range{Min: a("fe80::1%eth0"), Max: a("fe80::9")}, "min: fe80::1%eth0 has a zone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if _, err := Choose("foo.bar", tt.r, nil); err == nil {
				t.Errorf("Choose accepted the invalid range %s", tt.r)
			}
		})
	}
}

func TestRangeContains(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"11.0.0.0", true}, {"11.0.0.254", true}, {"11.0.0.255", false}, {"10.255.255.255", false},
		{"::ffff:11.0.0.1", false}, {"fd01:c::", false},
	} {
		if got := unitRange.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// FuzzPhash2 checks that Phash2 never panics, stays below the range and is
// make_hash2 reduced modulo the range, and that Choose stays in any valid
// IPv4 or IPv6 range built around the fuzzed values.
func FuzzPhash2(f *testing.F) {
	f.Add([]byte("foo.bar"), uint32(254))
	f.Add([]byte(""), uint32(1))
	f.Add([]byte("mygroupmyapp.marathon"), uint32(16777215))
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), uint32(0))
	f.Add([]byte{0xff, 0, 0xfe}, uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, rng uint32) {
		h := Phash2(b, rng)
		if rng != 0 && h >= rng {
			t.Fatalf("Phash2(%q, %d) = %d, not below the range", b, rng, h)
		}
		if want := Hash2(b); rng == 0 && h != want || rng != 0 && h != want%rng {
			t.Fatalf("Phash2(%q, %d) = %d, want Hash2 %d mod range", b, rng, h, want)
		}
		if rng == 0 {
			return
		}
		lo := uint32(0xffffffff) - rng
		r4 := Range{Min: netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)}), Max: netip.AddrFrom4([4]byte{255, 255, 255, 255})}
		r6 := Range{Min: netip.MustParseAddr("fd01:c::"), Max: netip.AddrFrom16([16]byte{0xfd, 0x01, 0, 0x0c, 12: byte(rng >> 24), byte(rng >> 16), byte(rng >> 8), byte(rng)})}
		for _, r := range []Range{r4, r6} {
			a, err := FirstChoice(string(b), r)
			if err != nil {
				t.Fatalf("FirstChoice(%q, %s): %v", b, r, err)
			}
			if !r.Contains(a) || a == r.Max {
				t.Fatalf("FirstChoice(%q, %s) = %s, not in [min, max)", b, r, a)
			}
		}
	})
}
