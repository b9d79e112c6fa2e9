package raftstore

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestHCLogAdapter(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := newHCLog(zap.New(core)).Named("raft").With("id", "m1")
	l.Debug("dropped below the level")
	l.Info("entering follower state", "leader-address", "127.0.0.1:1", "percent", hclog.Fmt("%0.1f%%", 50.0))
	l.Error("failed to contact", "error", errors.New("refused"), "dangling")
	l.Named("snapshot").Warn("creating snapshot")
	l.ResetNamed("other").Log(hclog.Off, "off")

	type entry struct {
		Level   zapcore.Level
		Logger  string
		Message string
		Fields  map[string]any
	}
	var got []entry
	for _, e := range logs.All() {
		got = append(got, entry{e.Level, e.LoggerName, e.Message, e.ContextMap()})
	}
	want := []entry{
		{zapcore.InfoLevel, "raft", "entering follower state", map[string]any{"id": "m1", "leader-address": "127.0.0.1:1", "percent": "50.0%"}},
		{zapcore.ErrorLevel, "raft", "failed to contact", map[string]any{"id": "m1", "error": "refused", "extraValue": "dangling"}},
		{zapcore.WarnLevel, "raft.snapshot", "creating snapshot", map[string]any{"id": "m1"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: debug %v info %v level %v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	if got, want := l.Name(), "raft"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	l.StandardLogger(nil).Print("std")
	if logs.FilterMessage("std").Len() != 1 {
		t.Error("standard logger output missing")
	}
}
