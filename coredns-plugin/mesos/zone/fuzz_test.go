package zone

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// fuzzState returns a GET_STATE with one agent, one framework and two
// running tasks (one with DiscoveryInfo, one without) named from fuzz input.
func fuzzState(taskName, diName, fwName, portName, proto, agentID, taskID string, port uint32) *master.Response_GetState {
	ts := 1.0
	status := func(id string) []mesos.TaskStatus {
		return []mesos.TaskStatus{{
			TaskID: mesos.TaskID{Value: id}, State: mesos.TASK_RUNNING.Enum(), Timestamp: &ts,
			ContainerStatus: &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{
				{IPAddress: str("10.0.0.5")}, {IPAddress: str("fd00::5")}, {IPAddress: str(taskName)},
			}}}},
			Labels: &mesos.Labels{Labels: []mesos.Label{{Key: dockerIPLabel, Value: str(diName)}}},
		}}
	}
	ports := []mesos.Resource{{Name: "ports", Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31001}, {Begin: uint64(port), End: uint64(port)}}}}}
	return &master.Response_GetState{
		GetAgents: &master.Response_GetAgents{Agents: []master.Response_GetAgents_Agent{{
			AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: agentID}, Hostname: "10.0.0.1"},
			PID:       str("slave(1)@10.0.0.1:5051"),
		}}},
		GetFrameworks: &master.Response_GetFrameworks{Frameworks: []master.Response_GetFrameworks_Framework{{
			FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "fw"}, Name: fwName, Hostname: str("10.0.0.2")},
		}, {
			FrameworkInfo: mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "fw2"}, Name: diName, Hostname: str(portName)},
		}}},
		GetTasks: &master.Response_GetTasks{Tasks: []mesos.Task{{
			Name: taskName, TaskID: mesos.TaskID{Value: taskID}, FrameworkID: mesos.FrameworkID{Value: "fw"},
			AgentID: mesos.AgentID{Value: agentID}, State: mesos.TASK_RUNNING.Enum(), Resources: ports, Statuses: status(taskID),
			Discovery: &mesos.DiscoveryInfo{Name: &diName, Ports: &mesos.Ports{Ports: []mesos.Port{
				{Number: port, Name: &portName, Protocol: &proto}, {Number: 80},
			}}},
		}, {
			Name: taskName + "." + diName, TaskID: mesos.TaskID{Value: taskID + "-2"}, FrameworkID: mesos.FrameworkID{Value: "fw2"},
			AgentID: mesos.AgentID{Value: agentID}, State: mesos.TASK_RUNNING.Enum(), Resources: ports, Statuses: status(taskID + "-2"),
		}}},
	}
}

// FuzzBuild checks that names from untrusted Mesos state (task,
// DiscoveryInfo, framework, port and agent names, protocols, task ids)
// never produce an owner name or SRV target that fails dns.IsDomainName or
// a record that does not pack, and that the HTTP views do not fail.
func FuzzBuild(f *testing.F) {
	f.Add("web", "web", "marathon", "http", "tcp", "agent-S0", "web.1", uint32(8080), false)
	f.Add("Big.Dog", "big.dog", "chronos with a space AND MIXED CASE-2.0.1", "HTTPS", "", "x-S12", "t", uint32(0), true)
	f.Add("123", "...", "$$$", "", "UDP", "-", "id", uint32(70000), true)
	f.Add(strings.Repeat("a", 80), strings.Repeat("b.", 130), strings.Repeat("c.", 100), strings.Repeat("d", 70), "sctp", strings.Repeat("s", 70), "x", uint32(1), false)
	f.Add("tâche ü", "\\.\x00", "a\\046b", "_", "t c p", "S.0", "\xff", uint32(65535), false)
	f.Fuzz(func(t *testing.T, taskName, diName, fwName, portName, proto, agentID, taskID string, port uint32, rfc952 bool) {
		s := newStore(t)
		if err := s.LoadState(fuzzState(taskName, diName, fwName, portName, proto, agentID, taskID, port), masterInfo("10.0.0.3", 5050)); err != nil {
			t.Fatal(err)
		}
		b, err := NewBuilder(Config{DCOS: true, RFC952: rfc952, IPSources: []string{SourceDocker, SourceNetInfo, SourceHost}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		z := b.Build(s.Current())
		checkServable(t, z)
		z.AXFR()
		z.Enumerate()
		for _, n := range []string{taskName, diName + ".marathon.mesos", "_" + taskName + "._tcp." + fwName} {
			z.Hosts(n)
			z.Services(n)
		}
	})
}
