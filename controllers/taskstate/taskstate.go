package taskstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Kind is the raft kind of the task objects.
const Kind = "task"

// Defaults of Options.
const (
	// DefaultMaxBatchOps bounds the ops of one raft entry.
	DefaultMaxBatchOps = 1000
	// DefaultMaxRetries is how many extra rounds a pass makes after a
	// conflict or a concurrent write before it backs off.
	DefaultMaxRetries = 5
	// DefaultResyncInterval is the period of the full pass made even when
	// Mesos reports nothing new, which repairs changes made to raft by
	// others.
	DefaultResyncInterval = 5 * time.Minute
	// DefaultRetryInterval is the first delay after a failed pass; it
	// doubles up to DefaultMaxRetryInterval.
	DefaultRetryInterval    = 500 * time.Millisecond
	DefaultMaxRetryInterval = 30 * time.Second
)

// RegisterKinds registers the kinds this controller writes, with their
// validators, on r. Every master must call it before starting raft.
func RegisterKinds(r raftstore.KindRegistry) error {
	if err := r.RegisterKind(Kind, Validate); err != nil {
		return fmt.Errorf("register kind %q: %w", Kind, err)
	}
	return nil
}

// Validate is the raftstore.ValidateFunc of Kind: value must be the JSON of
// a valid v1.Task whose key is key. Unknown fields are accepted (see the
// package doc).
func Validate(key string, value json.RawMessage) error {
	var t v1.Task
	if err := json.Unmarshal(value, &t); err != nil {
		return fmt.Errorf("decode task %q: %w", key, err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("validate task %q: %w", key, err)
	}
	if got := t.Key.String(); got != key {
		return fmt.Errorf("task %q stored under key %q", got, key)
	}
	return nil
}

// Raft is the part of the raft store the controller uses; *raftstore.Store
// implements it.
type Raft interface {
	// Barrier waits until every committed entry is applied locally.
	Barrier(ctx context.Context) error
	// List returns the objects of kind from the local replica.
	List(kind string) []raftstore.Object
	// Apply writes cmd through raft.
	Apply(ctx context.Context, cmd raftstore.Command) (raftstore.Result, error)
}

// Mesos is the Mesos state model the controller follows; *state.Store
// implements it.
type Mesos interface {
	Subscribe() *state.Subscription
	Unsubscribe(sub *state.Subscription)
}

// Options configures a Controller. Zero values mean the defaults.
type Options struct {
	// Logger receives the controller's logs; nil discards them.
	Logger *zap.Logger
	// MaxBatchOps bounds the ops of one Batch (DefaultMaxBatchOps).
	MaxBatchOps int
	// MaxRetries is how many rounds a pass adds, re-reading raft and
	// writing again, after a conflict or after finding raft changed behind
	// its writes (DefaultMaxRetries).
	MaxRetries int
	// ResyncInterval is the period of the pass made without a Mesos
	// notification (DefaultResyncInterval).
	ResyncInterval time.Duration
	// RetryInterval and MaxRetryInterval bound the delay after a failed
	// pass (DefaultRetryInterval, DefaultMaxRetryInterval); a new Mesos
	// notification does not cut the delay short.
	RetryInterval, MaxRetryInterval time.Duration
}

// Controller writes the tasks of the Mesos state model into raft. Run it
// on the raft leader only, for as long as this master leads.
type Controller struct {
	mesos  Mesos
	raft   Raft
	log    *zap.Logger
	opts   Options
	synced atomic.Uint64
}

// New returns a Controller that follows mesos and writes to raft.
func New(mesos Mesos, raft Raft, opts Options) *Controller {
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
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.MaxRetryInterval <= 0 {
		opts.MaxRetryInterval = DefaultMaxRetryInterval
	}
	return &Controller{mesos: mesos, raft: raft, log: opts.Logger.Named("taskstate"), opts: opts}
}

// SyncedRevision returns the revision of the last Mesos snapshot that raft
// was found or made equal to, 0 before the first such pass.
func (c *Controller) SyncedRevision() uint64 { return c.synced.Load() }

// Run waits for raft's committed entries to be applied locally (Barrier)
// and for a complete Mesos snapshot, then keeps raft's tasks equal to the
// latest snapshot's until ctx ends, returning ctx's error. It returns early
// when the barrier fails (e.g. raftstore.ErrNotLeader) or the subscription
// is closed. Failed passes are logged and retried with backoff.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.raft.Barrier(ctx); err != nil {
		return fmt.Errorf("wait for raft barrier: %w", err)
	}
	sub := c.mesos.Subscribe()
	defer c.mesos.Unsubscribe(sub)

	var (
		latest  *state.Snapshot
		retry   <-chan time.Time
		backoff = c.opts.RetryInterval
		resync  = time.NewTicker(c.opts.ResyncInterval)
	)
	defer resync.Stop()
	for {
		// Wait for a notification, the retry of a failed pass or the
		// periodic resync.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n, ok := <-sub.C():
			if !ok {
				return errors.New("mesos state subscription closed")
			}
			latest = n.Snapshot
			if retry != nil {
				// A failed pass waits for its backoff.
				continue
			}
		case <-retry:
			retry = nil
		case <-resync.C:
			if retry != nil {
				continue
			}
		}
		// Coalesce: only the newest snapshot matters.
	drain:
		for {
			select {
			case n, ok := <-sub.C():
				if !ok {
					return errors.New("mesos state subscription closed")
				}
				latest = n.Snapshot
			default:
				break drain
			}
		}
		if latest == nil || !latest.Ready() {
			// Never write from an incomplete Mesos state.
			continue
		}
		if err := c.sync(ctx, latest); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Error("Failed to sync tasks to raft", zap.Error(err),
				zap.Uint64("mesosRevision", latest.Revision()), zap.Duration("retryIn", backoff))
			retry = time.After(backoff)
			backoff = min(2*backoff, c.opts.MaxRetryInterval)
			continue
		}
		backoff = c.opts.RetryInterval
		c.synced.Store(latest.Revision())
	}
}

