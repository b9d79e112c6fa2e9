package mesos

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// serialRE matches the SOA serial of /v1/axfr, the build time of the zone.
var serialRE = regexp.MustCompile(`"Serial": [0-9]+`)

// TestAPI checks every endpoint of the Mesos-DNS HTTP API against golden
// bodies (testdata/api/*.json; go test -update rewrites them) built from the
// operator-api.json capture. Spec mesos-dns.md §3 gives the shapes.
func TestAPI(t *testing.T) {
	m := loadedPlugin(t, testCorefile, leaderStore(t, "operator-api.json"))
	h := m.apiHandler()
	tests := []struct {
		name, path string
		status     int
		// golden is the file under testdata/api, "" for a non-JSON body.
		golden string
		body   string
	}{
		{"version", "/v1/version", http.StatusOK, "version.json", ""},
		{"config", "/v1/config", http.StatusOK, "config.json", ""},
		{"host", "/v1/hosts/docker-on-ipv6.marathon.mesos", http.StatusOK, "hosts-task.json", ""},
		{"host with a trailing dot and upper case", "/v1/hosts/Leader.mesos.", http.StatusOK, "hosts-leader.json", ""},
		{"unknown host", "/v1/hosts/nothing.mesos", http.StatusOK, "hosts-unknown.json", ""},
		{"host ports", "/v1/hosts/leader.mesos/ports", http.StatusNotImplemented, "", "To be implemented...\n"},
		{"service", "/v1/services/_docker-on-ipv6._tcp.marathon.mesos", http.StatusOK, "services-task.json", ""},
		{"unknown service", "/v1/services/_nothing._tcp.marathon.mesos.", http.StatusOK, "services-unknown.json", ""},
		{"enumerate", "/v1/enumerate", http.StatusOK, "enumerate.json", ""},
		{"axfr", "/v1/axfr", http.StatusOK, "axfr.json", ""},
		{"unknown path", "/v1/nothing", http.StatusNotFound, "", "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			// DCOS_OSS-611: Accept: application/json must not be refused.
			req.Header.Set("Accept", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.golden == "" {
				if got := rec.Body.String(); got != tc.body {
					t.Errorf("body %q, want %q", got, tc.body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("body is not JSON: %s", rec.Body)
			}
			compareGolden(t, filepath.Join("testdata", "api", tc.golden), serialRE.ReplaceAllString(rec.Body.String(), `"Serial": 0`))
		})
	}
}

// compareGolden compares got with a golden file, or rewrites it with
// -update.
func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestAPIBeforeFirstZone(t *testing.T) {
	h := newPlugin(t, testCorefile).apiHandler()
	for _, path := range []string{"/v1/hosts/leader.mesos", "/v1/services/_leader._tcp.mesos", "/v1/enumerate", "/v1/axfr"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", path, rec.Code)
		}
	}
	for _, path := range []string{"/v1/version", "/v1/config"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200", path, rec.Code)
		}
	}
}

// TestAPIConfigHidesSecrets checks that /v1/config shows neither secrets nor
// the paths of the files holding them.
func TestAPIConfigHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := secret("token-file", "token-s3cret")
	password := secret("password-file", "password-s3cret")
	key := secret("key-file", "key-s3cret")
	for _, auth := range []string{"token_file " + token, "basic_auth admin " + password} {
		t.Run(strings.Fields(auth)[0], func(t *testing.T) {
			m := newPlugin(t, "mesos {\n master https://192.0.2.11:5050\n "+auth+"\n ca_file /etc/ca.pem\n cert_file /etc/cert.pem\n key_file "+key+"\n}")
			rec := httptest.NewRecorder()
			m.apiHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/config", nil))
			body := rec.Body.String()
			for _, s := range []string{"s3cret", token, password, key, "token-file", "password-file", "key-file"} {
				if strings.Contains(body, s) {
					t.Errorf("/v1/config shows %q:\n%s", s, body)
				}
			}
			var c apiConfig
			if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			if !c.MesosHTTPSOn || c.MesosAuthentication == "" {
				t.Errorf("MesosHTTPSOn %t, MesosAuthentication %q; want true and set", c.MesosHTTPSOn, c.MesosAuthentication)
			}
		})
	}
}
