package raftstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Command is a write to the store: a Put, a Delete or a Batch.
type Command interface {
	isCommand()
}

// Put creates or replaces the object (Kind, Key) with Value.
type Put struct {
	Kind  string          `json:"kind"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	// ExpectModIndex is the compare-and-swap precondition: nil writes
	// unconditionally, a pointer to 0 requires that the object does not
	// exist, a pointer to n requires that it exists with ModIndex n.
	ExpectModIndex *uint64 `json:"expectModIndex,omitempty"`
}

// Delete removes the object (Kind, Key). Deleting an object that does not
// exist without a precondition succeeds and changes nothing.
type Delete struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// ExpectModIndex is the precondition, as for Put.
	ExpectModIndex *uint64 `json:"expectModIndex,omitempty"`
}

// Batch applies its ops in order as one raft entry: all of them or, if any
// is rejected, none. Later ops see the effect of earlier ones.
type Batch struct {
	Ops []Op `json:"ops"`
}

// Op is one operation of a Batch: exactly one of Put and Delete is set.
type Op struct {
	Put    *Put    `json:"put,omitempty"`
	Delete *Delete `json:"delete,omitempty"`
}

func (Put) isCommand()    {}
func (Delete) isCommand() {}
func (Batch) isCommand()  {}

// PutOp returns a batch op that puts.
func PutOp(p Put) Op { return Op{Put: &p} }

// DeleteOp returns a batch op that deletes.
func DeleteOp(d Delete) Op { return Op{Delete: &d} }

// Expect returns a pointer to n, for ExpectModIndex. Expect(0) means "must
// not exist".
func Expect(n uint64) *uint64 { return &n }

// The type byte that leads every encoded command. Values are never reused:
// a new command shape gets a new byte, and a replica that does not know a
// byte stops (see FSM) instead of skipping the entry.
const (
	typePut    byte = 1
	typeDelete byte = 2
	typeBatch  byte = 3
)

// EncodeCommand encodes c as one type byte followed by its compact JSON body.
// It fails on a nil or unknown command, on a batch op that is not exactly
// one of put and delete, and on a Value that is not valid JSON; the store's
// checks on kinds, keys and values happen when the command is applied.
func EncodeCommand(c Command) ([]byte, error) {
	var t byte
	switch c := c.(type) {
	case Put:
		t = typePut
	case *Put:
		return EncodeCommand(*c)
	case Delete:
		t = typeDelete
	case *Delete:
		return EncodeCommand(*c)
	case Batch:
		t = typeBatch
		for i, op := range c.Ops {
			if (op.Put == nil) == (op.Delete == nil) {
				return nil, fmt.Errorf("encode command: %w: batch op %d: want exactly one of put and delete", ErrBadCommand, i)
			}
		}
	case *Batch:
		return EncodeCommand(*c)
	default:
		return nil, fmt.Errorf("encode command: %w: unsupported command type %T", ErrBadCommand, c)
	}
	var buf bytes.Buffer
	buf.WriteByte(t)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode command: %w: %w", ErrBadCommand, err)
	}
	// Encoder.Encode terminates the value with a newline; the log entry does
	// not need it.
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeCommand decodes an encoded command. It is strict, so that a replica
// never applies something other than what was written: the JSON body must
// be one object with only known fields and nothing after it. Errors wrap
// ErrBadCommand and say what was wrong.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrBadCommand)
	}
	body := b[1:]
	switch b[0] {
	case typePut:
		var p Put
		if err := decodeBody(body, &p); err != nil {
			return nil, fmt.Errorf("%w: put: %w", ErrBadCommand, err)
		}
		return p, nil
	case typeDelete:
		var d Delete
		if err := decodeBody(body, &d); err != nil {
			return nil, fmt.Errorf("%w: delete: %w", ErrBadCommand, err)
		}
		return d, nil
	case typeBatch:
		var bt Batch
		if err := decodeBody(body, &bt); err != nil {
			return nil, fmt.Errorf("%w: batch: %w", ErrBadCommand, err)
		}
		for i, op := range bt.Ops {
			if (op.Put == nil) == (op.Delete == nil) {
				return nil, fmt.Errorf("%w: batch: op %d: want exactly one of put and delete", ErrBadCommand, i)
			}
		}
		return bt, nil
	default:
		return nil, fmt.Errorf("%w: unknown type byte 0x%02x", ErrBadCommand, b[0])
	}
}

// decodeBody decodes exactly one JSON object with known fields into v.
func decodeBody(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the JSON object at offset %d", dec.InputOffset())
	}
	return nil
}
