package master_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/master"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// benchOverlay is the product's default overlay with ranges large enough
// for any number of registrations a benchmark makes (about a million
// agents). Its addresses are data only: nothing is sent to them.
func benchOverlay() v1.OverlayNetwork {
	n := v1.DefaultOverlayNetwork()
	n.VTEPSubnet = netip.MustParsePrefix("44.128.0.0/12")
	n.Overlays[0].Prefix = 28
	n.Overlays[1].Prefix6 = 84
	return n
}

// benchAgentIP is the address of the i-th agent a benchmark registers
// (i >= 1; data only).
func benchAgentIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// productionRaft leaves raft's timers and fsync as mesosnet-master runs
// them: zero timeouts take raftstore.Config's defaults, which are
// hashicorp/raft's (HeartbeatTimeout 1s, ElectionTimeout 1s,
// LeaderLeaseTimeout 500ms, CommitTimeout 50ms), and the log is synced. A
// stop stays a kill (no leadership transfer).
func productionRaft(cfg *master.Config) {
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout = 0, 0
	cfg.Raft.LeaderLeaseTimeout, cfg.Raft.CommitTimeout = 0, 0
	cfg.Raft.NoSync = false
}

// quantile is the nearest-rank q-quantile of xs (sorted in place).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// BenchmarkFailover measures how long allocation stops when the raft
// leader of a 3-master cluster dies. Clients register new agents
// continuously through any master (8 clients, each pausing 5 ms between
// registrations, retrying the next master on an error); every iteration
// kills the leader (testCluster.stop: no leadership transfer) and waits
// for the first registration sent after the kill that a master answers
// 200, then restarts the killed master and waits for it to catch up.
//
// resume-s is the time from the start of the kill to that answer (target:
// within 3 s). The harness's stop is not instantaneous: it stops the
// leader's controllers, drains the API server, then shuts raft down, and
// the old leader keeps heartbeating, so no election can start, until the
// end; stop-s is that part. Allocation cannot resume before raft is down,
// so only registrations sent after the stop returned are counted (one
// sent earlier may have been committed by the old leader).
//
// raft=default runs mesosnet-master's production raft settings
// (productionRaft: 1 s heartbeat and election timeouts, fsync);
// raft=harness the test harness's (150 ms, no fsync).
func BenchmarkFailover(b *testing.B) {
	for _, bc := range []struct {
		name      string
		configure func(*master.Config)
	}{
		{name: "raft=default", configure: productionRaft},
		{name: "raft=harness"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchmarkFailover(b, bc.configure)
		})
	}
}

func benchmarkFailover(b *testing.B, configure func(*master.Config)) {
	const clients = 8
	c := newTestCluster(b, 3, clusterOptions{overlay: benchOverlay(), configure: configure})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		next    atomic.Int64
		ok      atomic.Int64
		failed  atomic.Int64
		stopped atomic.Int64 // UnixNano of the end of the current kill; 0 between kills
		resumed = make(chan time.Time, 1)
		wg      sync.WaitGroup
	)
	for w := range clients {
		wg.Go(func() {
			cl := c.client(w)
			for ctx.Err() == nil {
				ip := benchAgentIP(int(next.Add(1)))
				sent := time.Now().UnixNano()
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				var rec v1.AgentRecord
				err := cl.Do(rctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: ip}, &rec)
				answered := time.Now()
				rcancel()
				if err == nil {
					ok.Add(1)
					if s := stopped.Load(); s != 0 && sent >= s {
						select {
						case resumed <- answered:
						default:
						}
					}
				} else if ctx.Err() == nil {
					failed.Add(1) // no leader, or a lost answer
				}
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
	}
	defer wg.Wait()
	defer cancel()

	// flowing waits until registrations succeed again.
	flowing := func(what string) {
		before := ok.Load()
		raftstoretest.WaitFor(b, what, func() bool { return ok.Load() >= before+10 })
	}
	flowing("registrations before the first kill")

	var resume, stop []float64
	for b.Loop() {
		l := c.leader()
		start := time.Now()
		c.stop(l)
		end := time.Now()
		select { // an answer from before the kill ended does not count
		case <-resumed:
		default:
		}
		stopped.Store(end.UnixNano())
		select {
		case at := <-resumed:
			resume = append(resume, at.Sub(start).Seconds())
			stop = append(stop, end.Sub(start).Seconds())
		case <-time.After(raftstoretest.Timeout):
			b.Fatalf("no registration answered within %s of killing leader %d", raftstoretest.Timeout, l)
		}
		stopped.Store(0)

		c.start(l)
		nl := c.leader()
		target := c.master(nl).Store().Index()
		raftstoretest.WaitFor(b, "the restarted master to catch up", func() bool {
			return c.master(l).Store().Index() >= target
		})
		flowing("registrations after the restart")
	}
	b.StopTimer()
	n := len(resume)
	b.ReportMetric(quantile(resume, 0.5), "resume-s-p50")
	b.ReportMetric(quantile(resume, 1), "resume-s-max")
	b.ReportMetric(quantile(stop, 0.5), "stop-s-p50")
	b.ReportMetric(quantile(stop, 1), "stop-s-max")
	b.Logf("%d kills; %d registrations answered, %d failed; resume s (sorted): %.3f",
		n, ok.Load(), failed.Load(), resume)
}

// BenchmarkRegisterCluster measures committed agent allocations per second
// through the HTTP API of a 3-master cluster with mesosnet-master's
// production raft settings (productionRaft), from 64 concurrent clients
// that each register new agents one after the other (target: 1,000/s).
// The leader's subnetalloc controller batches the concurrent registrations
// into one raft entry. via=any spreads the clients over the three masters
// (two thirds are forwarded to the leader), via=leader sends them all to
// the leader.
func BenchmarkRegisterCluster(b *testing.B) {
	for _, viaLeader := range []bool{false, true} {
		name := "via=any"
		if viaLeader {
			name = "via=leader"
		}
		b.Run(name, func(b *testing.B) {
			benchmarkRegisterCluster(b, viaLeader)
		})
	}
}

func benchmarkRegisterCluster(b *testing.B, viaLeader bool) {
	const clients = 64
	c := newTestCluster(b, 3, clusterOptions{overlay: benchOverlay(), configure: productionRaft})
	l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// One registration first: the controller serves once it has caught up.
	warm := benchAgentIP(1)
	raftstoretest.WaitFor(b, "the first registration", func() bool {
		return c.client(l).Do(ctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: warm}, nil) == nil
	})

	var (
		next    atomic.Int64
		retries atomic.Int64
		wg      sync.WaitGroup
	)
	b.ResetTimer()
	for w := range clients {
		wg.Go(func() {
			first := w % len(c.masters)
			if viaLeader {
				first = l
			}
			cl := c.client(first)
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := registerRetrying(ctx, cl, benchAgentIP(1+i), &retries); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocations/s")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")

	s := c.master(l).Store()
	if err := s.Barrier(ctx); err != nil {
		b.Fatal(err)
	}
	if n := len(s.List(subnetalloc.KindAgent)); n != b.N+1 {
		b.Fatalf("%d agent records committed for %d registrations", n, b.N+1)
	}
}

// registerRetrying registers ip through cl, again after a 503 (a leader
// change, or a lost answer: registering again is idempotent).
func registerRetrying(ctx context.Context, cl *api.Client, ip netip.Addr, retries *atomic.Int64) error {
	for {
		err := cl.Do(ctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: ip}, nil)
		var se *api.StatusError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil, errors.As(err, &se) && se.StatusCode < 500:
			return fmt.Errorf("register %s: %w", ip, err)
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}
