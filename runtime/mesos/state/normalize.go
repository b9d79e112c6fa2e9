package state

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// MaxStatuses is how many statuses the store keeps per task: the newest
// ones, in arrival order. Mesos sends every status of a task's life (a
// handful normally, more for tasks whose health flaps), but normalisation
// only needs the latest, so the history is bounded to keep a TASK_UPDATED
// O(1) in the task's age.
const MaxStatuses = 16

// networkScopeLabel is the DiscoveryInfo port label Marathon sets to "host"
// when the port number is a host port, and to "container" (the default) when
// it is a container port.
const networkScopeLabel = "network-scope"

// defaultPortName names ports that have no name of their own (spec
// dcos-net.md §2.1).
const defaultPortName = "default"

// legacyVIPPrefix starts a legacy task label VIP_PORT<i> (case-insensitive).
const legacyVIPPrefix = "VIP_PORT"

// TaskStateOf maps a Mesos task state to the coarse state of dcos-net:
// TASK_RUNNING is running, TASK_KILLING is killing, the eight terminal states
// are terminal, and everything else (STAGING, STARTING, UNREACHABLE, UNKNOWN,
// values newer than this code) is preparing (spec dcos-net.md §2.1).
func TaskStateOf(s mesos.TaskState) v1.TaskState {
	switch s {
	case mesos.TASK_RUNNING:
		return v1.TaskRunning
	case mesos.TASK_KILLING:
		return v1.TaskKilling
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_LOST,
		mesos.TASK_ERROR, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return v1.TaskTerminal
	}
	return v1.TaskPreparing
}

// Normalize turns a raw Mesos task into a v1.Task exactly as dcos-net does
// (spec dcos-net.md §2.1, §3.1). frameworkName is the name of the task's
// framework and agentIP the address of its agent (invalid if unknown). The
// task's state is task.State, which the store keeps equal to the latest
// TASK_UPDATED.state.
//
// Normalize never drops a task for bad data: an unparsable VIP label, port
// number or status IP is left out and the rest is kept. The returned error
// then names the task and every offending label or value (errors.Join); the
// v1.Task is valid to use in either case.
func Normalize(task *mesos.Task, frameworkName string, agentIP netip.Addr) (v1.Task, error) {
	if task == nil {
		return v1.Task{}, errors.New("normalize task: nil task")
	}
	t := v1.Task{
		Key:       v1.TaskKey{FrameworkID: task.FrameworkID.Value, TaskID: task.TaskID.Value},
		Name:      task.Name,
		Framework: frameworkName,
		AgentID:   task.AgentID.Value,
		AgentIP:   agentIP,
		Runtime:   runtimeOf(task.Container),
		State:     v1.TaskPreparing,
	}
	var errs []error
	if d := task.Discovery; d != nil && d.Name != nil && *d.Name != "" {
		t.Name = *d.Name
	}
	if task.State != nil {
		t.State = TaskStateOf(*task.State)
		t.MesosState = task.State.String()
	} else {
		errs = append(errs, errors.New("no state"))
	}

	latest := latestStatus(task.Statuses)
	ips, err := statusIPs(latest)
	if err != nil {
		errs = append(errs, err)
	}
	t.IPs = ips
	t.Health = healthOf(task, latest)

	ports, err := portsOf(task, latest, t.HostNetworked())
	if err != nil {
		errs = append(errs, err)
	}
	t.Ports = ports

	if err := errors.Join(errs...); err != nil {
		return t, fmt.Errorf("normalize task %s: %w", t.Key, err)
	}
	return t, nil
}

// runtimeOf maps ContainerInfo.type. ContainerInfo.GetType is not used: it
// defaults to DOCKER, while a task without a type has no known runtime.
func runtimeOf(c *mesos.ContainerInfo) v1.Runtime {
	if c == nil || c.Type == nil {
		return v1.RuntimeUnknown
	}
	switch *c.Type {
	case mesos.ContainerInfo_MESOS:
		return v1.RuntimeMesos
	case mesos.ContainerInfo_DOCKER:
		return v1.RuntimeDocker
	}
	return v1.RuntimeUnknown
}

