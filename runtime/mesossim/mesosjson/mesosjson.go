// Package mesosjson writes JSON byte-for-byte the way an Apache Mesos master
// does, for the mesos-go protobuf types (github.com/mesos/mesos-go/api/v1/lib
// and its master/agent packages) and for hand-built documents such as the v0
// /master/state endpoint.
//
// Mesos renders protobuf messages with stout's jsonify: fields in declaration
// order (which is the order of the generated Go struct fields), unset optional
// fields and empty repeated fields omitted, enums as their names, 64-bit
// integers as plain numbers, bytes as base64, doubles in a short round-trip
// form with at least one digit after the decimal point (15.0, 0.1,
// 1539650318.581005). This is the output of Mesos 1.7 and later; Mesos 1.6
// and older printed doubles with 15 significant digits and escaped '/' as
// "\/", which decodes to the same values. The ffjson marshallers shipped
// with mesos-go differ on every one of these points (they emit "field":null,
// 6.048e+08, ...), which is why the simulator does not use them on the wire.
//
// Proto2 presence is recovered from the Go representation: a nil pointer, an
// empty slice or map is "not set"; a non-pointer field is always written when
// the protobuf tag marks it required and only when non-zero otherwise.
package mesosjson

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Marshal returns the Mesos JSON encoding of m, a pointer to (or value of) a
// mesos-go generated message struct.
func Marshal(m any) ([]byte, error) {
	return Append(nil, m)
}

// Append appends the Mesos JSON encoding of m to dst and returns the extended
// buffer.
func Append(dst []byte, m any) ([]byte, error) {
	v := reflect.ValueOf(m)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return dst, fmt.Errorf("encode %T as Mesos JSON: not a message struct", m)
	}
	return appendMessage(dst, v)
}

// AppendString appends s as a JSON string escaped like stout (Mesos 1.7+):
// '"' and '\\' are backslash-escaped, control characters use \b \f \n \r \t
// or \u00xx, every other byte is copied verbatim.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch c {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\b':
			esc = `\b`
		case '\f':
			esc = `\f`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			if c >= 0x20 {
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		if esc != "" {
			dst = append(dst, esc...)
		} else {
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f the way Mesos 1.7 and later print a double (they
// write JSON through RapidJSON): a short decimal that reads back as the same
// value, always with a digit after the decimal point (15 becomes 15.0, 0.1
// stays 0.1), and exponent form without '+' or padding (1e21, 1.5e-7) outside
// [1e-6, 1e21). RapidJSON's Grisu2 occasionally picks a different last digit
// among the strings that round-trip (…5796922 where Go writes …5796921); the
// value is the same. NaN and infinities, which JSON cannot express, are
// written as null.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		neg := strings.HasPrefix(exp, "-")
		exp = strings.TrimLeft(exp, "+-0")
		dst = append(dst, mant...)
		dst = append(dst, 'e')
		if neg {
			dst = append(dst, '-')
		}
		return append(dst, exp...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// enumType is implemented by every generated protobuf enum.
type enumType interface {
	EnumDescriptor() ([]byte, []int)
}

var enumIface = reflect.TypeFor[enumType]()

type field struct {
	index    int
	key      string // `"name":`
	required bool
}

var plans sync.Map // reflect.Type -> []field

func planFor(t reflect.Type) []field {
	if p, ok := plans.Load(t); ok {
		return p.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || strings.HasPrefix(sf.Name, "XXX_") {
			continue
		}
		tag := sf.Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		f := field{index: i}
		for j, part := range strings.Split(tag, ",") {
			switch {
			case j == 2:
				f.required = part == "req"
			case strings.HasPrefix(part, "name="):
				f.key = string(AppendString(nil, strings.TrimPrefix(part, "name="))) + ":"
			}
		}
		if f.key == "" {
			continue
		}
		fs = append(fs, f)
	}
	plans.Store(t, fs)
	return fs
}

func appendMessage(dst []byte, v reflect.Value) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for _, f := range planFor(v.Type()) {
		fv := v.Field(f.index)
		if !present(fv, f.required) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.key...)
		var err error
		if dst, err = appendValue(dst, fv); err != nil {
			return dst, fmt.Errorf("field %s: %w", strings.Trim(f.key, `":`), err)
		}
	}
	return append(dst, '}'), nil
}

// present reports whether Mesos would consider the field set.
func present(v reflect.Value, required bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil()
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			// An optional bytes field set to "" is present (Mesos writes
			// "data":""); decoders keep it as a non-nil empty slice.
			return !v.IsNil()
		}
		return v.Len() > 0
	case reflect.Map:
		return v.Len() > 0
	default:
		return required || !v.IsZero()
	}
}

