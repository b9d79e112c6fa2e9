package raftstore

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestConfigValidation(t *testing.T) {
	peer := func(id, addr string) Peer { return Peer{ID: id, RaftAddress: addr, APIAddress: addr} }
	base := func() Config {
		return Config{ID: "m1", DataDir: t.TempDir(), RaftAddress: "127.0.0.1:0"}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"no peers", func(*Config) {}, ""},
		{"one peer", func(c *Config) { c.Peers = []Peer{peer("m1", "127.0.0.1:1")} }, ""},
		{"three peers", func(c *Config) {
			c.Peers = []Peer{peer("m1", "127.0.0.1:1"), peer("m2", "127.0.0.1:2"), peer("m3", "127.0.0.1:3")}
		}, ""},
		{"two peers", func(c *Config) { c.Peers = []Peer{peer("m1", "127.0.0.1:1"), peer("m2", "127.0.0.1:2")} },
			"raft store config: 2 peers: a cluster bootstraps with 1, 3 or 5 masters"},
		{"two peers joining", func(c *Config) {
			c.Join = true
			c.Peers = []Peer{peer("m2", "127.0.0.1:2"), peer("m3", "127.0.0.1:3")}
		}, ""},
		{"peers without this master", func(c *Config) { c.Peers = []Peer{peer("m2", "127.0.0.1:2")} },
			`raft store config: peers do not include this master "m1"`},
		{"duplicate peer", func(c *Config) {
			c.Peers = []Peer{peer("m1", "127.0.0.1:1"), peer("m1", "127.0.0.1:2"), peer("m3", "127.0.0.1:3")}
		}, "raft store config: peer m1 (127.0.0.1:2) listed twice"},
		{"bad raft address", func(c *Config) { c.Peers = []Peer{peer("m1", "nowhere")} },
			`raft store config: peer m1: raft address "nowhere": address nowhere: missing port in address`},
		{"no ID", func(c *Config) { c.ID = "" }, "raft store config: empty ID"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "raft store config: empty data dir"},
		{"no address", func(c *Config) { c.RaftAddress = "" }, "raft store config: neither raft address nor raft listener set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			_, err := New(cfg)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("New error (-want +got):\n%s", diff)
			}
		})
	}
}

// startSingle starts a one-master store on loopback and waits until it
// leads.
func startSingle(t *testing.T, logger *zap.Logger) *Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		ID: "m1", DataDir: filepath.Join(t.TempDir(), "m1"), RaftListener: ln,
		Peers:  []Peer{{ID: "m1", RaftAddress: ln.Addr().String()}},
		Logger: logger, NoSync: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterKind("vip", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	leaders := s.LeaderCh()
	for {
		select {
		case leading := <-leaders:
			if leading {
				return s
			}
		case <-ctx.Done():
			t.Fatal("the single master never led")
		}
	}
}

func TestStoreRefusesAnUnadvertisableAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{ID: "m1", DataDir: t.TempDir(), RaftListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "not advertisable") {
		t.Errorf("Start error = %v, want a not advertisable address", err)
	}
}

func TestStoreLifecycle(t *testing.T) {
	s, err := New(Config{ID: "m1", DataDir: t.TempDir(), RaftAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(t.Context(), Put{Kind: PeerKind, Key: "m9", Value: []byte(`{"id":"m9","raftAddress":"127.0.0.1:9"}`)}); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Apply before Start: %v, want ErrNotStarted", err)
	}
	if err := s.Barrier(t.Context()); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Barrier before Start: %v, want ErrNotStarted", err)
	}
	if s.IsLeader() {
		t.Error("IsLeader before Start")
	}
	if err := s.Shutdown(); err != nil {
		t.Errorf("Shutdown of a store never started: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrClosed", err)
	}

	s = startSingle(t, zap.NewNop())
	if err := s.RegisterKind("late", nil); err == nil {
		t.Error("RegisterKind after Start succeeded")
	}
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	res, err := s.Apply(t.Context(), Put{Kind: "vip", Key: "a", Value: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	w := s.Watch(res.Index)
	leaders := s.LeaderCh()
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := w.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("watcher after Shutdown: %v, want ErrClosed", err)
	}
	for range leaders {
	}
	if _, err := s.Apply(t.Context(), Put{Kind: "vip", Key: "a", Value: []byte(`1`)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Shutdown: %v, want ErrClosed", err)
	}
	if o, ok := s.Get("vip", "a"); !ok || o.ModIndex != res.Index {
		t.Errorf("Get after Shutdown = %+v, %v: reads keep serving the last state", o, ok)
	}
}

// TestStoreStopsOnUndecodableEntry writes an entry the state machine cannot
// decode straight into raft, as a newer version might.
func TestStoreStopsOnUndecodableEntry(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s := startSingle(t, zap.New(core))
	good, err := s.Apply(t.Context(), Put{Kind: "vip", Key: "a", Value: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	f := s.raft.Apply([]byte("\x2a{\"future\":true}"), time.Second)
	if err := f.Error(); err != nil {
		t.Fatalf("raft apply: %v", err)
	}
	resp, _ := f.Response().(error)
	if !errors.Is(resp, ErrFailed) || !errors.Is(resp, ErrBadCommand) {
		t.Errorf("response %v, want a decode failure", resp)
	}
	if !errors.Is(s.Err(), ErrFailed) {
		t.Errorf("Err() = %v, want ErrFailed", s.Err())
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.raft.State() != raft.Shutdown {
		if time.Now().After(deadline) {
			t.Fatal("raft still running after the state machine failed")
		}
		<-tick.C
	}
	if _, err := s.Apply(t.Context(), Put{Kind: "vip", Key: "b", Value: []byte(`2`)}); !errors.Is(err, ErrFailed) {
		t.Errorf("Apply on a failed store: %v, want ErrFailed", err)
	}
	if got := s.Index(); got != good.Index {
		t.Errorf("Index() = %d, want the last good index %d", got, good.Index)
	}
	for _, msg := range []string{"Stopped applying the raft log at an undecodable entry", "Shut down the raft node after the state machine stopped"} {
		if logs.FilterMessage(msg).FilterLevelExact(zapcore.ErrorLevel).Len() != 1 {
			t.Errorf("no error log %q", msg)
		}
	}
}
