package mesossim

import (
	"io"
	"net/http"
	"strconv"
)

// recordWriter frames records with RecordIO, the framing of every Mesos
// streaming response: the decimal length of the record, a newline, then the
// record bytes ("35\n{...}"). It flushes after every record so that each
// event reaches the subscriber as soon as it happens.
type recordWriter struct {
	w     io.Writer
	flush func()
	buf   []byte
}

func newRecordWriter(w io.Writer) *recordWriter {
	rw := &recordWriter{w: w, flush: func() {}}
	if f, ok := w.(http.Flusher); ok {
		rw.flush = f.Flush
	}
	return rw
}

// WriteRecord writes one framed record and flushes it.
func (rw *recordWriter) WriteRecord(rec []byte) error {
	rw.buf = strconv.AppendInt(rw.buf[:0], int64(len(rec)), 10)
	rw.buf = append(rw.buf, '\n')
	if _, err := rw.w.Write(rw.buf); err != nil {
		return err
	}
	if _, err := rw.w.Write(rec); err != nil {
		return err
	}
	rw.flush()
	return nil
}
