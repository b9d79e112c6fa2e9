// Package recordio reads and writes the RecordIO framing of the Mesos HTTP
// APIs: every record is its length in decimal ASCII, a '\n', then exactly
// that many bytes (`<length>\n<payload>`, repeated, no trailer).
//
// mesos-go ships a reader too, but it caps a record at 4 MiB, while the
// SUBSCRIBED snapshot of a 10k-task cluster is about 30 MB. This reader takes
// the limit as a parameter, checks it before allocating, and reads each record
// into one buffer of exactly the record's size.
//
// The input is untrusted (it comes from the network), so every malformed
// header is reported with a typed error that names what was wrong. Mesos never
// sends an empty record, so a zero length is an error as well.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// DefaultMaxFrame is the record size limit used when NewReader is given 0.
const DefaultMaxFrame = 256 << 20

// MaxHeaderLen is the longest length header accepted, not counting the '\n':
// 20 decimal digits hold every uint64.
const MaxHeaderLen = 20

// bufferSize is the size of the bufio buffer under a Reader. Records larger
// than the buffer are read straight into their own allocation.
const bufferSize = 64 << 10

// Sentinel errors, matched with errors.Is. The errors returned by ReadFrame
// wrap them with the offending header.
var (
	// ErrHeaderTooLong reports a length header of more than MaxHeaderLen bytes
	// without a '\n'.
	ErrHeaderTooLong = errors.New("length header too long")
	// ErrInvalidHeader reports a length header that is not a plain decimal
	// number (a sign, a space, a letter, an overflow).
	ErrInvalidHeader = errors.New("invalid length header")
	// ErrEmptyRecord reports a record of length zero.
	ErrEmptyRecord = errors.New("empty record")
)

// FrameTooLargeError reports a record whose announced length exceeds the
// reader's limit. The reader does not allocate or consume the record.
type FrameTooLargeError struct {
	// Size is the announced length of the record in bytes.
	Size uint64
	// Limit is the largest record the reader accepts.
	Limit int
}

// Error implements error.
func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("recordio: record of %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

// Reader reads records from a byte stream. It is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	limit int
	err   error // sticky: once framing is lost the stream cannot be resynchronised
}

// NewReader returns a Reader of r that rejects records larger than maxFrame
// bytes (DefaultMaxFrame when maxFrame is 0 or negative).
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Reader{br: bufio.NewReaderSize(r, bufferSize), limit: maxFrame}
}

// MaxFrame returns the largest record the reader accepts.
func (r *Reader) MaxFrame() int { return r.limit }

// ReadFrame returns the payload of the next record in a new slice owned by
// the caller. At a clean end of the stream (between two records) it returns
// io.EOF; an end inside a record returns an error wrapping
// io.ErrUnexpectedEOF. Any error is sticky: framing cannot be recovered, so
// later calls return it again.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	b, err := r.readFrame()
	if err != nil {
		r.err = err
	}
	return b, err
}

func (r *Reader) readFrame() ([]byte, error) {
	size, err := r.readHeader()
	if err != nil {
		return nil, err
	}
	if size > uint64(r.limit) {
		return nil, &FrameTooLargeError{Size: size, Limit: r.limit}
	}
	buf := make([]byte, size)
	// bufio.Reader hands reads at least as large as its buffer straight to
	// the underlying reader once its own buffer is drained, so a big record
	// is copied once, from the connection into buf.
	n, err := io.ReadFull(r.br, buf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("recordio: read record of %d bytes: %d bytes missing: %w", size, len(buf)-n, err)
	}
	return buf, nil
}

// readHeader reads "<digits>\n" and returns the number. The header is parsed
// as it is read, so the happy path does not allocate.
func (r *Reader) readHeader() (uint64, error) {
	var hdr [MaxHeaderLen]byte
	var size uint64
	overflow := false
	n := 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("recordio: length header %q: %w", string(hdr[:n]), io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("recordio: read length header: %w", err)
		}
		if c == '\n' {
			break
		}
		if n == MaxHeaderLen {
			return 0, fmt.Errorf("recordio: %w: %q... has no newline within %d bytes", ErrHeaderTooLong, string(hdr[:n]), MaxHeaderLen)
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("recordio: %w: %q: byte %q is not a decimal digit", ErrInvalidHeader, string(hdr[:n])+string(c), c)
		}
		hdr[n] = c
		n++
		d := uint64(c - '0')
		if size > (math.MaxUint64-d)/10 {
			overflow = true
		}
		size = size*10 + d
	}
	switch {
	case n == 0:
		return 0, fmt.Errorf("recordio: %w: no digits before the newline", ErrInvalidHeader)
	case overflow:
		return 0, fmt.Errorf("recordio: %w: %q overflows uint64", ErrInvalidHeader, string(hdr[:n]))
	case size == 0:
		return 0, fmt.Errorf("recordio: %w: length header %q", ErrEmptyRecord, string(hdr[:n]))
	}
	return size, nil
}

// Writer writes records. It is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	hdr []byte
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, hdr: make([]byte, 0, MaxHeaderLen+1)}
}

// WriteFrame writes p as one record. It refuses an empty p, which a Reader
// (like Mesos' own) would reject.
func (w *Writer) WriteFrame(p []byte) error {
	if len(p) == 0 {
		return fmt.Errorf("recordio: write record: %w", ErrEmptyRecord)
	}
	w.hdr = strconv.AppendUint(w.hdr[:0], uint64(len(p)), 10)
	w.hdr = append(w.hdr, '\n')
	if _, err := w.w.Write(w.hdr); err != nil {
		return fmt.Errorf("recordio: write length header: %w", err)
	}
	if _, err := w.w.Write(p); err != nil {
		return fmt.Errorf("recordio: write record of %d bytes: %w", len(p), err)
	}
	return nil
}
