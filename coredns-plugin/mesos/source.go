package mesos

import (
	"context"
	"sync"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// Source is the backend seam of the plugin: something that keeps a Mesos
// state model up to date and announces each published snapshot. The plugin
// turns every notification into a new zone; it never calls the Source on the
// query path.
//
// The standalone implementation (NewOperatorSource) follows the leading Mesos
// master's operator API itself; a Source over the mesosnet cluster API watch
// is the other one a deployment can pick.
type Source interface {
	// Run keeps the state up to date until ctx is done, reconnecting by
	// itself, and then returns. An error other than ctx's means the
	// source cannot work at all.
	Run(ctx context.Context) error
	// Subscribe returns the notifications of the state model, the first
	// one a Reset if a snapshot has been published already, and a
	// function that ends the subscription (closing the channel).
	Subscribe() (<-chan state.Notification, func())
	// Status reports the connection to the source of truth. It is cheap
	// and safe to call concurrently with Run.
	Status() SourceStatus
}

// SourceStatus is the connection state of a Source.
type SourceStatus struct {
	// Connected is true while the source follows a live stream.
	Connected bool
	// Since is when Connected last changed; zero before the first
	// connection.
	Since time.Time
	// Upstream names what the source follows (the leading Mesos master's
	// URL); empty when unknown.
	Upstream string
}

// OperatorSource is the standalone Source: a reconnecting SUBSCRIBE stream to
// the leading Mesos master (runtime/mesos) feeding a state.Store.
type OperatorSource struct {
	store  *state.Store
	stream *mesos.Source
	now    func() time.Time

	mu     sync.Mutex
	status SourceStatus
}

// NewOperatorSource returns a Source following the masters of cfg. It fails
// on a configuration the Mesos client rejects (masters, credentials, TLS
// files), naming the culprit.
func NewOperatorSource(cfg mesos.Config, log *zap.Logger) (*OperatorSource, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg.Logger = log
	client, err := mesos.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s := &OperatorSource{
		store: state.New(state.Options{Logger: log}),
		now:   time.Now,
	}
	// Metrics of the stream and store stay unregistered: the plugin exports
	// its own (coredns_mesos_*), and a Corefile reload runs two instances
	// side by side, which a second registration would refuse.
	s.stream = mesos.NewSource(client, s, mesos.SourceOptions{Logger: log})
	return s, nil
}

// Run implements Source.
func (s *OperatorSource) Run(ctx context.Context) error {
	err := s.stream.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Subscribe implements Source.
func (s *OperatorSource) Subscribe() (<-chan state.Notification, func()) {
	sub := s.store.Subscribe()
	return sub.C(), func() { s.store.Unsubscribe(sub) }
}

// Status implements Source.
func (s *OperatorSource) Status() SourceStatus {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.Upstream = s.stream.Leader()
	return st
}

// setConnected records a connection change.
func (s *OperatorSource) setConnected(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.Connected != up || s.status.Since.IsZero() {
		s.status.Connected = up
		s.status.Since = s.now()
	}
}

// Subscribed implements mesos.Sink.
func (s *OperatorSource) Subscribed(ev *master.Event_Subscribed, leader *mesosv1.MasterInfo) error {
	if err := s.store.Subscribed(ev, leader); err != nil {
		return err
	}
	s.setConnected(true)
	return nil
}

// Apply implements mesos.Sink.
func (s *OperatorSource) Apply(ev *master.Event) error { return s.store.Apply(ev) }

// Disconnected implements mesos.Sink.
func (s *OperatorSource) Disconnected(err error) {
	s.store.Disconnected(err)
	s.setConnected(false)
}
