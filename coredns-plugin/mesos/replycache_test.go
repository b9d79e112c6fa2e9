package mesos

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// wireWriter is a test.ResponseWriter that keeps what was written to it:
// the message given to WriteMsg, or the octets given to Write.
type wireWriter struct {
	test.ResponseWriter
	msg  *dns.Msg
	wire []byte
	raw  bool
}

func (w *wireWriter) WriteMsg(m *dns.Msg) error {
	w.msg, w.raw = m, false
	wire, err := m.Pack()
	w.wire = wire
	return err
}

func (w *wireWriter) Write(b []byte) (int, error) {
	w.wire, w.raw = slices.Clone(b), true
	w.msg = new(dns.Msg)
	return len(b), w.msg.Unpack(b)
}

// mixCase returns name with every other letter in upper case.
func mixCase(name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'a' <= c && c <= 'z' && i%2 == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// TestCachedReplies compares the replies written packed from the reply
// cache octet for octet with those of the dns.Msg path (the writer wrapped
// by a recorder, as the metrics plugin does), for every rotation, record
// family, case of the name, EDNS0 buffer size and transport, and checks
// which replies take the packed path.
func TestCachedReplies(t *testing.T) {
	t.Cleanup(func() { randIntN = defaultRandIntN })
	fixture := loadedPlugin(t, testCorefile, leaderStore(t, "operator-api.json"))
	small := loadedPlugin(t, testCorefile, bigStore(t, 4))
	medium := loadedPlugin(t, testCorefile, bigStore(t, 20))
	type query struct {
		m     *Mesos
		name  string
		qtype uint16
	}
	var queries []query
	names := append(zoneNames(fixture.Zone()), "nothing.mesos.", "marathon.slave.mesos.", "mesos.",
		"dcos.thisdcos.directory.", "leader.dcos.thisdcos.directory.", "nothing.dcos.thisdcos.directory.")
	for _, name := range names {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT, dns.TypeSOA, dns.TypeNS, dns.TypeANY} {
			queries = append(queries, query{fixture, name, qtype})
		}
	}
	for _, m := range []*Mesos{small, medium} {
		for _, name := range []string{"web.marathon.mesos.", "_web._tcp.marathon.mesos.", "_http._web._tcp.marathon.mesos.", "slave.mesos.", "_slave._tcp.mesos."} {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypeTXT} {
				queries = append(queries, query{m, name, qtype})
			}
		}
	}
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"}
	transports := []struct {
		name    string
		tcp     bool
		bufsize uint16 // 0: no EDNS0
		do      bool
		option  dns.EDNS0
	}{
		{"TCP", true, 0, false, nil},
		{"TCP 1232", true, 1232, false, nil},
		{"UDP 4096 DO", false, 4096, true, nil},
		{"UDP 1232", false, 1232, false, nil},
		{"UDP 512", false, 512, false, nil},
		{"UDP", false, 0, false, nil},
		{"UDP 100", false, 100, false, nil},
		{"UDP 1232 cookie", false, 1232, false, cookie},
	}
	raw, truncated, compressed := 0, 0, 0
	for k := range 8 {
		randIntN = func(n int) int { return k % n }
		for _, q := range queries {
			for _, tr := range transports {
				for _, name := range []string{q.name, mixCase(q.name)} {
					id := uint16(k*1000 + len(name))
					query := func() *dns.Msg {
						r := question(name, q.qtype)
						r.Id, r.RecursionDesired, r.CheckingDisabled = id, k%2 == 0, k%3 == 0
						if tr.bufsize != 0 {
							r.SetEdns0(tr.bufsize, tr.do)
							if tr.option != nil {
								opt := r.IsEdns0()
								opt.Option = append(opt.Option, tr.option)
							}
						}
						return r
					}
					what := fmt.Sprintf("rotation %d, %s, %s %s", k, tr.name, dns.TypeToString[q.qtype], name)

					ref := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: tr.tcp}}
					r := query()
					rec := dnstest.NewRecorder(request.NewScrubWriter(r, ref))
					if _, err := q.m.ServeDNS(context.Background(), rec, r); err != nil {
						t.Fatal(err)
					}
					if rec.Msg == nil || ref.raw {
						t.Fatalf("%s: a wrapped writer was not given the reply as a dns.Msg", what)
					}

					got := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: tr.tcp}}
					r = query()
					rcode, err := q.m.ServeDNS(context.Background(), request.NewScrubWriter(r, got), r)
					if err != nil {
						t.Fatal(err)
					}
					if got.msg == nil {
						t.Fatalf("%s: no reply", what)
					}
					if rcode != got.msg.Rcode {
						t.Errorf("%s: ServeDNS returned %s, wrote %s", what, dns.RcodeToString[rcode], dns.RcodeToString[got.msg.Rcode])
					}
					if !slices.Equal(got.wire, ref.wire) {
						t.Errorf("%s: packed path %t, reply\n%s\nwant\n%s", what, got.raw, got.msg, ref.msg)
					}
					// Packed unless: ANY; EDNS0 options to echo;
					// NXDOMAIN; truncated to fit the client, or
					// compressed with a name not in lower case;
					// too long to cache.
					full := ref.msg.Copy()
					full.Compress = false
					cached := full.Len()
					if tr.bufsize == 0 {
						cached += optLen
					}
					wantRaw := q.qtype != dns.TypeANY && tr.option == nil && ref.msg.Rcode == dns.RcodeSuccess &&
						!ref.msg.Truncated && (!ref.msg.Compress || name == q.name) && cached <= maxCachedLen
					if got.raw && ref.msg.Compress {
						compressed++
					}
					if got.raw != wantRaw {
						t.Errorf("%s: written packed %t, want %t (reply of %d octets, %s, TC %t)", what, got.raw, wantRaw,
							len(ref.wire), dns.RcodeToString[ref.msg.Rcode], ref.msg.Truncated)
					}
					if got.raw {
						raw++
					}
					if ref.msg.Truncated {
						truncated++
					}
				}
			}
		}
	}
	// The table must exercise both paths, and truncation.
	t.Logf("%d replies written packed (%d compressed), %d truncated", raw, compressed, truncated)
	if raw < 1000 || compressed < 50 || truncated < 50 {
		t.Errorf("%d replies written packed (%d compressed), %d truncated: the table lost its coverage", raw, compressed, truncated)
	}
	for _, m := range []*Mesos{fixture, small, medium} {
		if c := m.cache.Load(); c == nil || c.zone != m.Zone() || c.len() == 0 {
			t.Error("no reply cache for the zone being served")
		}
	}
}

