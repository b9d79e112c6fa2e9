package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mesosnet/mesosnet/runtime/logging"
)

type stringerKey struct{ framework, task string }

func (k stringerKey) String() string { return k.framework + "/" + k.task }

type plainKey struct{ A, B string }

func TestFields(t *testing.T) {
	mac, err := net.ParseMAC("70:b3:d5:80:00:01")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		field zap.Field
		key   string
		value any
	}{
		{"agent id", logging.AgentID("a1-S0"), "agentID", "a1-S0"},
		{"framework id", logging.FrameworkID("f-0001"), "frameworkID", "f-0001"},
		{"framework name", logging.Framework("marathon"), "framework", "marathon"},
		{"task id", logging.TaskID("nginx.1"), "taskID", "nginx.1"},
		{"task state", logging.TaskState("TASK_RUNNING"), "taskState", "TASK_RUNNING"},
		{"event", logging.Event("TASK_UPDATED"), "event", "TASK_UPDATED"},
		{"master", logging.Master("http://127.0.0.1:5050"), "master", "http://127.0.0.1:5050"},
		{"hostname", logging.Hostname("agent-1"), "hostname", "agent-1"},
		{"ip", logging.IP(netip.MustParseAddr("198.19.1.5")), "IP", "198.19.1.5"},
		{"node ip", logging.NodeIP(netip.MustParseAddr("198.18.0.2")), "nodeIP", "198.18.0.2"},
		{"vtep", logging.VTEP(netip.MustParseAddr("198.18.16.1")), "VTEP", "198.18.16.1"},
		{"mac", logging.MAC(mac), "MAC", "70:b3:d5:80:00:01"},
		{"cidr", logging.CIDR(netip.MustParsePrefix("198.19.1.0/24")), "CIDR", "198.19.1.0/24"},
		{"cidr v6", logging.CIDR(netip.MustParsePrefix("fd01:b::/80")), "CIDR", "fd01:b::/80"},
		{"vip", logging.VIP(netip.MustParseAddrPort("198.18.128.1:80")), "VIP", "198.18.128.1:80"},
		{"vip v6", logging.VIP(netip.MustParseAddrPort("[fd01:c::1]:443")), "VIP", "[fd01:c::1]:443"},
		{"backend", logging.Backend(netip.MustParseAddrPort("198.19.1.5:8080")), "backend", "198.19.1.5:8080"},
		{"protocol", logging.Protocol("udp"), "protocol", "udp"},
		{"overlay", logging.Overlay("dcos"), "overlay", "dcos"},
		{"device", logging.Device("vtep1024"), "device", "vtep1024"},
		{"zone", logging.Zone("l4lb.thisdcos.directory"), "zone", "l4lb.thisdcos.directory"},
		{"upstream", logging.Upstream(netip.MustParseAddrPort("198.51.100.1:53")), "upstream", "198.51.100.1:53"},
		{"raft index", logging.RaftIndex(42), "raftIndex", uint64(42)},
		{"revision", logging.Revision(7), "revision", uint64(7)},
		{"peer", logging.Peer("m1"), "peer", "m1"},
		{"controller", logging.Controller("overlay"), "controller", "overlay"},
		{"string key", logging.Key("node"), "key", "node"},
		{"stringer key", logging.Key(stringerKey{"f1", "t1"}), "key", "f1/t1"},
		{"struct key", logging.Key(plainKey{"x", "y"}), "key", plainKey{"x", "y"}},
		{"attempt", logging.Attempt(3), "attempt", int64(3)},
		{"backoff", logging.Backoff(5 * time.Second), "backoff", 5 * time.Second},
		{"elapsed", logging.Elapsed(time.Millisecond), "elapsed", time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			zap.New(core).Info("Tested field", tt.field)
			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("got %d log entries, want 1", len(entries))
			}
			want := map[string]any{tt.key: tt.value}
			if diff := cmp.Diff(want, entries[0].ContextMap()); diff != "" {
				t.Errorf("context (-want +got):\n%s", diff)
			}
		})
	}
}

// decodeLines decodes JSON log lines.
func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decode log line: %v\n%s", err, b)
		}
		out = append(out, m)
	}
}

