package mesos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

func TestNewClientRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no masters", Config{}, "no Mesos master configured"},
		{"empty master", Config{Masters: []string{" "}}, "empty Mesos master URL"},
		{"bad scheme", Config{Masters: []string{"ftp://m1:5050"}}, `"ftp" is not http or https`},
		{"no host", Config{Masters: []string{"http://"}}, "no host"},
		{"credentials in URL", Config{Masters: []string{"http://u:p@m1:5050"}}, "credentials in the URL"},
		{"query", Config{Masters: []string{"http://m1:5050?x=1"}}, "query or fragment"},
		{"token and basic", Config{Masters: []string{"m1:5050"}, Auth: Auth{Token: "t", Username: "u"}}, "not both"},
		{"password alone", Config{Masters: []string{"m1:5050"}, Auth: Auth{Password: "p"}}, "password set without a user name"},
		{"token with newline", Config{Masters: []string{"m1:5050"}, Auth: Auth{Token: "a\nb"}}, "line break"},
		{"missing CA file", Config{Masters: []string{"m1:5050"}, TLS: TLSConfig{CAFile: missing}}, "read CA file: open " + missing},
		{"garbage CA file", Config{Masters: []string{"m1:5050"}, TLS: TLSConfig{CAFile: garbage}}, "CA file " + garbage + " holds no PEM certificate"},
		{"cert without key", Config{Masters: []string{"m1:5050"}, TLS: TLSConfig{CertFile: garbage}}, "must be set together"},
		{"unloadable cert", Config{Masters: []string{"m1:5050"}, TLS: TLSConfig{CertFile: garbage, KeyFile: garbage}}, "load client certificate " + garbage},
		{"negative timeout", Config{Masters: []string{"m1:5050"}, Timeout: -time.Second}, "negative timeout"},
		{"negative max frame", Config{Masters: []string{"m1:5050"}, MaxFrame: -1}, "negative max frame"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewClient error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseMaster(t *testing.T) {
	tests := []struct {
		in   string
		tls  bool
		want string
	}{
		{"http://m1:5050", false, "http://m1:5050/api/v1"},
		{"http://m1:5050/", false, "http://m1:5050/api/v1"},
		{"m1:5050", false, "http://m1:5050/api/v1"},
		{"m1:5050", true, "https://m1:5050/api/v1"},
		{"https://dcos.example/mesos/", false, "https://dcos.example/mesos/api/v1"},
		{"http://[fd01:b::1]:5050", false, "http://[fd01:b::1]:5050/api/v1"},
	}
	for _, tc := range tests {
		u, err := parseMaster(tc.in, tc.tls)
		if err != nil {
			t.Errorf("parseMaster(%q): %v", tc.in, err)
			continue
		}
		if got := u.String(); got != tc.want {
			t.Errorf("parseMaster(%q, %v) = %s, want %s", tc.in, tc.tls, got, tc.want)
		}
	}
}

func TestClientFollowsProtocolRelativeRedirect(t *testing.T) {
	leader := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeJSON(w, getMasterJSON("leader"))
	})
	follower := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		redirectTo(w, leader)
	})
	c := newTestClient(t, Config{}, follower, leader)

	got, err := c.GetMaster(t.Context())
	if err != nil {
		t.Fatalf("GetMaster: %v", err)
	}
	if got.MasterInfo == nil || got.MasterInfo.ID != "leader" {
		t.Fatalf("GetMaster answered %+v, want the leader's info", got)
	}
	if diff := cmp.Diff(leader.URL(), c.Leader()); diff != "" {
		t.Errorf("Leader() (-want +got):\n%s", diff)
	}
	// The next call starts at the remembered leader.
	if _, err := c.GetMaster(t.Context()); err != nil {
		t.Fatalf("second GetMaster: %v", err)
	}
	if got := []int{follower.Count("GET_MASTER"), leader.Count("GET_MASTER")}; !cmp.Equal(got, []int{1, 2}) {
		t.Errorf("GET_MASTER calls on follower, leader = %v, want [1 2]", got)
	}
}