// latestStatus returns the status with the largest timestamp; among equal
// timestamps the later one in the list, which arrived later. Statuses without
// a (finite) timestamp sort first. It returns nil for no statuses.
func latestStatus(statuses []mesos.TaskStatus) *mesos.TaskStatus {
	var latest *mesos.TaskStatus
	best := math.Inf(-1)
	for i := range statuses {
		ts := statuses[i].GetTimestamp()
		if math.IsNaN(ts) {
			ts = math.Inf(-1)
		}
		if latest == nil || ts >= best {
			latest, best = &statuses[i], ts
		}
	}
	return latest
}

// statusIPs returns the container IPs of a status in order, without
// duplicates, IPv4-mapped IPv6 addresses unmapped.
func statusIPs(st *mesos.TaskStatus) ([]netip.Addr, error) {
	var ips []netip.Addr
	var errs []error
	for _, ni := range st.GetContainerStatus().GetNetworkInfos() {
		for _, a := range ni.IPAddresses {
			if a.IPAddress == nil {
				continue
			}
			ip, err := netip.ParseAddr(*a.IPAddress)
			if err != nil {
				errs = append(errs, fmt.Errorf("status IP %q: %w", *a.IPAddress, err))
				continue
			}
			if ip = ip.Unmap(); !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
		}
	}
	return ips, errors.Join(errs...)
}

// healthOf applies DCOS_OSS-1954: the latest status' `healthy` if present,
// else unhealthy if the task has a health check, else unknown.
func healthOf(task *mesos.Task, latest *mesos.TaskStatus) v1.Health {
	switch {
	case latest != nil && latest.Healthy != nil && *latest.Healthy:
		return v1.HealthHealthy
	case latest != nil && latest.Healthy != nil:
		return v1.HealthUnhealthy
	case task.HealthCheck != nil:
		return v1.HealthUnhealthy
	}
	return v1.HealthUnknown
}

