package mesossim

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

var taskIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// LaunchTask launches a task: TASK_ADDED in TASK_STAGING, then TASK_UPDATED
// TASK_STARTING and TASK_RUNNING (and a health status), as far as spec.State
// says. It returns the task as GET_STATE now shows it.
func (s *Server) LaunchTask(spec TaskSpec) (mesos.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	plan, err := s.planTask(spec)
	if err != nil {
		return mesos.Task{}, err
	}
	k := keyOf(&plan.task)
	if err := s.publishLocked(&master.Event{Type: master.Event_TASK_ADDED,
		TaskAdded: &master.Event_TaskAdded{Task: plan.task}}); err != nil {
		return mesos.Task{}, err
	}
	current := func() *mesos.Task { return s.c.tasks[s.c.index[k]] }
	if plan.target == mesos.TASK_STARTING || plan.target == mesos.TASK_RUNNING {
		st := s.statusFor(current(), mesos.TASK_STARTING, mesos.SOURCE_EXECUTOR, nil, "", nil)
		st.ContainerStatus = &mesos.ContainerStatus{ContainerID: &mesos.ContainerID{Value: s.uuidString()},
			NetworkInfos: plan.starting}
		if plan.task.GetContainer().GetType() == mesos.ContainerInfo_MESOS {
			// The Mesos containerizer reports its executor's pid.
			b := s.uuid()
			pid := 1000 + uint32(b[0])<<8 + uint32(b[1])
			st.ContainerStatus.ExecutorPID = &pid
		}
		if err := s.publishLocked(taskUpdated(current(), st)); err != nil {
			return mesos.Task{}, err
		}
	}
	if plan.target == mesos.TASK_RUNNING {
		st := s.statusFor(current(), mesos.TASK_RUNNING, mesos.SOURCE_EXECUTOR, nil, "", nil)
		st.ContainerStatus.NetworkInfos = plan.running
		if plan.task.GetContainer().GetType() == mesos.ContainerInfo_DOCKER {
			// The Docker executor attaches `docker inspect` output to its
			// first TASK_RUNNING; the captures show it empty.
			st.Data = []byte{}
		}
		if err := s.publishLocked(taskUpdated(current(), st)); err != nil {
			return mesos.Task{}, err
		}
		if plan.task.HealthCheck != nil && spec.Healthy != nil {
			reason := mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
			h := *spec.Healthy
			st := s.statusFor(current(), mesos.TASK_RUNNING, mesos.SOURCE_EXECUTOR, &reason, "", &h)
			if err := s.publishLocked(taskUpdated(current(), st)); err != nil {
				return mesos.Task{}, err
			}
		}
	}
	return *proto.Clone(current()).(*mesos.Task), nil
}

// taskPlan is a validated launch: the task for TASK_ADDED, how far to take
// it, and the network infos its STARTING and RUNNING statuses report.
type taskPlan struct {
	task              mesos.Task
	target            mesos.TaskState
	starting, running []mesos.NetworkInfo
}

// taskPort is a port of a task being launched, with its host port resolved.
type taskPort struct {
	name            string
	protocols       []string
	container, host uint32
	labels          Labels
}

// launch holds the resolved choices of a launch.
type launch struct {
	spec      TaskSpec
	container string // "", MESOS, DOCKER
	network   string // host, bridge, container
	netName   string
	fw        *master.Response_GetFrameworks_Framework
	agentIdx  int
	agentID   string
	agentIP   netip.Addr
	id        string
	ports     []taskPort
	ips       []netip.Addr
}

