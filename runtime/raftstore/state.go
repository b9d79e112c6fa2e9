package raftstore

import (
	"encoding/json"
	"strings"

	"github.com/benbjohnson/immutable"
)

// Object is a stored value. Values handed out by the store (Get, List,
// watch events, results) share Value with the store's state: treat them as
// read-only.
type Object struct {
	Kind  string          `json:"kind"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
	// CreateIndex is the raft index of the entry that created the object.
	CreateIndex uint64 `json:"createIndex,omitempty"`
	// ModIndex is the raft index of the entry that last wrote it.
	ModIndex uint64 `json:"modIndex,omitempty"`
}

// stringComparer orders kinds and keys bytewise.
type stringComparer struct{}

func (stringComparer) Compare(a, b string) int { return strings.Compare(a, b) }

// objects maps key to object within one kind.
type objects = immutable.SortedMap[string, Object]

// state is one immutable version of the store. A new version shares all
// unchanged nodes with the previous one, so publishing it is cheap and a
// reader (or a snapshot) keeps a consistent view for as long as it wants.
type state struct {
	// kinds maps kind to its objects; a kind with no objects is absent.
	kinds *immutable.SortedMap[string, *objects]
	// index is the raft index of the last entry applied.
	index uint64
	// next is closed when a newer version replaces this one.
	next chan struct{}
}

func emptyState() *state {
	return &state{
		kinds: immutable.NewSortedMap[string, *objects](stringComparer{}),
		next:  make(chan struct{}),
	}
}

func (s *state) get(kind, key string) (Object, bool) {
	km, ok := s.kinds.Get(kind)
	if !ok {
		return Object{}, false
	}
	return km.Get(key)
}

// list returns the objects of kind sorted by key.
func (s *state) list(kind string) []Object {
	km, ok := s.kinds.Get(kind)
	if !ok {
		return nil
	}
	out := make([]Object, 0, km.Len())
	for it := km.Iterator(); !it.Done(); {
		_, o, _ := it.Next()
		out = append(out, o)
	}
	return out
}

// all returns every object sorted by kind, then key.
func (s *state) all() []Object {
	var out []Object
	for it := s.kinds.Iterator(); !it.Done(); {
		_, km, _ := it.Next()
		for oit := km.Iterator(); !oit.Done(); {
			_, o, _ := oit.Next()
			out = append(out, o)
		}
	}
	return out
}

// tree is the mutable cursor of the apply path: it starts from a published
// version and produces the next one, leaving the old one untouched.
type tree struct {
	kinds *immutable.SortedMap[string, *objects]
}

func (t *tree) get(kind, key string) (Object, bool) {
	km, ok := t.kinds.Get(kind)
	if !ok {
		return Object{}, false
	}
	return km.Get(key)
}

func (t *tree) set(o Object) {
	km, ok := t.kinds.Get(o.Kind)
	if !ok {
		km = immutable.NewSortedMap[string, Object](stringComparer{})
	}
	t.kinds = t.kinds.Set(o.Kind, km.Set(o.Key, o))
}

func (t *tree) delete(kind, key string) {
	km, ok := t.kinds.Get(kind)
	if !ok {
		return
	}
	km = km.Delete(key)
	if km.Len() == 0 {
		t.kinds = t.kinds.Delete(kind)
		return
	}
	t.kinds = t.kinds.Set(kind, km)
}
