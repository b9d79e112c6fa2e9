package raftstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/logging"
)

// MaxKeyLength is the longest key the store accepts, in bytes.
const MaxKeyLength = 1024

// ValidateFunc checks the value of an object of one kind before it is
// stored. It runs on every replica for every committed put, so it must be
// deterministic and depend only on its arguments: no clock, no I/O, no
// other objects. A non-nil error rejects the command.
type ValidateFunc func(key string, value json.RawMessage) error

// Result is the outcome of an applied command.
type Result struct {
	// Index is the raft index of the entry; every object the command wrote
	// carries it as ModIndex.
	Index uint64 `json:"index"`
	// Objects holds one object per op, in order: the object as stored after
	// a put, and for a delete an Object with only Kind and Key set.
	Objects []Object `json:"objects,omitempty"`
}

// FSMOptions configures NewFSM.
type FSMOptions struct {
	// Logger receives the FSM's logs; nil discards them.
	Logger *zap.Logger
	// WatchHistory is how many recent events are kept for watchers that
	// resume from an index; 0 means 10,000.
	WatchHistory int
	// WatchBuffer is how many undelivered events a watcher may hold before
	// it is reset; 0 means 1,024.
	WatchBuffer int
}

// FSM is the raft state machine: a typed compare-and-swap object store. It
// only validates and records; it is used through a Store, and directly in
// tests.
type FSM struct {
	log     *zap.Logger
	metrics *metrics

	kindsMu    sync.RWMutex
	validators map[string]ValidateFunc

	root atomic.Pointer[state]
	hub  hub

	failure  atomic.Pointer[error]
	failedCh chan struct{}
}

var _ raft.BatchingFSM = (*FSM)(nil)

// NewFSM returns an empty FSM with no kinds registered.
func NewFSM(opts FSMOptions) *FSM {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.WatchHistory <= 0 {
		opts.WatchHistory = 10000
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = 1024
	}
	f := &FSM{
		log:        opts.Logger,
		validators: map[string]ValidateFunc{},
		failedCh:   make(chan struct{}),
	}
	f.root.Store(emptyState())
	f.hub.init(f, opts.WatchHistory, opts.WatchBuffer)
	return f
}

// RegisterKind makes kind storable, checked by validate (nil accepts any
// value). Every replica must register the same kinds with the same
// validators before it applies any entry, or replicas diverge.
func (f *FSM) RegisterKind(kind string, validate ValidateFunc) error {
	if kind == "" {
		return errors.New("register kind: empty kind")
	}
	f.kindsMu.Lock()
	defer f.kindsMu.Unlock()
	if _, ok := f.validators[kind]; ok {
		return fmt.Errorf("register kind %q: already registered", kind)
	}
	if validate == nil {
		validate = func(string, json.RawMessage) error { return nil }
	}
	f.validators[kind] = validate
	return nil
}

// Get returns the object (kind, key) of the latest applied state.
func (f *FSM) Get(kind, key string) (Object, bool) { return f.root.Load().get(kind, key) }

// List returns the objects of kind sorted by key.
func (f *FSM) List(kind string) []Object { return f.root.Load().list(kind) }

// Index returns the raft index of the last applied entry.
func (f *FSM) Index() uint64 { return f.root.Load().index }

// Err returns why the FSM stopped applying the log, or nil.
func (f *FSM) Err() error {
	if p := f.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Failed is closed when the FSM stops applying the log.
func (f *FSM) Failed() <-chan struct{} { return f.failedCh }

// Apply applies one committed log entry. It returns a Result, a
// *RejectedError, or an error when the entry does not decode.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries in order and publishes the
// resulting state once. Each response is a Result, a *RejectedError, or an
// error for an entry that does not decode (after which the FSM applies
// nothing more; see the package doc).
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	cur := f.root.Load()
	t := tree{kinds: cur.kinds}
	index := cur.index
	var events []Event
	for i, l := range logs {
		if err := f.Err(); err != nil {
			resp[i] = fmt.Errorf("apply raft entry %d: %w", l.Index, err)
			continue
		}
		if l.Type != raft.LogCommand {
			// No-ops, barriers and configuration changes only move the index.
			index = l.Index
			continue
		}
		cmd, err := DecodeCommand(l.Data)
		if err != nil {
			resp[i] = f.fail(l.Index, err)
			continue
		}
		res, evs, rej := f.applyCommand(&t, cmd, l.Index)
		index = l.Index
		if rej != nil {
			f.metrics.rejected(rej.Reason)
			resp[i] = rej
			continue
		}
		events = append(events, evs...)
		resp[i] = res
	}
	if index != cur.index {
		f.hub.publish(&state{kinds: t.kinds, index: index, next: make(chan struct{})}, events)
		f.metrics.applied(index)
	}
	return resp
}