func TestClientRedirectLimit(t *testing.T) {
	var self *fakeMaster
	self = newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		redirectTo(w, self)
	})
	c := newTestClient(t, Config{}, self)
	_, err := c.GetMaster(t.Context())
	if err == nil || !strings.Contains(err.Error(), "more than 3 redirects") {
		t.Fatalf("GetMaster error %v, want a redirect limit error", err)
	}
	if got := self.Count("GET_MASTER"); got != 4 {
		t.Errorf("master saw %d calls, want 4 (the call and 3 redirects)", got)
	}
}

func TestClientRedirectWithoutLocation(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, Config{}, m)
	if _, err := c.GetMaster(t.Context()); err == nil || !strings.Contains(err.Error(), "redirect without a Location") {
		t.Fatalf("GetMaster error %v, want a missing Location error", err)
	}
}

func TestClientTriesNextMasterOn503(t *testing.T) {
	electing := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
	})
	leader := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeJSON(w, getMasterJSON("leader"))
	})
	c := newTestClient(t, Config{}, electing, leader)
	got, err := c.GetMaster(t.Context())
	if err != nil {
		t.Fatalf("GetMaster: %v", err)
	}
	if got.MasterInfo.ID != "leader" {
		t.Errorf("GetMaster answered master %q, want leader", got.MasterInfo.ID)
	}
	if c.Leader() != leader.URL() {
		t.Errorf("Leader() = %q, want %q", c.Leader(), leader.URL())
	}
}

func TestClientStatusError(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name     string
		code     int
		body     string
		wantBody string
	}{
		{"no leader", http.StatusServiceUnavailable, "No leader elected", "No leader elected\n"},
		{"unauthorized", http.StatusUnauthorized, "", "\n"},
		{"long body is cut", http.StatusInternalServerError, long, long[:512]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				http.Error(w, tc.body, tc.code)
			})
			c := newTestClient(t, Config{}, m)
			_, err := c.GetState(t.Context())
			var status *StatusError
			if !errors.As(err, &status) {
				t.Fatalf("GetState error %v, want a *StatusError", err)
			}
			want := StatusError{URL: m.URL() + "/api/v1", StatusCode: tc.code, Status: status.Status, Body: tc.wantBody}
			if diff := cmp.Diff(want, *status); diff != "" {
				t.Errorf("StatusError (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), http.StatusText(tc.code)) || !strings.Contains(err.Error(), "GET_STATE") {
				t.Errorf("error %q names neither the call nor the status", err)
			}
		})
	}
}

func TestClientSendsHeaders(t *testing.T) {
	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"no auth", Auth{}, ""},
		{"token", Auth{Token: "eyJhbGciOi.x.y"}, "token=eyJhbGciOi.x.y"},
		{"basic", Auth{Username: "alice", Password: "s3cret:x"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret:x"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				writeJSON(w, getMasterJSON("m1"))
			})
			c := newTestClient(t, Config{Auth: tc.auth, Version: "1.2.3"}, m)
			if _, err := c.GetMaster(t.Context()); err != nil {
				t.Fatal(err)
			}
			want := []fakeCall{{
				Type:          "GET_MASTER",
				Authorization: tc.want,
				UserAgent:     "mesosnet/1.2.3",
				ContentType:   "application/json",
				Accept:        "application/json",
			}}
			if diff := cmp.Diff(want, m.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientGetStateFixture(t *testing.T) {
	body := fixtures.Read(t, "mesos-api/v1-operator-api/dcos-net/tcp-and-udp.json")
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		writeJSON(w, string(body))
	})
	c := newTestClient(t, Config{}, m)
	st, err := c.GetState(t.Context())
	if err != nil {
		t.Fatalf("GetState: %v", err)
	}
	var ids []string
	for _, task := range st.GetTasks.Tasks {
		ids = append(ids, task.TaskID.Value)
	}
	if diff := cmp.Diff([]string{"app.80eefa01-d956-11e8-8b68-70b3d5800002"}, ids); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestClientRejectsBadAnswers(t *testing.T) {
	tests := []struct {
		name     string
		maxFrame int
		answer   func(w http.ResponseWriter)
		want     string
	}{
		{"html", 0, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>"))
		}, `unexpected Content-Type "text/html"`},
		{"wrong response type", 0, func(w http.ResponseWriter) {
			writeJSON(w, `{"type":"GET_HEALTH","get_health":{"healthy":true}}`)
		}, "answered with a GET_HEALTH response"},
		{"missing payload", 0, func(w http.ResponseWriter) {
			writeJSON(w, `{"type":"GET_MASTER"}`)
		}, "without get_master"},
		{"not json", 0, func(w http.ResponseWriter) {
			writeJSON(w, `{"type":`)
		}, "decode answer of"},
		{"over the size limit", 100, func(w http.ResponseWriter) {
			writeJSON(w, getMasterJSON(strings.Repeat("m", 200)))
		}, "exceeds the limit of 100 bytes"},
		{"over the size limit, chunked", 100, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			for range 20 {
				_, _ = w.Write([]byte("          "))
				w.(http.Flusher).Flush()
			}
		}, "body exceeds the limit of 100 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				tc.answer(w)
			})
			c := newTestClient(t, Config{MaxFrame: tc.maxFrame}, m)
			_, err := c.GetMaster(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("GetMaster error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		<-r.Context().Done() // never answers
	})
	c := newTestClient(t, Config{Timeout: 50 * time.Millisecond}, m)
	_, err := c.GetMaster(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("GetMaster error %v, want a 50ms timeout", err)
	}
}

