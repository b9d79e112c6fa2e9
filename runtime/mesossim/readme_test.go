package mesossim_test

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

var curlLine = regexp.MustCompile(`^curl(?: -X (\w+))? localhost:5050(\S+)((?: -H '[^']*')*)(?: -d '([^']*)')?$`)

// TestREADMEExamples runs the curl commands of README.md so that the
// documented control API cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ts := mesossimtest.Start(t, mesossim.Options{})
	in := false
	ran := 0
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```sh":
			in = true
			continue
		case line == "```":
			in = false
			continue
		case !in:
			continue
		}
		m := curlLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("README example not understood: %s", line)
		}
		method := m[1]
		if method == "" {
			method = http.MethodGet
			if m[4] != "" {
				method = http.MethodPost
			}
		}
		headers := map[string]string{}
		for _, h := range regexp.MustCompile(`-H '([^:]+): ([^']*)'`).FindAllStringSubmatch(m[3], -1) {
			headers[h[1]] = h[2]
		}
		resp, body := post(t, method, ts.URL+m[2], []byte(m[4]), headers)
		if resp.StatusCode/100 != 2 {
			t.Errorf("%s: HTTP %d %s", line, resp.StatusCode, body)
		}
		if strings.Contains(line, "GET_TASKS") && !bytes.Contains(body, []byte(`"db.1"`)) {
			t.Errorf("GET_TASKS after the examples lacks db.1: %s", body)
		}
		ran++
	}
	if ran < 10 {
		t.Errorf("ran %d README examples, want at least 10", ran)
	}
}
