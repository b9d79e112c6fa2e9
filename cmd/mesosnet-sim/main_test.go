package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/fixtures"
)

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--synthetic", "20", "--seed", "3", "--log-level", "warn"},
			func(a net.Addr) { addrs <- a })
	}()
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the simulator did not start")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1", bytes.NewReader([]byte(`{"type":"GET_STATE"}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r master.Response
	if err := json.Unmarshal(body, &r); err != nil || len(r.GetGetState().GetGetTasks().GetTasks()) != 20 {
		t.Fatalf("GET_STATE: HTTP %d, %v, %d tasks", resp.StatusCode, err, len(r.GetGetState().GetGetTasks().GetTasks()))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	replay := fixtures.Path(t, "mesos-api/v1-operator-api/dcos-net/pod-tasks.json")
	axfr := fixtures.Path(t, "mesos-api/mesos-dns-axfr/dcos-net/axfr.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--replay", replay, "--synthetic", "5"}, "--replay and --synthetic are exclusive"},
		{[]string{"--synthetic", "-1"}, "want a positive number of tasks"},
		{[]string{"--log-level", "chatty"}, "--log-level"},
		{[]string{"--replay", "/nonexistent/state.json"}, "load scenario"},
		{[]string{"--replay", axfr}, "not a Mesos state"},
		{[]string{"--leader", "http://"}, "leader"},
		{[]string{"--listen", "127.0.0.1:99999"}, "listen"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		err := run(t.Context(), append(tc.args, "--log-level", firstLevel(tc.args)), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

// firstLevel keeps a test's own --log-level and quiets the others.
func firstLevel(args []string) string {
	for i, a := range args {
		if a == "--log-level" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return "error"
}
