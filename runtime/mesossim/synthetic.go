package mesossim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Synthetic returns a realistic cluster of n running tasks, the same for
// the same seed: about n/10 agents, Marathon frameworks (marathon,
// marathon-user) running apps in groups (/prod/payments/api), SDK services
// (kafka, cassandra) and metronome jobs; host, bridge and overlay ("dcos")
// networking with Docker and UCR containers; DiscoveryInfo ports with named
// (/group/app:80, app:80) and IP (198.18.x.y:port) VIP labels, port
// mappings, health checks and STARTING/RUNNING statuses. Each task is about
// 3 KB of JSON, like real ones, so a 10,000-task SUBSCRIBED is about 30 MB.
//
// Addresses stay in the test address plan: agents in 198.18.32.0-198.18.127.255,
// containers in 198.19.0.0/16 (a /24 per agent index modulo 256), IP VIPs in
// 198.18.0.0/20.
func Synthetic(n int, seed int64) *master.Response_GetState {
	g := &synth{rng: rand.New(rand.NewPCG(uint64(seed), 0x6d65736f736e6574))}
	g.masterID = g.uuid()
	g.base = 1_700_000_000 + int64(g.rng.IntN(10_000_000))
	st := &master.Response_GetState{
		GetTasks:      &master.Response_GetTasks{},
		GetExecutors:  &master.Response_GetExecutors{},
		GetFrameworks: &master.Response_GetFrameworks{},
		GetAgents:     &master.Response_GetAgents{},
	}
	if n < 0 {
		n = 0
	}
	agents := max(1, (n+9)/10)
	for i := range agents {
		st.GetAgents.Agents = append(st.GetAgents.Agents, g.agent(i))
	}
	g.agents = st.GetAgents.Agents
	g.frameworks = []synthFramework{
		{name: "marathon", role: "slave_public", principal: "dcos_marathon", kind: "marathon", share: 55},
		{name: "marathon-user", role: "*", principal: "dcos_marathon_user", kind: "marathon", share: 15},
		{name: "kafka", role: "kafka-role", principal: "kafka-principal", kind: "sdk", share: 10},
		{name: "cassandra", role: "cassandra-role", principal: "cassandra-principal", kind: "sdk", share: 10},
		{name: "metronome", role: "*", principal: "dcos_metronome", kind: "job", share: 10},
	}
	for i := range g.frameworks {
		f := &g.frameworks[i]
		f.id = fmt.Sprintf("%s-%04d", g.masterID, i)
		st.GetFrameworks.Frameworks = append(st.GetFrameworks.Frameworks, g.framework(f))
	}
	g.ports = make([]uint32, agents)
	g.ipNext = make([]int, agents)
	for i := range n {
		st.GetTasks.Tasks = append(st.GetTasks.Tasks, g.task(i, n))
	}
	return st
}

// SyntheticScenario wraps Synthetic for Options.Scenario.
func SyntheticScenario(n int, seed int64) *Scenario {
	sc := &Scenario{Format: FormatSynthetic, State: Synthetic(n, seed)}
	sc.MasterID = deriveMasterID(sc)
	return sc
}

type synthFramework struct {
	id, name, role, principal, kind string
	share                           int
	apps                            []synthApp
	next                            int
}

type synthApp struct {
	path      string // /prod/payments/api
	network   string // host, bridge, container
	container string // MESOS, DOCKER
	image     string
	ports     []synthPort
	health    bool
	labels    []mesos.Label
	instances int
}

type synthPort struct {
	name, protocol string
	container      uint32
	vip            string
}

type synth struct {
	rng        *rand.Rand
	masterID   string
	base       int64
	agents     []master.Response_GetAgents_Agent
	frameworks []synthFramework
	ports      []uint32 // next host port per agent
	ipNext     []int    // next container IP per agent
}

func (g *synth) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *synth) uuidBytes() []byte {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

func (g *synth) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func str(s string) *string { return &s }

func agentAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(32 + (i/254)%96), byte(1 + i%254)})
}

