package raftstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/benbjohnson/immutable"
	"github.com/hashicorp/raft"
)

// Snapshot format: JSON lines. The first line is a header, then one object
// per line sorted by kind, then key:
//
//	{"format":"mesosnet-raftstore","version":1,"index":42,"objects":2}
//	{"kind":"agent","key":"a1","value":{...},"createIndex":3,"modIndex":40}
//	{"kind":"vip","key":"web:80","value":{...},"createIndex":7,"modIndex":7}
//
// A reader accepts only versions it knows; a new layout gets a new version
// and the old one keeps decoding (testdata/snapshot-v1.golden).
const (
	snapshotFormat  = "mesosnet-raftstore"
	snapshotVersion = 1
)

// snapshotHeader is the first line of a snapshot.
type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Index is the raft index of the last entry the state includes.
	Index uint64 `json:"index"`
	// Objects is the number of object lines that follow.
	Objects int `json:"objects"`
}

// fsmSnapshot is a captured immutable state.
type fsmSnapshot struct {
	st *state
}

// Persist writes the snapshot to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.st); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the captured state is garbage collected.
func (s *fsmSnapshot) Release() {}

// writeSnapshot writes st in the current format.
func writeSnapshot(w io.Writer, st *state) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for it := st.kinds.Iterator(); !it.Done(); {
		_, km, _ := it.Next()
		n += km.Len()
	}
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, Index: st.index, Objects: n}); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	for it := st.kinds.Iterator(); !it.Done(); {
		_, km, _ := it.Next()
		for oit := km.Iterator(); !oit.Done(); {
			_, o, _ := oit.Next()
			if err := enc.Encode(o); err != nil {
				return fmt.Errorf("write object %s/%s: %w", o.Kind, o.Key, err)
			}
		}
	}
	return bw.Flush()
}

// readSnapshot reads a snapshot written by writeSnapshot, checking that it
// is complete and in order.
func readSnapshot(r io.Reader) (*state, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if h.Format != snapshotFormat {
		return nil, fmt.Errorf("read header: format %q, want %q", h.Format, snapshotFormat)
	}
	if h.Version != snapshotVersion {
		return nil, fmt.Errorf("read header: unsupported version %d (this binary reads version %d)", h.Version, snapshotVersion)
	}
	if h.Objects < 0 {
		return nil, fmt.Errorf("read header: negative object count %d", h.Objects)
	}
	kinds := immutable.NewSortedMapBuilder[string, *objects](stringComparer{})
	var (
		cur     *immutable.SortedMapBuilder[string, Object]
		curKind string
		last    Object
	)
	flush := func() {
		if cur != nil {
			kinds.Set(curKind, cur.Map())
		}
	}
	for i := 0; i < h.Objects; i++ {
		var o Object
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("read object %d of %d: %w", i+1, h.Objects, err)
		}
		switch v := bytes.TrimSpace(o.Value); {
		case o.Kind == "" || o.Key == "":
			return nil, fmt.Errorf("read object %d: empty kind or key", i+1)
		case len(v) == 0 || bytes.Equal(v, []byte("null")):
			return nil, fmt.Errorf("read object %d (%s/%s): no value", i+1, o.Kind, o.Key)
		case o.CreateIndex == 0 || o.CreateIndex > o.ModIndex || o.ModIndex > h.Index:
			return nil, fmt.Errorf("read object %d (%s/%s): indexes create %d, mod %d outside 1..%d", i+1, o.Kind, o.Key, o.CreateIndex, o.ModIndex, h.Index)
		case i > 0 && (o.Kind < last.Kind || o.Kind == last.Kind && o.Key <= last.Key):
			return nil, fmt.Errorf("read object %d (%s/%s): not after %s/%s", i+1, o.Kind, o.Key, last.Kind, last.Key)
		}
		if cur == nil || o.Kind != curKind {
			flush()
			cur = immutable.NewSortedMapBuilder[string, Object](stringComparer{})
			curKind = o.Kind
		}
		cur.Set(o.Key, o)
		last = o
	}
	flush()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read snapshot: data after %d objects", h.Objects)
	}
	return &state{kinds: kinds.Map(), index: h.Index, next: make(chan struct{})}, nil
}
