package vipalloc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/taskstate"
	"github.com/mesosnet/mesosnet/runtime/instrument"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Raft kinds written by the controller.
const (
	// KindVIP is the kind of the VIP allocations: key VIPAllocation.Name,
	// value the JSON of the v1.VIPAllocation.
	KindVIP = "vip"
	// KindVIPFence is the kind of the fence, a single object (key
	// FenceKey) that every write allocating or deleting VIPs puts with a
	// compare-and-swap on its previous ModIndex (see the package doc).
	KindVIPFence = "vip-fence"
	// FenceKey is the key of the fence object.
	FenceKey = "vips"
)

// Defaults of ControllerOptions.
const (
	// DefaultGrace is how long an allocation outlives its last backend.
	DefaultGrace = time.Hour
	// DefaultMaxBatchOps bounds the ops of one raft entry, fence included.
	DefaultMaxBatchOps = 1000
	// DefaultMaxRetries is how many extra rounds a pass makes after a
	// conflict before it backs off.
	DefaultMaxRetries = 5
	// DefaultResyncInterval is the period of the pass made even when raft
	// reports nothing new.
	DefaultResyncInterval = 5 * time.Minute
	// DefaultMinInterval is the shortest time between the starts of two
	// passes: the changes of a burst are handled together.
	DefaultMinInterval = 50 * time.Millisecond
	// DefaultRetryInterval is the first delay after a failed pass; it
	// doubles up to DefaultMaxRetryInterval.
	DefaultRetryInterval    = 500 * time.Millisecond
	DefaultMaxRetryInterval = 30 * time.Second
)

// Fence is the value of the fence object.
type Fence struct {
	// VIPs is the number of VIP allocations once the pass that wrote the
	// fence has completed; informative only.
	VIPs int `json:"vips"`
}

// RegisterKinds registers KindVIP and KindVIPFence with their validators on
// r. Every master must call it before starting raft.
func RegisterKinds(r raftstore.KindRegistry) error {
	for kind, validate := range map[string]raftstore.ValidateFunc{KindVIP: ValidateVIP, KindVIPFence: ValidateFence} {
		if err := r.RegisterKind(kind, validate); err != nil {
			return fmt.Errorf("register kind %q: %w", kind, err)
		}
	}
	return nil
}

// ValidateVIP is the raftstore.ValidateFunc of KindVIP: value must be the
// JSON of a valid v1.VIPAllocation whose Name is key. Unknown fields are
// accepted, so that a newer master may add fields.
func ValidateVIP(key string, value json.RawMessage) error {
	var a v1.VIPAllocation
	if err := json.Unmarshal(value, &a); err != nil {
		return fmt.Errorf("decode VIP allocation %q: %w", key, err)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("validate VIP allocation %q: %w", key, err)
	}
	if a.Name != key {
		return fmt.Errorf("VIP allocation %q stored under key %q", a.Name, key)
	}
	return nil
}

// ValidateFence is the raftstore.ValidateFunc of KindVIPFence: the key must
// be FenceKey and the value the JSON object of a Fence with a non-negative
// count.
func ValidateFence(key string, value json.RawMessage) error {
	if key != FenceKey {
		return fmt.Errorf("VIP fence stored under key %q, want %q", key, FenceKey)
	}
	var f Fence
	if err := json.Unmarshal(value, &f); err != nil {
		return fmt.Errorf("decode VIP fence: %w", err)
	}
	if f.VIPs < 0 {
		return fmt.Errorf("VIP fence: vips %d is negative", f.VIPs)
	}
	return nil
}

// Raft is the part of the raft store the controller uses; *raftstore.Store
// implements it.
type Raft interface {
	// Barrier waits until every committed entry is applied locally.
	Barrier(ctx context.Context) error
	// Index returns the index of the last entry applied locally.
	Index() uint64
	// Get returns an object from the local replica.
	Get(kind, key string) (raftstore.Object, bool)
	// List returns the objects of kind from the local replica, by key.
	List(kind string) []raftstore.Object
	// Apply writes cmd through raft.
	Apply(ctx context.Context, cmd raftstore.Command) (raftstore.Result, error)
	// Watch follows the changes after fromIndex.
	Watch(fromIndex uint64) *raftstore.Watcher
}

