package state

import (
	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// Notification tells a subscriber that a new snapshot was published.
type Notification struct {
	// Snapshot is the published snapshot.
	Snapshot *Snapshot
	// Changed lists, sorted, the tasks added, changed (normalised or raw)
	// or removed since the previous notification. Agent, framework and
	// leader changes are only visible in Snapshot, so Changed may be empty.
	// It is nil when Reset is set.
	Changed []v1.TaskKey
	// Reset asks the subscriber to resynchronise from Snapshot as a whole:
	// set on the first notification, after a SUBSCRIBED or GET_STATE was
	// loaded, when a hold for recovered agents ends, and when notifications
	// were coalesced because the subscriber fell behind.
	Reset bool
}

// Subscription receives the notifications of a Store. The store never blocks
// on a subscriber: when the buffer is full, the pending notifications are
// replaced by a single Reset notification carrying the latest snapshot.
type Subscription struct {
	ch chan Notification
	// lastRevision is the revision of the last notification queued, so a
	// snapshot is never announced twice. Guarded by Store.subMu.
	lastRevision uint64
}

// C returns the channel of notifications. It is closed by Unsubscribe.
func (sub *Subscription) C() <-chan Notification { return sub.ch }

// Subscribe registers a new subscriber. If a snapshot has been published
// already, its first notification is a Reset one with the current snapshot,
// as an informer's initial list.
func (s *Store) Subscribe() *Subscription {
	sub := &Subscription{ch: make(chan Notification, s.bufSize)}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if cur := s.current.Load(); cur.ready {
		sub.ch <- Notification{Snapshot: cur, Reset: true}
		sub.lastRevision = cur.revision
	}
	s.subs[sub] = struct{}{}
	return sub
}

// Unsubscribe removes sub and closes its channel. It is a no-op for a
// subscription already removed.
func (s *Store) Unsubscribe(sub *Subscription) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}

// notify queues n for every subscriber without blocking. Only notify sends on
// subscription channels, under subMu, so after draining a full channel the
// send of the Reset notification cannot block.
func (s *Store) notify(n Notification) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	rev := n.Snapshot.revision
	for sub := range s.subs {
		if rev <= sub.lastRevision {
			continue
		}
		sub.lastRevision = rev
		select {
		case sub.ch <- n:
			continue
		default:
		}
	drain:
		for {
			select {
			case <-sub.ch:
			default:
				break drain
			}
		}
		s.metrics.coalesced.Inc()
		sub.ch <- Notification{Snapshot: n.Snapshot, Reset: true}
	}
}
