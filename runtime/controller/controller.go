// Package controller runs a reconcile.Reconciler over a typed, rate-limited
// work queue: the loop every mesosnet controller shares, on masters (the
// per-object allocators) and on agents (the single-key kernel reconcilers).
//
// Design notes: events only enqueue keys; workers pull keys and call
// Reconcile, which re-reads current state and applies the difference, so the
// loop is level-triggered and a lost or coalesced event costs nothing. The
// queue is k8s.io/client-go/util/workqueue: a key enqueued many times before a
// worker picks it up is reconciled once, and a key is never handed to two
// workers at once (an enqueue during a pass schedules exactly one more pass),
// so Workers only adds parallelism across keys. A failed pass is retried with
// the rate limiter's backoff (per key exponential, capped, combined with an
// overall token bucket); a success or a terminal error forgets the key's
// failure history; Result.RequeueAfter schedules a later pass. A panicking
// Reconcile is recovered, logged with its stack and retried like an error, so
// one bad object cannot kill the process. Workers start only once every
// HasSynced function reports true, so nothing is ever programmed from a
// partial view (a restart with masters unreachable changes nothing). The
// optional resync enqueues ResyncKeys when the caches have synced and then
// every ResyncPeriod, repairing drift that produced no event. Memory is one
// entry per distinct pending key; the cost per event is a map lookup.
//
// Metrics, all with the constant label controller=<name>:
// mesosnet_controller_reconcile_total{result=success|error|panic|requeue},
// mesosnet_controller_reconcile_duration_seconds, and from the work queue
// mesosnet_controller_queue_depth, _queue_adds_total, _queue_latency_seconds,
// _queue_retries_total, _queue_unfinished_work_seconds and
// _queue_longest_running_processor_seconds.
package controller

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/mesosnet/mesosnet/runtime/logging"
	"github.com/mesosnet/mesosnet/runtime/reconcile"
)

// syncPollInterval is how often Run re-checks HasSynced while waiting.
const syncPollInterval = 100 * time.Millisecond

// Options configures a Controller. The zero value is usable: one worker, no
// logging, the default rate limiter, no resync, no sync gate, no metrics.
type Options[K comparable] struct {
	// Workers is the number of keys reconciled in parallel (default 1).
	Workers int
	// Logger receives the controller's logs; it is extended with the
	// controller's name. Nil discards logs.
	Logger *zap.Logger
	// RateLimiter decides the delay before a failed key is retried. Nil
	// means DefaultRateLimiter.
	RateLimiter workqueue.TypedRateLimiter[K]
	// ResyncKeys, if set, returns the keys enqueued once the caches have
	// synced and then every ResyncPeriod.
	ResyncKeys func() []K
	// ResyncPeriod, if positive, is the interval of the periodic resync;
	// ResyncKeys must then be set.
	ResyncPeriod time.Duration
	// HasSynced are the sync checks of the caches the reconciler reads. Run
	// starts no worker until all of them return true.
	HasSynced []func() bool
	// Registerer receives the controller's metrics (listed in the package
	// documentation). Controllers with different names can share one
	// Registerer; a controller re-created with the same name (for example
	// on regaining raft leadership) reuses the metrics already registered.
	// Nil disables metrics export.
	Registerer prometheus.Registerer
}

// Controller feeds keys from a rate-limited queue to a reconciler. Create it
// with New, enqueue keys from event handlers (before or after Run), and call
// Run once.
type Controller[K comparable] struct {
	name         string
	reconciler   reconcile.Reconciler[K]
	log          *zap.Logger
	queue        workqueue.TypedRateLimitingInterface[K]
	limiter      workqueue.TypedRateLimiter[K]
	workers      int
	resyncKeys   func() []K
	resyncPeriod time.Duration
	hasSynced    []func() bool
	metrics      *metrics
	started      atomic.Bool
}