// ControllerOptions configures a Controller. Zero values mean the
// defaults.
type ControllerOptions struct {
	// Range4 is the IPv4 VIP range (RangeOf(v1.DefaultVIPPrefix),
	// 11.0.0.0-11.255.255.255).
	Range4 Range
	// Range6 is the IPv6 VIP range (RangeOf(v1.DefaultVIPPrefix6)).
	Range6 Range
	// DisableIPv6 allocates IPv4 addresses only (ServiceOptions).
	DisableIPv6 bool
	// Grace is how long an allocation is kept, with its addresses, after
	// its last backend went (DefaultGrace).
	Grace time.Duration
	// Now is the clock of OrphanedAt and of the grace (time.Now).
	Now func() time.Time
	// Logger receives the controller's logs; nil discards them.
	Logger *zap.Logger
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// MaxBatchOps bounds the ops of one Batch, fence included, at least 2
	// (DefaultMaxBatchOps).
	MaxBatchOps int
	// MaxRetries is how many rounds a pass adds after a conflict
	// (DefaultMaxRetries).
	MaxRetries int
	// ResyncInterval is the period of the pass made without a change in
	// raft (DefaultResyncInterval).
	ResyncInterval time.Duration
	// MinInterval is the shortest time between the starts of two passes
	// (DefaultMinInterval).
	MinInterval time.Duration
	// RetryInterval and MaxRetryInterval bound the delay after a failed
	// pass (DefaultRetryInterval, DefaultMaxRetryInterval).
	RetryInterval, MaxRetryInterval time.Duration
}

// Controller records the addresses of the named VIPs in raft. Run it on the
// raft leader only, for as long as this master leads.
type Controller struct {
	raft Raft
	opts ControllerOptions
	log  *zap.Logger
	m    *metrics

	// Owned by Run.
	tasks     map[string]cachedTask
	exhausted map[string]bool // name/family pairs logged as exhausted
}

// cachedTask is a decoded raft task, valid while its ModIndex is.
type cachedTask struct {
	mod  uint64
	task v1.Task
	ok   bool // decoded
}