// fail stops the FSM at an entry that does not decode. Skipping it would
// let this replica silently drift from one that can decode it, so the FSM
// freezes at the last good state, logs, and reports through Err and Failed;
// the Store then shuts its raft node down.
func (f *FSM) fail(index uint64, err error) error {
	err = fmt.Errorf("%w: raft entry %d does not decode: %w", ErrFailed, index, err)
	if f.failure.CompareAndSwap(nil, &err) {
		f.log.Error("Stopped applying the raft log at an undecodable entry", logging.RaftIndex(index), zap.Error(err))
		f.metrics.setFailed()
		close(f.failedCh)
	}
	return err
}

// applyCommand applies cmd at index to t. On rejection t is unchanged.
func (f *FSM) applyCommand(t *tree, cmd Command, index uint64) (Result, []Event, *RejectedError) {
	work := *t
	var ops []Op
	switch c := cmd.(type) {
	case Put:
		ops = []Op{{Put: &c}}
	case Delete:
		ops = []Op{{Delete: &c}}
	case Batch:
		ops = c.Ops
	}
	res := Result{Index: index, Objects: make([]Object, 0, len(ops))}
	var events []Event
	for i, op := range ops {
		var (
			obj Object
			ev  *Event
			rej *RejectedError
		)
		if op.Put != nil {
			obj, ev, rej = f.put(&work, i, op.Put, index)
		} else {
			obj, ev, rej = f.delete(&work, i, op.Delete, index)
		}
		if rej != nil {
			return Result{}, nil, rej
		}
		res.Objects = append(res.Objects, obj)
		if ev != nil {
			events = append(events, *ev)
		}
	}
	*t = work
	return res, events, nil
}

func (f *FSM) put(t *tree, i int, p *Put, index uint64) (Object, *Event, *RejectedError) {
	if rej := f.checkPut(i, p); rej != nil {
		return Object{}, nil, rej
	}
	prev, exists := t.get(p.Kind, p.Key)
	if rej := checkExpect("put", i, p.Kind, p.Key, p.ExpectModIndex, prev, exists); rej != nil {
		return Object{}, nil, rej
	}
	o := Object{Kind: p.Kind, Key: p.Key, Value: p.Value, CreateIndex: index, ModIndex: index}
	ev := &Event{Index: index, Type: EventPut, Object: o}
	if exists {
		o.CreateIndex = prev.CreateIndex
		ev.Object.CreateIndex = prev.CreateIndex
		ev.Prev = &prev
	}
	t.set(o)
	return o, ev, nil
}

func (f *FSM) delete(t *tree, i int, d *Delete, index uint64) (Object, *Event, *RejectedError) {
	if rej := f.checkTarget("delete", i, d.Kind, d.Key); rej != nil {
		return Object{}, nil, rej
	}
	prev, exists := t.get(d.Kind, d.Key)
	if rej := checkExpect("delete", i, d.Kind, d.Key, d.ExpectModIndex, prev, exists); rej != nil {
		return Object{}, nil, rej
	}
	o := Object{Kind: d.Kind, Key: d.Key}
	if !exists {
		return o, nil, nil
	}
	t.delete(d.Kind, d.Key)
	return o, &Event{Index: index, Type: EventDelete, Object: Object{Kind: d.Kind, Key: d.Key, ModIndex: index}, Prev: &prev}, nil
}

