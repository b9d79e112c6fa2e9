package v0

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestRenderGolden pins the /master/state rendering of a capture.
func TestRenderGolden(t *testing.T) {
	st, err := Decode(fixtures.Read(t, "mesos-api/v0-master-state/dcos-net-dns-2016/state3.json"))
	if err != nil {
		t.Fatal(err)
	}
	pid, hostname, version := "master@198.18.0.1:5050", "master.example", "1.11.0"
	port := uint32(5050)
	info := mesos.MasterInfo{ID: "m1", PID: &pid, Hostname: &hostname, Version: &version, Port: &port}
	out, err := Render(Master{Info: info, Leader: &info, StartTime: 1700000000.5, ElectedTime: 1700000001.25}, st.GetState)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "state3-master-state.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s changed (-golden +got); run with -update if intended:\n%s", path, diff)
	}
}