// NewController returns a Controller that reads the tasks from raft and
// records VIP allocations in it. It returns an error naming the option when
// a range is invalid or of the wrong family, Grace is negative or
// MaxBatchOps is 1.
func NewController(raft Raft, opts ControllerOptions) (*Controller, error) {
	if opts.Range4 == (Range{}) {
		opts.Range4 = RangeOf(v1.DefaultVIPPrefix)
	}
	if opts.Range6 == (Range{}) {
		opts.Range6 = RangeOf(v1.DefaultVIPPrefix6)
	}
	if err := opts.Range4.Validate(); err != nil {
		return nil, fmt.Errorf("vipalloc option Range4: %w", err)
	}
	if !opts.Range4.Min.Is4() {
		return nil, fmt.Errorf("vipalloc option Range4: %s is not an IPv4 range", opts.Range4)
	}
	if err := opts.Range6.Validate(); err != nil {
		return nil, fmt.Errorf("vipalloc option Range6: %w", err)
	}
	if opts.Range6.Min.Is4() {
		return nil, fmt.Errorf("vipalloc option Range6: %s is not an IPv6 range", opts.Range6)
	}
	if opts.Grace < 0 {
		return nil, fmt.Errorf("vipalloc option Grace: %s is negative", opts.Grace)
	}
	if opts.MaxBatchOps == 1 {
		return nil, errors.New("vipalloc option MaxBatchOps: 1 leaves no room beside the fence")
	}
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxBatchOps <= 0 {
		opts.MaxBatchOps = DefaultMaxBatchOps
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.MaxRetryInterval <= 0 {
		opts.MaxRetryInterval = DefaultMaxRetryInterval
	}
	return &Controller{
		raft:      raft,
		opts:      opts,
		log:       opts.Logger.Named("vipalloc"),
		m:         newMetrics(opts.Registerer),
		tasks:     map[string]cachedTask{},
		exhausted: map[string]bool{},
	}, nil
}

// Run waits for raft's committed entries to be applied locally (Barrier),
// then keeps the VIP allocations in line with the tasks in raft until ctx
// ends, returning ctx's error. A pass runs at once, then after changes of
// tasks or VIPs (at most one pass per MinInterval), when an orphaned
// allocation's grace ends, and every ResyncInterval. It returns early when
// the barrier fails (e.g. raftstore.ErrNotLeader) or the store closes.
// Failed passes are logged and retried with backoff. Run must not be called
// concurrently with itself.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.raft.Barrier(ctx); err != nil {
		return fmt.Errorf("wait for raft barrier: %w", err)
	}
	w := c.raft.Watch(c.raft.Index())
	ctx, cancel := context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	followed := make(chan error, 1)
	go func() { followed <- follow(ctx, w, kick) }()
	defer func() {
		cancel()
		w.Close()
		<-followed
	}()

	resync := time.NewTicker(c.opts.ResyncInterval)
	defer resync.Stop()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	var (
		retry   <-chan time.Time
		backoff = c.opts.RetryInterval
		dirty   = true
		last    time.Time
	)
	for {
		if dirty && retry == nil {
			// Coalesce a burst: wait out MinInterval since the last pass,
			// then take every pending notification at once.
			if wait := c.opts.MinInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
			select {
			case <-kick:
			default:
			}
			dirty, last = false, time.Now()
			next, err := c.sync(ctx)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				c.log.Error("Failed to allocate VIPs", zap.Error(err), zap.Duration("retryIn", backoff))
				retry = time.After(backoff)
				backoff = min(2*backoff, c.opts.MaxRetryInterval)
				dirty = true
			default:
				backoff = c.opts.RetryInterval
				expiry.Stop()
				if !next.IsZero() {
					expiry.Reset(max(next.Sub(c.opts.Now()), 0))
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-followed:
			followed <- err // for the deferred wait
			if ctx.Err() != nil {
				// The follower saw the cancellation first.
				return ctx.Err()
			}
			return fmt.Errorf("follow raft changes: %w", err)
		case <-kick:
			dirty = true
		case <-resync.C:
			dirty = true
		case <-expiry.C:
			dirty = true
		case <-retry:
			retry = nil
		}
	}
}

