package raftstore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

var errBadSubnet = errors.New("not a CIDR string")

// newTestFSM returns an FSM with kinds "vip" (any value), "subnet" (a JSON
// string containing "/") and "boom" (a validator that panics).
func newTestFSM(t *testing.T, opts FSMOptions) *FSM {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	f := NewFSM(opts)
	for kind, v := range map[string]ValidateFunc{
		"vip": nil,
		"subnet": func(_ string, value json.RawMessage) error {
			var s string
			if err := json.Unmarshal(value, &s); err != nil || !strings.Contains(s, "/") {
				return errBadSubnet
			}
			return nil
		},
		"boom": func(string, json.RawMessage) error { panic("validator bug") },
	} {
		if err := f.RegisterKind(kind, v); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func entry(t *testing.T, index uint64, cmd Command) *raft.Log {
	t.Helper()
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

// applyAll applies cmds at indexes 1..n, failing on any error.
func applyAll(t *testing.T, f *FSM, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if r := f.Apply(entry(t, f.Index()+1, c)); r != nil {
			if err, ok := r.(error); ok {
				t.Fatalf("apply %#v: %v", c, err)
			}
		}
	}
}

func put(kind, key, value string) Put {
	return Put{Kind: kind, Key: key, Value: json.RawMessage(value)}
}

func obj(kind, key, value string, create, mod uint64) Object {
	return Object{Kind: kind, Key: key, Value: json.RawMessage(value), CreateIndex: create, ModIndex: mod}
}

func allObjects(f *FSM) []Object { return f.root.Load().all() }

// rejection is the comparable part of a *RejectedError.
type rejection struct {
	Op      string
	OpIndex int
	Kind    string
	Key     string
	Reason  Reason
}

func TestFSMApply(t *testing.T) {
	// Every case starts from this state, written at indexes 1-3.
	setup := []Command{
		put("vip", "a", `{"port":80}`),
		put("vip", "b", `{"port":81}`),
		put("subnet", "agent-1", `"198.19.1.0/24"`),
	}
	base := []Object{
		obj("subnet", "agent-1", `"198.19.1.0/24"`, 3, 3),
		obj("vip", "a", `{"port":80}`, 1, 1),
		obj("vip", "b", `{"port":81}`, 2, 2),
	}
	tests := []struct {
		name       string
		cmd        Command // applied at index 4
		want       Result
		wantReject *rejection
		wantCause  error
		wantState  []Object // nil means base
	}{
		{
			name: "put creates",
			cmd:  put("vip", "c", `{"port":82}`),
			want: Result{Index: 4, Objects: []Object{obj("vip", "c", `{"port":82}`, 4, 4)}},
			wantState: []Object{
				base[0], base[1], base[2], obj("vip", "c", `{"port":82}`, 4, 4),
			},
		},
		{
			name:      "put replaces and keeps the create index",
			cmd:       put("vip", "a", `{"port":90}`),
			want:      Result{Index: 4, Objects: []Object{obj("vip", "a", `{"port":90}`, 1, 4)}},
			wantState: []Object{base[0], obj("vip", "a", `{"port":90}`, 1, 4), base[2]},
		},
		{
			name:      "put with matching mod index",
			cmd:       Put{Kind: "vip", Key: "b", Value: json.RawMessage(`{}`), ExpectModIndex: Expect(2)},
			want:      Result{Index: 4, Objects: []Object{obj("vip", "b", `{}`, 2, 4)}},
			wantState: []Object{base[0], base[1], obj("vip", "b", `{}`, 2, 4)},
		},
		{
			name:       "put with stale mod index conflicts",
			cmd:        Put{Kind: "vip", Key: "b", Value: json.RawMessage(`{}`), ExpectModIndex: Expect(1)},
			wantReject: &rejection{"put", 0, "vip", "b", ReasonConflict},
			wantCause:  ErrConflict,
		},
		{
			name:       "put that must create conflicts with an existing object",
			cmd:        Put{Kind: "vip", Key: "a", Value: json.RawMessage(`{}`), ExpectModIndex: Expect(0)},
			wantReject: &rejection{"put", 0, "vip", "a", ReasonConflict},
			wantCause:  ErrConflict,
		},
		{
			name:       "put expecting an object that does not exist conflicts",
			cmd:        Put{Kind: "vip", Key: "zz", Value: json.RawMessage(`{}`), ExpectModIndex: Expect(1)},
			wantReject: &rejection{"put", 0, "vip", "zz", ReasonConflict},
			wantCause:  ErrConflict,
		},
		{
			name:      "delete removes",
			cmd:       Delete{Kind: "vip", Key: "a"},
			want:      Result{Index: 4, Objects: []Object{{Kind: "vip", Key: "a"}}},
			wantState: []Object{base[0], base[2]},
		},
		{
			name:      "delete of the last object of a kind",
			cmd:       Delete{Kind: "subnet", Key: "agent-1", ExpectModIndex: Expect(3)},
			want:      Result{Index: 4, Objects: []Object{{Kind: "subnet", Key: "agent-1"}}},
			wantState: []Object{base[1], base[2]},
		},
		{
			name: "delete of a missing object is a no-op",
			cmd:  Delete{Kind: "vip", Key: "zz"},
			want: Result{Index: 4, Objects: []Object{{Kind: "vip", Key: "zz"}}},
		},
		{
			name:       "delete with stale mod index conflicts",
			cmd:        Delete{Kind: "vip", Key: "a", ExpectModIndex: Expect(2)},
			wantReject: &rejection{"delete", 0, "vip", "a", ReasonConflict},
			wantCause:  ErrConflict,
		},
		{
			name:       "unknown kind",
			cmd:        put("route", "a", `{}`),
			wantReject: &rejection{"put", 0, "route", "a", ReasonUnknownKind},
			wantCause:  ErrUnknownKind,
		},
		{
			name:       "delete of an unknown kind",
			cmd:        Delete{Kind: "route", Key: "a"},
			wantReject: &rejection{"delete", 0, "route", "a", ReasonUnknownKind},
			wantCause:  ErrUnknownKind,
		},
		{
			name:       "validator rejects",
			cmd:        put("subnet", "agent-2", `"nonsense"`),
			wantReject: &rejection{"put", 0, "subnet", "agent-2", ReasonInvalid},
			wantCause:  errBadSubnet,
		},
		{
			name:       "validator panics",
			cmd:        put("boom", "x", `1`),
			wantReject: &rejection{"put", 0, "boom", "x", ReasonInvalid},
			wantCause:  ErrInvalid,
		},
		{
			name:       "empty key",
			cmd:        put("vip", "", `{}`),
			wantReject: &rejection{"put", 0, "vip", "", ReasonInvalid},
			wantCause:  ErrInvalid,
		},
		{
			name:       "key too long",
			cmd:        put("vip", strings.Repeat("k", MaxKeyLength+1), `{}`),
			wantReject: &rejection{"put", 0, "vip", strings.Repeat("k", MaxKeyLength+1), ReasonInvalid},
			wantCause:  ErrInvalid,
		},
		{
			name:       "null value",
			cmd:        put("vip", "n", `null`),
			wantReject: &rejection{"put", 0, "vip", "n", ReasonInvalid},
			wantCause:  ErrInvalid,
		},
		{
			name:       "missing value",
			cmd:        Put{Kind: "vip", Key: "n"},
			wantReject: &rejection{"put", 0, "vip", "n", ReasonInvalid},
			wantCause:  ErrInvalid,
		},
		{
			name: "batch applies every op",
			cmd: Batch{Ops: []Op{
				PutOp(Put{Kind: "subnet", Key: "agent-2", Value: json.RawMessage(`"198.19.2.0/24"`), ExpectModIndex: Expect(0)}),
				DeleteOp(Delete{Kind: "vip", Key: "a", ExpectModIndex: Expect(1)}),
				PutOp(put("vip", "b", `{"port":99}`)),
			}},
			want: Result{Index: 4, Objects: []Object{
				obj("subnet", "agent-2", `"198.19.2.0/24"`, 4, 4),
				{Kind: "vip", Key: "a"},
				obj("vip", "b", `{"port":99}`, 2, 4),
			}},
			wantState: []Object{
				base[0], obj("subnet", "agent-2", `"198.19.2.0/24"`, 4, 4), obj("vip", "b", `{"port":99}`, 2, 4),
			},
		},
		{
			name: "batch ops see earlier ops",
			cmd: Batch{Ops: []Op{
				PutOp(Put{Kind: "vip", Key: "n", Value: json.RawMessage(`1`), ExpectModIndex: Expect(0)}),
				PutOp(Put{Kind: "vip", Key: "n", Value: json.RawMessage(`2`), ExpectModIndex: Expect(4)}),
			}},
			want: Result{Index: 4, Objects: []Object{obj("vip", "n", `1`, 4, 4), obj("vip", "n", `2`, 4, 4)}},
			wantState: []Object{
				base[0], base[1], base[2], obj("vip", "n", `2`, 4, 4),
			},
		},
		{
			name: "batch is all or nothing",
			cmd: Batch{Ops: []Op{
				PutOp(put("vip", "c", `{}`)),
				DeleteOp(Delete{Kind: "vip", Key: "a"}),
				PutOp(Put{Kind: "subnet", Key: "agent-1", Value: json.RawMessage(`"198.19.9.0/24"`), ExpectModIndex: Expect(0)}),
			}},
			wantReject: &rejection{"put", 2, "subnet", "agent-1", ReasonConflict},
			wantCause:  ErrConflict,
		},
		{
			name: "empty batch changes nothing",
			cmd:  Batch{},
			want: Result{Index: 4, Objects: []Object{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t, FSMOptions{})
			applyAll(t, f, setup...)
			resp := f.Apply(entry(t, 4, tt.cmd))
			if tt.wantReject != nil {
				rej, ok := resp.(*RejectedError)
				if !ok {
					t.Fatalf("response %#v, want a *RejectedError", resp)
				}
				got := rejection{rej.Op, rej.OpIndex, rej.Kind, rej.Key, rej.Reason}
				if diff := cmp.Diff(*tt.wantReject, got); diff != "" {
					t.Errorf("rejection (-want +got):\n%s", diff)
				}
				if !errors.Is(rej, tt.wantCause) || !errors.Is(rej, tt.wantReject.Reason.sentinel()) {
					t.Errorf("rejection %v does not wrap %v and %v", rej, tt.wantCause, tt.wantReject.Reason.sentinel())
				}
			} else if diff := cmp.Diff(tt.want, resp); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			wantState := tt.wantState
			if wantState == nil {
				wantState = base
			}
			if diff := cmp.Diff(wantState, allObjects(f)); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			if got := f.Index(); got != 4 {
				t.Errorf("Index() = %d, want 4 (rejected entries are applied too)", got)
			}
		})
	}
}

func TestFSMApplyBatchAndNonCommandEntries(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	resp := f.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogConfiguration},
		entry(t, 2, put("vip", "a", `1`)),
		{Index: 3, Type: raft.LogNoop},
		entry(t, 4, put("nope", "a", `1`)),
		entry(t, 5, put("vip", "b", `2`)),
		{Index: 6, Type: raft.LogBarrier},
	})
	if len(resp) != 6 {
		t.Fatalf("got %d responses, want 6", len(resp))
	}
	for i, want := range []any{nil, Result{Index: 2, Objects: []Object{obj("vip", "a", `1`, 2, 2)}}, nil} {
		if diff := cmp.Diff(want, resp[i]); diff != "" {
			t.Errorf("response %d (-want +got):\n%s", i, diff)
		}
	}
	if _, ok := resp[3].(*RejectedError); !ok {
		t.Errorf("response 3 = %#v, want a rejection", resp[3])
	}
	if got := f.Index(); got != 6 {
		t.Errorf("Index() = %d, want 6", got)
	}
	want := []Object{obj("vip", "a", `1`, 2, 2), obj("vip", "b", `2`, 5, 5)}
	if diff := cmp.Diff(want, f.List("vip")); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if o, ok := f.Get("vip", "b"); !ok || o.ModIndex != 5 {
		t.Errorf("Get(vip, b) = %v, %v", o, ok)
	}
	if _, ok := f.Get("vip", "zz"); ok {
		t.Error("Get(vip, zz) found an object")
	}
}

