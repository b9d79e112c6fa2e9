package master_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
)

// fuzzRoutes are the endpoints that take a body or a path parameter.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/agents"},
	{http.MethodDelete, "/v1/agents/"},
	{http.MethodGet, "/v1/agents/"},
	{http.MethodPost, "/v1/raft/peers"},
	{http.MethodPost, "/raft/apply"},
	{http.MethodGet, "/v1/objects/"},
	{http.MethodGet, "/v1/watch?revision="},
}

// FuzzAPIBodies sends arbitrary bodies and path suffixes to a running
// single-master cluster. Whatever comes in, the master answers with a 2xx,
// a 4xx or a 503 (never another 5xx, never a crash), and what it stores
// stays valid: every agent record validates and no two agents share an
// address or subnet.
func FuzzAPIBodies(f *testing.F) {
	c := newTestCluster(f, 1, clusterOptions{})
	c.leader()
	h := c.master(0).Handler()
	f.Add(uint8(0), "", []byte(`{"ip":"198.18.32.1","hostname":"a1"}`))
	f.Add(uint8(0), "", []byte(`{"ip":"198.18.32.1","hostname":"a1","x":1}`))
	f.Add(uint8(0), "", []byte(`{"ip":"::ffff:1.2.3.4"}`))
	f.Add(uint8(0), "", []byte(`{"ip":"198.18.32.2"}{"ip":"198.18.32.3"}`))
	f.Add(uint8(1), "198.18.32.1", []byte(nil))
	f.Add(uint8(2), "fe80::1%eth0", []byte(nil))
	f.Add(uint8(3), "", []byte(`{"id":"m1","raftAddress":"127.0.0.1:1","apiAddress":"x"}`))
	f.Add(uint8(4), "", []byte{0x01, '{', '}'})
	f.Add(uint8(4), "", []byte(`{"kind":"agent","key":"198.18.32.9","value":{"agentIP":"198.18.32.9"}}`))
	f.Add(uint8(5), "agent", []byte(nil))
	f.Add(uint8(6), "18446744073709551615", []byte(nil))
	f.Fuzz(func(t *testing.T, route uint8, suffix string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		target := r.path
		if r.path[len(r.path)-1] == '/' || r.path[len(r.path)-1] == '=' {
			target += suffix
		}
		req, err := http.NewRequestWithContext(t.Context(), r.method, "http://master"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if r.path == "/v1/watch?revision=" {
			// A valid watch streams forever: end it at once.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			req = req.WithContext(ctx)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if code := rec.Code; code >= 500 && code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", r.method, target, body, code, rec.Body.Bytes())
		}
		var records []v1.AgentAllocation
		for _, o := range c.master(0).Store().List(subnetalloc.KindAgent) {
			var a v1.AgentRecord
			if err := json.Unmarshal(o.Value, &a); err != nil {
				t.Fatalf("stored agent %s does not decode: %v", o.Key, err)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("stored agent %s is invalid: %v", o.Key, err)
			}
			records = append(records, a.AgentAllocation)
		}
		if err := subnetalloc.Check(records); err != nil {
			t.Fatalf("stored agents overlap: %v", err)
		}
	})
}
