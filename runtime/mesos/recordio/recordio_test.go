package recordio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		maxFrame int
		want     []string
		// wantErr is checked with errors.Is against the error that ended the
		// stream; wantMsg is a substring of its message.
		wantErr error
		wantMsg string
	}{
		{name: "empty stream", in: "", wantErr: io.EOF},
		{name: "one record", in: "5\nhello", want: []string{"hello"}, wantErr: io.EOF},
		{name: "two records", in: "5\nhello3\nabc", want: []string{"hello", "abc"}, wantErr: io.EOF},
		{name: "payload with newlines", in: "3\n\n\n\n", want: []string{"\n\n\n"}, wantErr: io.EOF},
		{name: "leading zeros", in: "003\nabc", want: []string{"abc"}, wantErr: io.EOF},
		{name: "exactly the limit", in: "4\nabcd", maxFrame: 4, want: []string{"abcd"}, wantErr: io.EOF},
		{name: "over the limit", in: "5\nabcde", maxFrame: 4,
			wantMsg: "record of 5 bytes exceeds the limit of 4 bytes"},
		{name: "zero length", in: "0\n", wantErr: ErrEmptyRecord, wantMsg: `"0"`},
		{name: "zero length after a record", in: "1\na0\n", want: []string{"a"}, wantErr: ErrEmptyRecord},
		{name: "plus sign", in: "+5\nhello", wantErr: ErrInvalidHeader, wantMsg: `byte '+' is not a decimal digit`},
		{name: "minus sign", in: "-5\nhello", wantErr: ErrInvalidHeader, wantMsg: `byte '-'`},
		{name: "letter", in: "1x\nhello", wantErr: ErrInvalidHeader, wantMsg: `"1x"`},
		{name: "carriage return", in: "5\r\nhello", wantErr: ErrInvalidHeader, wantMsg: `'\r'`},
		{name: "space", in: " 5\nhello", wantErr: ErrInvalidHeader},
		{name: "json instead of a header", in: `{"type":"HEARTBEAT"}`, wantErr: ErrInvalidHeader},
		{name: "no digits", in: "\nhello", wantErr: ErrInvalidHeader, wantMsg: "no digits"},
		{name: "20 digits overflow", in: "99999999999999999999\nx", wantErr: ErrInvalidHeader, wantMsg: "overflows uint64"},
		{name: "20 digits in range but over the limit", in: "18446744073709551615\nx",
			wantMsg: "record of 18446744073709551615 bytes exceeds the limit of 268435456 bytes"},
		{name: "header of 21 digits", in: "000000000000000000001\nx", wantErr: ErrHeaderTooLong,
			wantMsg: "no newline within 20 bytes"},
		{name: "endless digits", in: strings.Repeat("1", 100), wantErr: ErrHeaderTooLong},
		{name: "eof inside the header", in: "12", wantErr: io.ErrUnexpectedEOF, wantMsg: `length header "12"`},
		{name: "eof after the header", in: "5\n", wantErr: io.ErrUnexpectedEOF, wantMsg: "5 bytes missing"},
		{name: "eof inside the payload", in: "10\nhello", wantErr: io.ErrUnexpectedEOF,
			wantMsg: "read record of 10 bytes: 5 bytes missing"},
		{name: "eof inside the second payload", in: "1\na10\nhel", want: []string{"a"},
			wantErr: io.ErrUnexpectedEOF, wantMsg: "7 bytes missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// OneByteReader exercises every boundary of the bufio buffer.
			for _, src := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				r := NewReader(src, tc.maxFrame)
				var got []string
				var err error
				for {
					var b []byte
					b, err = r.ReadFrame()
					if err != nil {
						break
					}
					got = append(got, string(b))
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr == io.EOF && err != io.EOF {
					t.Errorf("clean end returned %#v, want io.EOF itself", err)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not contain %q", err, tc.wantMsg)
				}
				// Errors are sticky.
				if _, again := r.ReadFrame(); again != err {
					t.Errorf("second ReadFrame after %v returned %v", err, again)
				}
			}
		})
	}
}