func TestNewJSONProductionDefaults(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(logging.Options{Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("Dropped debug line")
	log.Info("Started agent", logging.AgentID("a1"))
	log.Warn("Lost master")
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, buf.Bytes())
	var msgs []string
	for _, l := range lines {
		msgs = append(msgs, l["msg"].(string))
	}
	if diff := cmp.Diff([]string{"Started agent", "Lost master"}, msgs); diff != "" {
		t.Fatalf("messages (-want +got):\n%s", diff)
	}
	first := lines[0]
	if got, want := first["level"], "info"; got != want {
		t.Errorf("level = %v, want %v", got, want)
	}
	if got, want := first["agentID"], "a1"; got != want {
		t.Errorf("agentID = %v, want %v", got, want)
	}
	ts, ok := first["ts"].(string)
	if !ok {
		t.Fatalf("ts = %#v, want an ISO8601 string", first["ts"])
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err != nil {
		t.Errorf("ts %q is not ISO8601: %v", ts, err)
	}
	if _, ok := first["caller"]; !ok {
		t.Errorf("no caller in %v", first)
	}
}

func TestNewLevelsAndFormats(t *testing.T) {
	tests := []struct {
		name string
		opts logging.Options
		want []string // messages written, in order
		json bool
	}{
		{"debug json", logging.Options{Level: "debug"}, []string{"d", "i", "w", "e"}, true},
		{"info json", logging.Options{Level: "info", Format: "json"}, []string{"i", "w", "e"}, true},
		{"warn json", logging.Options{Level: "warn"}, []string{"w", "e"}, true},
		{"error json", logging.Options{Level: "error"}, []string{"e"}, true},
		{"info console", logging.Options{Format: "console"}, []string{"i", "w", "e"}, false},
		{"development defaults", logging.Options{Development: true}, []string{"d", "i", "w", "e"}, false},
		{"development json warn", logging.Options{Development: true, Level: "warn", Format: "json"}, []string{"w", "e"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.opts.Output = &buf
			log, err := logging.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			var got []string
			if tt.json {
				for _, l := range decodeLines(t, buf.Bytes()) {
					got = append(got, l["msg"].(string))
				}
			} else {
				for _, line := range strings.Split(buf.String(), "\n") {
					// Console lines are tab separated: time, level, caller, message.
					f := strings.Split(line, "\t")
					if len(f) >= 4 {
						got = append(got, f[3])
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s\noutput:\n%s", diff, buf.String())
			}
		})
	}
}

func TestNewSampling(t *testing.T) {
	tests := []struct {
		name        string
		development bool
		min, max    int
	}{
		// The sampler keeps the first 100 identical entries per second, then
		// every 100th; crossing a second boundary mid-loop resets it once.
		{"production samples", false, 100, 200},
		{"development keeps all", true, 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := logging.New(logging.Options{Development: tt.development, Format: "json", Level: "info", Output: &buf})
			if err != nil {
				t.Fatal(err)
			}
			for range 1000 {
				log.Info("Repeated")
			}
			if n := len(decodeLines(t, buf.Bytes())); n < tt.min || n > tt.max {
				t.Errorf("wrote %d lines, want %d..%d", n, tt.min, tt.max)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts logging.Options
		want string
	}{
		{"level", logging.Options{Level: "verbose"}, `invalid log level "verbose": want one of debug, info, warn, error`},
		{"level case", logging.Options{Level: "INFO"}, `invalid log level "INFO": want one of debug, info, warn, error`},
		{"format", logging.Options{Format: "logfmt"}, `invalid log format "logfmt": want one of json, console`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, err := logging.New(tt.opts)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want error", tt.opts, log)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    logging.Options
		wantErr string
	}{
		{"defaults", nil, logging.Options{Level: "info", Format: "json"}, ""},
		{"set", []string{"--log-level=debug", "--log-format", "console"}, logging.Options{Level: "debug", Format: "console"}, ""},
		{"bad level", []string{"--log-level=trace"}, logging.Options{}, `invalid value "trace" for flag -log-level: want one of debug, info, warn, error`},
		{"bad format", []string{"-log-format=text"}, logging.Options{}, `invalid value "text" for flag -log-format: want one of json, console`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got := logging.Flags(fs)
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded, want error %q", tt.args, tt.wantErr)
				}
				if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if _, err := logging.New(*got); err != nil {
				t.Errorf("New with parsed flags: %v", err)
			}
		})
	}
}

func TestFlagsUsageShowsDefaults(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	logging.Flags(fs)
	fs.PrintDefaults()
	for _, want := range []string{`-log-level value`, `(default info)`, `-log-format value`, `(default json)`} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, usage.String())
		}
	}
}
