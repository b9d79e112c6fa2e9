package mesossimtest

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func frame(recs ...string) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.WriteString(strconv.Itoa(len(r)) + "\n" + r)
	}
	return b.Bytes()
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    []string
		wantErr error
	}{
		{"records", frame(`{"type":"HEARTBEAT"}`, "", "x\ny"), []string{`{"type":"HEARTBEAT"}`, "", "x\ny"}, io.EOF},
		{"empty stream", nil, nil, io.EOF},
		{"letter in length", []byte("1a\nx"), nil, ErrFraming},
		{"empty length", []byte("\nx"), nil, ErrFraming},
		{"too long", []byte("99999999999\n"), nil, ErrFraming},
		{"length without newline", []byte("12"), nil, io.ErrUnexpectedEOF},
		{"truncated record", []byte("5\nabc"), nil, io.ErrUnexpectedEOF},
		{"endless digits", bytes.Repeat([]byte("1"), 64), nil, ErrFraming},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewReader(bytes.NewReader(tc.in), 1<<20)
			var got []string
			var err error
			for {
				var rec []byte
				if rec, err = rd.Next(); err != nil {
					break
				}
				got = append(got, string(rec))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("final error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(frame("a", "bc"))
	f.Add([]byte("3\nab"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), 1<<16)
		total := 0
		for {
			rec, err := rd.Next()
			if err != nil {
				return
			}
			total += len(rec)
			if total > len(data) {
				t.Fatalf("read %d record bytes from %d input bytes", total, len(data))
			}
		}
	})
}
