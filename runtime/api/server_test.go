package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

func newCluster(t *testing.T, size int) *raftstoretest.Cluster {
	t.Helper()
	return raftstoretest.NewCluster(t, size, raftstoretest.Options{
		Kinds: map[string]raftstore.ValidateFunc{"vip": nil, "svc": nil},
	})
}

// serve starts an API server over node's store.
func serve(t *testing.T, node *raftstoretest.Node, opts api.ServerOptions) *httptest.Server {
	t.Helper()
	opts.Store = node.Store()
	opts.Logger = zaptest.NewLogger(t)
	s, err := api.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func put(t *testing.T, c *raftstoretest.Cluster, kind, key, value string) raftstore.Object {
	t.Helper()
	res := c.Leader(t).Apply(t, raftstore.Put{Kind: kind, Key: key, Value: json.RawMessage(value)})
	return res.Objects[0]
}

func del(t *testing.T, c *raftstoretest.Cluster, kind, key string) uint64 {
	t.Helper()
	return c.Leader(t).Apply(t, raftstore.Delete{Kind: kind, Key: key}).Index
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.Write(sc.Bytes())
	}
	return resp.StatusCode, []byte(b.String())
}

// stream is a raw watch stream read line by line.
type stream struct {
	lines chan api.Event
	errs  chan error
}

func openStream(t *testing.T, url string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
	}
	s := &stream{lines: make(chan api.Event, 100), errs: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			e, err := api.DecodeEvent(sc.Bytes())
			if err != nil {
				s.errs <- err
				return
			}
			s.lines <- e
		}
	}()
	return s
}

// next returns the next line that is not a heartbeat.
func (s *stream) next(t *testing.T) api.Event {
	t.Helper()
	deadline := time.NewTimer(raftstoretest.Timeout)
	defer deadline.Stop()
	for {
		select {
		case e := <-s.lines:
			if e.Type != api.EventHeartbeat {
				return e
			}
		case err := <-s.errs:
			t.Fatal(err)
		case <-deadline.C:
			t.Fatal("no watch event before the deadline")
		}
	}
}

var sizes = []int{1, 3}

func TestListAndGet(t *testing.T) {
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%d masters", size), func(t *testing.T) {
			c := newCluster(t, size)
			a := put(t, c, "vip", "a", `{"port":80}`)
			b := put(t, c, "vip", "web/b:443", `{"port":443}`)
			s := put(t, c, "svc", "x", `{}`)
			c.WaitReplicated(t, s.ModIndex)
			for _, node := range c.Running() {
				ts := serve(t, node, api.ServerOptions{})
				code, body := get(t, ts.URL+"/v1/objects/vip", "")
				var list api.ListResponse
				if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil {
					t.Fatalf("list: %d %s %v", code, body, err)
				}
				want := api.ListResponse{Revision: node.Store().Index(), Objects: []raftstore.Object{a, b}}
				if diff := cmp.Diff(want, list); diff != "" {
					t.Errorf("%s list (-want +got):\n%s", node.Peer.ID, diff)
				}
				code, body = get(t, ts.URL+"/v1/objects/none", "")
				if code != http.StatusOK || string(body) != fmt.Sprintf(`{"revision":%d,"objects":[]}`, want.Revision) {
					t.Errorf("empty list: %d %s", code, body)
				}
				code, body = get(t, ts.URL+"/v1/objects/vip/web/b:443", "")
				var got raftstore.Object
				if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil {
					t.Fatalf("get: %d %s %v", code, body, err)
				}
				if diff := cmp.Diff(b, got); diff != "" {
					t.Errorf("get (-want +got):\n%s", diff)
				}
				if code, body := get(t, ts.URL+"/v1/objects/vip/missing", ""); code != http.StatusNotFound || !strings.Contains(string(body), `"code":"notFound"`) {
					t.Errorf("get missing: %d %s", code, body)
				}
			}
		})
	}
}

