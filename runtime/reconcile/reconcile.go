// Package reconcile is the contract between a controller's queue machinery
// (runtime/controller) and the logic that makes actual state match desired
// state. A Reconciler receives a key, re-reads everything it needs, applies
// the difference and reports whether and when the key needs another pass. It
// must be idempotent: a second call in a row with nothing changed performs no
// mutation.
package reconcile

import (
	"context"
	"errors"
	"time"
)

// Result tells the caller what to do with a key after a successful pass.
type Result struct {
	// RequeueAfter, if positive, asks for another pass of the same key after
	// this delay, for state that is expected to change without an event
	// (a bounded wait, a lease). The zero Result means done until the next
	// event or resync.
	RequeueAfter time.Duration
}

// Reconciler drives the state identified by a key towards its desired state.
//
// Reconcile returns an error when the pass failed and should be retried with
// backoff; the Result is then ignored. Wrap the error with Terminal when
// retrying cannot help (invalid desired state, a permanent rejection): the
// key is then dropped until it is enqueued again.
type Reconciler[K comparable] interface {
	Reconcile(ctx context.Context, key K) (Result, error)
}

// Func adapts an ordinary function to a Reconciler.
type Func[K comparable] func(ctx context.Context, key K) (Result, error)

// Reconcile calls f(ctx, key).
func (f Func[K]) Reconcile(ctx context.Context, key K) (Result, error) {
	return f(ctx, key)
}

// terminalError marks an error as not worth retrying.
type terminalError struct{ err error }

// Error returns the wrapped error's message unchanged.
func (e *terminalError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as terminal: retrying the same key cannot succeed until
// something else changes, so the controller logs it and forgets the key
// instead of retrying. The message is unchanged and errors.Is/As still see
// err. Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	if IsTerminal(err) {
		return err
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or any error it wraps, was marked by
// Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}
