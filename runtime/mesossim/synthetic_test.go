package mesossim_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

func TestSyntheticIsDeterministic(t *testing.T) {
	a, b := mesossim.Synthetic(500, 7), mesossim.Synthetic(500, 7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different clusters (-a +b):\n%s", diff)
	}
	ja, _ := mesosjson.Marshal(a)
	jb, _ := mesosjson.Marshal(b)
	if string(ja) != string(jb) {
		t.Error("same seed, different JSON")
	}
	jc, _ := mesosjson.Marshal(mesossim.Synthetic(500, 8))
	if string(ja) == string(jc) {
		t.Error("different seeds gave the same cluster")
	}
}

func TestSyntheticSize(t *testing.T) {
	const n = 2000
	st := mesossim.Synthetic(n, 1)
	b, err := mesosjson.Marshal(&master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{GetState: st}})
	if err != nil {
		t.Fatal(err)
	}
	if per := len(b) / n; per < 2500 || per > 3600 {
		t.Errorf("%d bytes per task, want about 3 KB (2500-3600)", per)
	}
	if got := len(st.GetAgents.Agents); got != n/10 {
		t.Errorf("%d agents, want %d", got, n/10)
	}
	if got := len(st.GetTasks.Tasks); got != n {
		t.Errorf("%d tasks, want %d", got, n)
	}
}

// TestSyntheticIsRealistic checks the mix the generator promises and that
// every address stays inside the test address plan.
func TestSyntheticIsRealistic(t *testing.T) {
	st := mesossim.Synthetic(3000, 42)
	agentIPs := netip.MustParsePrefix("198.18.0.0/16")
	containerIPs := netip.MustParsePrefix("198.19.0.0/16")
	vipIPs := netip.MustParsePrefix("198.18.0.0/20")
	agents := map[string]string{}
	for _, a := range st.GetAgents.Agents {
		ip := netip.MustParseAddr(a.AgentInfo.Hostname)
		if !agentIPs.Contains(ip) || netip.MustParsePrefix("198.18.0.0/19").Contains(ip) {
			t.Errorf("agent IP %s outside 198.18.32.0-198.18.127.255", ip)
		}
		agents[a.AgentInfo.GetID().GetValue()] = a.AgentInfo.Hostname
	}
	frameworks := map[string]string{}
	for _, f := range st.GetFrameworks.Frameworks {
		frameworks[f.FrameworkInfo.GetID().GetValue()] = f.FrameworkInfo.Name
	}
	count := map[string]int{}
	ids := map[string]bool{}
	for _, task := range st.GetTasks.Tasks {
		k := task.FrameworkID.Value + "/" + task.TaskID.Value
		if ids[k] {
			t.Fatalf("duplicate task %s", k)
		}
		ids[k] = true
		if agents[task.AgentID.Value] == "" || frameworks[task.FrameworkID.Value] == "" {
			t.Fatalf("task %s on unknown agent or framework", k)
		}
		count["framework "+frameworks[task.FrameworkID.Value]]++
		count["state "+task.GetState().String()]++
		if c := task.GetContainer(); c != nil {
			count["container "+c.GetType().String()]++
			if c.GetDocker().GetNetwork() == mesos.ContainerInfo_DockerInfo_BRIDGE || len(c.GetDocker().GetPortMappings()) > 0 {
				count["docker port mappings"]++
			}
			for _, ni := range c.NetworkInfos {
				count["network "+ni.GetName()]++
			}
		}
		if task.HealthCheck != nil {
			count["health check"]++
		}
		if strings.Contains(task.TaskID.Value, "__") {
			count["sdk task id"]++
		}
		if strings.Count(task.Name, ".") >= 2 {
			count["marathon group"]++
		}
		for _, p := range task.GetDiscovery().GetPorts().GetPorts() {
			for _, l := range p.GetLabels().GetLabels() {
				if !strings.HasPrefix(l.Key, "VIP_") {
					continue
				}
				host := l.GetValue()[:strings.LastIndex(l.GetValue(), ":")]
				if ip, err := netip.ParseAddr(host); err == nil {
					if !vipIPs.Contains(ip) {
						t.Errorf("IP VIP %s outside 198.18.0.0/20", l.GetValue())
					}
					count["ip vip"]++
				} else {
					count["named vip"]++
				}
			}
		}
		for _, s := range task.Statuses {
			if s.Healthy != nil {
				count["healthy field"]++
			}
			for _, ni := range s.GetContainerStatus().GetNetworkInfos() {
				for _, a := range ni.IPAddresses {
					ip := netip.MustParseAddr(a.GetIPAddress())
					if ip != netip.MustParseAddr(agents[task.AgentID.Value]) && !containerIPs.Contains(ip) {
						t.Errorf("task %s reports IP %s, neither its agent's nor in 198.19.0.0/16", k, ip)
					}
				}
			}
		}
	}
	for _, want := range []string{
		"framework marathon", "framework marathon-user", "framework kafka", "framework cassandra", "framework metronome",
		"state TASK_RUNNING", "state TASK_STARTING", "state TASK_KILLING",
		"container DOCKER", "container MESOS", "docker port mappings", "network dcos", "network mesos-bridge",
		"health check", "healthy field", "sdk task id", "marathon group", "ip vip", "named vip",
	} {
		if count[want] < 5 {
			t.Errorf("only %d tasks with %s in 3000 (%v)", count[want], want, count)
		}
	}
}

func TestSyntheticServes(t *testing.T) {
	sim, ts := mesossimtest.Start(t, mesossim.Options{Scenario: mesossim.SyntheticScenario(300, 3), HeartbeatInterval: time.Hour})
	s := mesossimtest.Subscribe(t, streamCtx(t), ts.URL, protoType, true)
	got := s.Next(t).GetSubscribed().GetGetState()
	if diff := cmp.Diff(mesossim.Synthetic(300, 3), got); diff != "" {
		t.Errorf("SUBSCRIBED differs from Synthetic (-want +got):\n%s", diff)
	}
	// The control API works on top of a synthetic cluster.
	task, err := sim.LaunchTask(mesossim.TaskSpec{Name: "extra", Framework: "marathon", Container: "MESOS", Network: "container"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(task.AgentID.Value, got.GetAgents.Agents[0].AgentInfo.GetID().GetValue()[:36]) {
		t.Errorf("task agent %s not from the synthetic master", task.AgentID.Value)
	}
}

func BenchmarkSubscribed10k(b *testing.B) {
	st := mesossim.Synthetic(10000, 1)
	ev := &master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{GetState: st}}
	b.ResetTimer()
	for range b.N {
		out, err := mesosjson.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