func checkExpect(op string, i int, kind, key string, expect *uint64, prev Object, exists bool) *RejectedError {
	switch {
	case expect == nil:
		return nil
	case *expect == 0 && exists:
		return reject(op, i, kind, key, ReasonConflict, "expected no object, found modIndex %d", prev.ModIndex)
	case *expect != 0 && !exists:
		return reject(op, i, kind, key, ReasonConflict, "expected modIndex %d, found no object", *expect)
	case *expect != 0 && prev.ModIndex != *expect:
		return reject(op, i, kind, key, ReasonConflict, "expected modIndex %d, found %d", *expect, prev.ModIndex)
	}
	return nil
}

// checkTarget checks the kind and key of an op.
func (f *FSM) checkTarget(op string, i int, kind, key string) *RejectedError {
	f.kindsMu.RLock()
	_, ok := f.validators[kind]
	f.kindsMu.RUnlock()
	switch {
	case !ok:
		return reject(op, i, kind, key, ReasonUnknownKind, "no validator registered for %q", kind)
	case key == "":
		return reject(op, i, kind, key, ReasonInvalid, "empty key")
	case len(key) > MaxKeyLength:
		return reject(op, i, kind, key, ReasonInvalid, "key is %d bytes, longer than %d", len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return reject(op, i, kind, key, ReasonInvalid, "key is not valid UTF-8")
	}
	return nil
}

// checkPut checks a put without looking at the state.
func (f *FSM) checkPut(i int, p *Put) *RejectedError {
	if rej := f.checkTarget("put", i, p.Kind, p.Key); rej != nil {
		return rej
	}
	v := bytes.TrimSpace(p.Value)
	switch {
	case len(v) == 0:
		return reject("put", i, p.Kind, p.Key, ReasonInvalid, "empty value")
	case bytes.Equal(v, []byte("null")):
		return reject("put", i, p.Kind, p.Key, ReasonInvalid, "null value (use a delete)")
	case !json.Valid(v):
		return reject("put", i, p.Kind, p.Key, ReasonInvalid, "value is not valid JSON")
	}
	f.kindsMu.RLock()
	validate := f.validators[p.Kind]
	f.kindsMu.RUnlock()
	if err := callValidator(validate, p.Key, p.Value); err != nil {
		return &RejectedError{Op: "put", OpIndex: i, Kind: p.Kind, Key: p.Key, Reason: ReasonInvalid, Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	return nil
}

// callValidator runs validate, turning a panic into an error: a buggy
// validator rejects the command instead of crashing every replica.
func callValidator(validate ValidateFunc, key string, value json.RawMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validator panicked: %v", r)
		}
	}()
	return validate(key, value)
}

// precheck runs the state-independent checks of cmd, so that a command
// that would certainly be rejected is not written to the log.
func (f *FSM) precheck(cmd Command) error {
	var ops []Op
	switch c := cmd.(type) {
	case Put:
		ops = []Op{{Put: &c}}
	case *Put:
		ops = []Op{{Put: c}}
	case Delete:
		ops = []Op{{Delete: &c}}
	case *Delete:
		ops = []Op{{Delete: c}}
	case Batch:
		ops = c.Ops
	case *Batch:
		ops = c.Ops
	}
	if len(ops) == 0 {
		return fmt.Errorf("%w: empty batch", ErrBadCommand)
	}
	for i, op := range ops {
		var rej *RejectedError
		switch {
		case op.Put != nil:
			rej = f.checkPut(i, op.Put)
		case op.Delete != nil:
			rej = f.checkTarget("delete", i, op.Delete.Kind, op.Delete.Key)
		}
		if rej != nil {
			return rej
		}
	}
	return nil
}

// Snapshot captures the current state in O(1): the state is immutable, so
// persisting it later needs no lock and does not block the apply path.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Err(); err != nil {
		// The state stopped short of raft's applied index; a snapshot would
		// claim entries it never applied.
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &fsmSnapshot{st: f.root.Load()}, nil
}

// Restore replaces the state with a snapshot written by Persist. Watchers
// are reset to the restored state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.Err(); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	st, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.hub.restore(st)
	f.metrics.applied(st.index)
	f.log.Info("Restored snapshot", logging.RaftIndex(st.index))
	return nil
}

// close closes every watcher.
func (f *FSM) close() { f.hub.close() }
