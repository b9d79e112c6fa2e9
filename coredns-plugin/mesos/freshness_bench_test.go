package mesos_test

// BenchmarkFreshness measures how long a task takes to become resolvable:
// from the simulated master publishing it TASK_RUNNING on the SUBSCRIBE
// stream to its A record answering over UDP from a real CoreDNS server with
// the mesos plugin, on loopback, against a synthetic cluster of 1,000 and
// 10,000 background tasks.

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

const (
	// freshnessMinSamples is the fewest latencies a run reports on,
	// whatever b.N is.
	freshnessMinSamples = 200
	// freshnessReadyWait bounds the initial load of the zone (a 10,000-task
	// SUBSCRIBED is about 30 MB).
	freshnessReadyWait = 2 * time.Minute
	// freshnessWait bounds the wait for one task's name.
	freshnessWait = 10 * time.Second
	// freshnessPoll is the pause between two queries for a name.
	freshnessPoll = 200 * time.Microsecond
	// freshnessQueryTimeout bounds one query.
	freshnessQueryTimeout = 250 * time.Millisecond
	// freshnessFramework is the Synthetic framework the tasks are launched
	// in.
	freshnessFramework = "marathon"
)

func BenchmarkFreshness(b *testing.B) {
	for _, tasks := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tasks=%d", tasks), func(b *testing.B) {
			benchmarkFreshness(b, tasks)
		})
	}
}

// benchmarkFreshness launches one task per iteration (and at least
// freshnessMinSamples) into a cluster of tasks background tasks and reports
// the latency percentiles of their names.
func benchmarkFreshness(b *testing.B, tasks int) {
	env := startFreshnessEnv(b, tasks)
	var samples []time.Duration
	for b.Loop() {
		samples = append(samples, env.launchAndResolve(b, len(samples)))
	}
	for len(samples) < freshnessMinSamples {
		samples = append(samples, env.launchAndResolve(b, len(samples)))
	}
	slices.Sort(samples)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(freshnessPercentile(samples, 50)), "p50-ms")
	b.ReportMetric(ms(freshnessPercentile(samples, 99)), "p99-ms")
	b.ReportMetric(ms(samples[len(samples)-1]), "max-ms")
	b.ReportMetric(float64(len(samples)), "samples")
	// ns/op would mix launching, polling and the extra samples: drop it.
	b.ReportMetric(0, "ns/op")
}

// freshnessEnv is a simulated master with a synthetic cluster and a CoreDNS
// server following it.
type freshnessEnv struct {
	sim    *mesossim.Server
	agents []string // agent IDs, in the scenario's order
	conn   *dns.Conn
	client *dns.Client
}

// startFreshnessEnv starts the simulator and CoreDNS, waits until the plugin
// serves a zone holding all tasks, and stops both when b ends.
func startFreshnessEnv(b *testing.B, tasks int) *freshnessEnv {
	b.Helper()
	sc := mesossim.SyntheticScenario(tasks, 1)
	env := &freshnessEnv{client: &dns.Client{Net: "udp", Timeout: freshnessQueryTimeout}}
	for _, a := range sc.State.GetAgents.Agents {
		env.agents = append(env.agents, a.AgentInfo.GetID().GetValue())
	}
	sim, ts := mesossimtest.Start(b, mesossim.Options{
		Scenario: sc, HeartbeatInterval: 100 * time.Millisecond, Logger: zap.NewNop(),
	})
	env.sim = sim
	apiAddr := freeLoopbackPort(b)
	corefile := fmt.Sprintf(`.:0 {
	bind 127.0.0.1
	mesos mesos {
		master %s
		api %s
	}
}
`, ts.URL, apiAddr)
	inst := startCoreDNS(b, corefile)
	conn, err := env.client.Dial(inst.Servers()[0].LocalAddr().String())
	if err != nil {
		b.Fatalf("dial CoreDNS: %v", err)
	}
	b.Cleanup(func() { conn.Close() })
	env.conn = conn

	// The first zone is built from the whole SUBSCRIBED snapshot; every
	// task has at least one name of its own (T-H-S.F.mesos.).
	var last string
	deadline := time.Now().Add(freshnessReadyWait)
	for {
		var records int
		last = freshnessReadyz(apiAddr)
		if _, err := fmt.Sscanf(last, "ready: serial %d, %d records", new(uint32), &records); err == nil && records >= tasks {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for a zone of %d tasks; last /readyz: %s", tasks, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return env
}

// launchAndResolve launches task i RUNNING (a container IP in
// 198.19.0.0/16 its background tasks do not use, on a fixed agent) and
// returns the time from just before the launch to the first UDP answer
// with that IP.
func (env *freshnessEnv) launchAndResolve(b *testing.B, i int) time.Duration {
	b.Helper()
	// Synthetic gives 198.19.<agent mod 256>.2-65 to up to 10,000 tasks;
	// .128-.253 stay free.
	ip := netip.AddrFrom4([4]byte{198, 19, byte(i / 126 % 256), byte(128 + i%126)})
	name := fmt.Sprintf("freshness-%05d", i)
	qname := fmt.Sprintf("%s.%s.mesos.", name, freshnessFramework)
	spec := mesossim.TaskSpec{
		ID: name, Name: name, Framework: freshnessFramework, Agent: env.agents[i%len(env.agents)],
		Container: "MESOS", Network: "container", IPs: []string{ip.String()},
	}
	t0 := time.Now()
	if _, err := env.sim.LaunchTask(spec); err != nil {
		b.Fatalf("launch %s: %v", name, err)
	}
	deadline := t0.Add(freshnessWait)
	var last string
	for {
		ok, got := env.answers(qname, ip)
		if ok {
			return time.Since(t0)
		}
		last = got
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s A %s; last: %s", qname, ip, last)
		}
		time.Sleep(freshnessPoll)
	}
}

// answers sends one A query for qname and reports whether the reply is
// NOERROR with ip among the answers, and a description of the reply.
func (env *freshnessEnv) answers(qname string, ip netip.Addr) (bool, string) {
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeA)
	resp, _, err := env.client.ExchangeWithConn(m, env.conn)
	if err != nil {
		return false, err.Error()
	}
	if resp.Rcode != dns.RcodeSuccess {
		return false, dns.RcodeToString[resp.Rcode]
	}
	for _, rr := range resp.Answer {
		if a, isA := rr.(*dns.A); isA && a.A.Equal(ip.AsSlice()) {
			return true, ""
		}
	}
	return false, resp.String()
}

// freshnessPercentile returns the nearest-rank p-th percentile of sorted samples.
func freshnessPercentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// freshnessReadyz returns the body of the API's /readyz, or the error.
func freshnessReadyz(apiAddr string) string {
	resp, err := http.Get("http://" + apiAddr + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(body))
}