// DefaultRateLimiter returns the rate limiter used when Options.RateLimiter
// is nil: per key, 5ms doubling on every failure up to 5 minutes, and at most
// 10 retries per second (bursts of 100) across all keys.
func DefaultRateLimiter[K comparable]() workqueue.TypedRateLimiter[K] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[K](5*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[K]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// New returns a controller named name (used in logs and as the metrics'
// controller label) that runs r. It panics on a programming error: an empty
// name, a nil reconciler, a negative Workers, a ResyncPeriod without
// ResyncKeys, or metrics that collide with differently shaped ones already in
// the Registerer.
func New[K comparable](name string, r reconcile.Reconciler[K], opts Options[K]) *Controller[K] {
	switch {
	case name == "":
		panic("controller.New: empty name")
	case r == nil:
		panic(fmt.Sprintf("controller.New %s: nil reconciler", name))
	case opts.Workers < 0:
		panic(fmt.Sprintf("controller.New %s: negative workers %d", name, opts.Workers))
	case opts.ResyncPeriod > 0 && opts.ResyncKeys == nil:
		panic(fmt.Sprintf("controller.New %s: resync period %s without ResyncKeys", name, opts.ResyncPeriod))
	}
	for i, f := range opts.HasSynced {
		if f == nil {
			panic(fmt.Sprintf("controller.New %s: HasSynced[%d] is nil", name, i))
		}
	}
	workers := opts.Workers
	if workers == 0 {
		workers = 1
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	limiter := opts.RateLimiter
	if limiter == nil {
		limiter = DefaultRateLimiter[K]()
	}
	m := newMetrics(name, opts.Registerer)
	qcfg := workqueue.TypedRateLimitingQueueConfig[K]{}
	if opts.Registerer != nil {
		// The queue only creates metrics when it has a name and a provider.
		qcfg.Name = name
		qcfg.MetricsProvider = m
	}
	return &Controller[K]{
		name:         name,
		reconciler:   r,
		log:          log.With(logging.Controller(name)),
		queue:        workqueue.NewTypedRateLimitingQueueWithConfig(limiter, qcfg),
		limiter:      limiter,
		workers:      workers,
		resyncKeys:   opts.ResyncKeys,
		resyncPeriod: opts.ResyncPeriod,
		hasSynced:    append([]func() bool(nil), opts.HasSynced...),
		metrics:      m,
	}
}

// Enqueue schedules a pass for key. A key already waiting is not added
// twice; a key being reconciled gets exactly one more pass afterwards.
// Enqueue after Run has returned is ignored.
func (c *Controller[K]) Enqueue(key K) {
	c.queue.Add(key)
}

// EnqueueAfter schedules a pass for key after d (immediately if d <= 0).
func (c *Controller[K]) EnqueueAfter(key K, d time.Duration) {
	c.queue.AddAfter(key, d)
}

// Run waits for the caches to sync, then reconciles queued keys with
// Options.Workers workers until ctx is done. It then shuts the queue down,
// lets running passes finish (their context is cancelled), waits for every
// worker and returns nil. If ctx ends before the caches synced, no key was
// reconciled and Run returns an error wrapping ctx.Err(). Run may be called
// only once.
func (c *Controller[K]) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("run controller %s: already started", c.name)
	}
	defer c.metrics.resetInFlight()
	c.log.Info("Started controller", zap.Int("workers", c.workers))

	start := time.Now()
	if err := c.waitForSync(ctx); err != nil {
		c.queue.ShutDown()
		return fmt.Errorf("run controller %s: wait for caches to sync: %w", c.name, err)
	}
	if len(c.hasSynced) > 0 {
		c.log.Info("Synced caches", logging.Elapsed(time.Since(start)))
	}

	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { c.work(ctx) })
	}
	if c.resyncKeys != nil {
		c.resync()
		if c.resyncPeriod > 0 {
			wg.Go(func() { c.resyncLoop(ctx) })
		}
	}

	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Info("Stopped controller")
	return nil
}