// sync makes raft's tasks equal to snap's. After each write it diffs again:
// a conflict, or a concurrent write that touched keys the batch did not,
// leaves a difference that the next round writes, up to MaxRetries rounds.
func (c *Controller) sync(ctx context.Context, snap *state.Snapshot) error {
	conflicted := false
	for round := 0; ; round++ {
		ops, err := c.diff(snap)
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil
		}
		if round > c.opts.MaxRetries {
			return fmt.Errorf("raft tasks still differ from Mesos revision %d after %d rounds: %d ops left",
				snap.Revision(), round, len(ops))
		}
		if round > 0 && !conflicted {
			c.log.Info("Found raft tasks changed by a concurrent write", zap.Int("ops", len(ops)),
				zap.Int("round", round))
		}
		err = c.write(ctx, ops, snap.Revision())
		if err != nil && !errors.Is(err, raftstore.ErrConflict) {
			return err
		}
		conflicted = err != nil
		if conflicted {
			c.log.Info("Retried tasks after a concurrent write", zap.Error(err))
		}
	}
}

// diff returns the ops that make raft's tasks equal to snap's: puts first,
// in key order, then deletes in key order.
func (c *Controller) diff(snap *state.Snapshot) ([]raftstore.Op, error) {
	current := make(map[string]raftstore.Object)
	for _, o := range c.raft.List(Kind) {
		current[o.Key] = o
	}
	var ops []raftstore.Op
	for t := range snap.All() {
		key := t.Key.String()
		value, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encode task %s: %w", key, err)
		}
		old, ok := current[key]
		delete(current, key)
		switch {
		case !ok:
			ops = append(ops, raftstore.PutOp(raftstore.Put{Kind: Kind, Key: key, Value: value, ExpectModIndex: raftstore.Expect(0)}))
		case !sameValue(old.Value, value):
			ops = append(ops, raftstore.PutOp(raftstore.Put{Kind: Kind, Key: key, Value: value, ExpectModIndex: raftstore.Expect(old.ModIndex)}))
		}
	}
	gone := slices.SortedFunc(maps.Values(current), func(a, b raftstore.Object) int {
		return strings.Compare(a.Key, b.Key)
	})
	for _, o := range gone {
		ops = append(ops, raftstore.DeleteOp(raftstore.Delete{Kind: Kind, Key: o.Key, ExpectModIndex: raftstore.Expect(o.ModIndex)}))
	}
	return ops, nil
}

// sameValue reports whether the stored value holds the task encoded as
// want: byte for byte, or after decoding and re-encoding stored (which
// normalises a different formatting or fields unknown to this version).
func sameValue(stored, want []byte) bool {
	if bytes.Equal(stored, want) {
		return true
	}
	var t v1.Task
	if err := json.Unmarshal(stored, &t); err != nil {
		return false
	}
	again, err := json.Marshal(t)
	return err == nil && bytes.Equal(again, want)
}

// write applies ops as Batches of at most MaxBatchOps ops, in order.
func (c *Controller) write(ctx context.Context, ops []raftstore.Op, revision uint64) error {
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), c.opts.MaxBatchOps)]
		ops = ops[len(chunk):]
		res, err := c.raft.Apply(ctx, raftstore.Batch{Ops: chunk})
		if err != nil {
			return fmt.Errorf("apply batch of %d task ops: %w", len(chunk), err)
		}
		puts := 0
		for _, op := range chunk {
			if op.Put != nil {
				puts++
			}
		}
		c.log.Info("Wrote tasks", zap.Int("puts", puts), zap.Int("deletes", len(chunk)-puts),
			zap.Uint64("raftIndex", res.Index), zap.Uint64("mesosRevision", revision))
	}
	return nil
}