// follow signals kick (without blocking: a pending signal covers any
// number of changes) for every change of the tasks or the VIPs and every
// reset, until ctx ends (nil) or w fails.
func follow(ctx context.Context, w *raftstore.Watcher, kick chan<- struct{}) error {
	for {
		e, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch {
		case e.Type == raftstore.EventReset,
			e.Object.Kind == taskstate.Kind, e.Object.Kind == KindVIP, e.Object.Kind == KindVIPFence:
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
}

// sync makes one pass: plan, write, and plan again after a conflict (a
// concurrent writer moved the fence or a record), up to MaxRetries extra
// rounds. It returns when the earliest remaining grace ends (zero if none).
func (c *Controller) sync(ctx context.Context) (time.Time, error) {
	start := time.Now()
	defer func() { c.m.passDuration.Observe(time.Since(start).Seconds()) }()
	for round := 0; ; round++ {
		p, err := c.plan()
		if err != nil {
			return time.Time{}, err
		}
		c.reportExhausted(p.exhausted)
		if len(p.ops) == 0 {
			c.m.vips.Set(float64(p.records))
			c.m.orphaned.Set(float64(p.orphaned))
			return p.nextExpiry, nil
		}
		if round > c.opts.MaxRetries {
			return time.Time{}, fmt.Errorf("VIP allocations still conflict after %d rounds: %d ops left", round, len(p.ops))
		}
		err = c.write(ctx, p)
		switch {
		case err == nil:
			c.m.vips.Set(float64(p.records))
			c.m.orphaned.Set(float64(p.orphaned))
			return p.nextExpiry, nil
		case errors.Is(err, raftstore.ErrConflict), errors.Is(err, raftstore.ErrUnknownOutcome):
			// Computed from a state someone else changed (or a write that
			// may have landed): re-read and plan again.
			c.m.conflicts.Inc()
			c.log.Info("Retried VIP allocation after a concurrent write", zap.Error(err), zap.Int("round", round))
		default:
			return time.Time{}, err
		}
	}
}

// plan is the outcome of one diff: the ops to write and what they do.
type plan struct {
	// fenceMod is the fence's ModIndex read before the VIPs, 0 if absent.
	fenceMod uint64
	ops      []raftstore.Op
	effects  []effect // one per op
	// records and orphaned count the allocations once ops are applied.
	records, orphaned int
	// nextExpiry is when the earliest grace of the orphaned allocations
	// ends, zero if none.
	nextExpiry time.Time
	exhausted  []*ExhaustedError
}

// effect is what one op does, for the metrics and the logs.
type effect struct {
	alloc   v1.VIPAllocation
	new4    bool // allocates an IPv4 address
	new6    bool // allocates an IPv6 address
	orphan  bool // sets OrphanedAt
	adopt   bool // clears OrphanedAt
	deleted bool
}

// plan reads the fence, then the VIPs and the tasks, and computes the ops
// that make the allocations match the wanted VIPs.
func (c *Controller) plan() (*plan, error) {
	p := &plan{}
	// The fence first: anything written after this read moves it, and the
	// batch that carries ExpectModIndex = fenceMod is then rejected.
	if f, ok := c.raft.Get(KindVIPFence, FenceKey); ok {
		p.fenceMod = f.ModIndex
	}
	objs := c.raft.List(KindVIP)
	wanted := Wanted(c.loadTasks(), ServiceOptions{DisableIPv6: c.opts.DisableIPv6})
	now := c.opts.Now().UTC()

	current := make([]v1.VIPAllocation, len(objs))
	used4 := make(map[netip.Addr]struct{}, len(objs))
	used6 := make(map[netip.Addr]struct{})
	for i, o := range objs {
		if err := json.Unmarshal(o.Value, &current[i]); err != nil {
			// Never allocate without knowing every address in use.
			return nil, fmt.Errorf("decode VIP allocation %q (raft index %d): %w", o.Key, o.ModIndex, err)
		}
		if a := current[i].IP4; a.IsValid() {
			used4[a] = struct{}{}
		}
		if a := current[i].IP6; a.IsValid() {
			used6[a] = struct{}{}
		}
	}
	// Addresses freed by deletes are not reused before the next pass: the
	// delete may land in a later batch than the new allocation.
	choose := func(e *effect, w WantedVIP) {
		if w.IPv4 && !e.alloc.IP4.IsValid() {
			if a, err := c.choose(w.Name, c.opts.Range4, used4); err != nil {
				p.exhausted = append(p.exhausted, err)
			} else {
				e.alloc.IP4, e.new4 = a, true
			}
		}
		if w.IPv6 && !e.alloc.IP6.IsValid() {
			if a, err := c.choose(w.Name, c.opts.Range6, used6); err != nil {
				p.exhausted = append(p.exhausted, err)
			} else {
				e.alloc.IP6, e.new6 = a, true
			}
		}
	}
	add := func(e effect, op raftstore.Op) {
		p.ops = append(p.ops, op)
		p.effects = append(p.effects, e)
	}
	var encodeErr error
	put := func(e effect, expect uint64) {
		value, err := json.Marshal(e.alloc)
		if err != nil {
			encodeErr = errors.Join(encodeErr, fmt.Errorf("encode VIP allocation %q: %w", e.alloc.Name, err))
			return
		}
		add(e, raftstore.PutOp(raftstore.Put{Kind: KindVIP, Key: e.alloc.Name, Value: value, ExpectModIndex: raftstore.Expect(expect)}))
	}
	expire := func(at time.Time) {
		if p.nextExpiry.IsZero() || at.Before(p.nextExpiry) {
			p.nextExpiry = at
		}
	}

	// Existing allocations, by name.
	p.records = len(objs)
	for i, o := range objs {
		e := effect{alloc: current[i]}
		w, ok := wanted[o.Key]
		delete(wanted, o.Key)
		switch {
		case ok:
			// Backends again (or still): same addresses, plus any family
			// that is new.
			e.adopt = !e.alloc.OrphanedAt.IsZero()
			e.alloc.OrphanedAt = time.Time{}
			choose(&e, w)
			if e.adopt || e.new4 || e.new6 {
				put(e, o.ModIndex)
			}
		case e.alloc.OrphanedAt.IsZero():
			e.orphan = true
			e.alloc.OrphanedAt = now
			p.orphaned++
			expire(now.Add(c.opts.Grace))
			put(e, o.ModIndex)
		case !now.Before(e.alloc.OrphanedAt.Add(c.opts.Grace)):
			e.deleted = true
			p.records--
			add(e, raftstore.DeleteOp(raftstore.Delete{Kind: KindVIP, Key: o.Key, ExpectModIndex: raftstore.Expect(o.ModIndex)}))
		default:
			p.orphaned++
			expire(e.alloc.OrphanedAt.Add(c.opts.Grace))
		}
	}
	// New VIPs, by name, so that colliding names resolve the same way
	// whatever the order the tasks came in.
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		w := wanted[name]
		e := effect{alloc: v1.VIPAllocation{Name: name, Label: w.Label, Framework: w.Framework}}
		choose(&e, w)
		if !e.new4 && !e.new6 {
			continue // exhausted
		}
		p.records++
		put(e, 0)
	}
	if encodeErr != nil {
		return nil, encodeErr
	}
	return p, nil
}

// choose picks the address of name in r, marking it used.
func (c *Controller) choose(name string, r Range, used map[netip.Addr]struct{}) (netip.Addr, *ExhaustedError) {
	a, err := Choose(name, r, func(a netip.Addr) bool { _, ok := used[a]; return ok })
	if err != nil {
		var ex *ExhaustedError
		if !errors.As(err, &ex) {
			// The ranges were validated by NewController.
			ex = &ExhaustedError{Range: r, Name: name}
		}
		return netip.Addr{}, ex
	}
	used[a] = struct{}{}
	return a, nil
}

// reportExhausted counts every failed allocation and logs it once per name
// and family until that allocation succeeds.
func (c *Controller) reportExhausted(errs []*ExhaustedError) {
	now := make(map[string]bool, len(errs))
	for _, e := range errs {
		family := familyOf(e.Range.Min)
		c.m.exhausted.WithLabelValues(family).Inc()
		k := family + "/" + e.Name
		now[k] = true
		if !c.exhausted[k] {
			c.log.Error("Skipped VIP: range exhausted", zap.String("VIP", e.Name),
				zap.Stringer("range", e.Range), zap.Error(e))
		}
	}
	c.exhausted = now
}

// write applies p's ops as Batches of at most MaxBatchOps ops, each ending
// with the fence put that expects the fence as it was when the state was
// read (or as the previous batch left it).
func (c *Controller) write(ctx context.Context, p *plan) error {
	fence, err := json.Marshal(Fence{VIPs: p.records})
	if err != nil {
		return fmt.Errorf("encode VIP fence: %w", err)
	}
	fenceMod := p.fenceMod
	per := c.opts.MaxBatchOps - 1
	for i := 0; i < len(p.ops); i += per {
		j := min(i+per, len(p.ops))
		ops := make([]raftstore.Op, 0, j-i+1)
		ops = append(ops, p.ops[i:j]...)
		ops = append(ops, raftstore.PutOp(raftstore.Put{
			Kind: KindVIPFence, Key: FenceKey, Value: fence, ExpectModIndex: raftstore.Expect(fenceMod),
		}))
		res, err := c.raft.Apply(ctx, raftstore.Batch{Ops: ops})
		if err != nil {
			return fmt.Errorf("apply batch of %d VIP ops (fence at raft index %d): %w", j-i, fenceMod, err)
		}
		fenceMod = res.Index
		c.committed(p.effects[i:j], res.Index)
	}
	return nil
}

// committed accounts for the effects of a batch written at index.
func (c *Controller) committed(effects []effect, index uint64) {
	var allocated, orphaned, adopted, deleted int
	for _, e := range effects {
		switch {
		case e.deleted:
			deleted++
			c.m.deletes.Inc()
			c.log.Debug("Deleted VIP", zap.String("VIP", e.alloc.Name), zap.Time("orphanedAt", e.alloc.OrphanedAt))
		case e.orphan:
			orphaned++
			c.log.Debug("Orphaned VIP", zap.String("VIP", e.alloc.Name))
		}
		if e.adopt {
			adopted++
		}
		if e.new4 {
			c.m.allocations.WithLabelValues(familyIPv4).Inc()
		}
		if e.new6 {
			c.m.allocations.WithLabelValues(familyIPv6).Inc()
		}
		if e.new4 || e.new6 {
			allocated++
			c.log.Debug("Allocated VIP", zap.String("VIP", e.alloc.Name), zap.String("label", e.alloc.Label),
				zap.String("framework", e.alloc.Framework), addrField("ip4", e.alloc.IP4), addrField("ip6", e.alloc.IP6))
		}
	}
	c.log.Info("Wrote VIP allocations", zap.Int("allocated", allocated), zap.Int("orphaned", orphaned),
		zap.Int("adopted", adopted), zap.Int("deleted", deleted), zap.Uint64("raftIndex", index))
}

// loadTasks returns the tasks in raft, decoding only those that changed
// since the previous call. Values that do not decode (the FSM validated
// them, so only a newer, incompatible writer makes them) are logged once
// and skipped.
func (c *Controller) loadTasks() []v1.Task {
	objs := c.raft.List(taskstate.Kind)
	tasks := make([]v1.Task, 0, len(objs))
	next := make(map[string]cachedTask, len(objs))
	for _, o := range objs {
		ct, ok := c.tasks[o.Key]
		if !ok || ct.mod != o.ModIndex {
			ct = cachedTask{mod: o.ModIndex}
			if err := json.Unmarshal(o.Value, &ct.task); err != nil {
				c.log.Warn("Skipped undecodable task", zap.String("taskKey", o.Key),
					zap.Uint64("raftIndex", o.ModIndex), zap.Error(err))
			} else {
				ct.ok = true
			}
		}
		next[o.Key] = ct
		if ct.ok {
			tasks = append(tasks, ct.task)
		}
	}
	c.tasks = next
	return tasks
}

// addrField logs a, or nothing when a is the zero Addr.
func addrField(key string, a netip.Addr) zap.Field {
	if !a.IsValid() {
		return zap.Skip()
	}
	return zap.Stringer(key, a)
}

// Address family label values.
const (
	familyIPv4 = "ipv4"
	familyIPv6 = "ipv6"
)

func familyOf(a netip.Addr) string {
	if a.Is4() {
		return familyIPv4
	}
	return familyIPv6
}

// metrics are the controller's Prometheus collectors.
type metrics struct {
	vips         prometheus.Gauge
	orphaned     prometheus.Gauge
	allocations  *prometheus.CounterVec
	deletes      prometheus.Counter
	exhausted    *prometheus.CounterVec
	conflicts    prometheus.Counter
	passDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "mesosnet", "vipalloc"
	return &metrics{
		vips: instrument.Register(reg, "vipalloc vips", prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "vips",
			Help: "VIP allocations recorded in raft, orphaned ones included, after the last pass.",
		})),
		orphaned: instrument.Register(reg, "vipalloc orphaned", prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "orphaned",
			Help: "VIP allocations without backends, kept for the grace period, after the last pass.",
		})),
		allocations: instrument.Register(reg, "vipalloc allocations", prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_total",
			Help: "VIP addresses allocated, by address family.",
		}, []string{"family"})),
		deletes: instrument.Register(reg, "vipalloc deletes", prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "deletes_total",
			Help: "VIP allocations deleted after their grace period.",
		})),
		exhausted: instrument.Register(reg, "vipalloc exhausted", prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "exhausted_total",
			Help: "VIP addresses that could not be allocated because the range was full, per pass, by address family.",
		}, []string{"family"})),
		conflicts: instrument.Register(reg, "vipalloc conflicts", prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "conflicts_total",
			Help: "Writes rejected because raft changed since the state was read (fence or record moved).",
		})),
		passDuration: instrument.Register(reg, "vipalloc pass duration", prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "pass_duration_seconds",
			Help:    "Duration of the allocation passes, writes included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		})),
	}
}
