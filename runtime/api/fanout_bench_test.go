package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// BenchmarkWatchFanOut measures how long a change takes to reach every one
// of 1,000 concurrent watchers (real HTTP streams through api.Client) served
// by one master, a follower of a 3-node raft cluster: from the Apply on the
// leader to the event's arrival at each watcher. It reports the p50, p99
// and max over all watchers and all b.N changes.
//
//	go test -run '^$' -bench WatchFanOut -benchtime 50x ./runtime/api/
func BenchmarkWatchFanOut(b *testing.B) {
	const watchers = 1000
	c := raftstoretest.NewCluster(b, 3, raftstoretest.Options{
		Kinds: map[string]raftstore.ValidateFunc{"task": nil},
	})
	follower := c.Followers(b)[0]
	s, err := api.NewServer(api.ServerOptions{Store: follower.Store()})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Config.MaxHeaderBytes = 1 << 16
	ts.Start()
	b.Cleanup(ts.Close)
	// Each watcher has its own connection, as 1,000 agents would.
	transport := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: watchers, DisableKeepAlives: false}
	hc := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		arrivals = make(map[uint64][]time.Time)
		ready    sync.WaitGroup
		wg       sync.WaitGroup
	)
	ready.Add(watchers)
	for range watchers {
		cl, err := api.NewClient(api.ClientOptions{URLs: []string{ts.URL}, HTTPClient: hc, IdleTimeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			first := true
			_ = cl.WatchKind(ctx, 0, "task", func(e api.Event) error {
				now := time.Now()
				if first {
					first = false
					ready.Done()
					return nil
				}
				if e.Type == api.EventPut {
					mu.Lock()
					arrivals[e.Revision] = append(arrivals[e.Revision], now)
					mu.Unlock()
				}
				return nil
			})
		})
	}
	// The reset of each stream marks it ready; write one object first so
	// that every watcher sees a reset line.
	applyRetry(b, c, raftstore.Put{Kind: "task", Key: "warmup", Value: json.RawMessage(`{}`)})
	ready.Wait()

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		value := json.RawMessage(fmt.Sprintf(`{"state":"running","i":%d}`, i))
		start := time.Now()
		res := applyRetry(b, c, raftstore.Put{Kind: "task", Key: fmt.Sprintf("fw/task-%d", i), Value: value})
		raftstoretest.WaitFor(b, "every watcher", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(arrivals[res.Index]) == watchers
		})
		mu.Lock()
		for _, at := range arrivals[res.Index] {
			lat = append(lat, at.Sub(start))
		}
		delete(arrivals, res.Index)
		mu.Unlock()
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(watchers, "watchers")
}

// applyRetry applies cmd on the leader, again on the next leader if a
// loaded machine made the first one lose its leadership mid-commit (the
// test cluster's timeouts are short).
func applyRetry(b *testing.B, c *raftstoretest.Cluster, cmd raftstore.Command) raftstore.Result {
	b.Helper()
	deadline := time.Now().Add(raftstoretest.Timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), raftstoretest.Timeout)
		res, err := c.Leader(b).Store().Apply(ctx, cmd)
		cancel()
		if err == nil {
			return res
		}
		if time.Now().After(deadline) {
			b.Fatalf("apply: %v", err)
		}
	}
}
