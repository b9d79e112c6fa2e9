package raftstore

import "sync"

// leadership fans "this node is leader" changes out to subscribers without
// ever blocking raft, and without letting a subscriber miss a loss of
// leadership: see deliver.
type leadership struct {
	mu      sync.Mutex
	current bool
	subs    map[chan bool]struct{}
	closed  bool
}

// subscribe returns a channel that first receives the current value.
func (l *leadership) subscribe() <-chan bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan bool, 2)
	if l.closed {
		close(ch)
		return ch
	}
	if l.subs == nil {
		l.subs = map[chan bool]struct{}{}
	}
	ch <- l.current
	l.subs[ch] = struct{}{}
	return ch
}

// set records v and tells the subscribers if it changed.
func (l *leadership) set(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || v == l.current {
		return
	}
	l.current = v
	for ch := range l.subs {
		deliver(ch, v)
	}
}

func (l *leadership) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for ch := range l.subs {
		close(ch)
	}
	l.subs = nil
}

// deliver sends v to ch (capacity 2) without blocking. What a subscriber has
// not read yet is an alternating sequence (values only change), starting
// with the opposite of the last value it read, R. The pending sequence plus
// v is compressed to what R needs to see:
//
//   - odd length: the sequence ends on !R, so [!R] says everything (it drops
//     complete round trips the reader never acted on);
//   - even length: it ends on R. If R is true the reader must still see the
//     loss, so [false, true]; if R is false, nothing is pending at all.
//
// Only the caller (holding l.mu) sends, and the reader only removes, so the
// at most two sends into the drained channel never block.
func deliver(ch chan bool, v bool) {
	var seq []bool
	for drained := false; !drained; {
		select {
		case x := <-ch:
			seq = append(seq, x)
		default:
			drained = true
		}
	}
	seq = append(seq, v)
	if n := len(seq); n%2 == 1 {
		seq = seq[n-1:]
	} else if r := !seq[0]; r {
		seq = seq[n-2:]
	} else {
		seq = nil
	}
	for _, x := range seq {
		ch <- x
	}
}