// TestCachedRepliesRotate checks that replies written from the cache are
// rotated by random offsets, as the others.
func TestCachedRepliesRotate(t *testing.T) {
	m := loadedPlugin(t, testCorefile, bigStore(t, 20))
	firsts := map[string]bool{}
	for range 50 {
		w := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: true}}
		r := question("web.marathon.mesos.", dns.TypeA)
		if _, err := m.ServeDNS(context.Background(), request.NewScrubWriter(r, w), r); err != nil {
			t.Fatal(err)
		}
		if !w.raw || len(w.msg.Answer) != 20 {
			t.Fatalf("reply packed %t with %d answers, want packed with 20", w.raw, len(w.msg.Answer))
		}
		firsts[w.msg.Answer[0].String()] = true
	}
	if len(firsts) < 2 {
		t.Errorf("50 cached answers all started with the same record: %v", firsts)
	}
}

// TestReplyCacheFollowsZone checks that a new zone is answered from at
// once, not from the replies cached for the previous one.
func TestReplyCacheFollowsZone(t *testing.T) {
	m := loadedPlugin(t, testCorefile, bigStore(t, 2))
	next := loadedPlugin(t, testCorefile, bigStore(t, 3)).Zone()
	ask := func() *dns.Msg {
		t.Helper()
		w := &wireWriter{}
		r := question("web.marathon.mesos.", dns.TypeA)
		if _, err := m.ServeDNS(context.Background(), request.NewScrubWriter(r, w), r); err != nil {
			t.Fatal(err)
		}
		if !w.raw {
			t.Fatal("reply not written packed")
		}
		return w.msg
	}
	for range 2 {
		if got := ask(); len(got.Answer) != 2 {
			t.Fatalf("%d answers, want 2", len(got.Answer))
		}
	}
	m.zone.Store(next)
	if got := ask(); len(got.Answer) != 3 {
		t.Errorf("after the zone changed: %d answers, want 3", len(got.Answer))
	}
	if c := m.cache.Load(); c.zone != next || c.len() != 1 {
		t.Errorf("cache of the zone %t with %d replies, want of the new zone with 1", c.zone == next, c.len())
	}
}

// TestCachedRepliesThroughWrappers checks which writers between the server
// and the plugin still get packed replies: CoreDNS's per-plugin tracker and
// the prometheus recorder pass Write through and learn what they need (the
// size; NOERROR), so a Corefile with `prometheus` ahead of `mesos` keeps
// the cache; the log plugin's recorder needs the dns.Msg, so it gets one.
func TestCachedRepliesThroughWrappers(t *testing.T) {
	if trackerType == nil {
		t.Fatal("the writer of plugin.NextOrFailure was not learnt: the raw path would serve the first plugin only")
	}
	m := loadedPlugin(t, testCorefile, bigStore(t, 4))
	for _, tc := range []struct {
		name  string
		wrap  func(dns.ResponseWriter) dns.ResponseWriter
		raw   bool
		qname string
		rcode int
	}{
		{"prometheus then mesos", func(w dns.ResponseWriter) dns.ResponseWriter { return metrics.NewRecorder(w) }, true, "web.marathon.mesos.", dns.RcodeSuccess},
		{"prometheus, NXDOMAIN", func(w dns.ResponseWriter) dns.ResponseWriter { return metrics.NewRecorder(w) }, false, "nope.marathon.mesos.", dns.RcodeNameError},
		{"log then mesos", func(w dns.ResponseWriter) dns.ResponseWriter { return dnstest.NewRecorder(w) }, false, "web.marathon.mesos.", dns.RcodeSuccess},
		{"prometheus, log, mesos", func(w dns.ResponseWriter) dns.ResponseWriter {
			return dnstest.NewRecorder(metrics.NewRecorder(w))
		}, false, "web.marathon.mesos.", dns.RcodeSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the first answer fills the cache
				got := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: true}}
				r := question(tc.qname, dns.TypeA)
				outer := tc.wrap(request.NewScrubWriter(r, got))
				// Called as the plugin after another: through NextOrFailure.
				if _, err := plugin.NextOrFailure("prev", m, context.Background(), outer, r); err != nil {
					t.Fatal(err)
				}
				if got.msg == nil {
					t.Fatal("no reply")
				}
				if got.raw != tc.raw || got.msg.Rcode != tc.rcode {
					t.Errorf("packed %t rcode %s, want packed %t rcode %s", got.raw, dns.RcodeToString[got.msg.Rcode], tc.raw, dns.RcodeToString[tc.rcode])
				}
				if rec, ok := outer.(*metrics.Recorder); ok {
					if rec.Len != len(got.wire) || rec.Rcode != tc.rcode || rec.Plugin != "mesos" {
						t.Errorf("prometheus recorder: len %d rcode %d plugin %q; want %d, %d, mesos", rec.Len, rec.Rcode, rec.Plugin, len(got.wire), tc.rcode)
					}
				}
			}
		})
	}
}
