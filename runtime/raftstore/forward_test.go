package raftstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var errValidator = errors.New("port out of range")

// wireCases are errors as the leader produces them, and what a follower
// must be able to test on the error it gets back.
var wireCases = []struct {
	name   string
	err    error
	status int
	is     []error
}{
	{"conflict", reject("put", 0, "vip", "a", ReasonConflict, "expected modIndex %d, found %d", 3, 5), http.StatusConflict, []error{ErrConflict}},
	{"unknown kind in batch", reject("delete", 2, "route", "r1", ReasonUnknownKind, "no validator registered for %q", "route"), http.StatusUnprocessableEntity, []error{ErrUnknownKind}},
	{"validator", &RejectedError{Op: "put", Kind: "vip", Key: "a", Reason: ReasonInvalid, Err: fmt.Errorf("%w: %w", ErrInvalid, errValidator)}, http.StatusUnprocessableEntity, []error{ErrInvalid}},
	{"bad command", fmt.Errorf("%w: unknown type byte 0x09", ErrBadCommand), http.StatusBadRequest, []error{ErrBadCommand}},
	{"not leader", fmt.Errorf("apply: %w", ErrNotLeader), http.StatusMisdirectedRequest, []error{ErrNotLeader}},
	{"shutting down", fmt.Errorf("%w: %w", ErrLeaderUnavailable, ErrClosed), http.StatusServiceUnavailable, []error{ErrLeaderUnavailable}},
	{"leadership lost", fmt.Errorf("apply: %w: leadership lost while committing log", ErrUnknownOutcome), http.StatusBadGateway, []error{ErrUnknownOutcome}},
	{"anything else", errors.New("disk on fire"), http.StatusBadGateway, []error{ErrUnknownOutcome}},
}

// TestForwardWireGolden pins the JSON error bodies of Handler.
func TestForwardWireGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range wireCases {
		status, body := toWire(c.err)
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "%s %d %s\n", c.name, status, b)
	}
	path := filepath.Join("testdata", "forward-errors.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("wire errors differ from %s (-golden +got):\n%s", path, diff)
	}
}

// TestHTTPForwarderErrors runs each leader-side error through a real HTTP
// round trip on loopback.
func TestHTTPForwarderErrors(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, c.err)
			}))
			defer srv.Close()
			f := &HTTPForwarder{}
			_, err := f.Apply(t.Context(), Peer{ID: "m1", APIAddress: srv.Listener.Addr().String()}, []byte("\x01{}"))
			if status, _ := toWire(err); status != c.status {
				t.Errorf("forwarded error %v maps to status %d, want %d", err, status, c.status)
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("forwarded error %v does not wrap %v", err, target)
				}
			}
			var want, got *RejectedError
			if errors.As(c.err, &want) {
				if !errors.As(err, &got) {
					t.Fatalf("forwarded error %T %v, want a *RejectedError", err, err)
				}
				if diff := cmp.Diff(want.Error(), got.Error()); diff != "" {
					t.Errorf("rejection message (-leader +follower):\n%s", diff)
				}
			}
		})
	}
}

func TestHTTPForwarderTransportErrors(t *testing.T) {
	// A port nothing listens on: the request is never sent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "proxy error", http.StatusInternalServerError)
	}))
	defer garbage.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Result{Index: 7, Objects: []Object{obj("vip", "a", `1`, 7, 7)}})
	}))
	defer ok.Close()

	tests := []struct {
		name    string
		leader  Peer
		wantErr error
		want    Result
	}{
		{"no API address", Peer{ID: "m1"}, ErrLeaderUnavailable, Result{}},
		{"connection refused", Peer{ID: "m1", APIAddress: closed}, ErrLeaderUnavailable, Result{}},
		{"non-JSON error", Peer{ID: "m1", APIAddress: garbage.Listener.Addr().String()}, ErrUnknownOutcome, Result{}},
		{"result", Peer{ID: "m1", APIAddress: ok.Listener.Addr().String()}, nil, Result{Index: 7, Objects: []Object{obj("vip", "a", `1`, 7, 7)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&HTTPForwarder{}).Apply(t.Context(), tt.leader, []byte("\x01{}"))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Apply error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (&HTTPForwarder{}).Apply(ctx, Peer{ID: "m1", APIAddress: ok.Listener.Addr().String()}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v", err)
	}
}
