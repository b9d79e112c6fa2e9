package zone

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/miekg/dns"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// testNow is the clock of test builders: serials are 1700000000.
var testNow = time.Unix(1_700_000_000, 0)

// newTestBuilder returns a Builder for cfg with a fixed clock.
func newTestBuilder(tb testing.TB, cfg Config) *Builder {
	tb.Helper()
	b, err := NewBuilder(cfg, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("NewBuilder: %v", err)
	}
	b.now = func() time.Time { return testNow }
	return b
}

// newStore returns a store that resolves fixture hostnames statically and
// never holds publication for recovered agents.
func newStore(tb testing.TB) *state.Store {
	return state.New(state.Options{
		Resolver:            statetest.FixtureResolver(),
		RecoveredAgentsWait: -1,
		SubscriptionBuffer:  1 << 16,
	})
}

// masterInfo returns a leader MasterInfo at ip:port.
func masterInfo(ip string, port int32) *mesos.MasterInfo {
	return &mesos.MasterInfo{ID: "leader", Address: &mesos.Address{IP: &ip, Port: port}}
}

// loadV0 loads a v0 /master/state capture through mesossim.LoadScenario,
// with the document's "leader" pid as the leading master.
func loadV0(tb testing.TB, rel string) *state.Snapshot {
	tb.Helper()
	path := fixtures.Path(tb, rel)
	sc, err := mesossim.LoadScenario(path)
	if err != nil {
		tb.Fatalf("load %s: %v", rel, err)
	}
	var doc struct {
		Leader string `json:"leader"`
	}
	if err := json.Unmarshal(fixtures.Read(tb, rel), &doc); err != nil {
		tb.Fatalf("decode leader of %s: %v", rel, err)
	}
	_, hostport, _ := strings.Cut(doc.Leader, "@")
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		tb.Fatalf("leader %q of %s: %v", doc.Leader, rel, err)
	}
	s := newStore(tb)
	if err := s.LoadState(sc.State, masterInfo(ap.Addr().String(), int32(ap.Port()))); err != nil {
		tb.Fatalf("load state of %s: %v", rel, err)
	}
	return s.Current()
}

// replay feeds the first n events (all when n < 0) of a v1 stream fixture
// into a new store with the given leader, calling step after each
// published change with the notification.
func replay(tb testing.TB, rel string, leader *mesos.MasterInfo, n int, step func(state.Notification)) *state.Store {
	tb.Helper()
	events := statetest.Events(tb, statetest.Rel(rel))
	if n < 0 || n > len(events) {
		n = len(events)
	}
	s := newStore(tb)
	sub := s.Subscribe()
	drain := func() {
		for {
			select {
			case nt := <-sub.C():
				if step != nil {
					step(nt)
				}
			default:
				return
			}
		}
	}
	if err := s.Subscribed(events[0].Subscribed, leader); err != nil {
		tb.Fatalf("SUBSCRIBED of %s: %v", rel, err)
	}
	drain()
	for i, ev := range events[1:n] {
		if err := s.Apply(ev); err != nil {
			tb.Fatalf("event %d (%s) of %s: %v", i+1, ev.Type, rel, err)
		}
		drain()
	}
	return s
}

// replayEvents returns the events of a v1 stream fixture in
// statetest.Dir.
func replayEvents(tb testing.TB, rel string) []*master.Event {
	tb.Helper()
	return statetest.Events(tb, statetest.Rel(rel))
}

// dump renders every record of a zone, one line per record with its
// reference count, the additional section of every name with SRV records
// and the count of owner names under every empty non-terminal or other
// ancestor, sorted: two zones with the same dump are the same zone.
func dump(z *Zone) []string {
	var out []string
	for itr := z.names.Iterator(); !itr.Done(); {
		_, rs, _ := itr.Next()
		for i := range rs.Len() {
			out = append(out, fmt.Sprintf("%s refs=%d", rs.at(i), rs.refs[i]))
		}
	}
	out = append(out, additionals(z)...)
	for _, e := range ents(z) {
		out = append(out, fmt.Sprintf("%s under=%d", e.name, e.n))
	}
	slices.Sort(out)
	return out
}

// ent is an ancestor of owner names with their number.
type ent struct {
	name string
	n    int32
}

// ents lists the counts of owner names under ancestors, sorted by name.
func ents(z *Zone) []ent {
	var out []ent
	for itr := z.ents.Iterator(); !itr.Done(); {
		name, n, _ := itr.Next()
		out = append(out, ent{name, n})
	}
	slices.SortFunc(out, func(a, b ent) int { return strings.Compare(a.name, b.name) })
	return out
}

// additionals renders, for every SRV record of every name, the additional
// section of the SRV records rotated to start at it, sorted.
func additionals(z *Zone) []string {
	var out []string
	for itr := z.names.Iterator(); !itr.Done(); {
		name, rs, _ := itr.Next()
		for k := range rs.SRV {
			head, tail := rs.SRVExtra(k)
			var b strings.Builder
			fmt.Fprintf(&b, "%s additional from SRV %d:", name, k)
			for _, rr := range slices.Concat(head, tail) {
				fmt.Fprintf(&b, " %s", valueOf(rr))
			}
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return out
}

// record is one record of a zone with its reference count, comparable.
type record struct {
	name   string
	v      value
	class  uint16
	ttl    uint32
	weight uint16
	refs   int32
}

// records lists every record of a zone, sorted by name then value.
func records(z *Zone) []record {
	var out []record
	for _, name := range names(z) {
		rs, _ := z.Lookup(name)
		for i := range rs.Len() {
			rr := rs.at(i)
			r := record{name: rr.Header().Name, v: valueOf(rr), class: rr.Header().Class, ttl: rr.Header().Ttl, refs: rs.refs[i]}
			if srv, ok := rr.(*dns.SRV); ok {
				r.weight = srv.Weight
			}
			out = append(out, r)
		}
	}
	return out
}

// diffZones returns "" when two zones hold the same records with the same
// reference counts, the same additional sections and the same counts of
// owner names under each ancestor, else a readable diff (-want +got).
func diffZones(want, got *Zone) string {
	if slices.Equal(records(want), records(got)) && slices.Equal(ents(want), ents(got)) &&
		slices.Equal(additionals(want), additionals(got)) {
		return ""
	}
	return cmp.Diff(dump(want), dump(got))
}

// values returns the values of one type of a name as Mesos-DNS's AXFR shows
// them, nil when there are none.
func values(z *Zone, name string, typ uint16) []string {
	rs, ok := z.Lookup(name)
	if !ok {
		return nil
	}
	var rrs []dns.RR
	switch typ {
	case dns.TypeA:
		rrs = rs.A
	case dns.TypeAAAA:
		rrs = rs.AAAA
	case dns.TypeSRV:
		rrs = rs.SRV
	}
	var out []string
	for _, rr := range rrs {
		out = append(out, valueOf(rr).String())
	}
	return out
}

// refsOf returns the reference counts of a name's records.
func refsOf(z *Zone, name string) []int32 {
	rs, ok := z.Lookup(name)
	if !ok {
		return nil
	}
	return rs.refs
}

// names returns every owner name of a zone, sorted.
func names(z *Zone) []string {
	var out []string
	for itr := z.names.Iterator(); !itr.Done(); {
		n, _, _ := itr.Next()
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func str(s string) *string { return &s }

// eventTaskAdded returns a TASK_ADDED event.
func eventTaskAdded(t mesos.Task) *master.Event {
	return &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: t}}
}
