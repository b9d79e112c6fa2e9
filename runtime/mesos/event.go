package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// ErrMalformedEvent is wrapped by the errors of DecodeEvent for frames that
// are not a usable event: not JSON, a JSON value that does not fit the event
// schema, an event without a type or without the payload its type requires.
var ErrMalformedEvent = errors.New("malformed Mesos event")

// UnknownEventError reports an event whose type this build does not know,
// typically one added by a newer Mesos (OPERATION_UPDATED, AGENT_UPDATED).
// The frame itself is intact, so a stream that returns it goes on: callers
// log the event and skip it.
type UnknownEventError struct {
	// Type is the event type as sent by the master.
	Type string
}

// Error implements error.
func (e *UnknownEventError) Error() string {
	return fmt.Sprintf("unknown Mesos event type %q", e.Type)
}

// snippetLen is how much of a bad frame an error quotes.
const snippetLen = 64

// DecodeEvent decodes one frame of a SUBSCRIBE stream (a JSON master.Event).
// An event of a type unknown to mesos-go returns *UnknownEventError; any other
// failure wraps ErrMalformedEvent and quotes the start of the frame.
//
// The happy path decodes the frame once; only a failed decode pays for a
// second look at the "type" field.
func DecodeEvent(frame []byte) (*master.Event, error) {
	var ev master.Event
	// encoding/json validates the whole frame before it hands it to the
	// ffjson decoder of master.Event, so trailing garbage is caught too.
	if err := json.Unmarshal(frame, &ev); err != nil {
		if typ, present, ok := peekType(frame); ok && present {
			if _, known := master.Event_Type_value[typ]; !known {
				return nil, &UnknownEventError{Type: typ}
			}
		}
		return nil, malformed(frame, err)
	}
	if _, known := master.Event_Type_name[int32(ev.Type)]; !known {
		// A numeric type ("type": 42) decodes without error.
		return nil, &UnknownEventError{Type: strconv.Itoa(int(ev.Type))}
	}
	if ev.Type == master.Event_UNKNOWN {
		if _, present, _ := peekType(frame); !present {
			return nil, malformed(frame, errors.New("no type"))
		}
		return nil, &UnknownEventError{Type: ev.Type.String()}
	}
	if !hasPayload(&ev) {
		field := payloadField[ev.Type]
		return nil, malformed(frame, fmt.Errorf("%s event without %q", ev.Type, field))
	}
	return &ev, nil
}

// payloadField names the field each event type must carry.
var payloadField = map[master.Event_Type]string{
	master.Event_SUBSCRIBED:        "subscribed",
	master.Event_TASK_ADDED:        "task_added",
	master.Event_TASK_UPDATED:      "task_updated",
	master.Event_AGENT_ADDED:       "agent_added",
	master.Event_AGENT_REMOVED:     "agent_removed",
	master.Event_FRAMEWORK_ADDED:   "framework_added",
	master.Event_FRAMEWORK_UPDATED: "framework_updated",
	master.Event_FRAMEWORK_REMOVED: "framework_removed",
}

// hasPayload reports whether ev carries the payload of its type, so that
// sinks can dereference it without checking.
func hasPayload(ev *master.Event) bool {
	switch ev.Type {
	case master.Event_SUBSCRIBED:
		return ev.Subscribed != nil
	case master.Event_TASK_ADDED:
		return ev.TaskAdded != nil
	case master.Event_TASK_UPDATED:
		return ev.TaskUpdated != nil
	case master.Event_AGENT_ADDED:
		return ev.AgentAdded != nil
	case master.Event_AGENT_REMOVED:
		return ev.AgentRemoved != nil
	case master.Event_FRAMEWORK_ADDED:
		return ev.FrameworkAdded != nil
	case master.Event_FRAMEWORK_UPDATED:
		return ev.FrameworkUpdated != nil
	case master.Event_FRAMEWORK_REMOVED:
		return ev.FrameworkRemoved != nil
	}
	return true // HEARTBEAT has none.
}

// peekType extracts the "type" of an event frame. present reports whether the
// frame has a non-null type field; ok whether it is a JSON string (typ) and
// the frame a JSON object.
func peekType(frame []byte) (typ string, present, ok bool) {
	// Field matching is case-insensitive, like the ffjson decoder's.
	var probe struct {
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(frame, &probe); err != nil {
		return "", false, false
	}
	if len(probe.Type) == 0 || string(probe.Type) == "null" {
		return "", false, true
	}
	if err := json.Unmarshal(probe.Type, &typ); err != nil {
		return "", true, false
	}
	return typ, true, true
}

func malformed(frame []byte, err error) error {
	s := frame
	if len(s) > snippetLen {
		s = s[:snippetLen]
	}
	return fmt.Errorf("%w: frame of %d bytes starting %q: %w", ErrMalformedEvent, len(frame), s, err)
}
