// Package v0test summarises Mesos state documents for tests: the facts a
// networking or DNS system reads (task identities, names, states, agents,
// frameworks, IPs and ports), one sorted line each, so that a v0 capture and
// its v1 conversion can be compared with cmp.Diff. The v0 side is read
// straight from the generic JSON, independently of the converter under test.
package v0test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// FromV0 summarises a v0 master (/master/state) or agent (/state) document.
func FromV0(tb testing.TB, data []byte) []string {
	tb.Helper()
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		tb.Fatalf("decode v0 JSON: %v", err)
	}
	var out []string
	add := func(s string) { out = append(out, s) }
	list := func(m map[string]any, key string) []map[string]any {
		a, _ := m[key].([]any)
		var res []map[string]any
		for _, v := range a {
			if o, ok := v.(map[string]any); ok {
				res = append(res, o)
			}
		}
		return res
	}
	str := func(m map[string]any, key string) string { s, _ := m[key].(string); return s }
	tasks := func(kind string, ts []map[string]any, fw, agent string) {
		for _, t := range ts {
			add(v0Task(kind, t, fw, agent))
		}
	}
	pid := str(root, "pid")
	if _, isMaster := root["slaves"]; isMaster || strings.HasPrefix(pid, "master@") || root["leader"] != nil {
		for _, s := range list(root, "slaves") {
			add(fmt.Sprintf("agent id=%s hostname=%s pid=%s", str(s, "id"), str(s, "hostname"), str(s, "pid")))
		}
		for _, f := range list(root, "frameworks") {
			id := str(f, "id")
			add(fmt.Sprintf("framework id=%s name=%s", id, str(f, "name")))
			tasks("active", list(f, "tasks"), id, "")
			tasks("pending", list(f, "pending_tasks"), id, "")
			tasks("unreachable", list(f, "unreachable_tasks"), id, "")
			tasks("completed", list(f, "completed_tasks"), id, "")
		}
		for _, f := range list(root, "completed_frameworks") {
			id := str(f, "id")
			add(fmt.Sprintf("completed-framework id=%s name=%s", id, str(f, "name")))
			tasks("completed", list(f, "tasks"), id, "")
			tasks("completed", list(f, "completed_tasks"), id, "")
		}
		tasks("orphan", list(root, "orphan_tasks"), "", "")
	} else {
		agent := str(root, "id")
		add(fmt.Sprintf("agent id=%s hostname=%s pid=%s", agent, str(root, "hostname"), pid))
		executors := func(f map[string]any, key string, done bool) {
			for _, e := range list(f, key) {
				kind := "active"
				if done {
					kind = "completed"
				}
				tasks(kind, list(e, "queued_tasks"), str(f, "id"), agent)
				tasks(kind, list(e, "tasks"), str(f, "id"), agent)
				tasks("completed", list(e, "completed_tasks"), str(f, "id"), agent)
			}
		}
		for _, f := range list(root, "frameworks") {
			add(fmt.Sprintf("framework id=%s name=%s", str(f, "id"), str(f, "name")))
			executors(f, "executors", false)
			executors(f, "completed_executors", true)
		}
		for _, f := range list(root, "completed_frameworks") {
			add(fmt.Sprintf("completed-framework id=%s name=%s", str(f, "id"), str(f, "name")))
			executors(f, "executors", true)
			executors(f, "completed_executors", true)
		}
	}
	sort.Strings(out)
	return out
}

func v0Task(kind string, t map[string]any, fw, agent string) string {
	str := func(m map[string]any, key string) string { s, _ := m[key].(string); return s }
	obj := func(m map[string]any, key string) map[string]any { o, _ := m[key].(map[string]any); return o }
	arr := func(m map[string]any, key string) []map[string]any {
		a, _ := m[key].([]any)
		var res []map[string]any
		for _, v := range a {
			if o, ok := v.(map[string]any); ok {
				res = append(res, o)
			}
		}
		return res
	}
	num := func(m map[string]any, key string) string {
		if f, ok := m[key].(float64); ok {
			return fmt.Sprint(uint64(f))
		}
		return "0"
	}
	if s := str(t, "framework_id"); s != "" && fw == "" {
		fw = s // the enclosing framework wins (as for Mesos-DNS)
	}
	if s := str(t, "slave_id"); s != "" {
		agent = s
	}
	ips := map[string]bool{}
	for _, s := range arr(t, "statuses") {
		for _, ni := range arr(obj(s, "container_status"), "network_infos") {
			if ip := str(ni, "ip_address"); ip != "" {
				ips[ip] = true
			}
			for _, a := range arr(ni, "ip_addresses") {
				if ip := str(a, "ip_address"); ip != "" {
					ips[ip] = true
				}
			}
		}
	}
	var ports []string
	if r := str(obj(t, "resources"), "ports"); r != "" {
		for _, p := range strings.Split(strings.Trim(r, "[] "), ",") {
			if p = strings.TrimSpace(p); p != "" {
				ports = append(ports, "res:"+p)
			}
		}
	}
	for _, p := range arr(obj(obj(t, "discovery"), "ports"), "ports") {
		ports = append(ports, fmt.Sprintf("di:%s/%s/%s", str(p, "protocol"), num(p, "number"), str(p, "name")))
	}
	for _, pm := range arr(obj(obj(t, "container"), "docker"), "port_mappings") {
		ports = append(ports, fmt.Sprintf("pm:%s->%s/%s", num(pm, "host_port"), num(pm, "container_port"), str(pm, "protocol")))
	}
	for _, ni := range arr(obj(t, "container"), "network_infos") {
		for _, pm := range arr(ni, "port_mappings") {
			ports = append(ports, fmt.Sprintf("pm:%s->%s/%s", num(pm, "host_port"), num(pm, "container_port"), str(pm, "protocol")))
		}
	}
	return taskLine(kind, fw, str(t, "id"), str(t, "name"), str(t, "state"), agent, ips, ports)
}

func taskLine(kind, fw, id, name, state, agent string, ips map[string]bool, ports []string) string {
	ipList := make([]string, 0, len(ips))
	for ip := range ips {
		ipList = append(ipList, ip)
	}
	sort.Strings(ipList)
	sort.Strings(ports)
	return fmt.Sprintf("%s-task framework=%s id=%s name=%q state=%s agent=%s ips=%v ports=%v",
		kind, fw, id, name, state, agent, ipList, ports)
}

// FromV1 summarises a v1 GET_STATE the way FromV0 summarises a v0 document.
func FromV1(st *master.Response_GetState) []string {
	var out []string
	for _, a := range st.GetGetAgents().GetAgents() {
		out = append(out, fmt.Sprintf("agent id=%s hostname=%s pid=%s", a.AgentInfo.GetID().GetValue(), a.AgentInfo.Hostname, a.GetPID()))
	}
	for _, f := range st.GetGetFrameworks().GetFrameworks() {
		out = append(out, fmt.Sprintf("framework id=%s name=%s", f.FrameworkInfo.GetID().GetValue(), f.FrameworkInfo.Name))
	}
	for _, f := range st.GetGetFrameworks().GetCompletedFrameworks() {
		out = append(out, fmt.Sprintf("completed-framework id=%s name=%s", f.FrameworkInfo.GetID().GetValue(), f.FrameworkInfo.Name))
	}
	tasks := st.GetGetTasks()
	for _, l := range []struct {
		kind  string
		tasks []mesos.Task
	}{
		{"active", tasks.GetTasks()},
		{"pending", tasks.GetPendingTasks()},
		{"unreachable", tasks.GetUnreachableTasks()},
		{"completed", tasks.GetCompletedTasks()},
		{"orphan", tasks.GetOrphanTasks()},
	} {
		for _, t := range l.tasks {
			out = append(out, v1Task(l.kind, &t))
		}
	}
	sort.Strings(out)
	return out
}

func v1Task(kind string, t *mesos.Task) string {
	ips := map[string]bool{}
	for _, s := range t.Statuses {
		for _, ni := range s.GetContainerStatus().GetNetworkInfos() {
			for _, a := range ni.IPAddresses {
				if ip := a.GetIPAddress(); ip != "" {
					ips[ip] = true
				}
			}
		}
	}
	var ports []string
	for _, r := range t.Resources {
		if r.Name == "ports" {
			for _, rg := range r.GetRanges().GetRange() {
				ports = append(ports, fmt.Sprintf("res:%d-%d", rg.Begin, rg.End))
			}
		}
	}
	for _, p := range t.GetDiscovery().GetPorts().GetPorts() {
		ports = append(ports, fmt.Sprintf("di:%s/%d/%s", p.GetProtocol(), p.Number, p.GetName()))
	}
	for _, pm := range t.GetContainer().GetDocker().GetPortMappings() {
		ports = append(ports, fmt.Sprintf("pm:%d->%d/%s", pm.HostPort, pm.ContainerPort, pm.GetProtocol()))
	}
	for _, ni := range t.GetContainer().GetNetworkInfos() {
		for _, pm := range ni.PortMappings {
			ports = append(ports, fmt.Sprintf("pm:%d->%d/%s", pm.HostPort, pm.ContainerPort, pm.GetProtocol()))
		}
	}
	return taskLine(kind, t.FrameworkID.Value, t.TaskID.Value, t.Name, t.GetState().String(), t.AgentID.Value, ips, ports)
}
