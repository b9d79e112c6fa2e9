package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

// ErrNotSubscribed reports a stream whose first event is not SUBSCRIBED, or
// a second SUBSCRIBED later on.
var ErrNotSubscribed = errors.New("protocol violation on the Mesos stream")

// errStreamClosed is the cancellation cause of a stream ended by Close.
var errStreamClosed = errors.New("stream closed")

// IdleTimeoutError ends a stream on which no data arrived for Timeout: the
// master stopped sending heartbeats, so the stream is considered dead.
type IdleTimeoutError struct {
	// Idle is the silence that ended the stream.
	Idle time.Duration
}

// Error implements error.
func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("stream dead: no data from the Mesos master for %s (missed heartbeats)", e.Idle)
}

// Timeout reports true, like the timeouts of package net.
func (e *IdleTimeoutError) Timeout() bool { return true }

// maxHeartbeatInterval bounds the heartbeat interval a master may announce;
// a larger (or non-finite) value is treated as absent.
const maxHeartbeatInterval = 24 * time.Hour

// Stream is a SUBSCRIBE event stream. Next is not safe for concurrent use;
// Close and SetIdleTimeout may be called from any goroutine.
type Stream struct {
	body   io.ReadCloser
	rd     *recordio.Reader
	ctx    context.Context
	cancel context.CancelCauseFunc
	master string

	// Watchdog state. lastRead is the time of the last read that returned
	// data, as the monotonic offset from start.
	start     time.Time
	lastRead  atomic.Int64
	mu        sync.Mutex
	idle      time.Duration
	watchdog  *time.Timer
	closed    bool
	closeOnce sync.Once

	// Owned by Next.
	subscribed bool
	heartbeat  time.Duration
	err        error
}

// Subscribe opens the SUBSCRIBE stream on the leading master. The first
// event Next returns is SUBSCRIBED. The stream lives until ctx is cancelled,
// Close is called, or it fails; Close must be called in every case.
func (c *Client) Subscribe(ctx context.Context) (*Stream, error) {
	body, err := json.Marshal(&master.Call{Type: master.Call_SUBSCRIBE})
	if err != nil {
		return nil, fmt.Errorf("SUBSCRIBE: encode call: %w", err)
	}
	ex, err := c.exchange(ctx, "SUBSCRIBE", body)
	if err != nil {
		return nil, err
	}
	if !ex.timer.Stop() {
		// The timeout fired between the headers and here.
		ex.release()
		return nil, fmt.Errorf("SUBSCRIBE: %s: %w", baseURL(ex.endpoint), context.Cause(ex.ctx))
	}
	if err := checkContentType(ex.resp.Header, true); err != nil {
		ex.release()
		return nil, fmt.Errorf("SUBSCRIBE: %s: %w", baseURL(ex.endpoint), err)
	}
	s := &Stream{
		ctx:    ex.ctx,
		cancel: ex.cancel,
		body:   ex.resp.Body,
		master: baseURL(ex.endpoint),
		start:  time.Now(),
	}
	s.rd = recordio.NewReader(progressReader{s}, c.maxFrame)
	return s, nil
}

// progressReader feeds the watchdog: every read that returns data counts as
// a sign of life, so a large snapshot that takes long to transfer is not
// mistaken for a dead stream.
type progressReader struct{ s *Stream }

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.s.body.Read(b)
	if n > 0 {
		p.s.lastRead.Store(int64(time.Since(p.s.start)))
	}
	return n, err
}

// Master returns the URL of the master serving the stream.
func (s *Stream) Master() string { return s.master }

// HeartbeatInterval returns the interval the master announced in SUBSCRIBED,
// 0 before SUBSCRIBED was read or if the master announced none.
func (s *Stream) HeartbeatInterval() time.Duration { return s.heartbeat }

// SetIdleTimeout makes the stream fail with *IdleTimeoutError once no data
// has arrived for d, counted from the last data received (or from now if
// none was). 0 disables the watchdog.
func (s *Stream) SetIdleTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.idle = d
	if s.watchdog != nil {
		s.watchdog.Stop()
	}
	if d <= 0 {
		return
	}
	// The new limit counts from now at the earliest, not from a read made
	// under an older, possibly longer, limit.
	s.lastRead.Store(max(s.lastRead.Load(), int64(time.Since(s.start))))
	if s.watchdog == nil {
		s.watchdog = time.AfterFunc(d, s.checkIdle)
	} else {
		s.watchdog.Reset(d)
	}
}

// checkIdle runs when the idle timeout may have expired.
func (s *Stream) checkIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.idle <= 0 {
		return
	}
	silent := time.Since(s.start) - time.Duration(s.lastRead.Load())
	if silent >= s.idle {
		s.cancel(&IdleTimeoutError{Idle: s.idle})
		return
	}
	s.watchdog.Reset(s.idle - silent)
}

// Next returns the next event. The first is SUBSCRIBED (anything else is an
// error wrapping ErrNotSubscribed). HEARTBEAT events are returned too.
//
// An event of a type this build does not know returns *UnknownEventError and
// the stream goes on. Every other error ends the stream and is returned by
// every later call: the master closed the stream (io.EOF), closed it inside a
// frame (io.ErrUnexpectedEOF), a frame over the size limit
// (*recordio.FrameTooLargeError), a malformed frame (ErrMalformedEvent), no
// data for the idle timeout (*IdleTimeoutError), or Close / ctx.
func (s *Stream) Next() (*master.Event, error) {
	if s.err != nil {
		return nil, s.err
	}
	frame, err := s.rd.ReadFrame()
	if err != nil {
		if cause := context.Cause(s.ctx); cause != nil {
			// The read failed because the stream was cancelled; say why.
			err = cause
		} else if err == io.EOF {
			err = fmt.Errorf("master closed the stream: %w", err)
		}
		return nil, s.fail(fmt.Errorf("read event from %s: %w", s.master, err))
	}
	ev, err := DecodeEvent(frame)
	if err != nil {
		var unknown *UnknownEventError
		if errors.As(err, &unknown) && s.subscribed {
			return nil, err
		}
		return nil, s.fail(fmt.Errorf("read event from %s: %w", s.master, err))
	}
	switch {
	case !s.subscribed && ev.Type != master.Event_SUBSCRIBED:
		return nil, s.fail(fmt.Errorf("%w: %s sent %s before SUBSCRIBED", ErrNotSubscribed, s.master, ev.Type))
	case s.subscribed && ev.Type == master.Event_SUBSCRIBED:
		return nil, s.fail(fmt.Errorf("%w: %s sent a second SUBSCRIBED", ErrNotSubscribed, s.master))
	case ev.Type == master.Event_SUBSCRIBED:
		s.subscribed = true
		s.heartbeat = heartbeatInterval(ev.Subscribed.HeartbeatIntervalSeconds)
	}
	return ev, nil
}

func heartbeatInterval(seconds *float64) time.Duration {
	if seconds == nil {
		return 0
	}
	sec := *seconds
	if math.IsNaN(sec) || sec <= 0 || sec > maxHeartbeatInterval.Seconds() {
		return 0
	}
	return time.Duration(sec * float64(time.Second))
}

func (s *Stream) fail(err error) error {
	s.err = err
	return err
}

// Close ends the stream and releases its connection. A Next blocked in
// another goroutine returns. Close is idempotent.
func (s *Stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.watchdog != nil {
			s.watchdog.Stop()
		}
		s.mu.Unlock()
		s.cancel(errStreamClosed)
		err = s.body.Close()
	})
	return err
}