// waitForSync returns once every HasSynced function reports true, or with
// ctx's error.
func (c *Controller[K]) waitForSync(ctx context.Context) error {
	if len(c.hasSynced) == 0 {
		return ctx.Err()
	}
	t := time.NewTicker(syncPollInterval)
	defer t.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		synced := true
		for _, f := range c.hasSynced {
			if !f() {
				synced = false
				break
			}
		}
		if synced {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// resync enqueues every key returned by ResyncKeys.
func (c *Controller[K]) resync() {
	keys := c.resyncKeys()
	for _, k := range keys {
		c.queue.Add(k)
	}
	c.log.Debug("Enqueued resync", zap.Int("keys", len(keys)))
}

// resyncLoop calls resync every ResyncPeriod until ctx is done.
func (c *Controller[K]) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.resyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.resync()
		}
	}
}

// work processes keys until the queue is shut down. Once ctx is done the
// remaining keys are drained without being reconciled.
func (c *Controller[K]) work(ctx context.Context) {
	for {
		key, shutdown := c.queue.Get()
		if shutdown {
			return
		}
		if ctx.Err() == nil {
			c.process(ctx, key)
		}
		c.queue.Done(key)
	}
}

// process runs one pass for key and decides what happens to it next.
func (c *Controller[K]) process(ctx context.Context, key K) {
	log := c.log.With(logging.Key(key))
	start := time.Now()
	res, recovered, err := c.call(WithLogger(ctx, log), key)
	elapsed := time.Since(start)
	c.metrics.duration.Observe(elapsed.Seconds())

	switch {
	case recovered != nil:
		c.metrics.panics.Inc()
		delay := c.limiter.When(key)
		log.Error("Recovered panic in reconcile; requeued with backoff",
			zap.Any("panic", recovered.value), zap.String("stack", string(recovered.stack)),
			logging.Attempt(c.limiter.NumRequeues(key)), logging.Backoff(delay))
		c.queue.AddAfter(key, delay)
	case err != nil && ctx.Err() != nil:
		// Shutting down: the queue accepts no more keys and the error is
		// most likely the cancellation itself.
		c.metrics.errors.Inc()
		log.Debug("Reconcile interrupted by shutdown", zap.Error(err))
	case err != nil && reconcile.IsTerminal(err):
		c.metrics.errors.Inc()
		c.queue.Forget(key)
		log.Error("Reconcile failed terminally; dropped key", zap.Error(err))
	case err != nil:
		c.metrics.errors.Inc()
		delay := c.limiter.When(key)
		log.Error("Reconcile failed; requeued with backoff", zap.Error(err),
			logging.Attempt(c.limiter.NumRequeues(key)), logging.Backoff(delay))
		c.queue.AddAfter(key, delay)
	case res.RequeueAfter > 0:
		c.metrics.requeues.Inc()
		c.queue.Forget(key)
		c.queue.AddAfter(key, res.RequeueAfter)
		log.Debug("Reconciled; requeued", logging.Elapsed(elapsed), zap.Duration("requeueAfter", res.RequeueAfter))
	default:
		c.metrics.successes.Inc()
		c.queue.Forget(key)
		log.Debug("Reconciled", logging.Elapsed(elapsed))
	}
}

// panicValue is a recovered panic and the stack of the panicking goroutine.
type panicValue struct {
	value any
	stack []byte
}

// call runs Reconcile, converting a panic into a non-nil *panicValue.
func (c *Controller[K]) call(ctx context.Context, key K) (res reconcile.Result, recovered *panicValue, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, recovered, err = reconcile.Result{}, &panicValue{value: v, stack: debug.Stack()}, nil
		}
	}()
	res, err = c.reconciler.Reconcile(ctx, key)
	return res, nil, err
}

// loggerKey is the context key of the per-reconcile logger.
type loggerKey struct{}

// WithLogger returns a copy of ctx carrying log, for LoggerFrom. The
// controller does this for every pass; tests of a reconciler may too.
func WithLogger(ctx context.Context, log *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

// LoggerFrom returns the logger carried by ctx: inside Reconcile, the
// controller's logger with the controller and key fields. Without one it
// returns a no-op logger.
func LoggerFrom(ctx context.Context) *zap.Logger {
	if log, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok && log != nil {
		return log
	}
	return zap.NewNop()
}
