package raftstore

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// drain returns what ch holds without waiting.
func drain(ch <-chan bool) []bool {
	var out []bool
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, v)
		default:
			return out
		}
	}
}

func TestLeadershipNeverHidesALoss(t *testing.T) {
	const (
		T = "true"
		F = "false"
		R = "read"
	)
	tests := []struct {
		name  string
		steps []string // T and F set the value, R reads everything pending
		reads [][]bool // one entry per R
	}{
		{"starts with the current value", []string{R}, [][]bool{{false}}},
		{"each change is seen", []string{R, T, R, F, R}, [][]bool{{false}, {true}, {false}}},
		{"leader that lost and regained sees both", []string{R, T, R, F, T, F, T, R}, [][]bool{{false}, {true}, {false, true}}},
		{"leader that lost sees the loss", []string{R, T, R, F, T, F, R}, [][]bool{{false}, {true}, {false}}},
		{"follower that missed a short term sees nothing", []string{R, T, F, R}, [][]bool{{false}, nil}},
		{"follower that missed a term sees the current one", []string{R, T, F, T, R}, [][]bool{{false}, {true}}},
		{"unread initial value is kept", []string{T, R}, [][]bool{{false, true}}},
		{"repeated values are not resent", []string{R, T, T, R, F, F, R}, [][]bool{{false}, {true}, {false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l leadership
			ch := l.subscribe()
			var got [][]bool
			for _, s := range tt.steps {
				switch s {
				case T:
					l.set(true)
				case F:
					l.set(false)
				case R:
					got = append(got, drain(ch))
				}
			}
			if diff := cmp.Diff(tt.reads, got); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeadershipClose(t *testing.T) {
	var l leadership
	ch := l.subscribe()
	l.set(true)
	l.close()
	l.set(false) // no panic on a closed channel
	if got := drain(ch); !cmp.Equal(got, []bool{false, true}) {
		t.Errorf("pending before close: %v", got)
	}
	if _, ok := <-ch; ok {
		t.Error("channel not closed")
	}
	if _, ok := <-l.subscribe(); ok {
		t.Error("subscribing after close returned an open channel")
	}
}
