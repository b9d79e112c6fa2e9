package mesossim_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got (JSON) with testdata/name, stored indented for
// readable diffs; -update rewrites the file.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("indent: %v", err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
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

// TestSyntheticGolden pins the generator: benchmarks elsewhere rely on a
// seed giving the same cluster from one version to the next.
func TestSyntheticGolden(t *testing.T) {
	got, err := mesosjson.Marshal(mesossim.Synthetic(6, 1))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "synthetic-6-seed-1.json", got)
}
