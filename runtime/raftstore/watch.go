package raftstore

import (
	"context"
	"sync"
)

// EventType is the type of a watch event.
type EventType string

// Event types.
const (
	// EventPut reports a created or replaced object.
	EventPut EventType = "put"
	// EventDelete reports a deleted object.
	EventDelete EventType = "delete"
	// EventReset replaces everything the watcher knew: Objects holds the
	// whole state at Index.
	EventReset EventType = "reset"
)

// Event is one change delivered to a Watcher. Events arrive in raft index
// order; the ops of one entry (a Batch) share an Index and arrive in op
// order.
type Event struct {
	// Index is the raft index of the entry that made the change, or the
	// index of the state in a reset.
	Index uint64    `json:"index"`
	Type  EventType `json:"type"`
	// Object is the new version for a put; for a delete it carries Kind,
	// Key and the deleting index as ModIndex.
	Object Object `json:"object,omitzero"`
	// Prev is the version that was replaced or deleted, nil on create.
	Prev *Object `json:"prev,omitempty"`
	// Objects is the full state, sorted by kind then key, in a reset.
	Objects []Object `json:"objects,omitempty"`
}

// hub fans applied events out to watchers and keeps a bounded history of
// recent events so a watcher can resume from an index without a reset.
type hub struct {
	fsm     *FSM
	bufSize int

	mu sync.Mutex
	// ring holds the most recent events; head is the oldest, n the count.
	ring    []Event
	head, n int
	// since: the ring holds every event with an index above it.
	since    uint64
	watchers map[*Watcher]struct{}
	closed   bool
}

func (h *hub) init(f *FSM, history, bufSize int) {
	h.fsm = f
	h.bufSize = bufSize
	h.ring = make([]Event, history)
	h.watchers = map[*Watcher]struct{}{}
}

// publish makes st the current state and delivers its events. It runs on
// the apply path: each watcher gets a non-blocking append.
func (h *hub) publish(st *state, events []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.fsm.root.Swap(st)
	close(old.next)
	for _, e := range events {
		if h.n == len(h.ring) {
			h.since = h.ring[h.head].Index
			h.ring[h.head] = Event{}
			h.head = (h.head + 1) % len(h.ring)
			h.n--
		}
		h.ring[(h.head+h.n)%len(h.ring)] = e
		h.n++
	}
	if len(events) == 0 {
		return
	}
	for w := range h.watchers {
		w.push(events)
	}
}

// restore replaces the state wholesale (snapshot install): the history no
// longer connects, so it is dropped and every watcher is reset.
func (h *hub) restore(st *state) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.fsm.root.Swap(st)
	close(old.next)
	clear(h.ring)
	h.head, h.n = 0, 0
	h.since = st.index
	for w := range h.watchers {
		w.reset()
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.watchers {
		w.shut()
	}
	clear(h.watchers)
}

// Watch returns a watcher of the changes after fromIndex. When the recent
// history covers fromIndex the watcher first replays the events after it;
// otherwise (fromIndex 0, older than the history, or ahead of this replica)
// it starts with a reset holding the whole current state. Close the watcher
// when done.
func (f *FSM) Watch(fromIndex uint64) *Watcher {
	h := &f.hub
	w := &Watcher{hub: h, notify: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		w.closed = true
		return w
	}
	cur := f.root.Load().index
	if fromIndex == 0 || fromIndex < h.since || fromIndex > cur {
		w.resetPending = true
	} else {
		for i := 0; i < h.n; i++ {
			if e := h.ring[(h.head+i)%len(h.ring)]; e.Index > fromIndex {
				w.queue = append(w.queue, e)
			}
		}
		if len(w.queue) > h.bufSize {
			w.queue, w.resetPending = nil, true
		}
		w.floor = fromIndex
	}
	h.watchers[w] = struct{}{}
	return w
}

// Watcher receives the changes of a store in order. It never blocks the
// apply path: when more than the buffer of events is waiting, they are
// dropped and the next call to Next returns a reset at the latest index.
type Watcher struct {
	hub    *hub
	notify chan struct{}

	mu    sync.Mutex
	queue []Event
	// resetPending: the next event is a reset built from the state current
	// when it is read.
	resetPending bool
	// floor: events at or below it are already covered (by a reset).
	floor  uint64
	closed bool
}

// Next returns the next event, waiting until one is available, ctx ends
// (ctx.Err()) or the watcher or the store is closed (ErrClosed).
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		switch {
		case w.closed:
			w.mu.Unlock()
			return Event{}, ErrClosed
		case w.resetPending:
			// Read the state under w.mu: an event of a newer state is pushed
			// either before (and dropped here, covered by the reset) or
			// after (and kept, or filtered by floor if the reset covers it).
			st := w.hub.fsm.root.Load()
			w.queue, w.resetPending, w.floor = nil, false, st.index
			w.mu.Unlock()
			return Event{Index: st.index, Type: EventReset, Objects: st.all()}, nil
		case len(w.queue) > 0:
			e := w.queue[0]
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return e, nil
		}
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close stops the watcher; Next then returns ErrClosed.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	delete(w.hub.watchers, w)
	w.hub.mu.Unlock()
	w.shut()
}

func (w *Watcher) push(events []Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.resetPending {
		return
	}
	for _, e := range events {
		if e.Index <= w.floor {
			continue
		}
		if len(w.queue) >= w.hub.bufSize {
			w.queue, w.resetPending = nil, true
			break
		}
		w.queue = append(w.queue, e)
	}
	w.wake()
}

func (w *Watcher) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue, w.resetPending = nil, true
	w.wake()
}

func (w *Watcher) shut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue, w.closed = nil, true
	w.wake()
}

func (w *Watcher) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}