func (g *synth) agent(i int) master.Response_GetAgents_Agent {
	ip := agentAddr(i)
	port := int32(5051)
	pid := fmt.Sprintf("slave(1)@%s:5051", ip)
	star := "*"
	res := func(role *string) []mesos.Resource {
		return []mesos.Resource{
			rangesResource("ports", defaultAgentPorts, role, nil),
			scalar("disk", 47170, role, nil),
			scalar("cpus", 16, role, nil),
			scalar("mem", 63288, role, nil),
		}
	}
	zone := fmt.Sprintf("zone-%c", 'a'+i%3)
	attrs := []mesos.Attribute{{Name: "zone", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: zone}}}
	if i%10 == 9 {
		attrs = append(attrs, mesos.Attribute{Name: "public_ip", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "true"}})
	}
	t := g.base*1e9 + int64(i)*1e6
	deactivated := false
	a := master.Response_GetAgents_Agent{
		AgentInfo: mesos.AgentInfo{
			Hostname:   ip.String(),
			Port:       &port,
			Resources:  res(nil),
			Attributes: attrs,
			ID:         &mesos.AgentID{Value: fmt.Sprintf("%s-S%d", g.masterID, i)},
		},
		Active:           true,
		Deactivated:      &deactivated,
		Version:          DefaultVersion,
		PID:              &pid,
		RegisteredTime:   timeInfo(t),
		ReregisteredTime: timeInfo(t),
		TotalResources:   res(&star),
	}
	for _, c := range agentCapabilities {
		a.Capabilities = append(a.Capabilities, mesos.AgentInfo_Capability{Type: c})
	}
	return a
}

func (g *synth) framework(f *synthFramework) master.Response_GetFrameworks_Framework {
	failover, checkpoint := 604800.0, true
	caps := []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}, {Type: mesos.FrameworkInfo_Capability_REGION_AWARE}}
	user := "root"
	if f.kind == "marathon" {
		caps = append([]mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}, {Type: mesos.FrameworkInfo_Capability_GPU_RESOURCES}}, caps...)
	}
	if f.kind == "sdk" {
		user = "nobody"
		caps = append(caps, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT})
	}
	info := mesos.FrameworkInfo{
		User: user, Name: f.name, ID: &mesos.FrameworkID{Value: f.id},
		FailoverTimeout: &failover, Checkpoint: &checkpoint,
		Hostname: str("198.18.32.250"), Principal: &f.principal, Capabilities: caps,
	}
	if f.role != "*" {
		info.Role = &f.role
	}
	if f.kind == "marathon" {
		info.WebUiURL = str("http://198.18.32.250:8080")
	}
	t := timeInfo(g.base * 1e9)
	return master.Response_GetFrameworks_Framework{FrameworkInfo: info, Active: true, Connected: true,
		RegisteredTime: t, ReregisteredTime: t}
}

var (
	synthGroups   = []string{"", "prod", "staging", "dev", "team-a", "team-b", "platform"}
	synthServices = []string{"payments", "search", "web", "analytics", "auth", "catalog", "orders", "billing", "media"}
	synthApps     = []string{"api", "frontend", "worker", "cache", "proxy", "gateway", "scheduler", "db"}
	synthPorts    = []string{"http", "admin", "metrics", "grpc", "dns"}
	synthImages   = []string{"nginx:1.25-alpine", "python:3-alpine", "mesosphere/marathon-lb:v1.15.0", "example/payments-api:2.4.1", "example/search:7.10"}
)

