package raftstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// BenchmarkApply3Nodes measures committed puts per second on a 3-master
// loopback cluster with fsync on, with N concurrent writers, each put a
// create-only allocation (ExpectModIndex 0). "batch=100" puts 100 objects
// per Batch command; "follower" writes through a follower (forwarded);
// "noApplyBatching" turns off raft's grouping of concurrent Apply calls.
func BenchmarkApply3Nodes(b *testing.B) {
	value := json.RawMessage(`{"ip":"198.18.128.1","port":80,"agentID":"0a1b2c3d-agent-S1"}`)
	for _, bc := range []struct {
		name            string
		writers, batch  int
		follower        bool
		noApplyBatching bool
	}{
		{name: "writers=1", writers: 1, batch: 1},
		{name: "writers=16", writers: 16, batch: 1},
		{name: "writers=64", writers: 64, batch: 1},
		{name: "writers=64/noApplyBatching", writers: 64, batch: 1, noApplyBatching: true},
		{name: "writers=16/follower", writers: 16, batch: 1, follower: true},
		{name: "writers=1/batch=100", writers: 1, batch: 100},
		{name: "writers=16/batch=100", writers: 16, batch: 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := raftstoretest.NewCluster(b, 3, raftstoretest.Options{
				Kinds:  map[string]raftstore.ValidateFunc{"vip": nil},
				Sync:   true,
				Logger: zap.NewNop(),
				Configure: func(cfg *raftstore.Config) {
					// Roomier timers than the tests: the writers saturate
					// both cores and must not cause elections.
					cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
					cfg.DisableApplyBatching = bc.noApplyBatching
				},
			})
			n := c.Leader(b)
			if bc.follower {
				n = c.Followers(b)[0]
			}
			s := n.Store()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()

			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, bc.writers)
			b.ResetTimer()
			start := time.Now()
			for w := range bc.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						ops := make([]raftstore.Op, bc.batch)
						for j := range ops {
							ops[j] = raftstore.PutOp(raftstore.Put{Kind: "vip", Key: fmt.Sprintf("w%d-%d-%d", w, i, j), Value: value, ExpectModIndex: raftstore.Expect(0)})
						}
						var cmd raftstore.Command = raftstore.Batch{Ops: ops}
						if bc.batch == 1 {
							cmd = *ops[0].Put
						}
						if _, err := s.Apply(ctx, cmd); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*bc.batch)/elapsed.Seconds(), "puts/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
		})
	}
}
