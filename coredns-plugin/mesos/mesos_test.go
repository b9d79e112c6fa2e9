package mesos

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mesosnet/mesosnet/runtime/mesos/state/statetest"
)

// gaugeNames are the metrics the instances collector exports.
var gaugeNames = []string{
	"coredns_mesos_zone_records",
	"coredns_mesos_zone_age_seconds",
	"coredns_mesos_last_update_timestamp_seconds",
	"coredns_mesos_source_connected",
}

// TestLifecycle follows one instance from start to stop: not ready and
// SERVFAIL before the first snapshot, answers and metrics after it, the
// last zone kept with a growing age while the source is disconnected, a
// task update picked up, nothing left behind after stop.
func TestLifecycle(t *testing.T) {
	m := newPlugin(t, testCorefile)
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	m.now = clk.Now
	src := &fakeSource{store: newStore(t)}
	src.setStatus(false, time.Time{})
	m.newSource = func() (Source, error) { return src, nil }
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			m.stop()
		}
	}()
	if err := m.start(); err == nil {
		t.Error("second start succeeded")
	}
	labels := fmt.Sprintf(`server=%q,zone=%q`, m.metricLabels[0], m.metricLabels[1])

	// Before the first snapshot.
	if m.Ready() {
		t.Fatal("ready before the first snapshot")
	}
	checkReadyz(t, m, http.StatusServiceUnavailable, "not ready: no zone loaded yet, connecting to Mesos")
	checkMetrics(t, fmt.Sprintf("coredns_mesos_source_connected{%s} 0\n", labels))

	// The first snapshot.
	statetest.ApplyFixture(t, src.store, statetest.Rel("operator-api.json"))
	src.setStatus(true, clk.Now())
	eventually(t, "the zone of the whole capture", func() bool {
		z := m.Zone()
		return z != nil && z.Snapshot().Revision() == src.store.Current().Revision()
	})
	tc := handlerCases[3] // slave.mesos. A
	checkCase(t, tc, serve(t, m, tc.Msg(), false))
	records := m.Zone().Len()
	checkMetrics(t, fmt.Sprintf(`coredns_mesos_last_update_timestamp_seconds{%[1]s} 1.8e+09
coredns_mesos_source_connected{%[1]s} 1
coredns_mesos_zone_age_seconds{%[1]s} 0
coredns_mesos_zone_records{%[1]s} %[2]d
`, labels, records))
	checkReadyz(t, m, http.StatusOK, fmt.Sprintf("ready: serial %d, %d records, updated 2027-01-15T08:00:00Z, age 0s, following http://192.0.2.11:5050", m.Zone().Serial(), records))

	// Mesos goes away: the zone stays, its age grows.
	src.setStatus(false, clk.Now())
	clk.Advance(90 * time.Second)
	checkCase(t, tc, serve(t, m, tc.Msg(), false))
	checkMetrics(t, fmt.Sprintf(`coredns_mesos_last_update_timestamp_seconds{%[1]s} 1.8e+09
coredns_mesos_source_connected{%[1]s} 0
coredns_mesos_zone_age_seconds{%[1]s} 90
coredns_mesos_zone_records{%[1]s} %[2]d
`, labels, records))
	checkReadyz(t, m, http.StatusOK, "age 1m30s, disconnected from Mesos for 1m30s")

	// Back, with a task killed.
	src.setStatus(true, clk.Now())
	key := statetest.Expected("operator-api.json")[0].Key
	if err := src.store.Apply(killed(key.FrameworkID, key.TaskID)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the killed task's records to go", func() bool {
		_, ok := m.Zone().Lookup("docker-on-bridge.marathon.mesos.")
		return !ok
	})
	resp := serve(t, m, question("docker-on-bridge.marathon.mesos.", dns.TypeA), false)
	if resp.Rcode != dns.RcodeNameError {
		t.Errorf("killed task: rcode %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}

	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := m.stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	checkMetrics(t, "")
}

// checkMetrics compares the instances collector's output with want.
func checkMetrics(tb testing.TB, want string) {
	tb.Helper()
	var exp strings.Builder
	for _, name := range gaugeNames {
		if !strings.Contains(want, name+"{") {
			continue
		}
		fmt.Fprintf(&exp, "# HELP %s %s\n# TYPE %s gauge\n", name, helpOf(name), name)
		for _, line := range strings.Split(want, "\n") {
			if strings.HasPrefix(line, name+"{") {
				exp.WriteString(line + "\n")
			}
		}
	}
	if err := testutil.CollectAndCompare(instances, strings.NewReader(exp.String()), gaugeNames...); err != nil {
		tb.Error(err)
	}
}

// helpOf returns the help text of a gauge of the instances collector.
func helpOf(name string) string {
	for _, d := range []struct {
		name, help string
	}{
		{"coredns_mesos_zone_records", "Number of owner names in the zone being served."},
		{"coredns_mesos_zone_age_seconds", "How long the zone being served may lag behind Mesos: 0 while the source is connected, else the time since it disconnected."},
		{"coredns_mesos_last_update_timestamp_seconds", "Unix time of the last zone rebuild."},
		{"coredns_mesos_source_connected", "1 while the plugin's source follows a live Mesos stream, else 0."},
	} {
		if d.name == name {
			return d.help
		}
	}
	return ""
}

// checkReadyz checks /readyz of the API listener.
func checkReadyz(tb testing.TB, m *Mesos, status int, detail string) {
	tb.Helper()
	addr, _ := m.apiAddr.Load().(string)
	if addr == "" {
		tb.Fatal("API listener not started")
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != status || !strings.Contains(string(body), detail) {
		tb.Errorf("/readyz: %d %q, want %d with %q", resp.StatusCode, body, status, detail)
	}
}

func TestStartFails(t *testing.T) {
	m := newPlugin(t, testCorefile)
	m.newSource = func() (Source, error) { return nil, errors.New("no source today") }
	if err := m.start(); err == nil || !strings.Contains(err.Error(), "no source today") {
		t.Fatalf("start: %v, want the source's error", err)
	}
	if err := m.stop(); err != nil {
		t.Errorf("stop after a failed start: %v", err)
	}
}

// killed returns the TASK_UPDATED event of a task killed.
func killed(frameworkID, taskID string) *master.Event {
	st := mesosv1.TASK_KILLED
	return &master.Event{
		Type: master.Event_TASK_UPDATED,
		TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: mesosv1.FrameworkID{Value: frameworkID},
			Status:      mesosv1.TaskStatus{TaskID: mesosv1.TaskID{Value: taskID}, State: &st},
			State:       &st,
		},
	}
}

// TestReloadKeepsServing checks that the instance of a reloaded Corefile
// serves the previous instance's zone until it has built its own, when the
// zone configuration is unchanged.
func TestReloadKeepsServing(t *testing.T) {
	start := func(corefile string, src *fakeSource) *Mesos {
		m := newPlugin(t, corefile)
		m.newSource = func() (Source, error) { return src, nil }
		if err := m.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.stop() })
		return m
	}
	old := start(testCorefile, &fakeSource{store: fixtureStore(t, "operator-api.json")})
	eventually(t, "the first zone", old.Ready)

	same := start(testCorefile, &fakeSource{store: newStore(t)})
	if !same.Ready() || same.Zone() != old.Zone() {
		t.Error("reloaded instance with the same configuration does not serve the previous zone")
	}
	other := start(strings.Replace(testCorefile, "listener 192.0.2.53", "listener 192.0.2.54", 1), &fakeSource{store: newStore(t)})
	if other.Ready() {
		t.Error("reloaded instance with another configuration serves the previous zone")
	}
}
