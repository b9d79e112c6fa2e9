package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// EventType is the type of a watch stream line.
type EventType string

// Event types.
const (
	// EventReset replaces everything the client knew: Objects holds the
	// whole state (of the watched kind) at Revision.
	EventReset EventType = "reset"
	// EventPut reports a created or replaced object.
	EventPut EventType = "put"
	// EventDelete reports a deleted object; Object carries its kind, key
	// and the deleting revision as ModIndex.
	EventDelete EventType = "delete"
	// EventHeartbeat reports that the stream is alive and has covered
	// every change up to Revision. The Client does not deliver it.
	EventHeartbeat EventType = "heartbeat"
)

// Event is one line of a watch stream.
type Event struct {
	Type EventType `json:"type"`
	// Revision is the raft index of the change, of the state in a reset, or
	// of the last change covered by a heartbeat.
	Revision uint64 `json:"revision"`
	// Object is the new version for a put and the deleted key for a delete.
	Object *raftstore.Object `json:"object,omitempty"`
	// Prev is the replaced or deleted version; nil on create.
	Prev *raftstore.Object `json:"prev,omitempty"`
	// Objects is the state in a reset, sorted by kind then key; never nil
	// in a reset.
	Objects []raftstore.Object `json:"objects,omitzero"`
}

var errBadEvent = errors.New("bad watch event")

// DecodeEvent decodes and checks one line of a watch stream. Unknown fields
// are ignored so that newer servers can add some; an unknown type, a put or
// delete without an object or revision, or a reset without objects is an
// error.
func DecodeEvent(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	if err := e.validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	return e, nil
}

func (e *Event) validate() error {
	switch e.Type {
	case EventPut, EventDelete:
		if e.Revision == 0 {
			return fmt.Errorf("%s without revision", e.Type)
		}
		if e.Object == nil || e.Object.Kind == "" || e.Object.Key == "" {
			return fmt.Errorf("%s without object kind and key", e.Type)
		}
		if e.Objects != nil {
			return fmt.Errorf("%s with objects", e.Type)
		}
	case EventReset:
		if e.Objects == nil {
			return errors.New("reset without objects")
		}
		if e.Object != nil || e.Prev != nil {
			return errors.New("reset with object")
		}
	case EventHeartbeat:
		if e.Object != nil || e.Prev != nil || e.Objects != nil {
			return errors.New("heartbeat with objects")
		}
	default:
		return fmt.Errorf("unknown type %q", e.Type)
	}
	return nil
}