// newApp invents a Marathon app (or SDK pod type, or job).
func (g *synth) newApp(f *synthFramework) synthApp {
	a := synthApp{instances: 1 + g.rng.IntN(5)}
	switch f.kind {
	case "sdk":
		a.path = g.pick([]string{"broker", "node", "journal", "data", "coordinator"})
	case "job":
		a.path = "/jobs/" + g.pick(synthServices) + "-" + g.pick([]string{"backup", "report", "cleanup", "sync"})
	default:
		parts := []string{}
		if grp := g.pick(synthGroups); grp != "" {
			parts = append(parts, grp, g.pick(synthServices))
		}
		parts = append(parts, g.pick(synthApps)+fmt.Sprint(g.rng.IntN(100)))
		a.path = "/" + strings.Join(parts, "/")
	}
	switch r := g.rng.IntN(10); {
	case r < 4 || f.kind == "job":
		a.network = "host"
	case r < 7:
		a.network = "bridge"
	default:
		a.network = "container"
	}
	a.container = "DOCKER"
	if f.kind == "sdk" || g.rng.IntN(3) == 0 {
		a.container = "MESOS"
	}
	a.image = g.pick(synthImages)
	if f.kind != "job" {
		for i := range 1 + g.rng.IntN(3) {
			p := synthPort{name: synthPorts[i], protocol: "tcp", container: uint32(8080 + i)}
			if p.name == "dns" {
				p.protocol, p.container = "udp", 53
			}
			if i == 0 && g.rng.IntN(10) < 6 {
				switch g.rng.IntN(3) {
				case 0:
					p.vip = fmt.Sprintf("%s:%d", a.path, 80)
				case 1:
					p.vip = fmt.Sprintf("%s:%d", strings.ReplaceAll(strings.Trim(a.path, "/"), "/", "-"), 80)
				default:
					p.vip = fmt.Sprintf("198.18.%d.%d:%d", g.rng.IntN(16), 1+g.rng.IntN(254), 80+g.rng.IntN(8000))
				}
			}
			a.ports = append(a.ports, p)
		}
	}
	a.health = f.kind != "job" && g.rng.IntN(2) == 0
	a.labels = []mesos.Label{{Key: "DCOS_SPACE", Value: str(a.path)}}
	if f.kind == "marathon" && g.rng.IntN(3) == 0 {
		a.labels = append(a.labels,
			mesos.Label{Key: "HAPROXY_GROUP", Value: str("external")},
			mesos.Label{Key: "HAPROXY_0_VHOST", Value: str(strings.Trim(strings.ReplaceAll(a.path, "/", "-"), "-") + ".example.com")})
	}
	return a
}

