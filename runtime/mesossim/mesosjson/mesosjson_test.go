package mesosjson

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/google/go-cmp/cmp"
	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

// The streams below were written by real Mesos masters and stored without
// re-encoding (the other captures went through dcos-net's Erlang encoder or
// Python and lost Mesos's formatting). Masters older than 1.7 escaped '/' as
// "\/"; the comparison undoes that.
var verbatimStreams = []string{
	"mesos-api/v1-operator-api/dcos-net/operator-api.json",
	"mesos-api/v1-operator-api/dcos-net/hello-world.json",
	"mesos-api/v1-operator-api/dcos-net/hello-overlay.json",
	"mesos-api/v1-operator-api/dcos-net/pod-tasks.json",
}

func TestMarshalMatchesMesosByteForByte(t *testing.T) {
	for _, rel := range verbatimStreams {
		t.Run(rel, func(t *testing.T) {
			lines := bytes.Split(bytes.TrimSpace(fixtures.Read(t, rel)), []byte("\n"))
			for i, line := range lines {
				var ev master.Event
				if err := json.Unmarshal(line, &ev); err != nil {
					t.Fatalf("line %d: decode: %v", i+1, err)
				}
				got, err := Marshal(&ev)
				if err != nil {
					t.Fatalf("line %d: encode: %v", i+1, err)
				}
				want := strings.ReplaceAll(string(line), `\/`, "/")
				if want == string(got) {
					continue
				}
				// Only the last digit of a double may differ (see
				// AppendFloat): compare token by token, numbers by value.
				if diff := cmp.Diff(tokens(t, []byte(want)), tokens(t, got)); diff != "" {
					t.Errorf("line %d differs from Mesos (-mesos +ours):\n%s", i+1, diff)
				}
			}
		})
	}
}

// tokens returns the JSON token stream of b with numbers as float64.
func tokens(t *testing.T, b []byte) []any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []any
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tokenize %s: %v", b, err)
		}
		if d, ok := tok.(json.Delim); ok {
			tok = string(d)
		}
		out = append(out, tok)
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{15, "15.0"},
		{0, "0.0"},
		{0.1, "0.1"},
		{-2.5, "-2.5"},
		{604800000, "604800000.0"},
		{1520884849.15991, "1520884849.15991"},
		{1700000000.123456789, "1700000000.1234567"},
		{1539650318.581005, "1539650318.581005"},
		{8.39999999999847, "8.39999999999847"},
		{1e21, "1e21"},
		{-1.25e30, "-1.25e30"},
		{1.5e-7, "1.5e-7"},
		{0.0001, "0.0001"},
		{1e16, "10000000000000000.0"},
	} {
		if got := string(AppendFloat(nil, tc.in)); got != tc.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	got := string(AppendString(nil, "a\"b\\c/d\n\x01é"))
	want := `"a\"b\\c/d\n\u0001é"`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var back string
	if err := json.Unmarshal([]byte(got), &back); err != nil || back != "a\"b\\c/d\n\x01é" {
		t.Errorf("round trip: %q, %v", back, err)
	}
}

func TestPresence(t *testing.T) {
	state := mesos.TASK_RUNNING
	hc := mesos.HealthCheck{}
	task := mesos.Task{
		Name:        "web",
		TaskID:      mesos.TaskID{Value: "web.1"},
		FrameworkID: mesos.FrameworkID{Value: "fw"},
		AgentID:     mesos.AgentID{Value: "a"},
		State:       &state,
		Labels:      &mesos.Labels{},
		HealthCheck: &hc,
	}
	got, err := Marshal(&task)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"web","task_id":{"value":"web.1"},"framework_id":{"value":"fw"},"agent_id":{"value":"a"},"state":"TASK_RUNNING","labels":{},"health_check":{}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriter(t *testing.T) {
	var w Writer
	w.BeginObject().Key("a").Int(1).Key("b").BeginArray().String("x").Float(2).Bool(true).EndArray()
	w.Key("c").BeginObject().EndObject()
	if err := w.Key("d").Message(&mesos.AgentID{Value: "S0"}); err != nil {
		t.Fatal(err)
	}
	w.EndObject()
	want := `{"a":1,"b":["x",2.0,true],"c":{},"d":{"value":"S0"}}`
	if diff := cmp.Diff(want, string(w.Bytes())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !json.Valid(w.Bytes()) {
		t.Error("writer produced invalid JSON")
	}
}

func FuzzMarshalRoundTrip(f *testing.F) {
	for _, rel := range verbatimStreams {
		for _, line := range bytes.Split(fixtures.Read(f, rel), []byte("\n")) {
			if len(line) < 4096 {
				f.Add(line)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev master.Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		out, err := Marshal(&ev)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back master.Event
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("our output does not decode: %v\n%s", err, out)
		}
		again, err := Marshal(&back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("not stable:\n%s\n%s", out, again)
		}
	})
}