// TestFSMUndecodableEntry checks that an entry that does not decode stops
// the FSM loudly: an error response, an Error log, a failed state, and no
// entry applied after it.
func TestFSMUndecodableEntry(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"unknown type byte", "\x2a{}"},
		{"bad JSON", "\x01{\"kind\":"},
		{"unknown field", "\x02{\"kind\":\"vip\",\"key\":\"a\",\"force\":true}"},
		{"empty entry", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			f := newTestFSM(t, FSMOptions{Logger: zap.New(core)})
			f.metrics = newMetrics()
			resp := f.ApplyBatch([]*raft.Log{
				entry(t, 1, put("vip", "a", `1`)),
				{Index: 2, Type: raft.LogCommand, Data: []byte(tt.data)},
				entry(t, 3, put("vip", "b", `2`)),
			})
			if _, ok := resp[0].(Result); !ok {
				t.Errorf("entry 1: response %#v, want a Result", resp[0])
			}
			for i, r := range resp[1:] {
				err, ok := r.(error)
				if !ok || !errors.Is(err, ErrFailed) {
					t.Errorf("entry %d: response %#v, want an error wrapping ErrFailed", i+2, r)
				}
			}
			if err, _ := resp[1].(error); !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "raft entry 2") {
				t.Errorf("entry 2: error %v, want a bad command error naming the entry", err)
			}
			if !errors.Is(f.Err(), ErrBadCommand) {
				t.Errorf("Err() = %v, want the decode error", f.Err())
			}
			select {
			case <-f.Failed():
			default:
				t.Error("Failed() is not closed")
			}
			if got := f.Index(); got != 1 {
				t.Errorf("Index() = %d, want 1: nothing applies after the bad entry", got)
			}
			if diff := cmp.Diff([]Object{obj("vip", "a", `1`, 1, 1)}, allObjects(f)); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
			if len(errs) != 1 || errs[0].ContextMap()["raftIndex"] != uint64(2) {
				t.Errorf("error logs = %v, want one naming raftIndex 2", errs)
			}
			if r := f.Apply(entry(t, 4, put("vip", "c", `3`))); !errors.Is(r.(error), ErrFailed) {
				t.Errorf("later entry: response %v, want ErrFailed", r)
			}
			if _, err := f.Snapshot(); !errors.Is(err, ErrFailed) {
				t.Errorf("Snapshot() error = %v, want ErrFailed", err)
			}
		})
	}
}

