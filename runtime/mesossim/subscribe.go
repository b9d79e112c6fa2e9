package mesossim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap"
)

// subscriber is one SUBSCRIBE stream. Events are queued in frames by
// publishers; the stream's handler goroutine writes them out. A subscriber
// whose queue is full is dropped (gone closed) and its connection's write
// deadline set to now, so that a handler blocked on a slow client unblocks:
// the simulator never waits for a subscriber.
type subscriber struct {
	format string // message media type
	remote string
	frames chan []byte
	gone   chan struct{}
	rc     *http.ResponseController
}

// dropLocked disconnects sub. s.mu must be held.
func (s *Server) dropLocked(sub *subscriber) {
	if _, ok := s.subs[sub]; !ok {
		return
	}
	delete(s.subs, sub)
	close(sub.gone)
	// Abort a write blocked on a client that stopped reading.
	_ = sub.rc.SetWriteDeadline(time.Now())
}

func (s *Server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.gone)
	}
}

// serveSubscribe streams SUBSCRIBED, an immediate HEARTBEAT, then every event
// as it is published and a HEARTBEAT every heartbeat interval, RecordIO
// framed, with a flush after every record.
func (s *Server) serveSubscribe(w http.ResponseWriter, r *http.Request, contentType, format string) {
	interval := s.opts.HeartbeatInterval
	seconds := interval.Seconds()
	sub := &subscriber{
		format: format,
		remote: r.RemoteAddr,
		frames: make(chan []byte, s.opts.SubscriberBuffer),
		gone:   make(chan struct{}),
		rc:     http.NewResponseController(w),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		textError(w, http.StatusServiceUnavailable, "Master is shutting down")
		return
	}
	// Snapshot and registration happen under the same lock as publishing,
	// so the stream sees every event after its snapshot exactly once.
	subscribed, err := encode(&master.Event{
		Type: master.Event_SUBSCRIBED,
		Subscribed: &master.Event_Subscribed{
			GetState:                 s.c.state(),
			HeartbeatIntervalSeconds: &seconds,
		},
	}, format)
	if err == nil {
		s.subs[sub] = struct{}{}
	}
	n := len(s.subs)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("Failed to encode SUBSCRIBED", zap.Error(err))
		textError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer s.unsubscribe(sub)
	log := s.log.With(zap.String("remote", sub.remote), zap.String("format", format))
	log.Info("Subscribed", zap.Int("subscribers", n), zap.Int("snapshotBytes", len(subscribed)))

	h := w.Header()
	h.Set("Content-Type", contentType)
	if contentType == mediaRecordIO {
		h.Set("Message-Content-Type", format)
	}
	w.WriteHeader(http.StatusOK)
	rw := newRecordWriter(w)
	heartbeat := s.heartbeats[format]
	if err := rw.WriteRecord(subscribed); err != nil {
		log.Info("Subscriber disconnected", zap.Error(err))
		return
	}
	if err := rw.WriteRecord(heartbeat); err != nil {
		log.Info("Subscriber disconnected", zap.Error(err))
		return
	}
	s.firstOnce.Do(func() { close(s.firstSub) })

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		var frame []byte
		select {
		case frame = <-sub.frames:
		case <-ticker.C:
			frame = heartbeat
		case <-sub.gone:
			log.Info("Closed subscriber stream")
			return
		case <-r.Context().Done():
			log.Info("Subscriber disconnected")
			return
		}
		if err := rw.WriteRecord(frame); err != nil {
			log.Info("Subscriber disconnected", zap.Error(err))
			return
		}
	}
}

// publishLocked applies ev to the cluster and queues it for every
// subscriber, dropping those whose queue is full. s.mu must be held.
func (s *Server) publishLocked(ev *master.Event) error {
	if !s.c.apply(ev, s.now()) {
		s.log.Debug("Published event for an unknown object", zap.Stringer("event", ev.GetType()))
	}
	frames := map[string][]byte{}
	for sub := range s.subs {
		frame, ok := frames[sub.format]
		if !ok {
			var err error
			if frame, err = encode(ev, sub.format); err != nil {
				return fmt.Errorf("publish %s: %w", ev.GetType(), err)
			}
			frames[sub.format] = frame
		}
		select {
		case sub.frames <- frame:
		default:
			s.log.Warn("Dropped slow subscriber", zap.String("remote", sub.remote),
				zap.Int("queuedEvents", len(sub.frames)))
			s.dropLocked(sub)
		}
	}
	return nil
}

// Publish applies an operator API event to the simulated cluster and sends
// it to every subscriber. It is the raw form of the control API: the event
// is taken as is (TASK_UPDATED should carry framework_id, status and state
// like the real ones).
func (s *Server) Publish(ev *master.Event) error {
	if err := checkEvent(ev); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if ev.GetType() == master.Event_SUBSCRIBED {
		return fmt.Errorf("publish: SUBSCRIBED is sent by the master to each new subscriber, not published")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishLocked(ev)
}