func appendValue(dst []byte, v reflect.Value) ([]byte, error) {
	if v.Type().Implements(enumIface) && v.Kind() == reflect.Int32 {
		name := fmt.Sprint(v.Interface())
		if _, err := strconv.Atoi(name); err == nil {
			return strconv.AppendInt(dst, v.Int(), 10), nil
		}
		return AppendString(dst, name), nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendValue(dst, v.Elem())
	case reflect.Struct:
		return appendMessage(dst, v)
	case reflect.String:
		return AppendString(dst, v.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(dst, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return AppendFloat(dst, v.Float()), nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return AppendString(dst, base64.StdEncoding.EncodeToString(v.Bytes())), nil
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, v.Index(i)); err != nil {
				return dst, fmt.Errorf("index %d: %w", i, err)
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		return appendMap(dst, v)
	default:
		return dst, fmt.Errorf("unsupported kind %s", v.Kind())
	}
}

// appendMap writes a protobuf map field as a JSON object with sorted keys.
func appendMap(dst []byte, v reflect.Value) ([]byte, error) {
	type kv struct {
		k string
		v reflect.Value
	}
	entries := make([]kv, 0, v.Len())
	iter := v.MapRange()
	for iter.Next() {
		entries = append(entries, kv{fmt.Sprint(iter.Key().Interface()), iter.Value()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].k < entries[j].k })
	dst = append(dst, '{')
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, e.k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, e.v); err != nil {
			return dst, fmt.Errorf("key %q: %w", e.k, err)
		}
	}
	return append(dst, '}'), nil
}

// Writer builds a JSON document by hand with Mesos formatting. Commas are
// inserted automatically; the caller is responsible for balancing Begin and
// End calls and for calling Key before each value inside an object.
type Writer struct {
	buf   []byte
	comma []bool // per open container: a value was already written
	key   bool   // a key was just written, the next value needs no comma
}

// Bytes returns the document written so far.
func (w *Writer) Bytes() []byte { return w.buf }

func (w *Writer) sep() {
	if w.key {
		w.key = false
		return
	}
	if n := len(w.comma); n > 0 {
		if w.comma[n-1] {
			w.buf = append(w.buf, ',')
		}
		w.comma[n-1] = true
	}
}

// BeginObject opens an object.
func (w *Writer) BeginObject() *Writer {
	w.sep()
	w.buf = append(w.buf, '{')
	w.comma = append(w.comma, false)
	return w
}

// EndObject closes the innermost object.
func (w *Writer) EndObject() *Writer {
	w.comma = w.comma[:len(w.comma)-1]
	w.buf = append(w.buf, '}')
	return w
}

// BeginArray opens an array.
func (w *Writer) BeginArray() *Writer {
	w.sep()
	w.buf = append(w.buf, '[')
	w.comma = append(w.comma, false)
	return w
}

// EndArray closes the innermost array.
func (w *Writer) EndArray() *Writer {
	w.comma = w.comma[:len(w.comma)-1]
	w.buf = append(w.buf, ']')
	return w
}

// Key writes an object key; the next call writes its value.
func (w *Writer) Key(k string) *Writer {
	w.sep()
	w.buf = AppendString(w.buf, k)
	w.buf = append(w.buf, ':')
	w.key = true
	return w
}

// String writes a string value.
func (w *Writer) String(s string) *Writer {
	w.sep()
	w.buf = AppendString(w.buf, s)
	return w
}

// Float writes a double the way Mesos does (see AppendFloat).
func (w *Writer) Float(f float64) *Writer {
	w.sep()
	w.buf = AppendFloat(w.buf, f)
	return w
}

// Int writes an integer.
func (w *Writer) Int(i int64) *Writer {
	w.sep()
	w.buf = strconv.AppendInt(w.buf, i, 10)
	return w
}

// Bool writes a boolean.
func (w *Writer) Bool(b bool) *Writer {
	w.sep()
	w.buf = strconv.AppendBool(w.buf, b)
	return w
}

// Message writes a protobuf message as Mesos JSON.
func (w *Writer) Message(m any) error {
	w.sep()
	var err error
	w.buf, err = Append(w.buf, m)
	return err
}
