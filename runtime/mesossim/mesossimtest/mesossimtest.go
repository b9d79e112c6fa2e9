// Package mesossimtest runs the Mesos master simulator inside tests: Start
// serves a mesossim.Server on a loopback httptest server, and Subscribe opens
// a SUBSCRIBE stream whose RecordIO frames and events tests read one by one.
package mesossimtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

// Start creates a simulator with opts (a zaptest logger when opts.Logger is
// nil), serves it on a loopback httptest server and stops both when the test
// ends.
func Start(tb testing.TB, opts mesossim.Options) (*mesossim.Server, *httptest.Server) {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(tb)
	}
	sim, err := mesossim.New(opts)
	if err != nil {
		tb.Fatalf("start simulator: %v", err)
	}
	ts := httptest.NewServer(sim)
	tb.Cleanup(func() {
		sim.Close()
		ts.Close()
	})
	return sim, ts
}

// Media types of the operator API.
const (
	JSON     = "application/json"
	Protobuf = "application/x-protobuf"
	RecordIO = "application/recordio"
)

// MaxRecord bounds the records Reader accepts (a 10,000-task SUBSCRIBED is
// about 30 MB).
const MaxRecord = 256 << 20

// Reader reads RecordIO: a decimal length, a newline, then that many bytes.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader accepting records of at most max bytes
// (MaxRecord when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxRecord
	}
	return &Reader{r: bufio.NewReader(r), max: max}
}

// ErrFraming reports a malformed RecordIO header.
var ErrFraming = errors.New("malformed RecordIO frame")

// Next returns the next record. It returns io.EOF at a clean end of stream
// and io.ErrUnexpectedEOF inside a record.
func (rd *Reader) Next() ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := rd.r.ReadByte()
		if err == io.EOF && digits == 0 {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("read record length: %w", io.ErrUnexpectedEOF)
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' || digits == 19 {
			return nil, fmt.Errorf("%w: length byte %q after %d digits", ErrFraming, c, digits)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if digits == 0 {
		return nil, fmt.Errorf("%w: empty length", ErrFraming)
	}
	if n > rd.max {
		return nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrFraming, n, rd.max)
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(rd.r, rec); err != nil {
		return nil, fmt.Errorf("read %d-byte record: %w", n, io.ErrUnexpectedEOF)
	}
	return rec, nil
}

// Stream is an open SUBSCRIBE response.
type Stream struct {
	// Resp is the HTTP response; its body is read by Next.
	Resp *http.Response
	// Format is the media type of each event (JSON or Protobuf).
	Format string
	rd     *Reader
}

// Subscribe posts a SUBSCRIBE call to baseURL/api/v1 asking for events in
// format (JSON or Protobuf). With recordio, it sends Accept:
// application/recordio and Message-Accept: format, as mesos-go does;
// otherwise Accept: format. The stream ends with ctx.
func Subscribe(tb testing.TB, ctx context.Context, baseURL, format string, recordio bool) *Stream {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
	if err != nil {
		tb.Fatalf("subscribe: %v", err)
	}
	req.Header.Set("Content-Type", JSON)
	if recordio {
		req.Header.Set("Accept", RecordIO)
		req.Header.Set("Message-Accept", format)
	} else {
		req.Header.Set("Accept", format)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("subscribe: %v", err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		tb.Fatalf("subscribe: HTTP %d: %s", resp.StatusCode, body)
	}
	return &Stream{Resp: resp, Format: format, rd: NewReader(resp.Body, 0)}
}

// NextRecord returns the next raw event.
func (s *Stream) NextRecord() ([]byte, error) { return s.rd.Next() }

// Next returns the next event, failing the test when the stream breaks.
func (s *Stream) Next(tb testing.TB) *master.Event {
	tb.Helper()
	rec, err := s.rd.Next()
	if err != nil {
		tb.Fatalf("read event: %v", err)
	}
	ev, err := Decode(rec, s.Format)
	if err != nil {
		tb.Fatalf("decode event: %v\n%s", err, rec)
	}
	return ev
}

// NextNonHeartbeat returns the next event that is not a HEARTBEAT.
func (s *Stream) NextNonHeartbeat(tb testing.TB) *master.Event {
	tb.Helper()
	for {
		if ev := s.Next(tb); ev.GetType() != master.Event_HEARTBEAT {
			return ev
		}
	}
}

// Decode decodes an event in format (JSON or Protobuf).
func Decode(rec []byte, format string) (*master.Event, error) {
	var ev master.Event
	var err error
	if format == Protobuf {
		err = ev.Unmarshal(rec)
	} else {
		err = json.Unmarshal(rec, &ev)
	}
	if err != nil {
		return nil, err
	}
	return &ev, nil
}