func TestWatchFromZero(t *testing.T) {
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%d masters", size), func(t *testing.T) {
			c := newCluster(t, size)
			a := put(t, c, "vip", "a", `1`)
			c.WaitReplicated(t, a.ModIndex)
			// The last node is a follower in a 3-master cluster.
			node := c.Running()[size-1]
			ts := serve(t, node, api.ServerOptions{})
			s := openStream(t, ts.URL+"/v1/watch?revision=0")
			reset := s.next(t)
			want := api.Event{Type: api.EventReset, Revision: reset.Revision, Objects: []raftstore.Object{a}}
			if diff := cmp.Diff(want, reset); diff != "" || reset.Revision < a.ModIndex {
				t.Fatalf("reset (-want +got):\n%s", diff)
			}

			a2 := put(t, c, "vip", "a", `2`)
			b := put(t, c, "svc", "b", `3`)
			di := del(t, c, "vip", "a")
			wantEvents := []api.Event{
				{Type: api.EventPut, Revision: a2.ModIndex, Object: &a2, Prev: &a},
				{Type: api.EventPut, Revision: b.ModIndex, Object: &b},
				{Type: api.EventDelete, Revision: di, Object: &raftstore.Object{Kind: "vip", Key: "a", ModIndex: di}, Prev: &a2},
			}
			var got []api.Event
			for range wantEvents {
				got = append(got, s.next(t))
			}
			if diff := cmp.Diff(wantEvents, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}

			// A kind filter applies to the reset and to the deltas.
			ks := openStream(t, ts.URL+"/v1/watch?kind=svc")
			if diff := cmp.Diff([]raftstore.Object{b}, ks.next(t).Objects); diff != "" {
				t.Errorf("kind reset (-want +got):\n%s", diff)
			}
			put(t, c, "vip", "c", `4`)
			d := put(t, c, "svc", "d", `5`)
			if diff := cmp.Diff(api.Event{Type: api.EventPut, Revision: d.ModIndex, Object: &d}, ks.next(t)); diff != "" {
				t.Errorf("kind event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchFromRevision(t *testing.T) {
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%d masters", size), func(t *testing.T) {
			c := newCluster(t, size)
			put(t, c, "vip", "a", `1`)
			b := put(t, c, "vip", "b", `2`)
			cObj := put(t, c, "vip", "c", `3`)
			c.WaitReplicated(t, cObj.ModIndex)
			ts := serve(t, c.Running()[size-1], api.ServerOptions{})
			s := openStream(t, fmt.Sprintf("%s/v1/watch?revision=%d", ts.URL, b.ModIndex))
			if diff := cmp.Diff(api.Event{Type: api.EventPut, Revision: cObj.ModIndex, Object: &cObj}, s.next(t)); diff != "" {
				t.Errorf("first event (-want +got):\n%s", diff)
			}
			d := put(t, c, "vip", "d", `4`)
			if diff := cmp.Diff(api.Event{Type: api.EventPut, Revision: d.ModIndex, Object: &d}, s.next(t)); diff != "" {
				t.Errorf("second event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchAheadOfMasterAnswers503(t *testing.T) {
	c := newCluster(t, 1)
	ts := serve(t, c.Running()[0], api.ServerOptions{CatchUpTimeout: 50 * time.Millisecond})
	code, body := get(t, ts.URL+"/v1/watch?revision=1000000", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"behind"`) {
		t.Errorf("watch ahead: %d %s", code, body)
	}
}

func TestAuth(t *testing.T) {
	c := newCluster(t, 1)
	node := c.Running()[0]
	a := put(t, c, "vip", "a", `1`)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := serve(t, node, api.ServerOptions{TokenFile: tokenFile})
	before := node.Store().Index()
	for _, path := range []string{"/v1/objects/vip", "/v1/objects/vip/a", "/v1/watch?revision=0", "/v1/nope"} {
		for _, token := range []string{"", "wrong", "s3cret2", "S3CRET"} {
			code, body := get(t, ts.URL+path, token)
			if code != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
				t.Errorf("GET %s with token %q: %d %s", path, token, code, body)
			}
		}
	}
	if code, body := get(t, ts.URL+"/v1/objects/vip/a", "s3cret"); code != http.StatusOK || !strings.Contains(string(body), `"key":"a"`) {
		t.Errorf("GET with the token: %d %s", code, body)
	}
	if got := node.Store().Index(); got != before {
		t.Errorf("index changed from %d to %d", before, got)
	}
	if got, _ := node.Store().Get("vip", "a"); !cmp.Equal(a, got) {
		t.Errorf("object changed: %+v", got)
	}

	client, err := api.NewClient(api.ClientOptions{URLs: []string{ts.URL}, Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	err = client.Watch(t.Context(), 0, func(api.Event) error { return errors.New("called") })
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("client with a wrong token: %v", err)
	}

	if _, err := api.NewServer(api.ServerOptions{Store: node.Store(), TokenFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("NewServer with a missing token file succeeded")
	}
}

func TestBadQuery(t *testing.T) {
	c := newCluster(t, 1)
	ts := serve(t, c.Running()[0], api.ServerOptions{})
	for _, tc := range []struct{ query, param string }{
		{"revision=abc", "revision"},
		{"revision=-1", "revision"},
		{"revision=", "revision"},
		{"revision=1&revision=2", "revision"},
		{"revision=18446744073709551616", "revision"},
		{"kind=", "kind"},
		{"revision=1&from=2", "from"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := get(t, ts.URL+"/v1/watch?"+tc.query, "")
			if code != http.StatusBadRequest || !strings.Contains(string(body), "parameter "+tc.param) {
				t.Errorf("%d %s, want 400 naming %s", code, body, tc.param)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	c := newCluster(t, 1)
	put(t, c, "vip", "a", `1`)
	ts := serve(t, c.Running()[0], api.ServerOptions{HeartbeatInterval: 10 * time.Millisecond})
	s := openStream(t, ts.URL+"/v1/watch")
	reset := s.next(t)
	for range 3 {
		select {
		case e := <-s.lines:
			if diff := cmp.Diff(api.Event{Type: api.EventHeartbeat, Revision: reset.Revision}, e); diff != "" {
				t.Fatalf("heartbeat (-want +got):\n%s", diff)
			}
		case err := <-s.errs:
			t.Fatal(err)
		case <-time.After(raftstoretest.Timeout):
			t.Fatal("no heartbeat")
		}
	}
	// After a delta, heartbeats cover it.
	b := put(t, c, "vip", "b", `2`)
	if e := s.next(t); e.Revision != b.ModIndex {
		t.Fatalf("event %+v, want revision %d", e, b.ModIndex)
	}
	select {
	case e := <-s.lines:
		if diff := cmp.Diff(api.Event{Type: api.EventHeartbeat, Revision: b.ModIndex}, e); diff != "" {
			t.Fatalf("heartbeat after a delta (-want +got):\n%s", diff)
		}
	case err := <-s.errs:
		t.Fatal(err)
	case <-time.After(raftstoretest.Timeout):
		t.Fatal("no heartbeat after the delta")
	}
}

func TestWatchEndsWhenClientGoesAway(t *testing.T) {
	c := newCluster(t, 1)
	s, err := api.NewServer(api.ServerOptions{Store: c.Running()[0].Store()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/watch", nil)
	done := make(chan struct{})
	rec := httptest.NewRecorder()
	go func() {
		s.ServeHTTP(rec, req)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(raftstoretest.Timeout):
		t.Fatal("watch handler did not return after the client went away")
	}
}