func TestFSMRegisterKind(t *testing.T) {
	f := NewFSM(FSMOptions{})
	if err := f.RegisterKind("vip", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.RegisterKind("vip", nil); err == nil {
		t.Error("registering a kind twice succeeded")
	}
	if err := f.RegisterKind("", nil); err == nil {
		t.Error("registering an empty kind succeeded")
	}
}

func TestFSMPrecheck(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	tests := []struct {
		name string
		cmd  Command
		want error
	}{
		{"valid put", put("vip", "a", `1`), nil},
		{"valid pointer delete", &Delete{Kind: "vip", Key: "a"}, nil},
		{"unknown kind", put("nope", "a", `1`), ErrUnknownKind},
		{"invalid value", put("subnet", "a", `"x"`), errBadSubnet},
		{"invalid op in batch", Batch{Ops: []Op{PutOp(put("vip", "a", `1`)), DeleteOp(Delete{Kind: "vip"})}}, ErrInvalid},
		{"empty batch", Batch{}, ErrBadCommand},
		// JSON would turn the key into U+FFFD; Apply refuses it up front.
		{"key not UTF-8", Delete{Kind: "vip", Key: "\xff"}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.precheck(tt.cmd); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("precheck error = %v, want %v", err, tt.want)
			}
		})
	}
}
