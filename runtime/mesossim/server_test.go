package mesossim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

const (
	jsonType  = mesossimtest.JSON
	protoType = mesossimtest.Protobuf
)

func loadScenario(t *testing.T, rel string) *mesossim.Scenario {
	t.Helper()
	sc, err := mesossim.ParseScenario(rel, fixtures.Read(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// post sends body to url with the given headers ("" values are not set).
func post(t *testing.T, method, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// callAPI sends a call and decodes the response.
func callAPI(t *testing.T, baseURL string, call *master.Call, contentType, accept string) *master.Response {
	t.Helper()
	var body []byte
	var err error
	if contentType == protoType {
		body, err = call.Marshal()
	} else {
		body, err = json.Marshal(call)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, b := post(t, http.MethodPost, baseURL+"/api/v1", body, map[string]string{"Content-Type": contentType, "Accept": accept})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", call.Type, resp.StatusCode, b)
	}
	wantType := accept
	if accept == "" || accept == "*/*" {
		wantType = jsonType
	}
	if got := resp.Header.Get("Content-Type"); got != wantType {
		t.Errorf("%s: Content-Type %q, want %q", call.Type, got, wantType)
	}
	if resp.ContentLength != int64(len(b)) {
		t.Errorf("%s: Content-Length %d for a %d-byte body", call.Type, resp.ContentLength, len(b))
	}
	var r master.Response
	if wantType == protoType {
		err = r.Unmarshal(b)
	} else {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		t.Fatalf("%s: decode response: %v\n%s", call.Type, err, b)
	}
	return &r
}

func TestAPIErrors(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{})
	garbage := []byte{0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name, method string
		body         []byte
		headers      map[string]string
		code         int
		want         string
	}{
		{"GET", http.MethodGet, nil, nil, 405, "Expecting one of { 'POST' }, but received 'GET'"},
		{"no content type", http.MethodPost, []byte(`{"type":"GET_STATE"}`), nil, 400, "Expecting 'Content-Type' to be present"},
		{"text content type", http.MethodPost, []byte(`{"type":"GET_STATE"}`), map[string]string{"Content-Type": "text/plain"}, 415,
			"Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{"bad JSON", http.MethodPost, []byte(`{"type":`), map[string]string{"Content-Type": jsonType}, 400, "Failed to parse body into JSON: "},
		{"JSON array", http.MethodPost, []byte(`[1]`), map[string]string{"Content-Type": jsonType}, 400, "Failed to convert JSON into Call protobuf: "},
		{"unknown type", http.MethodPost, []byte(`{"type":"NOPE"}`), map[string]string{"Content-Type": jsonType}, 400,
			`Failed to convert JSON into Call protobuf: unrecognized enum Call_Type value "NOPE"`},
		{"missing type", http.MethodPost, []byte(`{}`), map[string]string{"Content-Type": jsonType}, 400,
			"Failed to validate master::Call: Expecting 'type' to be present"},
		{"teardown without message", http.MethodPost, []byte(`{"type":"TEARDOWN"}`), map[string]string{"Content-Type": jsonType}, 400,
			"Failed to validate master::Call: Expecting 'teardown' to be present"},
		{"bad protobuf", http.MethodPost, garbage, map[string]string{"Content-Type": protoType}, 400, "Failed to parse body into Call protobuf"},
		{"not acceptable", http.MethodPost, []byte(`{"type":"GET_STATE"}`), map[string]string{"Content-Type": jsonType, "Accept": "text/html"}, 406,
			"Expecting 'Accept' to allow"},
		{"json refused", http.MethodPost, []byte(`{"type":"GET_STATE"}`), map[string]string{"Content-Type": jsonType, "Accept": "application/json;q=0, text/html"}, 406,
			"Expecting 'Accept' to allow"},
		{"recordio for a non-streaming call", http.MethodPost, []byte(`{"type":"GET_STATE"}`), map[string]string{"Content-Type": jsonType, "Accept": "application/recordio"}, 406,
			"Streaming response is not supported for GET_STATE"},
		{"recordio without usable message type", http.MethodPost, []byte(`{"type":"SUBSCRIBE"}`),
			map[string]string{"Content-Type": jsonType, "Accept": "application/recordio", "Message-Accept": "text/plain"}, 406,
			"Expecting 'Message-Accept' to allow 'application/json' or 'application/x-protobuf'"},
		{"unimplemented call", http.MethodPost, []byte(`{"type":"GET_FLAGS"}`), map[string]string{"Content-Type": jsonType}, 501,
			"mesosnet-sim does not implement GET_FLAGS"},
		{"unknown framework teardown", http.MethodPost, []byte(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"x"}}}`),
			map[string]string{"Content-Type": jsonType}, 400, "No framework found with specified ID"},
		{"unknown agent gone", http.MethodPost, []byte(`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"x"}}}`),
			map[string]string{"Content-Type": jsonType}, 404, "Agent 'x' not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.method, ts.URL+"/api/v1", tc.body, tc.headers)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("body %q does not contain %q", body, tc.want)
			}
			if tc.code == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestAPICalls(t *testing.T) {
	sc := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/hello-world.json")
	_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, Hostname: "master.example", HeartbeatInterval: time.Hour})
	wantState := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/hello-world.json").State
	for _, ct := range []string{jsonType, protoType} {
		for _, accept := range []string{jsonType, protoType, "*/*", ""} {
			t.Run(ct+" accept "+accept, func(t *testing.T) {
				r := callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_STATE}, ct, accept)
				if diff := cmp.Diff(wantState, r.GetGetState()); r.Type != master.Response_GET_STATE || diff != "" {
					t.Errorf("GET_STATE (type %s) differs from the scenario (-want +got):\n%s", r.Type, diff)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_AGENTS}, ct, accept)
				if diff := cmp.Diff(wantState.GetAgents, r.GetGetAgents()); diff != "" {
					t.Errorf("GET_AGENTS (-want +got):\n%s", diff)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_FRAMEWORKS}, ct, accept)
				if diff := cmp.Diff(wantState.GetFrameworks, r.GetGetFrameworks()); diff != "" {
					t.Errorf("GET_FRAMEWORKS (-want +got):\n%s", diff)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_TASKS}, ct, accept)
				if diff := cmp.Diff(wantState.GetTasks, r.GetGetTasks()); diff != "" {
					t.Errorf("GET_TASKS (-want +got):\n%s", diff)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_EXECUTORS}, ct, accept)
				if r.Type != master.Response_GET_EXECUTORS || r.GetExecutors == nil {
					t.Errorf("GET_EXECUTORS: %v", r)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_HEALTH}, ct, accept)
				if !r.GetGetHealth().Healthy {
					t.Errorf("GET_HEALTH: %v", r)
				}
				r = callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_VERSION}, ct, accept)
				if r.GetGetVersion().VersionInfo.Version != mesossim.DefaultVersion {
					t.Errorf("GET_VERSION: %v", r)
				}
			})
		}
	}
}

func TestGetMaster(t *testing.T) {
	sc := loadScenario(t, "mesos-api/v1-operator-api/dcos-net/operator-api.json")
	_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: sc, Advertise: "198.18.0.1:5050", Hostname: "m1.example"})
	r := callAPI(t, ts.URL, &master.Call{Type: master.Call_GET_MASTER}, jsonType, jsonType)
	hostname, ip, pid, version := "m1.example", "198.18.0.1", "master@198.18.0.1:5050", mesossim.DefaultVersion
	port := uint32(5050)
	want := &mesos.MasterInfo{
		// The ID comes from the capture's agent IDs (<master id>-S<n>).
		ID:       "30257977-0153-499d-a5b0-35afd842ef4d",
		IP:       16782022, // 198.18.0.1 as Mesos packs it (network order, read little-endian)
		Port:     &port,
		PID:      &pid,
		Hostname: &hostname,
		Version:  &version,
		Address:  &mesos.Address{Hostname: &hostname, IP: &ip, Port: 5050},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE}, {Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
		},
	}
	if diff := cmp.Diff(want, r.GetGetMaster().GetMasterInfo()); diff != "" {
		t.Errorf("master_info (-want +got):\n%s", diff)
	}
	if r.GetGetMaster().GetStartTime() <= 0 || r.GetGetMaster().GetElectedTime() <= 0 {
		t.Errorf("start/elected time missing: %v", r.GetGetMaster())
	}

	// Without Advertise, the master reports the address it was reached on.
	_, ts2 := mesossimtest.Start(t, mesossim.Options{})
	r = callAPI(t, ts2.URL, &master.Call{Type: master.Call_GET_MASTER}, jsonType, jsonType)
	info := r.GetGetMaster().GetMasterInfo()
	if got := "http://" + info.GetAddress().GetIP() + ":" + strconv.FormatUint(uint64(info.GetPort()), 10); got != ts2.URL {
		t.Errorf("self address %s, want %s", got, ts2.URL)
	}
	if info.IP != 16777343 { // 127.0.0.1
		t.Errorf("ip = %d, want 16777343", info.IP)
	}
}

func TestNonLeaderRedirects(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{Leader: "http://198.18.0.5:5050"})
	for _, tc := range []struct{ method, path, location string }{
		{http.MethodPost, "/api/v1", "//198.18.0.5:5050/api/v1"},
		{http.MethodGet, "/api/v1", "//198.18.0.5:5050/api/v1"},
		{http.MethodGet, "/master/state", "//198.18.0.5:5050/master/state"},
		{http.MethodGet, "/state.json", "//198.18.0.5:5050/state.json"},
		{http.MethodGet, "/master/redirect", "//198.18.0.5:5050"},
	} {
		resp, body := post(t, tc.method, ts.URL+tc.path, []byte(`{"type":"SUBSCRIBE"}`), map[string]string{"Content-Type": jsonType})
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != tc.location || len(body) != 0 {
			t.Errorf("%s %s: HTTP %d Location %q body %q; want 307 %q and no body", tc.method, tc.path,
				resp.StatusCode, resp.Header.Get("Location"), body, tc.location)
		}
	}
	if resp, _ := post(t, http.MethodGet, ts.URL+"/health", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/health on a non-leader: HTTP %d", resp.StatusCode)
	}
	for _, bad := range []string{"http://", "host:99999", "host:x"} {
		if _, err := mesossim.New(mesossim.Options{Leader: bad}); err == nil {
			t.Errorf("New accepted leader %q", bad)
		}
	}
	if _, err := mesossim.New(mesossim.Options{Advertise: "nohost"}); err == nil {
		t.Error("New accepted advertise address without port")
	}
}

func TestLeaderRedirectToSelf(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{Advertise: "198.18.0.9:5050"})
	resp, _ := post(t, http.MethodGet, ts.URL+"/master/redirect", nil, nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "//198.18.0.9:5050" {
		t.Errorf("HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestHealth(t *testing.T) {
	_, ts := mesossimtest.Start(t, mesossim.Options{})
	for _, p := range []string{"/health", "/master/health"} {
		if resp, _ := post(t, http.MethodGet, ts.URL+p, nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
		}
	}
}
