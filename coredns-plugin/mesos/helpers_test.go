package mesos

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

// testCorefile is the `mesos` block of most handler tests: both zones, the
// documentation-range masters of the fixtures' world, a listener.
const testCorefile = `mesos mesos thisdcos.directory {
	master http://192.0.2.11:5050 http://192.0.2.12:5050
	listener 192.0.2.53
	api 127.0.0.1:0
}`

// newStore returns an empty store that resolves the fixtures' host names
// statically and publishes without a recovered-agents hold.
func newStore(tb testing.TB) *state.Store {
	return state.New(state.Options{
		Logger:              zaptest.NewLogger(tb),
		Resolver:            statetest.FixtureResolver(),
		RecoveredAgentsWait: -1,
	})
}

// fixtureStore returns a store with a capture of statetest.Dir applied, e.g.
// "operator-api.json".
func fixtureStore(tb testing.TB, fixture string) *state.Store {
	tb.Helper()
	s := newStore(tb)
	statetest.ApplyFixture(tb, s, statetest.Rel(fixture))
	return s
}

// newPlugin parses a `mesos` block (not started) with a zaptest logger.
func newPlugin(tb testing.TB, corefile string) *Mesos {
	tb.Helper()
	m, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	m.log = zaptest.NewLogger(tb)
	return m
}

// loadedPlugin returns a plugin parsed from corefile serving the zone of
// store's current snapshot.
func loadedPlugin(tb testing.TB, corefile string, store *state.Store) *Mesos {
	tb.Helper()
	m := newPlugin(tb, corefile)
	m.apply(state.Notification{Snapshot: store.Current(), Reset: true})
	return m
}

// fakeSource is a Source over a store the test feeds, with a status the
// test sets.
type fakeSource struct {
	store *state.Store

	mu     sync.Mutex
	status SourceStatus
}

func (s *fakeSource) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (s *fakeSource) Subscribe() (<-chan state.Notification, func()) {
	sub := s.store.Subscribe()
	return sub.C(), func() { s.store.Unsubscribe(sub) }
}

func (s *fakeSource) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *fakeSource) setStatus(connected bool, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = SourceStatus{Connected: connected, Since: since, Upstream: "http://192.0.2.11:5050"}
}

// clock is a manual time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
