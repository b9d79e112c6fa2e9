package v0

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// node is a decoded JSON value and its path from the document root, in the
// $.frameworks[2].tasks[0].statuses[1].timestamp form used in errors.
type node struct {
	path string
	v    any
}

// walker reads typed members out of generically decoded JSON. It records the
// first structural error (with its path) and turns every later call into a
// no-op, so conversion code reads straight through without error checks at
// every step.
type walker struct {
	err error
}

func (w *walker) failf(path, format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// get returns member key of object n. It reports false when the member is
// absent or null (Mesos omits unset fields; some captures write null).
func (w *walker) get(n node, key string) (node, bool) {
	if w.err != nil {
		return node{}, false
	}
	m, ok := n.v.(map[string]any)
	if !ok {
		w.failf(n.path, "expected object, got %s", kindOf(n.v))
		return node{}, false
	}
	v, ok := m[key]
	if !ok || v == nil {
		return node{}, false
	}
	return node{path: n.path + "." + key, v: v}, true
}

func (w *walker) has(n node, key string) bool {
	m, ok := n.v.(map[string]any)
	if !ok {
		return false
	}
	v, ok := m[key]
	return ok && v != nil
}

// object returns member key, which must be an object when present.
func (w *walker) object(n node, key string) (node, bool) {
	c, ok := w.get(n, key)
	if !ok {
		return node{}, false
	}
	if _, isObj := c.v.(map[string]any); !isObj {
		w.failf(c.path, "expected object, got %s", kindOf(c.v))
		return node{}, false
	}
	return c, true
}

// array returns the elements of member key, which must be an array when
// present.
func (w *walker) array(n node, key string) []node {
	c, ok := w.get(n, key)
	if !ok {
		return nil
	}
	return w.elems(c)
}

func (w *walker) elems(c node) []node {
	a, isArr := c.v.([]any)
	if !isArr {
		w.failf(c.path, "expected array, got %s", kindOf(c.v))
		return nil
	}
	out := make([]node, 0, len(a))
	for i, v := range a {
		out = append(out, node{path: c.path + "[" + strconv.Itoa(i) + "]", v: v})
	}
	return out
}

// str returns string member key.
func (w *walker) str(n node, key string) (string, bool) {
	c, ok := w.get(n, key)
	if !ok {
		return "", false
	}
	s, isStr := c.v.(string)
	if !isStr {
		w.failf(c.path, "expected string, got %s", kindOf(c.v))
		return "", false
	}
	return s, true
}

// strPtr returns string member key, or nil when absent.
func (w *walker) strPtr(n node, key string) *string {
	if s, ok := w.str(n, key); ok {
		return &s
	}
	return nil
}

// required returns string member key and records an error when it is absent
// or empty.
func (w *walker) required(n node, key string) string {
	s, ok := w.str(n, key)
	if !ok && w.err == nil {
		w.failf(n.path+"."+key, "missing")
	}
	return s
}

// float returns number member key.
func (w *walker) float(n node, key string) (float64, bool) {
	c, ok := w.get(n, key)
	if !ok {
		return 0, false
	}
	return w.floatOf(c)
}

func (w *walker) floatOf(c node) (float64, bool) {
	num, isNum := c.v.(json.Number)
	if !isNum {
		w.failf(c.path, "expected number, got %s", kindOf(c.v))
		return 0, false
	}
	f, err := num.Float64()
	if err != nil || math.IsInf(f, 0) {
		w.failf(c.path, "invalid number %s", num)
		return 0, false
	}
	return f, true
}

// uint returns non-negative integer member key, at most max.
func (w *walker) uint(n node, key string, max uint64) (uint64, bool) {
	c, ok := w.get(n, key)
	if !ok {
		return 0, false
	}
	return w.uintOf(c, max)
}

func (w *walker) uintOf(c node, max uint64) (uint64, bool) {
	num, isNum := c.v.(json.Number)
	if !isNum {
		w.failf(c.path, "expected number, got %s", kindOf(c.v))
		return 0, false
	}
	u, err := strconv.ParseUint(num.String(), 10, 64)
	if err != nil {
		// Mesos writes some integers as doubles (5051.0).
		f, ferr := num.Float64()
		if ferr != nil || f < 0 || f != math.Trunc(f) || f > float64(max) {
			w.failf(c.path, "expected integer in [0, %d], got %s", max, num)
			return 0, false
		}
		u = uint64(f)
	}
	if u > max {
		w.failf(c.path, "expected integer in [0, %d], got %s", max, num)
		return 0, false
	}
	return u, true
}

// boolean returns boolean member key.
func (w *walker) boolean(n node, key string) (bool, bool) {
	c, ok := w.get(n, key)
	if !ok {
		return false, false
	}
	b, isBool := c.v.(bool)
	if !isBool {
		w.failf(c.path, "expected boolean, got %s", kindOf(c.v))
		return false, false
	}
	return b, true
}

func (w *walker) boolPtr(n node, key string) *bool {
	if b, ok := w.boolean(n, key); ok {
		return &b
	}
	return nil
}

func (w *walker) floatPtr(n node, key string) *float64 {
	if f, ok := w.float(n, key); ok {
		return &f
	}
	return nil
}

// enum returns member key as the value of a protobuf enum whose names are in
// values (e.g. mesos.TaskState_value).
func (w *walker) enum(n node, key string, values map[string]int32) (int32, bool) {
	s, ok := w.str(n, key)
	if !ok {
		return 0, false
	}
	v, known := values[s]
	if !known {
		w.failf(n.path+"."+key, "unknown value %q", s)
		return 0, false
	}
	return v, true
}
