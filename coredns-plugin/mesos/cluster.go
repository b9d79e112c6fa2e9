package mesos

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/immutable"
	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
)

// VIPSource is the backend seam of the l4lb zone: something that follows
// the named VIP allocations of the cluster. The plugin rebuilds the zone
// after each signal on Updates from VIPs; it never calls the source on the
// query path.
type VIPSource interface {
	// Run follows the allocations until ctx is done, reconnecting by
	// itself, and then returns.
	Run(ctx context.Context) error
	// Updates receives a value after the set changed; signals coalesce
	// (the channel holds one).
	Updates() <-chan struct{}
	// VIPs returns the current set sorted by name, and false before the
	// first full state arrived.
	VIPs() ([]v1.VIPAllocation, bool)
	// Status reports the connection to the cluster API.
	Status() SourceStatus
}

// ClusterSource is the VIPSource over the mesosnet cluster API: it watches
// the objects of kind vipalloc.KindVIP from revision 0 (a reset first, then
// puts and deletes; api.Client resumes a broken stream on the next master)
// and keeps them in a persistent sorted map, so that VIPs copies nothing
// but the slice it returns.
type ClusterSource struct {
	client *api.Client
	log    *zap.Logger
	now    func() time.Time
	// retry is the wait after the masters rejected the watch.
	retry   time.Duration
	updates chan struct{}

	mu     sync.Mutex
	vips   *immutable.SortedMap[string, v1.VIPAllocation]
	rev    uint64
	synced bool
	status SourceStatus
	// streams counts the open watch streams (one, or two briefly while
	// the client switches masters).
	streams atomic.Int32
}

// ClusterConfig configures NewClusterSource.
type ClusterConfig struct {
	// URLs are the masters' cluster API base URLs.
	URLs []string
	// Token is the bearer token, empty for none.
	Token string
	// Transport is the HTTP transport (TLS settings); nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// IdleTimeout is api.ClientOptions.IdleTimeout, 0 for its default.
	IdleTimeout time.Duration
}

// NewClusterSource returns a source following the masters of cfg.
func NewClusterSource(cfg ClusterConfig, log *zap.Logger) (*ClusterSource, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &ClusterSource{
		log:     log.Named("cluster"),
		now:     time.Now,
		retry:   10 * time.Second,
		updates: make(chan struct{}, 1),
		vips:    immutable.NewSortedMap[string, v1.VIPAllocation](nil),
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	client, err := api.NewClient(api.ClientOptions{
		URLs:        cfg.URLs,
		Token:       cfg.Token,
		HTTPClient:  &http.Client{Transport: &streamTransport{base: base, s: s}},
		IdleTimeout: cfg.IdleTimeout,
	})
	if err != nil {
		return nil, err
	}
	s.client = client
	return s, nil
}

// Run implements VIPSource. A master that rejects the watch for good (a
// wrong token: 401) is logged and retried after a pause, so that fixing
// the masters heals the plugin without a reload.
func (s *ClusterSource) Run(ctx context.Context) error {
	for {
		s.mu.Lock()
		rev := s.rev
		s.mu.Unlock()
		err := s.client.WatchKind(ctx, rev, vipalloc.KindVIP, s.apply)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Error("Stopped watching the cluster API; retrying", zap.Error(err), zap.Duration("retryIn", s.retry))
		t := time.NewTimer(s.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// apply records one watch event. An allocation that does not decode is
// skipped with an error log: the masters validate them, so it can only
// come from a newer, incompatible writer.
func (s *ClusterSource) apply(e api.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Type {
	case api.EventReset:
		b := immutable.NewSortedMapBuilder[string, v1.VIPAllocation](nil)
		for _, o := range e.Objects {
			if v, ok := s.decode(o.Key, o.Value); ok {
				b.Set(o.Key, v)
			}
		}
		s.vips = b.Map()
		if !s.synced {
			s.log.Info("Loaded the VIP allocations", zap.Int("vips", s.vips.Len()), zap.Uint64("revision", e.Revision))
		}
		s.synced = true
	case api.EventPut:
		if v, ok := s.decode(e.Object.Key, e.Object.Value); ok {
			s.vips = s.vips.Set(e.Object.Key, v)
		} else {
			s.vips = s.vips.Delete(e.Object.Key)
		}
	case api.EventDelete:
		s.vips = s.vips.Delete(e.Object.Key)
	}
	s.rev = e.Revision
	select {
	case s.updates <- struct{}{}:
	default:
	}
	return nil
}

// decode decodes the value of a VIP allocation; the caller holds s.mu.
func (s *ClusterSource) decode(key string, value json.RawMessage) (v1.VIPAllocation, bool) {
	var v v1.VIPAllocation
	if err := json.Unmarshal(value, &v); err != nil {
		s.log.Error("Skipped an undecodable VIP allocation", zap.String("key", key), zap.Error(err))
		return v, false
	}
	if v.Name != key {
		s.log.Error("Skipped a VIP allocation stored under another name", zap.String("key", key), zap.String("name", v.Name))
		return v, false
	}
	return v, true
}

// Updates implements VIPSource.
func (s *ClusterSource) Updates() <-chan struct{} { return s.updates }

// VIPs implements VIPSource.
func (s *ClusterSource) VIPs() ([]v1.VIPAllocation, bool) {
	s.mu.Lock()
	m, synced := s.vips, s.synced
	s.mu.Unlock()
	if !synced {
		return nil, false
	}
	out := make([]v1.VIPAllocation, 0, m.Len())
	for itr := m.Iterator(); !itr.Done(); {
		_, v, _ := itr.Next()
		out = append(out, v)
	}
	return out, true
}

// Status implements VIPSource: connected while a watch stream is open.
func (s *ClusterSource) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// streamOpened and streamClosed track the watch streams.
func (s *ClusterSource) streamOpened(upstream string) {
	s.streams.Add(1)
	s.setConnected(true, upstream)
}

func (s *ClusterSource) streamClosed() {
	if s.streams.Add(-1) == 0 {
		s.setConnected(false, "")
	}
}

func (s *ClusterSource) setConnected(up bool, upstream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.Connected != up || s.status.Since.IsZero() {
		s.status.Connected = up
		s.status.Since = s.now()
	}
	if up {
		s.status.Upstream = upstream
	}
}

// streamTransport reports the watch streams the client opens and closes:
// api.Client handles reconnection itself and delivers no connection
// events, so the plugin learns of them from the HTTP layer. A stream the
// client finds silent for its idle timeout is cancelled, which closes it.
type streamTransport struct {
	base http.RoundTripper
	s    *ClusterSource
}

func (t *streamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(r.URL.Path, "/v1/watch") {
		return resp, err
	}
	t.s.streamOpened(r.URL.Scheme + "://" + r.URL.Host)
	resp.Body = &streamBody{ReadCloser: resp.Body, closed: t.s.streamClosed}
	return resp, nil
}

// streamBody calls closed once when the stream ends: on Close or on a read
// error.
type streamBody struct {
	io.ReadCloser
	once   sync.Once
	closed func()
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.closed)
	}
	return n, err
}

func (b *streamBody) Close() error {
	b.once.Do(b.closed)
	return b.ReadCloser.Close()
}