// planTask validates spec against the cluster and builds the task. s.mu
// must be held.
func (s *Server) planTask(spec TaskSpec) (*taskPlan, error) {
	l := &launch{spec: spec}
	target, err := l.validate()
	if err != nil {
		return nil, err
	}
	if l.fw, err = s.resolveFramework(spec.Framework); err != nil {
		return nil, err
	}
	if l.agentIdx, err = s.resolveAgent(spec.Agent); err != nil {
		return nil, err
	}
	agent := &s.c.agents[l.agentIdx]
	l.agentID = agent.AgentInfo.GetID().GetValue()
	var ok bool
	if l.agentIP, ok = agentIP(agent); !ok {
		return nil, specErr("agent", "agent %s has no IP address in its pid or hostname", l.agentID)
	}
	fwID := l.fw.FrameworkInfo.GetID().GetValue()
	l.id = spec.ID
	if l.id == "" {
		l.id = taskIDUnsafe.ReplaceAllString(strings.Trim(spec.Name, "/"), "_") + "." + s.uuidString()
	}
	if _, exists := s.c.index[taskKey{fwID, l.id}]; exists {
		return nil, fmt.Errorf("task %q of framework %s: %w", l.id, fwID, ErrConflict)
	}
	if err := s.resolvePorts(l, agent); err != nil {
		return nil, err
	}
	if err := s.resolveIPs(l); err != nil {
		return nil, err
	}

	task := mesos.Task{
		Name:        spec.Name,
		TaskID:      mesos.TaskID{Value: l.id},
		FrameworkID: mesos.FrameworkID{Value: fwID},
		AgentID:     mesos.AgentID{Value: l.agentID},
		State:       mesos.TASK_STAGING.Enum(),
		Resources:   l.resources(),
		Discovery:   l.discovery(),
	}
	if len(spec.Labels) > 0 {
		task.Labels = &mesos.Labels{Labels: spec.Labels.mesos()}
	}
	plan := &taskPlan{target: target}
	task.Container, plan.starting, plan.running = l.containerInfo()
	if spec.HealthCheck != nil {
		if task.HealthCheck, err = l.healthCheck(); err != nil {
			return nil, err
		}
	}
	plan.task = task
	return plan, nil
}

// validate checks the fields that do not depend on the cluster and returns
// the state the launch stops at.
func (l *launch) validate() (mesos.TaskState, error) {
	spec := l.spec
	if spec.Name == "" {
		return 0, specErr("name", "required")
	}
	target := mesos.TASK_RUNNING
	if spec.State != "" {
		st, err := parseState("state", spec.State)
		if err != nil {
			return 0, err
		}
		if st != mesos.TASK_STAGING && st != mesos.TASK_STARTING && st != mesos.TASK_RUNNING {
			return 0, specErr("state", "a launch stops at TASK_STAGING, TASK_STARTING or TASK_RUNNING, not %s", st)
		}
		target = st
	}
	l.container = strings.ToUpper(spec.Container)
	if l.container != "" && l.container != "MESOS" && l.container != "DOCKER" {
		return 0, specErr("container", "want MESOS, DOCKER or empty, got %q", spec.Container)
	}
	l.network = strings.ToLower(spec.Network)
	switch l.network {
	case "":
		l.network = "host"
	case "host", "bridge", "container":
	default:
		return 0, specErr("network", "want host, bridge or container, got %q", spec.Network)
	}
	if l.network != "host" && l.container == "" {
		return 0, specErr("network", "%s networking needs container MESOS or DOCKER", l.network)
	}
	l.netName = spec.NetworkName
	if l.network == "container" && l.netName == "" {
		l.netName = "dcos"
	}
	if l.network != "container" && l.netName != "" {
		return 0, specErr("network_name", "only used with container networking")
	}
	if spec.Healthy != nil && spec.HealthCheck == nil {
		return 0, specErr("healthy", "requires health_check")
	}
	if spec.CPUs < 0 {
		return 0, specErr("cpus", "must not be negative")
	}
	if spec.Mem < 0 {
		return 0, specErr("mem", "must not be negative")
	}
	return target, nil
}

