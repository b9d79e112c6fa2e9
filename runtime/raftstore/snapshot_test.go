package raftstore

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// goldenStateCommands build the state of testdata/snapshot-v1.golden.
var goldenStateCommands = []Command{
	put("vip", "web.marathon:80", `{"ip":"198.18.128.1","port":80}`),
	put("subnet", "agent-1", `"198.19.1.0/24"`),
	put("vip", "db.marathon:5432", `{"ip":"198.18.128.2","port":5432}`),
	put("subnet", "agent-2", `"198.19.2.0/24"`),
	Delete{Kind: "subnet", Key: "agent-1"},
	put("vip", "web.marathon:80", `{"ip":"198.18.128.1","port":80,"note":"<html> & co"}`),
}

// goldenStateObjects is that state, written out by hand so the golden file
// is checked against the format, not against the writer.
var goldenStateObjects = []Object{
	obj("subnet", "agent-2", `"198.19.2.0/24"`, 4, 4),
	obj("vip", "db.marathon:5432", `{"ip":"198.18.128.2","port":5432}`, 3, 3),
	obj("vip", "web.marathon:80", `{"ip":"198.18.128.1","port":80,"note":"<html> & co"}`, 1, 6),
}

func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v, want closed", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func TestSnapshotGolden(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, goldenStateCommands...)
	got := persist(t, f)
	path := filepath.Join("testdata", "snapshot-v1.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("snapshot differs from %s (-golden +written):\n%s", path, diff)
	}
}

// TestRestoreGoldenSnapshot restores the checked-in version 1 snapshot:
// data written by older binaries must keep loading.
func TestRestoreGoldenSnapshot(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	// No kinds registered: a snapshot is restored whatever the validators.
	f := NewFSM(FSMOptions{})
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := f.Index(); got != 6 {
		t.Errorf("Index() = %d, want 6", got)
	}
	if diff := cmp.Diff(goldenStateObjects, allObjects(f)); diff != "" {
		t.Errorf("restored state (-want +got):\n%s", diff)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmds []Command
	}{
		{"empty", nil},
		{"golden state", goldenStateCommands},
		{"many kinds and keys", func() []Command {
			var cmds []Command
			for i := range 300 {
				kind := []string{"vip", "subnet"}[i%2]
				value := `"198.19.0.0/24"`
				cmds = append(cmds, put(kind, strings.Repeat("k", i%7+1)+string(rune('a'+i%26))+string(rune('0'+i%10)), value))
			}
			return cmds
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newTestFSM(t, FSMOptions{})
			applyAll(t, src, tt.cmds...)
			dst := newTestFSM(t, FSMOptions{})
			applyAll(t, dst, put("vip", "stale", `1`)) // replaced by the restore
			if err := dst.Restore(io.NopCloser(bytes.NewReader(persist(t, src)))); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if diff := cmp.Diff(allObjects(src), allObjects(dst)); diff != "" {
				t.Errorf("restored state (-want +got):\n%s", diff)
			}
			if src.Index() != dst.Index() {
				t.Errorf("restored index %d, want %d", dst.Index(), src.Index())
			}
		})
	}
}

// TestSnapshotIsolation checks that a snapshot taken before more writes
// persists the state at the time it was taken.
func TestSnapshotIsolation(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, put("vip", "a", `1`))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, f, put("vip", "a", `2`), put("vip", "b", `3`))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	want := `{"format":"mesosnet-raftstore","version":1,"index":1,"objects":1}` + "\n" +
		`{"kind":"vip","key":"a","value":1,"createIndex":1,"modIndex":1}` + "\n"
	if diff := cmp.Diff(want, sink.String()); diff != "" {
		t.Errorf("persisted (-want +got):\n%s", diff)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	const header = `{"format":"mesosnet-raftstore","version":1,"index":9,"objects":2}` + "\n"
	const a = `{"kind":"vip","key":"a","value":1,"createIndex":1,"modIndex":2}` + "\n"
	const b = `{"kind":"vip","key":"b","value":1,"createIndex":3,"modIndex":3}` + "\n"
	tests := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "restore snapshot: read header: EOF"},
		{"other format", `{"format":"consul","version":1,"index":1,"objects":0}`, `restore snapshot: read header: format "consul", want "mesosnet-raftstore"`},
		{"newer version", `{"format":"mesosnet-raftstore","version":2,"index":1,"objects":0}`, "restore snapshot: read header: unsupported version 2 (this binary reads version 1)"},
		{"unknown header field", `{"format":"mesosnet-raftstore","version":1,"index":1,"objects":0,"x":1}`, `restore snapshot: read header: json: unknown field "x"`},
		{"missing objects", header + a, "restore snapshot: read object 2 of 2: EOF"},
		{"extra objects", header + a + b + b, "restore snapshot: read snapshot: data after 2 objects"},
		{"out of order", header + b + a, "restore snapshot: read object 2 (vip/a): not after vip/b"},
		{"duplicate", header + a + a, "restore snapshot: read object 2 (vip/a): not after vip/a"},
		{"index beyond header", `{"format":"mesosnet-raftstore","version":1,"index":2,"objects":1}` + "\n" + b, "restore snapshot: read object 1 (vip/b): indexes create 3, mod 3 outside 1..2"},
		{"no value", header[:len(header)-3] + "1}\n" + `{"kind":"vip","key":"a","createIndex":1,"modIndex":1}`, "restore snapshot: read object 1 (vip/a): no value"},
		{"empty key", header[:len(header)-3] + "1}\n" + `{"kind":"vip","key":"","value":1,"createIndex":1,"modIndex":1}`, "restore snapshot: read object 1: empty kind or key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t, FSMOptions{})
			applyAll(t, f, put("vip", "keep", `1`))
			err := f.Restore(io.NopCloser(strings.NewReader(tt.data)))
			if err == nil {
				t.Fatal("Restore succeeded, want an error")
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Object{obj("vip", "keep", `1`, 1, 1)}, allObjects(f)); diff != "" {
				t.Errorf("state changed by a failed restore (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnapshotValuesStayCompactJSON(t *testing.T) {
	f := newTestFSM(t, FSMOptions{})
	applyAll(t, f, put("vip", "a", "{ \"x\" :\n 1 }"))
	o, _ := f.Get("vip", "a")
	if !json.Valid(o.Value) || string(o.Value) != `{"x":1}` {
		t.Errorf("stored value %q, want compact JSON", o.Value)
	}
}
