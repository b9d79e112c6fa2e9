package mesos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/miekg/dns"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// benchCorefile is the `mesos` block of hack/bench/dns.sh: the Mesos-DNS
// domain only, default IP sources.
const benchCorefile = `mesos mesos {
	master http://192.0.2.11:5050
}`

// BenchmarkServeDNS answers the query mix of hack/bench/dns.sh (every A,
// AAAA and SRV owner name of the Mesos-DNS zone, shuffled) plus one name in
// twenty that does not exist, from the zone of mesossim.Synthetic(10000, 1),
// over UDP without EDNS0 as dnsperf sends them, through the
// request.ScrubWriter the server wraps the connection in, packing each reply
// as the server does. "mix" is the whole mix, "mix-edns0" the same with a
// 1232-octet EDNS0 buffer as resolvers send them; the others are parts of
// the mix.
func BenchmarkServeDNS(b *testing.B) {
	s := newStore(b)
	ip := testLeader
	leader := &mesosv1.MasterInfo{ID: "master-1", Address: &mesosv1.Address{IP: &ip, Port: 5050}}
	if err := s.LoadState(mesossim.Synthetic(10000, 1), leader); err != nil {
		b.Fatal(err)
	}
	m := loadedPlugin(b, benchCorefile, s)
	axfr := m.Zone().AXFR()
	kinds := map[string][]*dns.Msg{}
	add := func(kind string, names map[string][]string, qtype uint16) {
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range names {
				if !yield(n) {
					return
				}
			}
		}) {
			kinds[kind] = append(kinds[kind], question(dns.Fqdn(name), qtype))
		}
	}
	add("A", axfr.Records.As, dns.TypeA)
	add("AAAA", axfr.Records.AAAAs, dns.TypeAAAA)
	add("SRV", axfr.Records.SRVs, dns.TypeSRV)
	var mix []*dns.Msg
	for _, k := range []string{"A", "AAAA", "SRV"} {
		mix = append(mix, kinds[k]...)
	}
	for i := range len(mix) / 20 {
		kinds["NXDOMAIN"] = append(kinds["NXDOMAIN"], question(fmt.Sprintf("nothing-%d.marathon.mesos.", i), dns.TypeA))
	}
	mix = append(mix, kinds["NXDOMAIN"]...)
	rng := rand.New(rand.NewPCG(1, 1))
	rng.Shuffle(len(mix), func(i, j int) { mix[i], mix[j] = mix[j], mix[i] })
	kinds["mix"] = mix
	for _, r := range mix {
		r = r.Copy()
		r.SetEdns0(1232, false)
		kinds["mix-edns0"] = append(kinds["mix-edns0"], r)
	}

	ctx := context.Background()
	for _, kind := range []string{"mix", "mix-edns0", "A", "AAAA", "SRV", "NXDOMAIN"} {
		qs := kinds[kind]
		if len(qs) == 0 {
			continue // no AAAA without IPv6 containers
		}
		b.Run(fmt.Sprintf("%s/%d", kind, len(qs)), func(b *testing.B) {
			pw := &packWriter{}
			ws := make([]dns.ResponseWriter, len(qs))
			for i, r := range qs {
				ws[i] = request.NewScrubWriter(r, pw)
			}
			// One pass first, so that the reply cache holds the
			// mix, as it does on a server after its first seconds.
			for j, r := range qs {
				if _, err := m.ServeDNS(ctx, ws[j], r); err != nil {
					b.Fatal(err)
				}
			}
			pw.bytes, pw.packed = 0, 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := i % len(qs)
				if _, err := m.ServeDNS(ctx, ws[j], qs[j]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(pw.bytes)/float64(i), "B/reply")
			b.ReportMetric(float64(pw.packed)/float64(i), "cached/op")
		})
	}
}

// BenchmarkServeDNSLargeSets measures queries answered from a 1000-task
// zone whose names hold many records (1000 A records, SRV targets repeated)
// over UDP.
func BenchmarkServeDNSLargeSets(b *testing.B) {
	m := loadedPlugin(b, testCorefile, bigStore(b, 1000))
	ctx := context.Background()
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"slave.mesos.", dns.TypeA},
		{"nothing.marathon.mesos.", dns.TypeA},
		{"slave.mesos.", dns.TypeTXT},
		{"_slave._tcp.mesos.", dns.TypeSRV},
		{"web.marathon.mesos.", dns.TypeA},
		{"_web._tcp.marathon.mesos.", dns.TypeSRV},
	} {
		b.Run(dns.TypeToString[q.qtype]+" "+q.name, func(b *testing.B) {
			r := question(q.name, q.qtype)
			w := &packWriter{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.ServeDNS(ctx, w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// packWriter is a UDP ResponseWriter that packs replies as the server's
// does (dns.Msg.Pack), or takes them packed, and discards them.
type packWriter struct {
	test.ResponseWriter
	bytes int
	// packed counts the replies written packed.
	packed int
}

var (
	benchLocal  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	benchRemote = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40212}
)

func (*packWriter) LocalAddr() net.Addr  { return benchLocal }
func (*packWriter) RemoteAddr() net.Addr { return benchRemote }

// Write takes a reply the handler packed itself (the reply cache).
func (w *packWriter) Write(b []byte) (int, error) {
	w.bytes += len(b)
	w.packed++
	return len(b), nil
}

func (w *packWriter) WriteMsg(m *dns.Msg) error {
	wire, err := m.Pack()
	w.bytes += len(wire)
	return err
}
