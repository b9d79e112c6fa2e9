package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"reset","revision":3,"objects":[]}`,
		`{"type":"reset","revision":3,"objects":[{"kind":"vip","key":"a","value":1,"createIndex":2,"modIndex":3}]}`,
		`{"type":"put","revision":4,"object":{"kind":"vip","key":"a","value":{"x":1},"createIndex":2,"modIndex":4},"prev":{"kind":"vip","key":"a","value":1}}`,
		`{"type":"delete","revision":5,"object":{"kind":"vip","key":"a","modIndex":5}}`,
		`{"type":"heartbeat","revision":5}`,
		`{"type":"put","revision":0}`,
		`{"type":"reset"}`,
		`{"type":"what"}`,
		`null`,
		`{"type":"put","revision":4,"object":{"kind":"vip","key":"a","value":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := api.DecodeEvent(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("encode a decoded event: %v", err)
		}
		again, err := api.DecodeEvent(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		// Encoding compacts raw values, so compare the encodings.
		b2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(b), string(b2)); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestEventsGolden pins the watch stream's wire format: what the server
// writes, and that lines written by earlier versions still decode.
func TestEventsGolden(t *testing.T) {
	a := raftstore.Object{Kind: "vip", Key: "web:80", Value: json.RawMessage(`{"port":80}`), CreateIndex: 3, ModIndex: 3}
	a2 := raftstore.Object{Kind: "vip", Key: "web:80", Value: json.RawMessage(`{"port":81}`), CreateIndex: 3, ModIndex: 4}
	events := []api.Event{
		{Type: api.EventReset, Revision: 2, Objects: []raftstore.Object{}},
		{Type: api.EventPut, Revision: 3, Object: &a},
		{Type: api.EventPut, Revision: 4, Object: &a2, Prev: &a},
		{Type: api.EventHeartbeat, Revision: 4},
		{Type: api.EventDelete, Revision: 5, Object: &raftstore.Object{Kind: "vip", Key: "web:80", ModIndex: 5}, Prev: &a2},
		{Type: api.EventReset, Revision: 5, Objects: []raftstore.Object{a}},
	}
	var buf bytes.Buffer
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	golden := filepath.Join("testdata", "events.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("encoding (-golden +got):\n%s", diff)
	}
	var decoded []api.Event
	for line := range bytes.Lines(want) {
		e, err := api.DecodeEvent(line)
		if err != nil {
			t.Fatal(err)
		}
		decoded = append(decoded, e)
	}
	if diff := cmp.Diff(events, decoded); diff != "" {
		t.Errorf("decoding (-want +got):\n%s", diff)
	}
}
