package mesos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

// streamFixtures are the SUBSCRIBE captures, one event per line.
var streamFixtures = []string{
	"mesos-api/v1-operator-api/dcos-net/operator-api.json",
	"mesos-api/v1-operator-api/dcos-net/hello-world.json",
	"mesos-api/v1-operator-api/dcos-net/hello-overlay.json",
	"mesos-api/v1-operator-api/dcos-net/pod-tasks.json",
	"mesos-api/v1-operator-api/dcos-net/recovered-agents.json",
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name        string
		frame       string
		wantType    master.Event_Type
		wantUnknown string // type of an *UnknownEventError
		wantErr     string // substring of a malformed-event error
	}{
		{name: "heartbeat", frame: heartbeatJSON, wantType: master.Event_HEARTBEAT},
		{name: "subscribed", frame: subscribedJSON(15), wantType: master.Event_SUBSCRIBED},
		{name: "task added", frame: taskAddedJSON("t1"), wantType: master.Event_TASK_ADDED},
		{name: "agent removed", frame: `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"S1"}}}`, wantType: master.Event_AGENT_REMOVED},
		{name: "fields in any order", frame: `{"agent_removed":{"agent_id":{"value":"S1"}},"type":"AGENT_REMOVED"}`, wantType: master.Event_AGENT_REMOVED},
		{name: "unknown type", frame: `{"type":"OPERATION_UPDATED","operation_updated":{"framework_id":{"value":"F"}}}`, wantUnknown: "OPERATION_UPDATED"},
		{name: "unknown type after its payload", frame: `{"agent_updated":{"agent":{}},"type":"AGENT_UPDATED"}`, wantUnknown: "AGENT_UPDATED"},
		{name: "unknown numeric type", frame: `{"type":42}`, wantUnknown: "42"},
		{name: "explicit UNKNOWN", frame: `{"type":"UNKNOWN"}`, wantUnknown: "UNKNOWN"},
		{name: "not json", frame: `hello`, wantErr: `frame of 5 bytes starting "hello"`},
		{name: "truncated json", frame: `{"type":"HEARTBEAT"`, wantErr: "malformed Mesos event"},
		{name: "trailing garbage", frame: `{"type":"HEARTBEAT"} x`, wantErr: "after top-level value"},
		{name: "array", frame: `[1,2]`, wantErr: "malformed Mesos event"},
		{name: "null", frame: `null`, wantErr: "malformed Mesos event"},
		{name: "no type", frame: `{"task_added":{}}`, wantErr: "no type"},
		{name: "type is an object", frame: `{"type":{}}`, wantErr: "malformed Mesos event"},
		{name: "missing payload", frame: `{"type":"TASK_ADDED"}`, wantErr: `TASK_ADDED event without "task_added"`},
		{name: "null payload", frame: `{"type":"SUBSCRIBED","subscribed":null}`, wantErr: `without "subscribed"`},
		{name: "known type with a bad nested enum", frame: `{"type":"TASK_ADDED","task_added":{"task":{"state":"TASK_EXPLODED"}}}`, wantErr: "TASK_EXPLODED"},
		{name: "wrong value type", frame: `{"type":"TASK_ADDED","task_added":{"task":{"name":7}}}`, wantErr: "malformed Mesos event"},
		{name: "long garbage is quoted briefly", frame: strings.Repeat("z", 1000), wantErr: `frame of 1000 bytes starting "` + strings.Repeat("z", 64) + `"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tc.frame))
			var unknown *UnknownEventError
			switch {
			case tc.wantUnknown != "":
				if !errors.As(err, &unknown) {
					t.Fatalf("DecodeEvent error %v, want *UnknownEventError", err)
				}
				if diff := cmp.Diff(tc.wantUnknown, unknown.Type); diff != "" {
					t.Errorf("unknown type (-want +got):\n%s", diff)
				}
			case tc.wantErr != "":
				if !errors.Is(err, ErrMalformedEvent) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeEvent error %v, want ErrMalformedEvent containing %q", err, tc.wantErr)
				}
				if errors.As(err, &unknown) {
					t.Errorf("malformed frame also reported as unknown event %q", unknown.Type)
				}
			default:
				if err != nil {
					t.Fatalf("DecodeEvent: %v", err)
				}
				if ev.Type != tc.wantType {
					t.Errorf("type %s, want %s", ev.Type, tc.wantType)
				}
			}
		})
	}
}

// TestDecodeFixtureEvents decodes every event of the real captures and checks
// the type against an independent reading of the JSON.
func TestDecodeFixtureEvents(t *testing.T) {
	for _, rel := range streamFixtures {
		t.Run(rel, func(t *testing.T) {
			lines := jsonLines(fixtures.Read(t, rel))
			if len(lines) == 0 {
				t.Fatal("fixture has no events")
			}
			for i, line := range lines {
				var probe struct{ Type string }
				if err := json.Unmarshal([]byte(line), &probe); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				ev, err := DecodeEvent([]byte(line))
				if err != nil {
					t.Fatalf("line %d (%s): %v", i+1, probe.Type, err)
				}
				if ev.Type.String() != probe.Type {
					t.Errorf("line %d: decoded type %s, JSON says %s", i+1, ev.Type, probe.Type)
				}
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, rel := range streamFixtures {
		for _, line := range jsonLines(fixtures.Read(f, rel)) {
			f.Add([]byte(line))
		}
	}
	for _, seed := range []string{
		heartbeatJSON, `{"type":"OPERATION_UPDATED"}`, `{"type":42}`, `{"type":null}`, `null`, `[]`, `{}`,
		`{"type":"TASK_ADDED","task_added":{"task":{"state":"TASK_EXPLODED"}}}`, `{"TYPE":"HEARTBEAT"}`,
		`{"type":"SUBSCRIBED","subscribed":{"heartbeat_interval_seconds":1e308}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		ev, err := DecodeEvent(frame)
		if err != nil {
			var unknown *UnknownEventError
			if !errors.As(err, &unknown) && !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v is neither unknown nor malformed", err)
			}
			if ev != nil {
				t.Fatalf("event %v returned with error %v", ev, err)
			}
			return
		}
		if _, known := master.Event_Type_name[int32(ev.Type)]; !known || ev.Type == master.Event_UNKNOWN {
			t.Fatalf("decoded event of type %d", ev.Type)
		}
		if !hasPayload(ev) {
			t.Fatalf("decoded %s event without its payload", ev.Type)
		}
		if ev.Type == master.Event_SUBSCRIBED {
			if d := heartbeatInterval(ev.Subscribed.HeartbeatIntervalSeconds); d < 0 || d > maxHeartbeatInterval {
				t.Fatalf("heartbeat interval %s out of range", d)
			}
		}
	})
}

// BenchmarkDecodeEvent decodes every event of the operator-api capture.
func BenchmarkDecodeEvent(b *testing.B) {
	lines := jsonLines(fixtures.Read(b, "mesos-api/v1-operator-api/dcos-net/operator-api.json"))
	frames := make([][]byte, len(lines))
	size := 0
	for i, l := range lines {
		frames[i] = []byte(l)
		size += len(l)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frames {
			if _, err := DecodeEvent(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}
