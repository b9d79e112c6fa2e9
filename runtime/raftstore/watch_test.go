package raftstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// next returns the watcher's next event, failing if none arrives soon.
func next(t *testing.T, w *Watcher) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	e, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// pending reports whether the watcher has an event ready without waiting.
func pending(w *Watcher) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resetPending || len(w.queue) > 0
}

func ptr(o Object) *Object { return &o }

func TestWatch(t *testing.T) {
	a1 := obj("vip", "a", `1`, 1, 1)
	b2 := obj("vip", "b", `2`, 2, 2)
	a3 := obj("vip", "a", `3`, 1, 3)
	tests := []struct {
		name    string
		history int
		from    uint64
		want    []Event
	}{
		{
			name: "from zero starts with a reset",
			from: 0,
			want: []Event{{Index: 4, Type: EventReset, Objects: []Object{a3}}},
		},
		{
			name: "from a retained index replays the deltas",
			from: 1,
			want: []Event{
				{Index: 2, Type: EventPut, Object: b2},
				{Index: 3, Type: EventPut, Object: a3, Prev: &a1},
				{Index: 4, Type: EventDelete, Object: Object{Kind: "vip", Key: "b", ModIndex: 4}, Prev: &b2},
			},
		},
		{
			name: "from the current index waits for new events",
			from: 4,
		},
		{
			name:    "from an index older than the history resets",
			history: 2,
			from:    1,
			want:    []Event{{Index: 4, Type: EventReset, Objects: []Object{a3}}},
		},
		{
			name:    "from the oldest fully retained index replays",
			history: 2,
			from:    2,
			want: []Event{
				{Index: 3, Type: EventPut, Object: a3, Prev: &a1},
				{Index: 4, Type: EventDelete, Object: Object{Kind: "vip", Key: "b", ModIndex: 4}, Prev: &b2},
			},
		},
		{
			name: "from an index ahead of this replica resets",
			from: 9,
			want: []Event{{Index: 4, Type: EventReset, Objects: []Object{a3}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t, FSMOptions{WatchHistory: tt.history})
			applyAll(t, f, put("vip", "a", `1`), put("vip", "b", `2`), put("vip", "a", `3`), Delete{Kind: "vip", Key: "b"})
			w := f.Watch(tt.from)
			defer w.Close()
			var got []Event
			for pending(w) {
				got = append(got, next(t, w))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// Then live deltas follow.
			applyAll(t, f, put("vip", "c", `5`))
			if diff := cmp.Diff(Event{Index: 5, Type: EventPut, Object: obj("vip", "c", `5`, 5, 5)}, next(t, w)); diff != "" {
				t.Errorf("live event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchBatchEventsShareTheIndex(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, put("vip", "x", `0`))
	w := f.Watch(f.Index())
	defer w.Close()
	applyAll(t, f, Batch{Ops: []Op{PutOp(put("vip", "a", `1`)), DeleteOp(Delete{Kind: "vip", Key: "x"}), PutOp(put("vip", "a", `2`))}})
	// A rejected entry produces no event.
	if _, ok := f.Apply(entry(t, 3, Put{Kind: "vip", Key: "a", Value: []byte(`3`), ExpectModIndex: Expect(0)})).(*RejectedError); !ok {
		t.Fatal("the conflicting put was not rejected")
	}
	applyAll(t, f, put("vip", "b", `4`))
	a1 := obj("vip", "a", `1`, 2, 2)
	want := []Event{
		{Index: 2, Type: EventPut, Object: a1},
		{Index: 2, Type: EventDelete, Object: Object{Kind: "vip", Key: "x", ModIndex: 2}, Prev: ptr(obj("vip", "x", `0`, 1, 1))},
		{Index: 2, Type: EventPut, Object: obj("vip", "a", `2`, 2, 2), Prev: &a1},
		{Index: 4, Type: EventPut, Object: obj("vip", "b", `4`, 4, 4)},
	}
	var got []Event
	for range want {
		got = append(got, next(t, w))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestWatchSlowWatcherIsReset checks that a watcher that stops reading
// never blocks the apply path and is reset to the latest state.
func TestWatchSlowWatcherIsReset(t *testing.T) {
	f := newTestFSM(t, FSMOptions{WatchBuffer: 3})
	w := f.Watch(0)
	defer w.Close()
	if e := next(t, w); e.Type != EventReset || e.Index != 0 {
		t.Fatalf("first event %+v, want a reset at 0", e)
	}
	for i := range 10 {
		applyAll(t, f, put("vip", "k", string(rune('0'+i))))
	}
	want := Event{Index: 10, Type: EventReset, Objects: []Object{obj("vip", "k", `9`, 1, 10)}}
	if diff := cmp.Diff(want, next(t, w)); diff != "" {
		t.Errorf("event after overflow (-want +got):\n%s", diff)
	}
	applyAll(t, f, Delete{Kind: "vip", Key: "k"})
	if e := next(t, w); e.Index != 11 || e.Type != EventDelete {
		t.Errorf("event after the reset %+v, want the delete at 11", e)
	}
}

// TestWatchResetCoversEventsPublishedMeanwhile checks the lazy reset: events
// pushed between the overflow and the read are covered by the reset, not
// delivered twice.
func TestWatchResetCoversEventsPublishedMeanwhile(t *testing.T) {
	f := newTestFSM(t, FSMOptions{WatchBuffer: 1})
	applyAll(t, f, put("vip", "a", `1`))
	w := f.Watch(1)
	defer w.Close()
	applyAll(t, f, put("vip", "a", `2`), put("vip", "a", `3`)) // overflow at the second
	applyAll(t, f, put("vip", "a", `4`))                       // dropped: a reset is pending
	if e := next(t, w); e.Type != EventReset || e.Index != 4 {
		t.Fatalf("event %+v, want a reset at 4", e)
	}
	if pending(w) {
		t.Errorf("events pending after the reset: %+v", w.queue)
	}
	// An event at or below the reset's index that is pushed late is dropped.
	w.push([]Event{{Index: 4, Type: EventPut}})
	if pending(w) {
		t.Error("an event covered by the reset was queued")
	}
}

func TestWatchRestoreResets(t *testing.T) {
	src := newTestFSM(t, FSMOptions{})
	applyAll(t, src, put("vip", "a", `1`), put("vip", "b", `2`), put("vip", "c", `3`))
	snap := persist(t, src)

	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, put("vip", "z", `9`))
	w := f.Watch(1)
	defer w.Close()
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	want := Event{Index: 3, Type: EventReset, Objects: allObjects(src)}
	if diff := cmp.Diff(want, next(t, w)); diff != "" {
		t.Errorf("event after restore (-want +got):\n%s", diff)
	}
	// The history before the restore is gone: resuming from it resets.
	w2 := f.Watch(2)
	defer w2.Close()
	if e := next(t, w2); e.Type != EventReset {
		t.Errorf("resume across a restore: %+v, want a reset", e)
	}
	w3 := f.Watch(3)
	defer w3.Close()
	applyAll(t, f, put("vip", "d", `4`))
	if e := next(t, w3); e.Type != EventPut || e.Index != 4 {
		t.Errorf("resume at the restored index: %+v, want the put at 4", e)
	}
}

func TestWatchClose(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	w := f.Watch(0)
	w.Close()
	if _, err := w.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	w2 := f.Watch(0)
	f.close()
	if _, err := w2.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after the FSM closed: %v, want ErrClosed", err)
	}
	if _, err := f.Watch(0).Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next of a watcher made after close: %v, want ErrClosed", err)
	}
	applyAll(t, f, put("vip", "a", `1`)) // publishing with no watchers is fine
}

func TestWatchNextHonoursContext(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, put("vip", "a", `1`))
	w := f.Watch(f.Index())
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}
}