// task builds task i: it picks a framework by share, an app of that
// framework (starting a new one when the previous has all its instances),
// and an agent round-robin.
func (g *synth) task(i, n int) mesos.Task {
	r := g.rng.IntN(100)
	f := &g.frameworks[len(g.frameworks)-1]
	for j := range g.frameworks {
		if r < g.frameworks[j].share {
			f = &g.frameworks[j]
			break
		}
		r -= g.frameworks[j].share
	}
	if len(f.apps) == 0 || f.apps[len(f.apps)-1].instances <= 0 {
		f.apps = append(f.apps, g.newApp(f))
	}
	app := &f.apps[len(f.apps)-1]
	app.instances--
	index := f.next
	f.next++
	agentIdx := i % len(g.agents)
	agent := &g.agents[agentIdx]
	agentIP := agentAddr(agentIdx)

	var name, id, discoveryName string
	var executor *mesos.ExecutorID
	user := "root"
	switch f.kind {
	case "sdk":
		name = fmt.Sprintf("%s-%d-server", app.path, index)
		id = name + "__" + g.uuid()
		discoveryName = fmt.Sprintf("%s-%d", app.path, index)
		executor = &mesos.ExecutorID{Value: app.path + "__" + g.uuid()}
		user = "nobody"
	default:
		segs := strings.Split(strings.Trim(app.path, "/"), "/")
		for l, r := 0, len(segs)-1; l < r; l, r = l+1, r-1 {
			segs[l], segs[r] = segs[r], segs[l]
		}
		name = strings.Join(segs, ".")
		id = strings.ReplaceAll(strings.Trim(app.path, "/"), "/", "_") + "." + g.uuid()
		discoveryName = name
	}
	role := f.role
	alloc := &mesos.Resource_AllocationInfo{Role: &role}
	l := &launch{
		spec: TaskSpec{Name: name, DiscoveryName: discoveryName, Image: app.image, CPUs: 0.1 * float64(1+g.rng.IntN(10)),
			Mem: float64(128 * (1 + g.rng.IntN(16)))},
		container: app.container, network: app.network, agentIP: agentIP, id: id, agentIdx: agentIdx,
		agentID: agent.AgentInfo.GetID().GetValue(),
		fw:      &master.Response_GetFrameworks_Framework{FrameworkInfo: mesos.FrameworkInfo{Role: &role}},
	}
	if app.network == "container" {
		l.netName = "dcos"
	}
	for _, p := range app.ports {
		tp := taskPort{name: p.name, protocols: []string{p.protocol}}
		if p.vip != "" {
			key := "VIP_0"
			if f.kind == "sdk" {
				key = "VIP_" + g.uuid()
			}
			tp.labels = Labels{{Key: key, Value: p.vip}}
		}
		if app.network != "host" {
			tp.container = p.container
		}
		if app.network != "container" || g.rng.IntN(4) == 0 {
			if g.ports[agentIdx] == 0 {
				g.ports[agentIdx] = 10000
			}
			tp.host = g.ports[agentIdx]
			g.ports[agentIdx]++
		}
		l.ports = append(l.ports, tp)
	}
	if app.network != "host" {
		k := g.ipNext[agentIdx]
		g.ipNext[agentIdx]++
		host := 2 + (agentIdx/256)*16 + k%16
		l.ips = []netip.Addr{netip.AddrFrom4([4]byte{198, 19, byte(agentIdx % 256), byte(host % 254)})}
	}

	task := mesos.Task{
		Name:        name,
		TaskID:      mesos.TaskID{Value: id},
		FrameworkID: mesos.FrameworkID{Value: f.id},
		ExecutorID:  executor,
		AgentID:     mesos.AgentID{Value: l.agentID},
		Resources:   l.resources(),
		Discovery:   l.discovery(),
		User:        &user,
	}
	for k := range task.Resources {
		task.Resources[k].AllocationInfo = alloc
	}
	if f.kind == "job" {
		task.Discovery = nil // Metronome jobs have no DiscoveryInfo
	}
	labels := append([]mesos.Label(nil), app.labels...)
	if f.kind == "sdk" {
		labels = append(labels,
			mesos.Label{Key: "goal_state", Value: str("RUNNING")},
			mesos.Label{Key: "index", Value: str(fmt.Sprint(index))},
			mesos.Label{Key: "offer_hostname", Value: str(agentIP.String())},
			mesos.Label{Key: "target_configuration", Value: str(g.uuid())},
			mesos.Label{Key: "task_type", Value: str(app.path)})
	} else {
		labels = append(labels, mesos.Label{Key: "MARATHON_APP_VERSION", Value: str("2024-03-1" + fmt.Sprint(g.rng.IntN(10)) + "T08:15:31.512Z")})
	}
	task.Labels = &mesos.Labels{Labels: labels}
	var starting, running []mesos.NetworkInfo
	task.Container, starting, running = l.containerInfo()
	if app.health {
		l.spec.HealthCheck = &HealthCheckSpec{}
		task.HealthCheck, _ = l.healthCheck()
	}

	// Status history: most tasks run; a few are still starting or being
	// killed.
	state := mesos.TASK_RUNNING
	switch r := g.rng.IntN(100); {
	case r < 2:
		state = mesos.TASK_STARTING
	case r < 3:
		state = mesos.TASK_KILLING
	}
	containerID := &mesos.ContainerID{Value: g.uuid()}
	t0 := float64(g.base) + float64(i)*0.37
	status := func(s mesos.TaskState, ts float64, nis []mesos.NetworkInfo, reason *mesos.TaskStatus_Reason, healthy *bool) mesos.TaskStatus {
		exec := executor
		if exec == nil {
			exec = &mesos.ExecutorID{Value: id}
		}
		st := mesos.TaskStatus{
			TaskID: task.TaskID, State: s.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), Reason: reason,
			AgentID: &mesos.AgentID{Value: l.agentID}, ExecutorID: exec, Timestamp: &ts, UUID: g.uuidBytes(),
			Healthy:         healthy,
			ContainerStatus: &mesos.ContainerStatus{ContainerID: containerID, NetworkInfos: nis},
		}
		if app.container == "MESOS" {
			pid := uint32(1000 + g.rng.IntN(60000))
			st.ContainerStatus.ExecutorPID = &pid
		}
		return st
	}
	task.Statuses = append(task.Statuses, status(mesos.TASK_STARTING, t0, starting, nil, nil))
	if state != mesos.TASK_STARTING {
		task.Statuses = append(task.Statuses, status(mesos.TASK_RUNNING, t0+2.5, running, nil, nil))
		if app.health && g.rng.IntN(10) > 0 {
			healthy := g.rng.IntN(10) > 0
			task.Statuses = append(task.Statuses, status(mesos.TASK_RUNNING, t0+17, running,
				mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(), &healthy))
		}
	}
	if state == mesos.TASK_KILLING {
		task.Statuses = append(task.Statuses, status(mesos.TASK_KILLING, t0+60, running, nil, nil))
	}
	last := task.Statuses[len(task.Statuses)-1]
	task.State = state.Enum()
	task.StatusUpdateState = last.State
	task.StatusUpdateUUID = last.UUID
	return task
}
