package mesos

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

func TestSubscribeContentTypes(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		messageType string
		wantErr     string
	}{
		{name: "json", contentType: "application/json"},
		{name: "json with charset", contentType: "application/json; charset=utf-8"},
		{name: "recordio of json", contentType: "application/recordio", messageType: "application/json"},
		{name: "recordio of protobuf", contentType: "application/recordio", messageType: "application/x-protobuf",
			wantErr: `stream of "application/x-protobuf" messages`},
		{name: "html", contentType: "text/html", wantErr: `unexpected Content-Type "text/html"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				w.Header().Set("Content-Type", tc.contentType)
				if tc.messageType != "" {
					w.Header().Set("Message-Content-Type", tc.messageType)
				}
				writeFrames(w, subscribedJSON(2.5), heartbeatJSON)
				<-r.Context().Done()
			})
			c := newTestClient(t, Config{}, m)
			st, err := c.Subscribe(t.Context())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Subscribe error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			defer st.Close()
			var got []string
			for range 2 {
				ev, err := st.Next()
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				got = append(got, ev.Type.String())
			}
			if diff := cmp.Diff([]string{"SUBSCRIBED", "HEARTBEAT"}, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := st.HeartbeatInterval(); got != 2500*time.Millisecond {
				t.Errorf("HeartbeatInterval() = %s, want 2.5s", got)
			}
			if got := st.Master(); got != m.URL() {
				t.Errorf("Master() = %q, want %q", got, m.URL())
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name   string
		frames []string
		raw    string // written after the frames
		// events are the types read before the error.
		events  []string
		check   func(error) bool
		wantMsg string
	}{
		{name: "heartbeat before SUBSCRIBED", frames: []string{heartbeatJSON},
			check: func(err error) bool { return errors.Is(err, ErrNotSubscribed) }, wantMsg: "sent HEARTBEAT before SUBSCRIBED"},
		{name: "unknown event before SUBSCRIBED", frames: []string{`{"type":"AGENT_UPDATED"}`},
			check: func(err error) bool { return errors.As(err, new(*UnknownEventError)) }, wantMsg: "AGENT_UPDATED"},
		{name: "second SUBSCRIBED", frames: []string{subscribedJSON(1), subscribedJSON(1)}, events: []string{"SUBSCRIBED"},
			check: func(err error) bool { return errors.Is(err, ErrNotSubscribed) }, wantMsg: "second SUBSCRIBED"},
		{name: "garbage JSON", frames: []string{subscribedJSON(1), "hello"}, events: []string{"SUBSCRIBED"},
			check: func(err error) bool { return errors.Is(err, ErrMalformedEvent) }, wantMsg: `starting "hello"`},
		{name: "garbage framing", frames: []string{subscribedJSON(1)}, raw: "HTTP/1.1 200 OK\r\n", events: []string{"SUBSCRIBED"},
			check: func(err error) bool { return errors.Is(err, recordio.ErrInvalidHeader) }, wantMsg: "not a decimal digit"},
		{name: "closed between frames", frames: []string{subscribedJSON(1), heartbeatJSON}, events: []string{"SUBSCRIBED", "HEARTBEAT"},
			check: func(err error) bool { return errors.Is(err, io.EOF) }, wantMsg: "master closed the stream"},
		{name: "closed inside a frame", frames: []string{subscribedJSON(1)}, raw: "100\n{\"type\"", events: []string{"SUBSCRIBED"},
			check: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, wantMsg: "93 bytes missing"},
		{name: "frame over the limit", frames: []string{subscribedJSON(1), taskAddedJSON(strings.Repeat("t", 4096))}, events: []string{"SUBSCRIBED"},
			check: func(err error) bool { return errors.As(err, new(*recordio.FrameTooLargeError)) }, wantMsg: "exceeds the limit of 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				writeFrames(w, tc.frames...)
				if tc.raw != "" {
					writeRaw(w, tc.raw)
				}
				// Returning ends the response: a clean end of the stream.
			})
			c := newTestClient(t, Config{MaxFrame: 4096}, m)
			st, err := c.Subscribe(t.Context())
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			defer st.Close()
			var got []string
			for {
				ev, err := st.Next()
				if err != nil {
					if !tc.check(err) || !strings.Contains(err.Error(), tc.wantMsg) {
						t.Errorf("Next error %v, want the %s error containing %q", err, tc.name, tc.wantMsg)
					}
					if _, again := st.Next(); again != err {
						t.Errorf("Next after %v returned %v, want the same error", err, again)
					}
					break
				}
				got = append(got, ev.Type.String())
			}
			if diff := cmp.Diff(tc.events, got); diff != "" {
				t.Errorf("events before the error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamSkipsUnknownEvents(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeFrames(w, subscribedJSON(1), `{"type":"OPERATION_UPDATED","operation_updated":{}}`, heartbeatJSON)
	})
	c := newTestClient(t, Config{}, m)
	st, err := c.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []string
	for {
		ev, err := st.Next()
		var unknown *UnknownEventError
		switch {
		case errors.As(err, &unknown):
			got = append(got, "unknown "+unknown.Type)
			continue
		case err != nil:
			got = append(got, "end")
		default:
			got = append(got, ev.Type.String())
			continue
		}
		break
	}
	if diff := cmp.Diff([]string{"SUBSCRIBED", "unknown OPERATION_UPDATED", "HEARTBEAT", "end"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeFrames(w, subscribedJSON(0.01))
		<-r.Context().Done() // then silence
	})
	c := newTestClient(t, Config{}, m)
	st, err := c.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	st.SetIdleTimeout(30 * time.Millisecond)
	start := time.Now()
	_, err = st.Next()
	var idle *IdleTimeoutError
	if !errors.As(err, &idle) || idle.Idle != 30*time.Millisecond {
		t.Fatalf("Next error %v, want an *IdleTimeoutError of 30ms", err)
	}
	if !strings.Contains(err.Error(), "stream dead") {
		t.Errorf("error %q does not say the stream is dead", err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("idle timeout fired after %s, before 30ms of silence", waited)
	}
}

func TestStreamCloseUnblocksNext(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeFrames(w, subscribedJSON(15))
		<-r.Context().Done()
	})
	c := newTestClient(t, Config{}, m)
	st, err := c.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := st.Next()
		done <- err
	}()
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stream closed") {
			t.Errorf("Next after Close returned %v, want a stream closed error", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Next did not return after Close")
	}
}

func TestSubscribeHeaderTimeout(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		<-r.Context().Done()
	})
	c := newTestClient(t, Config{Timeout: 40 * time.Millisecond}, m)
	_, err := c.Subscribe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no answer within 40ms") {
		t.Fatalf("Subscribe error %v, want a 40ms timeout", err)
	}
}

// TestStreamOutlivesTimeout checks that the call timeout bounds only the
// wait for the stream's headers, not the stream: a silent stream ends with
// the (longer) idle timeout, not with the call timeout.
func TestStreamOutlivesTimeout(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeFrames(w, subscribedJSON(15))
		<-r.Context().Done()
	})
	c := newTestClient(t, Config{Timeout: 20 * time.Millisecond}, m)
	st, err := c.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	st.SetIdleTimeout(200 * time.Millisecond)
	_, err = st.Next()
	var idle *IdleTimeoutError
	if !errors.As(err, &idle) {
		t.Fatalf("silent stream ended with %v, want the 200ms idle timeout", err)
	}
}

func TestHeartbeatInterval(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		in   *float64
		want time.Duration
	}{
		{nil, 0},
		{f(15), 15 * time.Second},
		{f(0.05), 50 * time.Millisecond},
		{f(0), 0},
		{f(-1), 0},
		{f(math.NaN()), 0},
		{f(math.Inf(1)), 0},
		{f(1e300), 0},
	}
	for _, tc := range tests {
		if got := heartbeatInterval(tc.in); got != tc.want {
			t.Errorf("heartbeatInterval(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
