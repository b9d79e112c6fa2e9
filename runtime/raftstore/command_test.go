package raftstore

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenCommands are the wire format of every command shape. Their encoding
// must never change for existing entries: old logs keep decoding.
var goldenCommands = []struct {
	name string
	cmd  Command
}{
	{"put", Put{Kind: "vip", Key: "web.marathon:80", Value: json.RawMessage(`{"ip":"198.18.128.1","port":80}`)}},
	{"put-must-not-exist", Put{Kind: "agentSubnet", Key: "agent-1", Value: json.RawMessage(`"198.19.1.0/24"`), ExpectModIndex: Expect(0)}},
	{"put-cas", Put{Kind: "agentSubnet", Key: "agent-1", Value: json.RawMessage(`"198.19.2.0/24"`), ExpectModIndex: Expect(41)}},
	{"put-html-chars", Put{Kind: "note", Key: "a<b>&c", Value: json.RawMessage(`"<x & y>"`)}},
	{"delete", Delete{Kind: "vip", Key: "web.marathon:80"}},
	{"delete-cas", Delete{Kind: "vip", Key: "web.marathon:80", ExpectModIndex: Expect(7)}},
	{"batch", Batch{Ops: []Op{
		PutOp(Put{Kind: "vtep", Key: "agent-1", Value: json.RawMessage(`{"ip":"198.18.16.1"}`), ExpectModIndex: Expect(0)}),
		PutOp(Put{Kind: "vtep", Key: "agent-2", Value: json.RawMessage(`{"ip":"198.18.16.2"}`), ExpectModIndex: Expect(0)}),
		DeleteOp(Delete{Kind: "vtep", Key: "agent-0", ExpectModIndex: Expect(3)}),
	}}},
	{"batch-empty", Batch{}},
}

// TestCommandGolden checks the encodings against testdata/commands.golden
// and that every golden line decodes to its command. Lines are
// "name typeByteHex jsonBody".
func TestCommandGolden(t *testing.T) {
	var buf bytes.Buffer
	want := map[string]Command{}
	for _, g := range goldenCommands {
		b, err := EncodeCommand(g.cmd)
		if err != nil {
			t.Fatalf("EncodeCommand(%s): %v", g.name, err)
		}
		fmt.Fprintf(&buf, "%s %s %s\n", g.name, hex.EncodeToString(b[:1]), b[1:])
		want[g.name] = g.cmd
	}
	path := filepath.Join("testdata", "commands.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(golden), buf.String()); diff != "" {
		t.Errorf("encodings differ from %s (-golden +encoded):\n%s", path, diff)
	}

	sc := bufio.NewScanner(bytes.NewReader(golden))
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), " ")
		typ, body, _ := strings.Cut(rest, " ")
		t.Run("decode "+name, func(t *testing.T) {
			tb, err := hex.DecodeString(typ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeCommand(append(tb, body...))
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if diff := cmp.Diff(want[name], got); diff != "" {
				t.Errorf("decoded command (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"empty", "", "bad command: empty entry"},
		{"unknown type byte", "\x07{}", "bad command: unknown type byte 0x07"},
		{"zero type byte", "\x00{}", "bad command: unknown type byte 0x00"},
		{"no body", "\x01", "bad command: put: body is not a JSON object"},
		{"null body", "\x01null", "bad command: put: body is not a JSON object"},
		{"array body", "\x02[]", "bad command: delete: body is not a JSON object"},
		{"truncated", "\x01{\"kind\":\"vip\"", "bad command: put: unexpected EOF"},
		{"unknown field", "\x01{\"kind\":\"vip\",\"ttl\":5}", "bad command: put: json: unknown field \"ttl\""},
		{"trailing data", "\x02{\"kind\":\"vip\",\"key\":\"a\"}{}", "bad command: delete: data after the JSON object at offset 25"},
		{"wrong field type", "\x02{\"kind\":1}", "bad command: delete: json: cannot unmarshal number into Go struct field Delete.kind of type string"},
		{"batch op with both", "\x03{\"ops\":[{\"put\":{\"kind\":\"a\"},\"delete\":{\"kind\":\"a\"}}]}", "bad command: batch: op 0: want exactly one of put and delete"},
		{"batch op with neither", "\x03{\"ops\":[{\"delete\":{\"kind\":\"a\",\"key\":\"b\"}},{}]}", "bad command: batch: op 1: want exactly one of put and delete"},
		{"negative index", "\x02{\"kind\":\"a\",\"key\":\"b\",\"expectModIndex\":-1}", "bad command: delete: json: cannot unmarshal number -1 into Go struct field Delete.expectModIndex of type uint64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCommand([]byte(tt.data))
			if err == nil {
				t.Fatal("DecodeCommand succeeded, want an error")
			}
			if !errors.Is(err, ErrBadCommand) {
				t.Errorf("error %v does not wrap ErrBadCommand", err)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
	}{
		{"nil", nil},
		{"invalid JSON value", Put{Kind: "a", Key: "b", Value: json.RawMessage(`{`)}},
		{"batch op with neither", Batch{Ops: []Op{{}}}},
		{"batch op with both", Batch{Ops: []Op{{Put: &Put{}, Delete: &Delete{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := EncodeCommand(tt.cmd); !errors.Is(err, ErrBadCommand) {
				t.Errorf("EncodeCommand error = %v, want ErrBadCommand", err)
			}
		})
	}
}

// FuzzDecodeCommand feeds arbitrary bytes (forwarded requests are untrusted)
// to the decoder: it must never panic, must say what was wrong, and what it
// accepts must re-encode to a fixed point.
func FuzzDecodeCommand(f *testing.F) {
	for _, g := range goldenCommands {
		b, err := EncodeCommand(g.cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x01{\"kind\":\"a\",\"key\":\"b\",\"value\":null}"))
	f.Add([]byte("\x03{\"ops\":[{}]}"))
	f.Add([]byte("\x09garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) || len(err.Error()) <= len(ErrBadCommand.Error())+2 {
				t.Fatalf("error %q does not wrap ErrBadCommand with a reason", err)
			}
			return
		}
		enc1, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("EncodeCommand(%#v) of a decoded command: %v", cmd, err)
		}
		cmd2, err := DecodeCommand(enc1)
		if err != nil {
			t.Fatalf("DecodeCommand(%q) of a re-encoded command: %v", enc1, err)
		}
		enc2, err := EncodeCommand(cmd2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("encoding is not a fixed point:\n%q\n%q", enc1, enc2)
		}
	})
}