// portsOf builds the task's ports (spec dcos-net.md §2.1):
//
//  1. DiscoveryInfo ports, in order: name defaults to "default"; labels whose
//     key starts with "VIP" or "vip" are VIP labels; the label
//     network-scope=host makes the number a host port, otherwise it is a
//     container port; number 0 and protocols other than tcp/udp are dropped.
//  2. Port mappings, from container.docker.port_mappings, then
//     container.network_infos[].port_mappings, then the latest status'
//     container_status.network_infos[].port_mappings (pods and UCR tasks only
//     report them there): a mapping completes the first port of the same
//     protocol whose port or host port it matches, else it becomes a port of
//     its own named "default".
//  3. Legacy task labels VIP_PORT<i>=tcp://<vip> attach <vip> to the port
//     whose port or host port is the i-th port of the task's "ports"
//     resources, else to a new host port of that number.
//  4. For host-networked tasks the host port is the port: HostPort is
//     folded into Port.
//
// tcp and udp ports with the same number stay separate (dcos-net PR #99).
func portsOf(task *mesos.Task, latest *mesos.TaskStatus, hostNetworked bool) ([]v1.Port, error) {
	var ps portSet
	var errs []error

	if d := task.Discovery; d != nil && d.Ports != nil {
		for _, dp := range d.Ports.Ports {
			if err := ps.addDiscoveryPort(dp); err != nil {
				errs = append(errs, err)
			}
		}
	}

	if c := task.Container; c != nil {
		if c.Docker != nil {
			for _, m := range c.Docker.PortMappings {
				if err := ps.addMapping("container.docker.port_mappings", m.Protocol, m.ContainerPort, m.HostPort); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, ni := range c.NetworkInfos {
			for _, m := range ni.PortMappings {
				if err := ps.addMapping("container.network_infos.port_mappings", m.Protocol, m.ContainerPort, m.HostPort); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for _, ni := range latest.GetContainerStatus().GetNetworkInfos() {
		for _, m := range ni.PortMappings {
			if err := ps.addMapping("status port_mappings", m.Protocol, m.ContainerPort, m.HostPort); err != nil {
				errs = append(errs, err)
			}
		}
	}

	for _, l := range task.GetLabels().GetLabels() {
		if err := ps.addLegacyLabel(l, task.Resources); err != nil {
			errs = append(errs, err)
		}
	}

	if hostNetworked {
		for i := range ps.ports {
			if p := &ps.ports[i]; p.HostPort != 0 {
				p.Port, p.HostPort = p.HostPort, 0
			}
		}
	}
	return ps.ports, errors.Join(errs...)
}

// portSet accumulates the ports of one task.
type portSet struct {
	ports []v1.Port
}

// addDiscoveryPort appends a DiscoveryInfo port.
func (ps *portSet) addDiscoveryPort(dp mesos.Port) error {
	name := defaultPortName
	if dp.Name != nil && *dp.Name != "" {
		name = *dp.Name
	}
	proto, ok := protocolOf(dp.Protocol)
	if !ok || dp.Number == 0 {
		return nil
	}
	if dp.Number > math.MaxUint16 {
		return fmt.Errorf("discovery port %q: number %d out of range", name, dp.Number)
	}
	p := v1.Port{Name: name, Protocol: proto}
	hostScope := false
	var errs []error
	for _, l := range dp.GetLabels().GetLabels() {
		switch {
		case l.Key == networkScopeLabel:
			hostScope = l.GetValue() == "host"
		case strings.HasPrefix(l.Key, "VIP") || strings.HasPrefix(l.Key, "vip"):
			vip, err := v1.ParseVIPLabel(l.GetValue())
			if err != nil {
				errs = append(errs, fmt.Errorf("discovery port %q label %s: %w", name, l.Key, err))
				continue
			}
			p.VIPs = addVIP(p.VIPs, vip)
		}
	}
	if hostScope {
		p.HostPort = uint16(dp.Number)
	} else {
		p.Port = uint16(dp.Number)
	}
	ps.ports = append(ps.ports, p)
	return errors.Join(errs...)
}

// addMapping merges a port mapping container->host. A mapping matches a port
// of its protocol when the container port or the host port is equal and the
// other number does not contradict (so two mappings of one container port to
// two host ports stay two ports).
func (ps *portSet) addMapping(source string, protocol *string, container, host uint32) error {
	proto, ok := protocolOf(protocol)
	if !ok {
		return nil
	}
	if container > math.MaxUint16 || host > math.MaxUint16 {
		return fmt.Errorf("%s: mapping %d->%d out of range", source, host, container)
	}
	c, h := uint16(container), uint16(host)
	if c == 0 && h == 0 {
		return nil
	}
	for i := range ps.ports {
		p := &ps.ports[i]
		if p.Protocol != proto {
			continue
		}
		portMatch := c != 0 && p.Port == c
		hostMatch := h != 0 && p.HostPort == h
		if !portMatch && !hostMatch {
			continue
		}
		if (p.Port != 0 && c != 0 && p.Port != c) || (p.HostPort != 0 && h != 0 && p.HostPort != h) {
			continue
		}
		if p.Port == 0 {
			p.Port = c
		}
		if p.HostPort == 0 {
			p.HostPort = h
		}
		return nil
	}
	ps.ports = append(ps.ports, v1.Port{Name: defaultPortName, Protocol: proto, Port: c, HostPort: h})
	return nil
}

// addLegacyLabel handles a task label VIP_PORT<i>=<proto>://<vip>; other
// labels are ignored.
func (ps *portSet) addLegacyLabel(l mesos.Label, resources []mesos.Resource) error {
	if len(l.Key) <= len(legacyVIPPrefix) || !strings.EqualFold(l.Key[:len(legacyVIPPrefix)], legacyVIPPrefix) {
		return nil
	}
	index, err := strconv.ParseUint(l.Key[len(legacyVIPPrefix):], 10, 31)
	if err != nil {
		return nil // e.g. VIP_PORTS: not a legacy VIP label
	}
	value := l.GetValue()
	scheme, rest, ok := strings.Cut(value, "://")
	if !ok {
		return fmt.Errorf("label %s=%q: want tcp://<vip> or udp://<vip>", l.Key, value)
	}
	proto, ok := protocolOf(&scheme)
	if !ok || scheme == "" {
		return fmt.Errorf("label %s=%q: protocol %q is not tcp or udp", l.Key, value, scheme)
	}
	vip, err := v1.ParseVIPLabel(rest)
	if err != nil {
		return fmt.Errorf("label %s: %w", l.Key, err)
	}
	n, err := nthResourcePort(resources, index)
	if err != nil {
		return fmt.Errorf("label %s=%q: %w", l.Key, value, err)
	}
	for i := range ps.ports {
		if p := &ps.ports[i]; p.Protocol == proto && (p.Port == n || p.HostPort == n) {
			p.VIPs = addVIP(p.VIPs, vip)
			return nil
		}
	}
	ps.ports = append(ps.ports, v1.Port{Name: defaultPortName, Protocol: proto, HostPort: n, VIPs: []v1.VIP{vip}})
	return nil
}

// nthResourcePort returns the index-th port (0-based) of the task's "ports"
// resources, RANGES expanded in order and a SCALAR counting as one port,
// without materialising the ranges.
func nthResourcePort(resources []mesos.Resource, index uint64) (uint16, error) {
	left := index
	for _, r := range resources {
		if r.Name != "ports" {
			continue
		}
		if r.Ranges != nil {
			for _, rg := range r.Ranges.Range {
				if rg.End < rg.Begin {
					continue
				}
				if left <= rg.End-rg.Begin {
					return resourcePort(rg.Begin + left)
				}
				left -= rg.End - rg.Begin + 1
			}
			continue
		}
		if r.Scalar != nil {
			if left == 0 {
				v := r.Scalar.Value
				if v != math.Trunc(v) || v < 0 || v > math.MaxUint16 {
					return 0, fmt.Errorf("scalar ports resource %v is not a port number", v)
				}
				return resourcePort(uint64(v))
			}
			left--
		}
	}
	return 0, fmt.Errorf("task has no port at index %d of its ports resources", index)
}

func resourcePort(n uint64) (uint16, error) {
	if n == 0 || n > math.MaxUint16 {
		return 0, fmt.Errorf("ports resource %d out of range", n)
	}
	return uint16(n), nil
}

// protocolOf maps a port protocol, case-insensitively. An absent or empty
// protocol is tcp, the Mesos default for port mappings; Marathon always sets
// it on DiscoveryInfo ports.
func protocolOf(p *string) (v1.Protocol, bool) {
	if p == nil || *p == "" {
		return v1.ProtocolTCP, true
	}
	switch strings.ToLower(*p) {
	case "tcp":
		return v1.ProtocolTCP, true
	case "udp":
		return v1.ProtocolUDP, true
	}
	return "", false
}

// addVIP appends vip unless it is already listed.
func addVIP(vips []v1.VIP, vip v1.VIP) []v1.VIP {
	if slices.Contains(vips, vip) {
		return vips
	}
	return append(vips, vip)
}

// pidIP returns the IP of a libprocess pid such as "slave(1)@10.0.0.1:5051".
func pidIP(pid string) netip.Addr {
	i := strings.LastIndexByte(pid, '@')
	if i < 0 {
		return netip.Addr{}
	}
	host, _, err := net.SplitHostPort(pid[i+1:])
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// MasterFromInfo converts a MasterInfo (from GET_MASTER) to a v1.Master,
// preferring the `address` message over the deprecated ip/port/hostname
// fields. The deprecated `ip` is an IPv4 address packed in network order.
func MasterFromInfo(info *mesos.MasterInfo) v1.Master {
	if info == nil {
		return v1.Master{}
	}
	m := v1.Master{ID: info.ID, Hostname: info.GetHostname()}
	if p := info.GetPort(); p > 0 && p <= math.MaxUint16 {
		m.Port = uint16(p)
	}
	if info.IP != 0 {
		ip := info.IP
		m.IP = netip.AddrFrom4([4]byte{byte(ip), byte(ip >> 8), byte(ip >> 16), byte(ip >> 24)})
	}
	if a := info.Address; a != nil {
		if a.Hostname != nil && *a.Hostname != "" {
			m.Hostname = *a.Hostname
		}
		if ip, err := netip.ParseAddr(a.GetIP()); err == nil {
			m.IP = ip.Unmap()
		}
		if a.Port > 0 && a.Port <= math.MaxUint16 {
			m.Port = uint16(a.Port)
		}
	}
	return m
}