// resolvePorts validates the ports and allocates missing host ports from
// the agent's port range.
func (s *Server) resolvePorts(l *launch, agent *master.Response_GetAgents_Agent) error {
	used := s.hostPorts(l.agentID)
	for i, ps := range l.spec.Ports {
		field := fmt.Sprintf("ports[%d]", i)
		p := taskPort{name: ps.Name, container: ps.ContainerPort, host: ps.HostPort, labels: ps.Labels}
		if p.name == "" {
			p.name = "default"
			if i > 0 {
				p.name = fmt.Sprintf("port%d", i)
			}
		}
		switch strings.ToLower(strings.ReplaceAll(ps.Protocol, " ", "")) {
		case "", "tcp":
			p.protocols = []string{"tcp"}
		case "udp":
			p.protocols = []string{"udp"}
		case "udp,tcp", "tcp,udp":
			p.protocols = []string{"udp", "tcp"}
		default:
			return specErr(field+".protocol", "want tcp, udp or udp,tcp, got %q", ps.Protocol)
		}
		if p.container > 65535 {
			return specErr(field+".container_port", "%d is not in [1, 65535]", p.container)
		}
		if p.host > 65535 {
			return specErr(field+".host_port", "%d is not in [1, 65535]", p.host)
		}
		switch {
		case l.network == "host" && p.container != 0:
			return specErr(field+".container_port", "not used with host networking; set host_port")
		case l.network != "host" && p.container == 0:
			return specErr(field+".container_port", "required with %s networking", l.network)
		}
		if p.host != 0 {
			if used[uint64(p.host)] {
				return specErr(field+".host_port", "port %d is in use on agent %s", p.host, l.agentID)
			}
			used[uint64(p.host)] = true
		}
		l.ports = append(l.ports, p)
	}
	ranges := defaultAgentPorts
	for _, r := range agent.AgentInfo.Resources {
		if r.Name == "ports" && r.Ranges != nil {
			ranges = r.Ranges.Range
		}
	}
	for i := range l.ports {
		if l.ports[i].host != 0 || l.network == "container" {
			continue
		}
		p, ok := freePort(ranges, used)
		if !ok {
			return specErr("agent", "no free port left on agent %s", l.agentID)
		}
		l.ports[i].host = p
		used[uint64(p)] = true
	}
	return nil
}

func freePort(ranges []mesos.Value_Range, used map[uint64]bool) (uint32, bool) {
	for _, rg := range ranges {
		for p := rg.Begin; p <= rg.End && p <= 65535; p++ {
			if !used[p] {
				return uint32(p), true
			}
		}
	}
	return 0, false
}

// resolveIPs parses the container IPs or allocates one from
// 198.19.<agent index>.0/24.
func (s *Server) resolveIPs(l *launch) error {
	for i, text := range l.spec.IPs {
		ip, err := netip.ParseAddr(text)
		if err != nil {
			return specErr(fmt.Sprintf("ips[%d]", i), "%q is not an IP address", text)
		}
		l.ips = append(l.ips, ip)
	}
	if l.network == "host" {
		if len(l.ips) > 0 {
			return specErr("ips", "host networking uses the agent's IP")
		}
		return nil
	}
	if len(l.ips) > 0 {
		return nil
	}
	inUse := s.containerIPs()
	subnet := byte(l.agentIdx % 256)
	for host := 2; host < 255; host++ {
		ip := netip.AddrFrom4([4]byte{198, 19, subnet, byte(host)})
		if !inUse[ip] {
			l.ips = append(l.ips, ip)
			return nil
		}
	}
	return specErr("ips", "198.19.%d.0/24 is full; pass ips", subnet)
}

// resources returns cpus, mem and the host ports, allocated to the
// framework's role.
func (l *launch) resources() []mesos.Resource {
	role := l.fw.FrameworkInfo.GetRole()
	if role == "" {
		role = "*"
	}
	alloc := &mesos.Resource_AllocationInfo{Role: &role}
	cpus, mem := l.spec.CPUs, l.spec.Mem
	if cpus == 0 {
		cpus = 0.1
	}
	if mem == 0 {
		mem = 128
	}
	out := []mesos.Resource{scalar("cpus", cpus, nil, alloc), scalar("mem", mem, nil, alloc)}
	var hosts []uint64
	for _, p := range l.ports {
		if p.host != 0 {
			hosts = append(hosts, uint64(p.host))
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i] < hosts[j] })
	var ranges []mesos.Value_Range
	for _, p := range hosts {
		if n := len(ranges); n > 0 && ranges[n-1].End+1 == p {
			ranges[n-1].End = p
		} else {
			ranges = append(ranges, mesos.Value_Range{Begin: p, End: p})
		}
	}
	if len(ranges) > 0 {
		out = append(out, rangesResource("ports", ranges, nil, alloc))
	}
	return out
}

