package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

func noBackoff(int) time.Duration { return time.Millisecond }

// collector records what a client's Watch delivers.
type collector struct {
	mu     sync.Mutex
	events []api.Event
}

func (c *collector) add(e api.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

func (c *collector) snapshot() []api.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]api.Event(nil), c.events...)
}

func (c *collector) waitRevision(t *testing.T, rev uint64) {
	t.Helper()
	raftstoretest.WaitFor(t, fmt.Sprintf("client event at revision %d", rev), func() bool {
		ev := c.snapshot()
		return len(ev) > 0 && ev[len(ev)-1].Revision >= rev
	})
}

func TestClientReconnectsToAnotherMaster(t *testing.T) {
	c := newCluster(t, 3)
	first := put(t, c, "vip", "k0", `0`)
	c.WaitReplicated(t, first.ModIndex)
	var urls []string
	var servers []*httptest.Server
	var mu sync.Mutex
	var queries []string // of the second master
	for i, node := range c.Running() {
		s, err := api.NewServer(api.ServerOptions{Store: node.Store(), HeartbeatInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 1 {
				mu.Lock()
				queries = append(queries, r.URL.RawQuery)
				mu.Unlock()
			}
			s.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		servers = append(servers, ts)
		urls = append(urls, ts.URL)
	}
	client, err := api.NewClient(api.ClientOptions{URLs: urls, Backoff: noBackoff, IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got collector
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Watch(ctx, 0, got.add) }()

	var want []uint64
	write := func(n int) {
		for i := range n {
			want = append(want, put(t, c, "vip", fmt.Sprintf("k%d", i%5), fmt.Sprint(i)).ModIndex)
		}
	}
	write(10)
	got.waitRevision(t, want[len(want)-1])
	// The first master goes away mid-stream while writes continue.
	go func() {
		servers[0].CloseClientConnections()
		servers[0].Close()
	}()
	write(20)
	got.waitRevision(t, want[len(want)-1])
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v, want context.Canceled", err)
	}

	events := got.snapshot()
	if events[0].Type != api.EventReset || events[0].Revision < first.ModIndex {
		t.Fatalf("first event %+v, want a reset at or after %d", events[0], first.ModIndex)
	}
	var revs []uint64
	for i, e := range events[1:] {
		if e.Type != api.EventPut {
			t.Fatalf("event %d: %+v, want a put", i+1, e)
		}
		revs = append(revs, e.Revision)
	}
	var wantRevs []uint64
	for _, r := range want {
		if r > events[0].Revision {
			wantRevs = append(wantRevs, r)
		}
	}
	if diff := cmp.Diff(wantRevs, revs); diff != "" {
		t.Errorf("delta revisions (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) == 0 || queries[0] == "revision=0" {
		t.Errorf("second master's watch queries %q, want a resumption", queries)
	}
}

// TestClientResumesInsideABatch breaks a stream in the middle of the events
// of one raft entry: the client resumes from the revision before and skips
// what it delivered.
func TestClientResumesInsideABatch(t *testing.T) {
	obj := func(key string, rev uint64) *raftstore.Object {
		return &raftstore.Object{Kind: "vip", Key: key, Value: json.RawMessage(`1`), CreateIndex: rev, ModIndex: rev}
	}
	line := func(e api.Event) string {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	reset := api.Event{Type: api.EventReset, Revision: 5, Objects: []raftstore.Object{}}
	batch := []api.Event{
		{Type: api.EventPut, Revision: 6, Object: obj("a", 6)},
		{Type: api.EventPut, Revision: 6, Object: obj("b", 6)},
		{Type: api.EventPut, Revision: 6, Object: obj("c", 6)},
	}
	last := api.Event{Type: api.EventPut, Revision: 7, Object: obj("d", 7)}
	var mu sync.Mutex
	var queries []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-ndjson")
		switch n {
		case 1: // breaks after two of the three ops of entry 6
			fmt.Fprint(w, line(reset)+line(batch[0])+line(batch[1]))
		case 2:
			fmt.Fprint(w, line(batch[0])+line(batch[1])+line(batch[2])+line(last))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.Error(w, "unexpected", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(ts.Close)
	client, err := api.NewClient(api.ClientOptions{URLs: []string{ts.URL}, Backoff: noBackoff})
	if err != nil {
		t.Fatal(err)
	}
	var got collector
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Watch(ctx, 0, got.add) }()
	got.waitRevision(t, 7)
	cancel()
	<-done
	want := append(append([]api.Event{reset}, batch...), last)
	if diff := cmp.Diff(want, got.snapshot()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"revision=0", "revision=5"}, queries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestClientStopsOnConsumerError(t *testing.T) {
	c := newCluster(t, 1)
	ts := serve(t, c.Running()[0], api.ServerOptions{})
	client, err := api.NewClient(api.ClientOptions{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := client.Watch(t.Context(), 0, func(api.Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Watch = %v, want the consumer's error", err)
	}
}

func TestClientReconnectsSilentStream(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"type":"reset","revision":3,"objects":[]}`)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then silence
	}))
	t.Cleanup(ts.Close)
	client, err := api.NewClient(api.ClientOptions{URLs: []string{ts.URL}, Backoff: noBackoff, IdleTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Watch(ctx, 0, func(api.Event) error { return nil }) }()
	raftstoretest.WaitFor(t, "a reconnection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls >= 2
	})
	cancel()
	<-done
}