func TestFrameTooLargeIsTyped(t *testing.T) {
	r := NewReader(strings.NewReader("1025\n"), 1024)
	_, err := r.ReadFrame()
	var tooLarge *FrameTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("error %v is not a *FrameTooLargeError", err)
	}
	if diff := cmp.Diff(FrameTooLargeError{Size: 1025, Limit: 1024}, *tooLarge); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestDefaultMaxFrame(t *testing.T) {
	for _, maxFrame := range []int{0, -1} {
		if got := NewReader(strings.NewReader(""), maxFrame).MaxFrame(); got != DefaultMaxFrame {
			t.Errorf("NewReader(_, %d).MaxFrame() = %d, want %d", maxFrame, got, DefaultMaxFrame)
		}
	}
}

// TestOversizedFrameIsNotAllocated announces a 2 GiB record on a reader
// limited to 1 MiB and checks that the refusal costs next to no memory and
// does not consume the payload.
func TestOversizedFrameIsNotAllocated(t *testing.T) {
	src := &countingReader{r: io.MultiReader(strings.NewReader("2147483648\n"), infiniteZeros{})}
	r := NewReader(src, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.ReadFrame()
	runtime.ReadMemStats(&after)
	var tooLarge *FrameTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("error %v is not a *FrameTooLargeError", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("refusing the record allocated %d bytes", got)
	}
	if src.n > bufferSize {
		t.Errorf("refusing the record read %d bytes from the source, want at most one buffer (%d)", src.n, bufferSize)
	}
}

// TestOneAllocationPerFrame checks that a record larger than the bufio buffer
// costs exactly one allocation of exactly its size.
func TestOneAllocationPerFrame(t *testing.T) {
	const size = 1 << 20
	var frame bytes.Buffer
	if err := NewWriter(&frame).WriteFrame(bytes.Repeat([]byte{'x'}, size)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&cyclicReader{b: frame.Bytes()}, 0)
	var got []byte
	allocs := testing.AllocsPerRun(20, func() {
		var err error
		got, err = r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("ReadFrame made %v allocations per record, want 1", allocs)
	}
	if len(got) != size || cap(got) != size {
		t.Errorf("record has len %d cap %d, want %d", len(got), cap(got), size)
	}
}

// TestRoundTrip writes random records with Writer and reads them back through
// randomly fragmenting readers.
func TestRoundTrip(t *testing.T) {
	src := rand.NewChaCha8([32]byte{1, 2})
	rng := rand.New(src)
	for i := range 200 {
		want := make([][]byte, rng.IntN(20))
		for j := range want {
			n := 1 + rng.IntN(1<<uint(rng.IntN(18))) // lengths spread from 1 B to 256 KiB
			want[j] = make([]byte, n)
			_, _ = src.Read(want[j])
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range want {
			if err := w.WriteFrame(rec); err != nil {
				t.Fatalf("case %d: WriteFrame: %v", i, err)
			}
		}
		var in io.Reader = &buf
		switch rng.IntN(3) {
		case 1:
			in = iotest.HalfReader(in)
		case 2:
			in = iotest.DataErrReader(in)
		}
		r := NewReader(in, 1<<18)
		got := [][]byte{}
		for {
			b, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("case %d: ReadFrame after %d records: %v", i, len(got), err)
			}
			got = append(got, b)
		}
		if len(got) != len(want) {
			t.Fatalf("case %d: read %d records, wrote %d", i, len(got), len(want))
		}
		for j := range want {
			if !bytes.Equal(want[j], got[j]) {
				t.Fatalf("case %d: record %d differs: wrote %d bytes, read %d", i, j, len(want[j]), len(got[j]))
			}
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, rec := range []string{"hello", strings.Repeat("y", 12)} {
		if err := w.WriteFrame([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff("5\nhello12\nyyyyyyyyyyyy", buf.String()); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	if err := w.WriteFrame(nil); !errors.Is(err, ErrEmptyRecord) {
		t.Errorf("WriteFrame(nil) = %v, want ErrEmptyRecord", err)
	}
	failing := NewWriter(errWriter{})
	if err := failing.WriteFrame([]byte("x")); err == nil || !strings.Contains(err.Error(), "write length header") {
		t.Errorf("WriteFrame to a failing writer = %v, want a length header error", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"", "5\nhello", "5\nhello3\nabc", "0\n", "+1\na", "-1\na", "99999999999999999999\n",
		"000000000000000000001\nx", "10\nshort", "3\r\nabc", "\n", "1\n\n1\n\n", "70000\nx",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// A small limit keeps hostile headers from allocating much.
		const limit = 1 << 16
		r := NewReader(iotest.HalfReader(bytes.NewReader(in)), limit)
		got := [][]byte{}
		var err error
		for {
			var b []byte
			b, err = r.ReadFrame()
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > limit {
				t.Fatalf("record of %d bytes returned with limit %d", len(b), limit)
			}
			got = append(got, b)
		}
		want, wantKind := referenceParse(in, limit)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("records (-reference +reader):\n%s", diff)
		}
		if gotKind := errKind(err); gotKind != wantKind {
			t.Fatalf("reader ended with %v (%s), reference with %s", err, gotKind, wantKind)
		}
	})
}

// referenceParse is a straightforward parser over a byte slice, the oracle
// for FuzzReader. It returns the records and the kind of the error that ends
// the input.
func referenceParse(in []byte, limit int) ([][]byte, string) {
	out := [][]byte{}
	for {
		if len(in) == 0 {
			return out, "eof"
		}
		var size uint64
		i := 0
		for ; ; i++ {
			if i == len(in) {
				return out, "unexpected eof"
			}
			c := in[i]
			if c == '\n' {
				break
			}
			if i == MaxHeaderLen {
				return out, "header too long"
			}
			if c < '0' || c > '9' {
				return out, "invalid header"
			}
			d := uint64(c - '0')
			if size > (1<<64-1-d)/10 {
				// Overflow is detected once the header is complete; keep
				// scanning for bad bytes first, like the reader does.
				size = 1<<64 - 1
				for i++; i < len(in) && i < MaxHeaderLen && in[i] >= '0' && in[i] <= '9'; i++ {
				}
				switch {
				case i == len(in):
					return out, "unexpected eof"
				case in[i] == '\n':
					return out, "invalid header"
				case i == MaxHeaderLen:
					return out, "header too long"
				default:
					return out, "invalid header"
				}
			}
			size = size*10 + d
		}
		if i == 0 {
			return out, "invalid header"
		}
		if size == 0 {
			return out, "empty record"
		}
		if size > uint64(limit) {
			return out, "too large"
		}
		in = in[i+1:]
		if uint64(len(in)) < size {
			return out, "unexpected eof"
		}
		out = append(out, in[:size])
		in = in[size:]
	}
}

func errKind(err error) string {
	var tooLarge *FrameTooLargeError
	switch {
	case err == io.EOF:
		return "eof"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected eof"
	case errors.Is(err, ErrHeaderTooLong):
		return "header too long"
	case errors.Is(err, ErrInvalidHeader):
		return "invalid header"
	case errors.Is(err, ErrEmptyRecord):
		return "empty record"
	case errors.As(err, &tooLarge):
		return "too large"
	}
	return "other: " + err.Error()
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type infiniteZeros struct{}

func (infiniteZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// cyclicReader repeats b forever without allocating.
type cyclicReader struct {
	b   []byte
	off int
}

func (c *cyclicReader) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off:])
	c.off = (c.off + n) % len(c.b)
	return n, nil
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

// BenchmarkReadFrame reads a 32 MiB record, the size of the SUBSCRIBED
// snapshot of a 10k-task cluster.
func BenchmarkReadFrame(b *testing.B) {
	const size = 32 << 20
	var frame bytes.Buffer
	if err := NewWriter(&frame).WriteFrame(bytes.Repeat([]byte{'x'}, size)); err != nil {
		b.Fatal(err)
	}
	r := NewReader(&cyclicReader{b: frame.Bytes()}, 0)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