// scopeLabels are the labels Marathon puts on DiscoveryInfo ports.
func (l *launch) scopeLabels() []mesos.Label {
	kv := func(k, v string) mesos.Label { return mesos.Label{Key: k, Value: &v} }
	switch l.network {
	case "bridge":
		return []mesos.Label{kv("network-scope", "host")}
	case "container":
		return []mesos.Label{kv("network-scope", "container"), kv("network-name", l.netName)}
	}
	return nil
}

// discovery returns the DiscoveryInfo Marathon writes: one port per
// protocol, numbered with the host port (host, bridge) or the container port
// (container networking, which gets a port 0 "default" entry when it has no
// ports).
func (l *launch) discovery() *mesos.DiscoveryInfo {
	name := l.spec.DiscoveryName
	if name == "" {
		name = l.spec.Name
	}
	di := &mesos.DiscoveryInfo{Visibility: mesos.FRAMEWORK, Name: &name, Ports: &mesos.Ports{}}
	for _, p := range l.ports {
		number := p.host
		if l.network == "container" {
			number = p.container
		}
		for _, proto := range p.protocols {
			labels := append(p.labels.mesos(), l.scopeLabels()...)
			dp := mesos.Port{Number: number, Name: &p.name, Protocol: &proto}
			if len(labels) > 0 {
				dp.Labels = &mesos.Labels{Labels: labels}
			}
			di.Ports.Ports = append(di.Ports.Ports, dp)
		}
	}
	if len(l.ports) == 0 && l.network == "container" {
		name, proto := "default", "tcp"
		di.Ports.Ports = append(di.Ports.Ports, mesos.Port{Number: 0, Name: &name, Protocol: &proto,
			Labels: &mesos.Labels{Labels: l.scopeLabels()}})
	}
	return di
}

func ipAddress(ip netip.Addr) mesos.NetworkInfo_IPAddress {
	proto := mesos.IPv4
	if !ip.Is4() {
		proto = mesos.IPv6
	}
	text := ip.String()
	return mesos.NetworkInfo_IPAddress{Protocol: proto.Enum(), IPAddress: &text}
}

