package raftstore

import (
	"errors"
	"fmt"
)

// Errors returned by the store. Test them with errors.Is; they survive
// forwarding from a follower to the leader.
var (
	// ErrConflict is the cause of a rejection whose compare-and-swap
	// precondition (ExpectModIndex) did not hold.
	ErrConflict = errors.New("compare-and-swap conflict")
	// ErrUnknownKind is the cause of a rejection of an object whose kind has
	// no registered validator.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrInvalid is the cause of a rejection of an object that failed the
	// store's own checks (empty key, missing value) or its kind's validator.
	ErrInvalid = errors.New("invalid object")

	// ErrBadCommand marks bytes that do not decode as a command: an unknown
	// type byte, malformed JSON, unknown fields, a batch op that is neither a
	// put nor a delete.
	ErrBadCommand = errors.New("bad command")

	// ErrNotLeader is returned by leader-only operations (Barrier,
	// TransferLeadership) on a follower. Apply and the membership changes
	// never return it: they forward to the leader instead.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrNoLeader is the last error of an operation whose context ended while
	// the cluster had no known leader.
	ErrNoLeader = errors.New("no raft leader")
	// ErrLeaderUnavailable reports that the leader could not take a forwarded
	// request (unreachable, shutting down); the request was not applied and
	// is retried until the context ends.
	ErrLeaderUnavailable = errors.New("raft leader unavailable")
	// ErrUnknownOutcome reports that a write may or may not have been
	// committed: leadership was lost, the context ended, or the connection
	// to the leader broke after the command was sent. Re-read and reconcile.
	ErrUnknownOutcome = errors.New("outcome unknown")

	// ErrFailed reports that this node met a raft log entry it cannot decode
	// and stopped applying the log; see Store.Err.
	ErrFailed = errors.New("raft store failed")
	// ErrClosed is returned after Shutdown, and by watchers of a store that
	// shut down or of a watcher that was closed.
	ErrClosed = errors.New("raft store closed")
	// ErrNotStarted is returned by operations that need raft before Start.
	ErrNotStarted = errors.New("raft store not started")
)

// Reason classifies a business rejection. It is the label of the
// mesosnet_raft_rejections_total metric.
type Reason string

// Rejection reasons.
const (
	ReasonConflict    Reason = "conflict"
	ReasonUnknownKind Reason = "unknown_kind"
	ReasonInvalid     Reason = "invalid"
)

// sentinel returns the error a reason wraps.
func (r Reason) sentinel() error {
	switch r {
	case ReasonConflict:
		return ErrConflict
	case ReasonUnknownKind:
		return ErrUnknownKind
	default:
		return ErrInvalid
	}
}

// RejectedError is a business rejection of a command: the entry was
// committed to the raft log but changed nothing. It is deterministic, so
// every replica rejects the same entry the same way.
type RejectedError struct {
	// Op is the rejected operation, "put" or "delete".
	Op string
	// OpIndex is the position of the rejected op in a Batch, 0 otherwise.
	OpIndex int
	// Kind and Key name the object.
	Kind, Key string
	// Reason classifies the rejection.
	Reason Reason
	// Err is the cause. It wraps ErrConflict, ErrUnknownKind or ErrInvalid
	// (and the validator's error when a validator rejected the value; after
	// forwarding only its message is kept).
	Err error
}

func (e *RejectedError) Error() string {
	at := ""
	if e.OpIndex > 0 {
		at = fmt.Sprintf(" (batch op %d)", e.OpIndex)
	}
	return fmt.Sprintf("rejected %s %s/%s%s: %v", e.Op, e.Kind, e.Key, at, e.Err)
}

// Unwrap returns the cause.
func (e *RejectedError) Unwrap() error { return e.Err }

// reject builds a rejection whose cause wraps the reason's sentinel.
func reject(op string, opIndex int, kind, key string, reason Reason, format string, args ...any) *RejectedError {
	return &RejectedError{
		Op: op, OpIndex: opIndex, Kind: kind, Key: key, Reason: reason,
		Err: fmt.Errorf("%w: "+format, append([]any{reason.sentinel()}, args...)...),
	}
}

// remoteError is an error received over the wire: its message is kept as
// is, and errors.Is matches the sentinel it stood for.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }
