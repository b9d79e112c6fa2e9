package zone

import (
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/miekg/dns"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// The status labels of the deprecated docker and mesos IP sources.
const (
	dockerIPLabel = "Docker.NetworkSettings.IPAddress"
	mesosIPLabel  = "MesosContainerizer.NetworkSettings.IPAddress"
)

// defaultMasterPort is used for the _leader SRV records when the leader's
// MasterInfo has no port.
const defaultMasterPort = 5050

// maxTaskPorts bounds the resource ports of one task that get SRV records,
// so a task holding a huge port range cannot blow up the zone (Mesos-DNS
// would emit one SRV per port of the range).
const maxTaskPorts = 1024

// value is the data of one record: an address (A, AAAA) or a target and
// port (SRV). Values order by type (A, AAAA, SRV, as the dns type numbers
// do), then address, then target, then port.
type value struct {
	typ    uint16
	port   uint16
	ip     netip.Addr
	target string
}

func (v value) compare(o value) int {
	if v.typ != o.typ {
		if v.typ < o.typ {
			return -1
		}
		return 1
	}
	if c := v.ip.Compare(o.ip); c != 0 {
		return c
	}
	if c := strings.Compare(v.target, o.target); c != 0 {
		return c
	}
	return int(v.port) - int(o.port)
}

// String returns the value as Mesos-DNS's HTTP API shows it: the address,
// or "target:port".
func (v value) String() string {
	if v.typ == dns.TypeSRV {
		return v.target + ":" + strconv.Itoa(int(v.port))
	}
	return v.ip.String()
}

// rec is one generated record: an owner name and a value. dcos marks the
// records of the dcos.thisdcos.directory zone, which have their own TTL.
type rec struct {
	name string
	v    value
	dcos bool
}

// gen derives the records of tasks, agents, frameworks and masters. It is
// immutable and shared by a Builder and its Zones.
type gen struct {
	cfg   Config
	label LabelFunc
	// tail is ".<domain>.", slaveTail ".slave.<domain>.".
	tail, slaveTail string
	// dcosTail is "." + DCOSOrigin.
	dcosTail string
}

func newGen(cfg Config) *gen {
	g := &gen{cfg: cfg, label: RFC1123}
	if cfg.RFC952 {
		g.label = RFC952
	}
	g.tail = "." + cfg.Domain + "."
	g.slaveTail = ".slave" + g.tail
	g.dcosTail = "." + DCOSOrigin
	return g
}

// addIP appends an A or AAAA record unless the address or name is unusable.
func addIP(dst []rec, name string, ip netip.Addr, dcos bool) []rec {
	if !ip.IsValid() || ip.Zone() != "" || !validName(name) {
		return dst
	}
	ip = ip.Unmap()
	typ := dns.TypeA
	if ip.Is6() {
		typ = dns.TypeAAAA
	}
	return append(dst, rec{name: name, v: value{typ: typ, ip: ip}, dcos: dcos})
}

// addSRV appends an SRV record unless a name is unusable.
func addSRV(dst []rec, name, target string, port uint16) []rec {
	if !validName(name) || !validName(target) {
		return dst
	}
	return append(dst, rec{name: name, v: value{typ: dns.TypeSRV, target: target, port: port}})
}

// parseIP parses an address literal, rejecting zones and unmapping
// IPv4-mapped IPv6 addresses.
func parseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// agentAddr returns the address and port Mesos-DNS uses for an agent: the
// host and port of its libprocess pid ("slave(1)@10.0.0.1:5051"), else the
// agent's normalised IP and port (hostname, or its resolution). A pid host
// that is a name is never used as an address (Mesos-DNS issue #509 emitted
// it as a bogus A record).
func agentAddr(a v1.Agent) (netip.Addr, uint16) {
	ip, port := a.IP, a.Port
	if i := strings.LastIndexByte(a.PID, '@'); i >= 0 {
		host, portText, err := net.SplitHostPort(a.PID[i+1:])
		if err == nil {
			if p, err := strconv.ParseUint(portText, 10, 16); err == nil {
				port = uint16(p)
			}
			if pip, ok := parseIP(host); ok {
				ip = pip
			}
		}
	}
	if ip.IsValid() {
		ip = ip.Unmap()
	}
	return ip, port
}

// static appends the records that depend on the leader and configuration
// only: leader.D, _leader._tcp/_udp.D, master.D, masterN.D, the SOA MName
// A/AAAA, and with DCOS leader. and master.dcos.thisdcos.directory.
//
// masterN numbering follows Mesos-DNS's masterRecord: configured masters in
// list order, a master whose address is already listed (or is the leader
// listed before) gets no number, and a leader missing from the list is
// appended as the next number.
func (g *gen) static(dst []rec, leader v1.Master) []rec {
	l := leader.IP
	hasLeader := l.IsValid() && l.Zone() == ""
	if hasLeader {
		l = l.Unmap()
		dst = addIP(dst, "leader"+g.tail, l, false)
		dst = addIP(dst, "master"+g.tail, l, false)
		port := leader.Port
		if port == 0 {
			port = defaultMasterPort
		}
		dst = addSRV(dst, "_leader._tcp"+g.tail, "leader"+g.tail, port)
		dst = addSRV(dst, "_leader._udp"+g.tail, "leader"+g.tail, port)
	}
	n := 0
	leaderNumbered := false
	for i, m := range g.cfg.Masters {
		m = m.Unmap()
		if hasLeader && m == l {
			if leaderNumbered {
				continue
			}
			leaderNumbered = true
		} else {
			if slices.Contains(g.cfg.Masters[:i], m) {
				continue
			}
			dst = addIP(dst, "master"+g.tail, m, false)
		}
		dst = addIP(dst, "master"+strconv.Itoa(n)+g.tail, m, false)
		n++
	}
	if hasLeader && !leaderNumbered {
		dst = addIP(dst, "master"+strconv.Itoa(n)+g.tail, l, false)
	}
	mname := fqdn(g.cfg.SOA.MName)
	for _, ip := range g.cfg.Listener {
		if !ip.IsUnspecified() {
			dst = addIP(dst, mname, ip, false)
		}
	}
	if g.cfg.DCOS {
		if hasLeader {
			dst = addIP(dst, "leader"+g.dcosTail, l, true)
			dst = addIP(dst, "master"+g.dcosTail, l, true)
		}
		for _, m := range g.cfg.Masters {
			dst = addIP(dst, "master"+g.dcosTail, m, true)
		}
	}
	return dst
}

// agent appends slave.D and _slave._tcp.D of an agent. An agent without an
// address gets no record.
func (g *gen) agent(dst []rec, a v1.Agent) []rec {
	ip, port := agentAddr(a)
	if !ip.IsValid() {
		return dst
	}
	dst = addIP(dst, "slave"+g.tail, ip, false)
	return addSRV(dst, "_slave._tcp"+g.tail, "slave"+g.tail, port)
}

// framework appends F.D for a framework whose FrameworkInfo.hostname is an
// IP literal. The v1 API has no scheduler pid, so neither the pid-derived
// address nor _framework._tcp.F.D of Mesos-DNS can be produced, and a
// hostname that is a name is not resolved (Mesos-DNS did, making the zone
// depend on the resolver of the host it ran on).
func (g *gen) framework(dst []rec, f v1.Framework) []rec {
	ip, ok := parseIP(f.Hostname)
	if !ok {
		return dst
	}
	fname := DomainFrag(f.Name, g.label)
	if fname == "" {
		return dst
	}
	return addIP(dst, fname+g.tail, ip, false)
}

// task appends all records of a task: the Mesos-DNS ones when the raw task
// is TASK_RUNNING on a known agent (agent non-nil), and with DCOS the
// dcos.thisdcos.directory ones when the normalised task is running.
func (g *gen) task(dst []rec, t *v1.Task, raw *mesos.Task, agent *v1.Agent) []rec {
	if agent != nil && raw != nil && raw.State != nil && *raw.State == mesos.TASK_RUNNING {
		dst = g.mesosTask(dst, t, raw, *agent)
	}
	if g.cfg.DCOS && t.State == v1.TaskRunning {
		dst = g.dcosTask(dst, t)
	}
	return dst
}

// taskCtx is what the names of one task share.
type taskCtx struct {
	fq, slaveFq     string // ".F.D." and ".F.slave.D."
	hash, agentTail string
	ips             []netip.Addr
	agentIP         netip.Addr
	ports           []uint16
	di              *mesos.DiscoveryInfo // nil without a DiscoveryInfo name
}

// mesosTask appends the Mesos-DNS records of a running task (spec
// mesos-dns.md §1.4).
func (g *gen) mesosTask(dst []rec, t *v1.Task, raw *mesos.Task, agent v1.Agent) []rec {
	fname := DomainFrag(t.Framework, g.label)
	if fname == "" {
		return dst
	}
	agentIP, _ := agentAddr(agent)
	c := taskCtx{
		fq:        "." + fname + g.tail,
		slaveFq:   "." + fname + g.slaveTail,
		hash:      TaskHash(raw.TaskID.Value),
		agentTail: AgentTail(raw.AgentID.Value),
		agentIP:   agentIP,
		ports:     resourcePorts(raw.Resources),
	}
	c.ips = g.taskIPs(raw, agentIP)
	name := raw.Discovery.GetName()
	if name == "" {
		return g.taskNames(dst, g.label(raw.Name), &c)
	}
	c.di = raw.Discovery
	label := g.label(name)
	if !g.cfg.OmitLegacyNames {
		if legacy := legacyName(name); legacy != "" && legacy != label {
			dst = g.taskNames(dst, legacy, &c)
		}
	}
	return g.taskNames(dst, label, &c)
}

// taskNames appends the records of one task label T (Mesos-DNS's
// taskContextRecord): T.F.D and T-H-S.F.D with the task IPs, their .slave
// variants with the agent IP, the resource-port SRVs and the DiscoveryInfo
// SRVs. A task label that is empty after sanitising gets nothing (Mesos-DNS
// would emit ".F.D." names).
func (g *gen) taskNames(dst []rec, tname string, c *taskCtx) []rec {
	if tname == "" {
		return dst
	}
	canon := canonicalLabel(tname, c.hash, c.agentTail)
	arec := tname + c.fq
	for _, ip := range c.ips {
		dst = addIP(dst, arec, ip, false)
		if canon != "" {
			dst = addIP(dst, canon+c.fq, ip, false)
		}
	}
	if c.agentIP.IsValid() {
		dst = addIP(dst, tname+c.slaveFq, c.agentIP, false)
		if canon != "" {
			dst = addIP(dst, canon+c.slaveFq, c.agentIP, false)
		}
	}
	if canon == "" {
		return dst
	}
	if len(c.ports) > 0 {
		slaveHost := canon + c.slaveFq
		tcp, udp := "_"+tname+"._tcp", "_"+tname+"._udp"
		for _, p := range c.ports {
			if c.di == nil {
				dst = addSRV(dst, tcp+c.fq, slaveHost, p)
				dst = addSRV(dst, udp+c.fq, slaveHost, p)
			}
			dst = addSRV(dst, tcp+c.slaveFq, slaveHost, p)
			dst = addSRV(dst, udp+c.slaveFq, slaveHost, p)
		}
	}
	if c.di == nil || c.di.Ports == nil {
		return dst
	}
	target := canon + c.fq
	for _, dp := range c.di.Ports.Ports {
		if dp.Number > math.MaxUint16 {
			continue
		}
		port := uint16(dp.Number)
		pname := g.label(dp.GetName())
		protos := [2]string{g.label(dp.GetProtocol())}
		if protos[0] == "" {
			protos = [2]string{"tcp", "udp"}
		}
		for _, proto := range protos {
			if proto == "" {
				continue
			}
			srv := "_" + tname + "._" + proto + c.fq
			dst = addSRV(dst, srv, target, port)
			if pname != "" {
				dst = addSRV(dst, "_"+pname+"."+srv, target, port)
			}
		}
	}
	return dst
}

// dcosTask appends a running task's records in dcos.thisdcos.directory
// (spec dcos-net.md §1.3): <task>.<framework>.{agentip,containerip,autoip}
// with the task name (DiscoveryInfo name if any) and framework name through
// v1.DCOSLabel. agentip is the agent IP; containerip the IPs of the latest
// status; autoip the agent IP when a port has a host port or the task has
// no container IP, else the container IPs.
func (g *gen) dcosTask(dst []rec, t *v1.Task) []rec {
	name, fw := v1.DCOSLabel(t.Name), v1.DCOSLabel(t.Framework)
	if name == "" || fw == "" {
		return dst
	}
	base := name + "." + fw + "."
	dst = addIP(dst, base+"agentip"+g.dcosTail, t.AgentIP, true)
	for _, ip := range t.IPs {
		dst = addIP(dst, base+"containerip"+g.dcosTail, ip, true)
	}
	hostPort := slices.ContainsFunc(t.Ports, func(p v1.Port) bool { return p.HostPort != 0 })
	if hostPort || len(t.IPs) == 0 {
		return addIP(dst, base+"autoip"+g.dcosTail, t.AgentIP, true)
	}
	for _, ip := range t.IPs {
		dst = addIP(dst, base+"autoip"+g.dcosTail, ip, true)
	}
	return dst
}

// resourcePorts expands the task's "ports" RANGES resources in order (they
// may repeat per role), at most maxTaskPorts of them.
func resourcePorts(resources []mesos.Resource) []uint16 {
	var out []uint16
	for _, r := range resources {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p <= math.MaxUint16; p++ {
				if len(out) == maxTaskPorts {
					return out
				}
				out = append(out, uint16(p))
			}
		}
	}
	return out
}

// latestRunning returns the TASK_RUNNING status with the largest timestamp
// (the first of equal ones), nil if there is none (Mesos-DNS's statusIPs).
func latestRunning(statuses []mesos.TaskStatus) *mesos.TaskStatus {
	var latest *mesos.TaskStatus
	best := math.Inf(-1)
	for i := range statuses {
		st := &statuses[i]
		if st.State == nil || *st.State != mesos.TASK_RUNNING {
			continue
		}
		ts := st.GetTimestamp()
		if math.IsNaN(ts) {
			ts = math.Inf(-1)
		}
		if latest == nil || ts > best {
			latest, best = st, ts
		}
	}
	return latest
}

// sourceIPs appends the addresses one IP source gives for a task.
func sourceIPs(dst []netip.Addr, src string, st *mesos.TaskStatus, agentIP netip.Addr) []netip.Addr {
	switch src {
	case SourceHost:
		if agentIP.IsValid() {
			dst = append(dst, agentIP)
		}
	case SourceNetInfo:
		if st == nil || st.ContainerStatus == nil {
			return dst
		}
		for _, ni := range st.ContainerStatus.NetworkInfos {
			for _, a := range ni.IPAddresses {
				if ip, ok := parseIP(a.GetIPAddress()); ok {
					dst = append(dst, ip)
				}
			}
		}
	case SourceDocker, SourceMesos:
		key := dockerIPLabel
		if src == SourceMesos {
			key = mesosIPLabel
		}
		if st == nil || st.Labels == nil {
			return dst
		}
		for _, l := range st.Labels.Labels {
			if l.Key == key {
				if ip, ok := parseIP(l.GetValue()); ok {
					dst = append(dst, ip)
				}
			}
		}
	}
	return dst
}

// taskIPs returns the task's addresses per the IP sources and mode (spec
// mesos-dns.md §1.5), without duplicates.
func (g *gen) taskIPs(raw *mesos.Task, agentIP netip.Addr) []netip.Addr {
	st := latestRunning(raw.Statuses)
	var buf [8]netip.Addr
	switch g.cfg.IPMode {
	case IPModeFirst:
		for _, src := range g.cfg.IPSources {
			if ips := sourceIPs(buf[:0], src, st, agentIP); len(ips) > 0 {
				return []netip.Addr{ips[0]}
			}
		}
	case IPModeAll:
		for _, src := range g.cfg.IPSources {
			if ips := sourceIPs(buf[:0], src, st, agentIP); len(ips) > 0 {
				out := make([]netip.Addr, 0, len(ips))
				for _, ip := range ips {
					if !slices.Contains(out, ip) {
						out = append(out, ip)
					}
				}
				return out
			}
		}
	default:
		var v4, v6 netip.Addr
		for _, src := range g.cfg.IPSources {
			for _, ip := range sourceIPs(buf[:0], src, st, agentIP) {
				switch {
				case ip.Is4() && !v4.IsValid():
					v4 = ip
				case ip.Is6() && !v6.IsValid():
					v6 = ip
				}
			}
		}
		var out []netip.Addr
		if v4.IsValid() {
			out = append(out, v4)
		}
		if v6.IsValid() {
			out = append(out, v6)
		}
		return out
	}
	return nil
}
