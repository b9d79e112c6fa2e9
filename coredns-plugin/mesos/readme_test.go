package mesos

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

// TestReadmeExamples runs the `mesos` block of every Corefile example of
// this plugin's README.md and of the project README through setup, with the
// server block's keys, so the documentation cannot rot.
func TestReadmeExamples(t *testing.T) {
	for _, readme := range []string{"README.md", "../../README.md"} {
		t.Run(readme, func(t *testing.T) { testReadmeExamples(t, readme) })
	}
}

func testReadmeExamples(t *testing.T, readme string) {
	examples := readmeCorefiles(t, readme)
	if len(examples) == 0 {
		t.Fatalf("%s has no corefile examples", readme)
	}
	directives := slices.Clone(dnsserver.Directives)
	if !slices.Contains(directives, pluginName) {
		directives = append(directives, pluginName)
	}
	for _, ex := range examples {
		blocks, err := caddyfile.Parse(readme, strings.NewReader(ex.text), directives)
		if err != nil {
			t.Errorf("example on line %d does not parse: %v", ex.line, err)
			continue
		}
		n := 0
		for _, sb := range blocks {
			tokens, ok := sb.Tokens[pluginName]
			if !ok {
				continue
			}
			n++
			c := caddy.NewTestController("dns", "")
			c.Dispenser = caddyfile.NewDispenserTokens(readme, tokens)
			c.ServerBlockKeys = sb.Keys
			if err := setup(c); err != nil {
				t.Errorf("example on line %d: %v", ex.line, err)
			}
		}
		if n == 0 {
			t.Errorf("example on line %d has no mesos block", ex.line)
		}
	}
}

// corefileExample is a Corefile from a README code block.
type corefileExample struct {
	line int
	text string
}

// readmeCorefiles returns the "~~~ corefile" blocks of a README.
func readmeCorefiles(t testing.TB, path string) []corefileExample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		examples []corefileExample
		cur      *corefileExample
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "~~~ corefile":
			cur = &corefileExample{line: n + 1}
		case cur != nil && strings.TrimSpace(line) == "~~~":
			examples = append(examples, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: corefile block on line %d is not closed", path, cur.line)
	}
	return examples
}
