package controller_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/util/workqueue"

	"github.com/mesosnet/mesosnet/runtime/controller"
	"github.com/mesosnet/mesosnet/runtime/reconcile"
)

// waitTimeout bounds every wait in these tests; passing runs take milliseconds.
const waitTimeout = 10 * time.Second

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		case <-tick.C:
		}
	}
}

// receive waits for a value on ch, failing the test after waitTimeout.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

// newLogger returns a test logger that also records entries for assertions.
func newLogger(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	obs, logs := observer.New(zapcore.DebugLevel)
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.DebugLevel)).WithOptions(
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, obs) }))
	return log, logs
}

// run starts c.Run and returns a function that cancels it and returns Run's
// error. The test's cleanup stops it too.
func run[K comparable](t *testing.T, c *controller.Controller[K]) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = receive(t, "Run to return", done)
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// recorder is a reconciler that records its calls and delegates to fn.
type recorder struct {
	fn func(ctx context.Context, key string, pass int) (reconcile.Result, error)

	mu    sync.Mutex
	calls []string
	times map[string][]time.Time
}

func (r *recorder) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	r.mu.Lock()
	r.calls = append(r.calls, key)
	if r.times == nil {
		r.times = map[string][]time.Time{}
	}
	r.times[key] = append(r.times[key], time.Now())
	pass := len(r.times[key])
	r.mu.Unlock()
	if r.fn == nil {
		return reconcile.Result{}, nil
	}
	return r.fn(ctx, key, pass)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) Count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times[key])
}

// Span is the time between the first and the last pass of key.
func (r *recorder) Span(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.times[key]
	if len(ts) < 2 {
		return 0
	}
	return ts[len(ts)-1].Sub(ts[0])
}

// recordingLimiter records the rate limiter calls made by the controller.
type recordingLimiter struct {
	workqueue.TypedRateLimiter[string]

	mu  sync.Mutex
	ops []string
}

// newLimiter returns a fast exponential limiter (base, doubling, max 1s).
func newLimiter(base time.Duration) *recordingLimiter {
	return &recordingLimiter{TypedRateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[string](base, time.Second)}
}

func (l *recordingLimiter) When(key string) time.Duration {
	l.record("when " + key)
	return l.TypedRateLimiter.When(key)
}

func (l *recordingLimiter) Forget(key string) {
	l.record("forget " + key)
	l.TypedRateLimiter.Forget(key)
}

func (l *recordingLimiter) record(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *recordingLimiter) Ops() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// samples flattens the gathered metrics of reg to "name{labels}" -> value;
// histograms contribute their sample count as "name_count{labels}".
func samples(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(labels)
			ls := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()+ls] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[mf.GetName()+ls] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[mf.GetName()+"_count"+ls] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// pick returns the entries of all whose key is in keys.
func pick(all map[string]float64, keys ...string) map[string]float64 {
	out := map[string]float64{}
	for _, k := range keys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// messages returns the messages of the observed entries at level or above.
func messages(logs *observer.ObservedLogs, level zapcore.Level) []string {
	var out []string
	for _, e := range logs.All() {
		if e.Level >= level {
			out = append(out, e.Message)
		}
	}
	return out
}

func TestDedupeWhileQueued(t *testing.T) {
	var synced atomic.Bool
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	c := controller.New("dedupe", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:     zaptest.NewLogger(t),
		HasSynced:  []func() bool{synced.Load},
		Registerer: reg,
	})
	for range 10 {
		c.Enqueue("node")
	}
	c.Enqueue("barrier")
	want := map[string]float64{
		`mesosnet_controller_queue_depth{controller=dedupe}`:      2,
		`mesosnet_controller_queue_adds_total{controller=dedupe}`: 2,
	}
	got := pick(samples(t, reg), slices.Collect(maps.Keys(want))...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue metrics before run (-want +got):\n%s", diff)
	}

	run(t, c)
	synced.Store(true)
	eventually(t, "barrier reconciled", func() bool { return rec.Count("barrier") == 1 })
	// One worker and a FIFO queue: a second "node" pass would come before
	// the barrier.
	if diff := cmp.Diff([]string{"node", "barrier"}, rec.Calls()); diff != "" {
		t.Errorf("passes (-want +got):\n%s", diff)
	}
}