// containerInfo returns the task's ContainerInfo and the network infos of
// its STARTING and RUNNING statuses, shaped like the DC/OS networking
// matrix in the captures (Docker reports the agent IP until RUNNING; UCR
// reports the CNI network from STARTING on).
func (l *launch) containerInfo() (*mesos.ContainerInfo, []mesos.NetworkInfo, []mesos.NetworkInfo) {
	hostNI := []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{ipAddress(l.agentIP)}}}
	var addrs []mesos.NetworkInfo_IPAddress
	for _, ip := range l.ips {
		addrs = append(addrs, ipAddress(ip))
	}
	var dockerPM []mesos.ContainerInfo_DockerInfo_PortMapping
	var cniPM []mesos.NetworkInfo_PortMapping
	for _, p := range l.ports {
		if l.network == "host" || p.host == 0 {
			continue
		}
		for _, proto := range p.protocols {
			dockerPM = append(dockerPM, mesos.ContainerInfo_DockerInfo_PortMapping{HostPort: p.host, ContainerPort: p.container, Protocol: &proto})
			cniPM = append(cniPM, mesos.NetworkInfo_PortMapping{HostPort: p.host, ContainerPort: p.container, Protocol: &proto})
		}
	}
	switch l.container {
	case "DOCKER":
		image := l.spec.Image
		if image == "" {
			image = "nginx"
		}
		network := map[string]mesos.ContainerInfo_DockerInfo_Network{
			"host":      mesos.ContainerInfo_DockerInfo_HOST,
			"bridge":    mesos.ContainerInfo_DockerInfo_BRIDGE,
			"container": mesos.ContainerInfo_DockerInfo_USER,
		}[l.network]
		f := false
		ci := &mesos.ContainerInfo{
			Type: mesos.ContainerInfo_DOCKER.Enum(),
			Docker: &mesos.ContainerInfo_DockerInfo{
				Image:          image,
				Network:        network.Enum(),
				PortMappings:   dockerPM,
				Privileged:     &f,
				Parameters:     []mesos.Parameter{{Key: "label", Value: "MESOS_TASK_ID=" + l.id}},
				ForcePullImage: &f,
			},
		}
		switch l.network {
		case "bridge":
			return ci, hostNI, []mesos.NetworkInfo{{IPAddresses: addrs}}
		case "container":
			ci.NetworkInfos = []mesos.NetworkInfo{{Name: &l.netName}}
			return ci, hostNI, []mesos.NetworkInfo{{IPAddresses: addrs, Name: &l.netName}}
		}
		return ci, hostNI, hostNI
	case "MESOS":
		ci := &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Mesos: &mesos.ContainerInfo_MesosInfo{}}
		if l.spec.Image != "" {
			cached := true
			ci.Mesos.Image = &mesos.Image{Type: mesos.Image_DOCKER.Enum(), Docker: &mesos.Image_Docker{Name: l.spec.Image}, Cached: &cached}
		}
		if l.network == "host" {
			return ci, hostNI, hostNI
		}
		name := l.netName
		if l.network == "bridge" {
			name = "mesos-bridge"
		}
		request := mesos.IPv4
		if !l.ips[0].Is4() {
			request = mesos.IPv6
		}
		ci.NetworkInfos = []mesos.NetworkInfo{{
			IPAddresses:  []mesos.NetworkInfo_IPAddress{{Protocol: request.Enum()}},
			Name:         &name,
			Labels:       &mesos.Labels{},
			PortMappings: cniPM,
		}}
		ni := []mesos.NetworkInfo{{IPAddresses: addrs, Name: &name, Labels: &mesos.Labels{}, PortMappings: cniPM}}
		return ci, ni, ni
	}
	return nil, hostNI, hostNI
}

// healthCheck builds a Marathon-style health check (delay 15 s, interval
// 60 s, timeout 20 s, 3 failures, grace 300 s).
func (l *launch) healthCheck() (*mesos.HealthCheck, error) {
	spec := l.spec.HealthCheck
	typ := strings.ToUpper(spec.Type)
	if typ == "" {
		typ = "COMMAND"
		if len(l.ports) > 0 || spec.Port != 0 {
			typ = "HTTP"
		}
	}
	port := spec.Port
	if port == 0 && len(l.ports) > 0 {
		port = l.ports[0].host
		if l.network == "container" {
			port = l.ports[0].container
		}
	}
	delay, interval, timeout, grace := 15.0, 60.0, 20.0, 300.0
	failures := uint32(3)
	hc := &mesos.HealthCheck{DelaySeconds: &delay, IntervalSeconds: &interval, TimeoutSeconds: &timeout,
		ConsecutiveFailures: &failures, GracePeriodSeconds: &grace}
	switch typ {
	case "HTTP":
		if port == 0 {
			return nil, specErr("health_check.port", "required for an HTTP check of a task without ports")
		}
		path := spec.Path
		if path == "" {
			path = "/"
		}
		scheme := "http"
		hc.Type = mesos.HealthCheck_HTTP
		hc.HTTP = &mesos.HealthCheck_HTTPCheckInfo{Protocol: mesos.IPv4.Enum(), Scheme: &scheme, Port: port, Path: &path}
	case "TCP":
		if port == 0 {
			return nil, specErr("health_check.port", "required for a TCP check of a task without ports")
		}
		hc.Type = mesos.HealthCheck_TCP
		hc.TCP = &mesos.HealthCheck_TCPCheckInfo{Protocol: mesos.IPv4.Enum(), Port: port}
	case "COMMAND":
		cmd := spec.Command
		if cmd == "" {
			cmd = "true"
		}
		shell := true
		hc.Type = mesos.HealthCheck_COMMAND
		hc.Command = &mesos.CommandInfo{Shell: &shell, Value: &cmd}
	default:
		return nil, specErr("health_check.type", "want HTTP, TCP or COMMAND, got %q", spec.Type)
	}
	return hc, nil
}