func TestClientStopsOnCancel(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		<-r.Context().Done()
	})
	c := newTestClient(t, Config{}, m)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.GetMaster(ctx)
		done <- err
	}()
	waitFor(t, "the call to reach the master", nil, func() bool { return m.Count("GET_MASTER") == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("GetMaster error %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("GetMaster did not return after cancel")
	}
}

func TestClientGenericCall(t *testing.T) {
	m := newFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
		switch call {
		case "GET_HEALTH":
			writeJSON(w, `{"type":"GET_HEALTH","get_health":{"healthy":true}}`)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	c := newTestClient(t, Config{}, m)
	resp, err := c.Call(t.Context(), &master.Call{Type: master.Call_GET_HEALTH})
	if err != nil {
		t.Fatalf("GET_HEALTH: %v", err)
	}
	if resp.GetHealth == nil || !resp.GetHealth.Healthy {
		t.Errorf("GET_HEALTH answered %+v, want healthy", resp)
	}
	if _, err := c.Call(t.Context(), &master.Call{Type: master.Call_SET_LOGGING_LEVEL, SetLoggingLevel: &master.Call_SetLoggingLevel{Level: 1}}); err != nil {
		t.Errorf("SET_LOGGING_LEVEL (202 without body): %v", err)
	}
	if _, err := c.Call(t.Context(), &master.Call{Type: master.Call_SUBSCRIBE}); err == nil {
		t.Error("Call(SUBSCRIBE) succeeded, want a pointer to Subscribe")
	}
}

func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	clientCert, clientKey, clientPool := writeClientCert(t, dir)

	tests := []struct {
		name       string
		requireMTL bool
		tls        func(serverCA string) TLSConfig
		wantErr    string
	}{
		{"server CA", false, func(ca string) TLSConfig { return TLSConfig{CAFile: ca} }, ""},
		{"unknown authority", false, func(string) TLSConfig { return TLSConfig{} }, "certificate"},
		{"client certificate", true, func(ca string) TLSConfig {
			return TLSConfig{CAFile: ca, CertFile: clientCert, KeyFile: clientKey}
		}, ""},
		{"client certificate missing", true, func(ca string) TLSConfig { return TLSConfig{CAFile: ca} }, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newUnstartedFakeMaster(t, func(w http.ResponseWriter, r *http.Request, call string, n int) {
				writeJSON(w, getMasterJSON("tls"))
			})
			if tc.requireMTL {
				m.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool}
			}
			m.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
			m.srv.StartTLS()
			ca := filepath.Join(t.TempDir(), "ca.pem")
			writePEM(t, ca, "CERTIFICATE", m.srv.Certificate().Raw)

			c := newTestClient(t, Config{TLS: tc.tls(ca)}, m)
			got, err := c.GetMaster(t.Context())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("GetMaster error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetMaster over TLS: %v", err)
			}
			if got.MasterInfo.ID != "tls" || !strings.HasPrefix(c.Leader(), "https://") {
				t.Errorf("GetMaster = %+v from %s, want master tls over https", got.MasterInfo, c.Leader())
			}
		})
	}
}

// writeClientCert writes a self-signed client certificate and its key to dir
// and returns their paths and a pool trusting it.
func writeClientCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mesosnet-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