func TestDedupeWhileProcessing(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if key == "node" && pass == 1 {
			close(started)
			<-release
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("dedupe", reconcile.Reconciler[string](rec), controller.Options[string]{Logger: zaptest.NewLogger(t)})
	run(t, c)
	c.Enqueue("node")
	receive(t, "first pass to start", started)
	for range 10 {
		c.Enqueue("node")
	}
	close(release)
	eventually(t, "second pass", func() bool { return rec.Count("node") == 2 })
	c.Enqueue("barrier")
	eventually(t, "barrier reconciled", func() bool { return rec.Count("barrier") == 1 })
	if diff := cmp.Diff([]string{"node", "node", "barrier"}, rec.Calls()); diff != "" {
		t.Errorf("passes (-want +got):\n%s", diff)
	}
}

func TestWorkers(t *testing.T) {
	const workers = 4
	var inFlight, maxSame atomic.Int32
	var sameInFlight atomic.Int32
	allStarted := make(chan struct{})
	releaseSame := make(chan struct{})
	sameStarted := make(chan struct{}, 2)
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if key == "same" {
			n := sameInFlight.Add(1)
			defer sameInFlight.Add(-1)
			for {
				m := maxSame.Load()
				if n <= m || maxSame.CompareAndSwap(m, n) {
					break
				}
			}
			sameStarted <- struct{}{}
			if pass == 1 {
				<-releaseSame
			}
			return reconcile.Result{}, nil
		}
		// Distinct keys run in parallel: each waits until all are in flight.
		if inFlight.Add(1) == workers {
			close(allStarted)
		}
		select {
		case <-allStarted:
		case <-ctx.Done():
			return reconcile.Result{}, ctx.Err()
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("workers", reconcile.Reconciler[string](rec), controller.Options[string]{
		Workers: workers,
		Logger:  zaptest.NewLogger(t),
	})
	stop := run(t, c)
	for i := range workers {
		c.Enqueue(fmt.Sprintf("key%d", i))
	}
	receive(t, "all workers busy at once", allStarted)

	c.Enqueue("same")
	receive(t, "first pass of same", sameStarted)
	// Three workers are idle; none may pick "same" while it is in flight.
	for range 100 {
		c.Enqueue("same")
	}
	close(releaseSame)
	receive(t, "second pass of same", sameStarted)
	eventually(t, "second pass of same to finish", func() bool { return sameInFlight.Load() == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := maxSame.Load(); got != 1 {
		t.Errorf("max concurrent passes of one key = %d, want 1", got)
	}
	if got := rec.Count("same"); got != 2 {
		t.Errorf("passes of same = %d, want 2", got)
	}
}

func TestRetryWithBackoff(t *testing.T) {
	const base = 10 * time.Millisecond
	limiter := newLimiter(base)
	log, logs := newLogger(t)
	reg := prometheus.NewRegistry()
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if pass <= 2 {
			return reconcile.Result{}, fmt.Errorf("replace route 198.19.2.0/24: attempt %d: %w", pass, errors.New("network is unreachable"))
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("retry", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:      log,
		RateLimiter: limiter,
		Registerer:  reg,
	})
	run(t, c)
	c.Enqueue("node")
	eventually(t, "third pass", func() bool { return rec.Count("node") == 3 })
	eventually(t, "success recorded", func() bool {
		return samples(t, reg)[`mesosnet_controller_reconcile_total{controller=retry,result=success}`] == 1
	})

	if diff := cmp.Diff([]string{"when node", "when node", "forget node"}, limiter.Ops()); diff != "" {
		t.Errorf("rate limiter calls (-want +got):\n%s", diff)
	}
	// The limiter's delays are lower bounds: base, then 2*base.
	if span := rec.Span("node"); span < 3*base {
		t.Errorf("three passes took %s, want >= %s of backoff", span, 3*base)
	}
	if got := limiter.NumRequeues("node"); got != 0 {
		t.Errorf("NumRequeues after success = %d, want 0 (forgotten)", got)
	}

	failures := logs.FilterMessage("Reconcile failed; requeued with backoff").All()
	var got []map[string]any
	for _, e := range failures {
		m := e.ContextMap()
		got = append(got, map[string]any{"controller": m["controller"], "key": m["key"], "attempt": m["attempt"], "error": m["error"]})
	}
	want := []map[string]any{
		{"controller": "retry", "key": "node", "attempt": int64(1), "error": "replace route 198.19.2.0/24: attempt 1: network is unreachable"},
		{"controller": "retry", "key": "node", "attempt": int64(2), "error": "replace route 198.19.2.0/24: attempt 2: network is unreachable"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failure logs (-want +got):\n%s", diff)
	}

	wantMetrics := map[string]float64{
		`mesosnet_controller_reconcile_total{controller=retry,result=success}`:   1,
		`mesosnet_controller_reconcile_total{controller=retry,result=error}`:     2,
		`mesosnet_controller_reconcile_total{controller=retry,result=panic}`:     0,
		`mesosnet_controller_reconcile_total{controller=retry,result=requeue}`:   0,
		`mesosnet_controller_reconcile_duration_seconds_count{controller=retry}`: 3,
		`mesosnet_controller_queue_retries_total{controller=retry}`:              2,
	}
	if diff := cmp.Diff(wantMetrics, pick(samples(t, reg), slices.Collect(maps.Keys(wantMetrics))...)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestTerminalErrorNotRetried(t *testing.T) {
	limiter := newLimiter(time.Millisecond)
	log, logs := newLogger(t)
	reg := prometheus.NewRegistry()
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if key == "bad" {
			return reconcile.Result{}, fmt.Errorf("allocate subnet for agent a1: %w", reconcile.Terminal(errors.New("overlay dcos is disabled")))
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("terminal", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:      log,
		RateLimiter: limiter,
		Registerer:  reg,
	})
	run(t, c)
	c.Enqueue("bad")
	c.Enqueue("barrier")
	eventually(t, "barrier reconciled", func() bool { return rec.Count("barrier") == 1 })

	if diff := cmp.Diff([]string{"bad", "barrier"}, rec.Calls()); diff != "" {
		t.Errorf("passes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"forget bad", "forget barrier"}, limiter.Ops()); diff != "" {
		t.Errorf("rate limiter calls (-want +got):\n%s", diff)
	}
	entries := logs.FilterMessage("Reconcile failed terminally; dropped key").All()
	if len(entries) != 1 {
		t.Fatalf("got %d terminal failure logs, want 1; all: %q", len(entries), messages(logs, zapcore.DebugLevel))
	}
	if got, want := entries[0].ContextMap()["error"], "allocate subnet for agent a1: overlay dcos is disabled"; got != want {
		t.Errorf("logged error = %v, want %v", got, want)
	}
	wantMetrics := map[string]float64{
		`mesosnet_controller_reconcile_total{controller=terminal,result=success}`: 1,
		`mesosnet_controller_reconcile_total{controller=terminal,result=error}`:   1,
		`mesosnet_controller_queue_retries_total{controller=terminal}`:            0,
	}
	if diff := cmp.Diff(wantMetrics, pick(samples(t, reg), slices.Collect(maps.Keys(wantMetrics))...)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestPanicRecoveredAndRetried(t *testing.T) {
	limiter := newLimiter(time.Millisecond)
	log, logs := newLogger(t)
	reg := prometheus.NewRegistry()
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if pass == 1 {
			var s []int
			_ = s[len(key)] // a runtime error: index out of range
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("panicky", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:      log,
		RateLimiter: limiter,
		Registerer:  reg,
	})
	run(t, c)
	c.Enqueue("node")
	eventually(t, "second pass", func() bool { return rec.Count("node") == 2 })
	eventually(t, "success recorded", func() bool {
		return samples(t, reg)[`mesosnet_controller_reconcile_total{controller=panicky,result=success}`] == 1
	})

	entries := logs.FilterMessage("Recovered panic in reconcile; requeued with backoff").All()
	if len(entries) != 1 {
		t.Fatalf("got %d panic logs, want 1; all: %q", len(entries), messages(logs, zapcore.DebugLevel))
	}
	m := entries[0].ContextMap()
	if got := fmt.Sprint(m["panic"]); !strings.Contains(got, "index out of range") {
		t.Errorf("logged panic = %q, want the runtime error", got)
	}
	if stack, _ := m["stack"].(string); !strings.Contains(stack, "TestPanicRecoveredAndRetried") {
		t.Errorf("logged stack does not show the panicking function:\n%s", stack)
	}
	if diff := cmp.Diff([]string{"when node", "forget node"}, limiter.Ops()); diff != "" {
		t.Errorf("rate limiter calls (-want +got):\n%s", diff)
	}
	wantMetrics := map[string]float64{
		`mesosnet_controller_reconcile_total{controller=panicky,result=success}`:   1,
		`mesosnet_controller_reconcile_total{controller=panicky,result=panic}`:     1,
		`mesosnet_controller_reconcile_total{controller=panicky,result=error}`:     0,
		`mesosnet_controller_reconcile_duration_seconds_count{controller=panicky}`: 2,
	}
	if diff := cmp.Diff(wantMetrics, pick(samples(t, reg), slices.Collect(maps.Keys(wantMetrics))...)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestHasSyncedGatesWorkers(t *testing.T) {
	var synced atomic.Bool
	var checks atomic.Int32
	rec := &recorder{}
	log, logs := newLogger(t)
	c := controller.New("gated", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger: log,
		HasSynced: []func() bool{
			func() bool { return true },
			func() bool { checks.Add(1); return synced.Load() },
		},
		ResyncKeys: func() []string { return []string{"resync"} },
	})
	c.Enqueue("node")
	stop := run(t, c)
	// Run has polled the unsynced cache at least twice: it is alive and
	// waiting, and must not have reconciled anything.
	eventually(t, "two sync checks", func() bool { return checks.Load() >= 2 })
	if calls := rec.Calls(); len(calls) != 0 {
		t.Fatalf("reconciled %q before caches synced", calls)
	}
	synced.Store(true)
	eventually(t, "node and resync reconciled", func() bool { return rec.Count("node") == 1 && rec.Count("resync") == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"Started controller", "Synced caches", "Stopped controller"}
	if diff := cmp.Diff(want, messages(logs, zapcore.InfoLevel)); diff != "" {
		t.Errorf("info logs (-want +got):\n%s", diff)
	}
}

func TestRunNeverSynced(t *testing.T) {
	rec := &recorder{}
	var checks atomic.Int32
	c := controller.New("unsynced", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:    zaptest.NewLogger(t),
		HasSynced: []func() bool{func() bool { checks.Add(1); return false }},
	})
	c.Enqueue("node")
	stop := run(t, c)
	eventually(t, "a sync check", func() bool { return checks.Load() >= 1 })
	err := stop()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want an error wrapping context.Canceled", err)
	}
	if got, want := err.Error(), "run controller unsynced: wait for caches to sync: context canceled"; got != want {
		t.Errorf("Run error = %q, want %q", got, want)
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Errorf("reconciled %q without synced caches", calls)
	}
	c.Enqueue("late") // ignored after shutdown, must not block or panic
	c.EnqueueAfter("late", time.Millisecond)
}

func TestRunTwice(t *testing.T) {
	rec := &recorder{}
	c := controller.New("twice", reconcile.Reconciler[string](rec), controller.Options[string]{Logger: zaptest.NewLogger(t)})
	stop := run(t, c)
	c.Enqueue("node")
	eventually(t, "first Run to reconcile", func() bool { return rec.Count("node") == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // a buggy second Run must not block the test
	err := c.Run(ctx)
	if got, want := fmt.Sprint(err), "run controller twice: already started"; got != want {
		t.Errorf("second Run = %q, want %q", got, want)
	}
	if err := stop(); err != nil {
		t.Errorf("first Run: %v", err)
	}
}

func TestResync(t *testing.T) {
	tests := []struct {
		name      string
		period    time.Duration
		minPasses int
	}{
		{"periodic", 5 * time.Millisecond, 3},
		{"once at start", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var listed atomic.Int32
			rec := &recorder{}
			c := controller.New("resync", reconcile.Reconciler[string](rec), controller.Options[string]{
				Logger:       zaptest.NewLogger(t),
				ResyncPeriod: tt.period,
				ResyncKeys: func() []string {
					listed.Add(1)
					return []string{"a", "b"}
				},
			})
			stop := run(t, c)
			eventually(t, "resync passes", func() bool {
				return rec.Count("a") >= tt.minPasses && rec.Count("b") >= tt.minPasses
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.period == 0 {
				if got := listed.Load(); got != 1 {
					t.Errorf("ResyncKeys called %d times, want 1", got)
				}
				if diff := cmp.Diff([]string{"a", "b"}, rec.Calls()); diff != "" {
					t.Errorf("passes (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRequeueAfter(t *testing.T) {
	const after = 10 * time.Millisecond
	limiter := newLimiter(time.Hour) // a retry would never come back in time
	reg := prometheus.NewRegistry()
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if pass <= 2 {
			return reconcile.Result{RequeueAfter: after}, nil
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("requeue", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:      zaptest.NewLogger(t),
		RateLimiter: limiter,
		Registerer:  reg,
	})
	run(t, c)
	c.Enqueue("lease")
	eventually(t, "third pass", func() bool { return rec.Count("lease") == 3 })
	eventually(t, "success recorded", func() bool {
		return samples(t, reg)[`mesosnet_controller_reconcile_total{controller=requeue,result=success}`] == 1
	})
	if span := rec.Span("lease"); span < 2*after {
		t.Errorf("three passes took %s, want >= %s", span, 2*after)
	}
	if diff := cmp.Diff([]string{"forget lease", "forget lease", "forget lease"}, limiter.Ops()); diff != "" {
		t.Errorf("rate limiter calls (-want +got):\n%s", diff)
	}
	wantMetrics := map[string]float64{
		`mesosnet_controller_reconcile_total{controller=requeue,result=success}`: 1,
		`mesosnet_controller_reconcile_total{controller=requeue,result=requeue}`: 2,
		`mesosnet_controller_reconcile_total{controller=requeue,result=error}`:   0,
	}
	if diff := cmp.Diff(wantMetrics, pick(samples(t, reg), slices.Collect(maps.Keys(wantMetrics))...)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestEnqueueAfter(t *testing.T) {
	const after = 20 * time.Millisecond
	rec := &recorder{}
	c := controller.New("later", reconcile.Reconciler[string](rec), controller.Options[string]{Logger: zaptest.NewLogger(t)})
	run(t, c)
	start := time.Now()
	c.EnqueueAfter("node", after)
	eventually(t, "delayed pass", func() bool { return rec.Count("node") == 1 })
	if elapsed := time.Since(start); elapsed < after {
		t.Errorf("pass after %s, want >= %s", elapsed, after)
	}
}

// controllerGoroutines returns the stacks of goroutines running controller or
// work-queue code.
func controllerGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mesosnet/runtime/controller.(*Controller[") ||
			strings.Contains(g, "k8s.io/client-go/util/workqueue.") {
			out = append(out, g)
		}
	}
	return out
}

func TestShutdown(t *testing.T) {
	reg := prometheus.NewRegistry()
	started := make(chan struct{})
	var sawCancel atomic.Bool
	rec := &recorder{fn: func(ctx context.Context, key string, pass int) (reconcile.Result, error) {
		if key == "slow" {
			close(started)
			<-ctx.Done()
			sawCancel.Store(true)
			return reconcile.Result{}, ctx.Err()
		}
		return reconcile.Result{}, nil
	}}
	c := controller.New("shutdown", reconcile.Reconciler[string](rec), controller.Options[string]{
		Logger:       zaptest.NewLogger(t),
		Registerer:   reg,
		ResyncPeriod: time.Hour,
		ResyncKeys:   func() []string { return nil },
	})
	stop := run(t, c)
	c.Enqueue("slow")
	receive(t, "slow pass to start", started)
	for i := range 5 {
		c.Enqueue(fmt.Sprintf("queued%d", i))
	}
	c.EnqueueAfter("delayed", time.Hour)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after a synced run", err)
	}
	if !sawCancel.Load() {
		t.Error("the running pass did not see its context cancelled")
	}
	if diff := cmp.Diff([]string{"slow"}, rec.Calls()); diff != "" {
		t.Errorf("passes (-want +got): keys queued at shutdown must be dropped\n%s", diff)
	}
	if got := samples(t, reg)[`mesosnet_controller_queue_depth{controller=shutdown}`]; got != 0 {
		t.Errorf("queue depth after shutdown = %v, want 0", got)
	}
	// Workers, the resync ticker and the queue's delay loop all exit.
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for left := controllerGoroutines(); len(left) > 0; left = controllerGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d controller goroutines still running after %s:\n%s", len(left), waitTimeout, strings.Join(left, "\n\n"))
		}
		<-tick.C
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := controller.New("lint", reconcile.Reconciler[string](&recorder{}), controller.Options[string]{
		Logger:     zaptest.NewLogger(t),
		Registerer: reg,
	})
	run(t, c)
	c.Enqueue("node")
	eventually(t, "a pass", func() bool {
		return samples(t, reg)[`mesosnet_controller_reconcile_total{controller=lint,result=success}`] == 1
	})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	const want = `
# HELP mesosnet_controller_reconcile_total Reconcile passes by result: success, error (including terminal errors), panic, requeue (success asking for a later pass).
# TYPE mesosnet_controller_reconcile_total counter
mesosnet_controller_reconcile_total{controller="lint",result="error"} 0
mesosnet_controller_reconcile_total{controller="lint",result="panic"} 0
mesosnet_controller_reconcile_total{controller="lint",result="requeue"} 0
mesosnet_controller_reconcile_total{controller="lint",result="success"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mesosnet_controller_reconcile_total"); err != nil {
		t.Error(err)
	}
	names, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range names {
		got = append(got, mf.GetName())
	}
	wantNames := []string{
		"mesosnet_controller_queue_adds_total",
		"mesosnet_controller_queue_depth",
		"mesosnet_controller_queue_latency_seconds",
		"mesosnet_controller_queue_longest_running_processor_seconds",
		"mesosnet_controller_queue_retries_total",
		"mesosnet_controller_queue_unfinished_work_seconds",
		"mesosnet_controller_reconcile_duration_seconds",
		"mesosnet_controller_reconcile_total",
	}
	if diff := cmp.Diff(wantNames, got); diff != "" {
		t.Errorf("metric families (-want +got):\n%s", diff)
	}
}

func TestMetricsSeveralControllers(t *testing.T) {
	reg := prometheus.NewRegistry()
	runOnce := func(name string) {
		rec := &recorder{}
		c := controller.New(name, reconcile.Reconciler[string](rec), controller.Options[string]{
			Logger:     zaptest.NewLogger(t),
			Registerer: reg,
		})
		stop := run(t, c)
		c.Enqueue("node")
		eventually(t, name+" pass", func() bool { return rec.Count("node") == 1 })
		eventually(t, name+" success counted", func() bool {
			return samples(t, reg)[`mesosnet_controller_reconcile_total{controller=`+name+`,result=success}`] >= 1
		})
		if err := stop(); err != nil {
			t.Fatalf("Run %s: %v", name, err)
		}
	}
	runOnce("overlay")
	runOnce("l4lb")
	runOnce("overlay") // re-created, e.g. after regaining leadership
	want := map[string]float64{
		`mesosnet_controller_reconcile_total{controller=overlay,result=success}`:   2,
		`mesosnet_controller_reconcile_total{controller=l4lb,result=success}`:      1,
		`mesosnet_controller_queue_adds_total{controller=overlay}`:                 2,
		`mesosnet_controller_queue_adds_total{controller=l4lb}`:                    1,
		`mesosnet_controller_reconcile_duration_seconds_count{controller=overlay}`: 2,
	}
	if diff := cmp.Diff(want, pick(samples(t, reg), slices.Collect(maps.Keys(want))...)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestMetricsCollisionPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "mesosnet_controller_reconcile_total",
		Help:        "someone else's metric",
		ConstLabels: prometheus.Labels{"controller": "clash"},
	}))
	defer func() {
		r := recover()
		if !strings.Contains(fmt.Sprint(r), "register controller metric") {
			t.Errorf("recovered %v, want a registration panic", r)
		}
	}()
	controller.New("clash", reconcile.Reconciler[string](&recorder{}), controller.Options[string]{Registerer: reg})
	t.Error("New did not panic on a metric collision")
}

type taskKey struct{ Framework, Task string }

func (k taskKey) String() string { return k.Framework + "/" + k.Task }

func TestLoggerFrom(t *testing.T) {
	log, logs := newLogger(t)
	done := make(chan struct{})
	r := reconcile.Func[taskKey](func(ctx context.Context, key taskKey) (reconcile.Result, error) {
		controller.LoggerFrom(ctx).Info("Applied task", zap.Int("ports", 2))
		close(done)
		return reconcile.Result{}, nil
	})
	c := controller.New("taskstate", r, controller.Options[taskKey]{Logger: log})
	run(t, c)
	c.Enqueue(taskKey{"f-0001", "nginx.1"})
	receive(t, "a pass", done)
	entries := logs.FilterMessage("Applied task").All()
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(entries))
	}
	want := map[string]any{"controller": "taskstate", "key": "f-0001/nginx.1", "ports": int64(2)}
	if diff := cmp.Diff(want, entries[0].ContextMap()); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}

	if controller.LoggerFrom(t.Context()) == nil {
		t.Error("LoggerFrom without a logger = nil, want a no-op logger")
	}
	ctx := controller.WithLogger(t.Context(), log.Named("custom"))
	controller.LoggerFrom(ctx).Info("Used custom")
	if got := logs.FilterMessage("Used custom").All(); len(got) != 1 || got[0].LoggerName != "custom" {
		t.Errorf("entries from WithLogger logger = %+v, want one from logger custom", got)
	}
}

func TestNewPanicsOnMisuse(t *testing.T) {
	r := reconcile.Reconciler[string](&recorder{})
	tests := []struct {
		name string
		new  func()
		want string
	}{
		{"empty name", func() { controller.New("", r, controller.Options[string]{}) }, "controller.New: empty name"},
		{"nil reconciler", func() { controller.New[string]("x", nil, controller.Options[string]{}) }, "controller.New x: nil reconciler"},
		{"negative workers", func() { controller.New("x", r, controller.Options[string]{Workers: -1}) }, "controller.New x: negative workers -1"},
		{"resync without keys", func() { controller.New("x", r, controller.Options[string]{ResyncPeriod: time.Minute}) }, "controller.New x: resync period 1m0s without ResyncKeys"},
		{"nil HasSynced", func() { controller.New("x", r, controller.Options[string]{HasSynced: []func() bool{nil}}) }, "controller.New x: HasSynced[0] is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				tt.new()
			}()
			if diff := cmp.Diff(tt.want, fmt.Sprint(got)); diff != "" {
				t.Errorf("panic (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultRateLimiter(t *testing.T) {
	l := controller.DefaultRateLimiter[string]()
	var got []time.Duration
	for range 4 {
		got = append(got, l.When("node"))
	}
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	if n := l.NumRequeues("node"); n != 4 {
		t.Errorf("NumRequeues = %d, want 4", n)
	}
	l.Forget("node")
	if d := l.When("node"); d != 5*time.Millisecond {
		t.Errorf("first backoff after Forget = %s, want 5ms", d)
	}
}
