package v0

import (
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
)

// Master describes the master that serves a rendered /master/state.
type Master struct {
	// Info is this master's identity.
	Info mesos.MasterInfo
	// Leader is the leading master, nil when none is known. It equals Info
	// on the leader.
	Leader *mesos.MasterInfo
	// StartTime and ElectedTime are seconds since the epoch; ElectedTime is
	// only written when this master leads.
	StartTime, ElectedTime float64
	// Cluster is the optional --cluster name.
	Cluster string
}

// Render writes st as the body of a Mesos 1.x /master/state response, the
// document Mesos-DNS and other v0 clients read: frameworks with their tasks
// and completed_tasks, slaves with pid and resources in the v0 text model
// ("ports": "[31000-31001]"), leader and leader_info.
func Render(m Master, st *master.Response_GetState) ([]byte, error) {
	r := renderer{}
	w := &r.w
	w.BeginObject()
	w.Key("version").String(m.Info.GetVersion())
	w.Key("start_time").Float(m.StartTime)
	leading := m.Leader != nil && m.Leader.GetID() == m.Info.GetID() && m.Leader.GetPID() == m.Info.GetPID()
	if leading {
		w.Key("elected_time").Float(m.ElectedTime)
	}
	w.Key("id").String(m.Info.GetID())
	w.Key("pid").String(m.Info.GetPID())
	w.Key("hostname").String(m.Info.GetHostname())
	w.Key("capabilities").BeginArray()
	for _, c := range m.Info.GetCapabilities() {
		w.String(c.GetType().String())
	}
	w.EndArray()

	agents := st.GetGetAgents().GetAgents()
	active, inactive := 0, 0
	for _, a := range agents {
		if a.GetActive() {
			active++
		} else {
			inactive++
		}
	}
	w.Key("activated_slaves").Float(float64(active))
	w.Key("deactivated_slaves").Float(float64(inactive))
	w.Key("unreachable_slaves").Float(0)
	if m.Cluster != "" {
		w.Key("cluster").String(m.Cluster)
	}
	if m.Leader != nil {
		w.Key("leader").String(m.Leader.GetPID())
		w.Key("leader_info")
		if err := w.Message(m.Leader); err != nil {
			return nil, err
		}
	}
	w.Key("flags").BeginObject()
	if m.Cluster != "" {
		w.Key("cluster").String(m.Cluster)
	}
	w.Key("hostname").String(m.Info.GetHostname())
	w.Key("port").String(strconv.FormatUint(uint64(m.Info.GetPort()), 10))
	w.EndObject()

	tasks := st.GetGetTasks()
	used := map[string][]mesos.Resource{} // by agent and by framework
	for _, t := range tasks.GetTasks() {
		used["a/"+t.AgentID.Value] = append(used["a/"+t.AgentID.Value], t.Resources...)
		used["f/"+t.FrameworkID.Value] = append(used["f/"+t.FrameworkID.Value], t.Resources...)
	}

	w.Key("slaves").BeginArray()
	for _, a := range agents {
		r.agent(a, used["a/"+a.AgentInfo.GetID().GetValue()])
	}
	w.EndArray()
	w.Key("recovered_slaves").BeginArray()
	for _, info := range st.GetGetAgents().GetRecoveredAgents() {
		if err := w.Message(&info); err != nil {
			return nil, err
		}
	}
	w.EndArray()

	byFramework := func(ts []mesos.Task) map[string][]*mesos.Task {
		out := map[string][]*mesos.Task{}
		for i := range ts {
			out[ts[i].FrameworkID.Value] = append(out[ts[i].FrameworkID.Value], &ts[i])
		}
		return out
	}
	running := byFramework(tasks.GetTasks())
	unreachable := byFramework(tasks.GetUnreachableTasks())
	completed := byFramework(tasks.GetCompletedTasks())
	known := map[string]bool{}

	frameworks := st.GetGetFrameworks()
	w.Key("frameworks").BeginArray()
	for _, fw := range frameworks.GetFrameworks() {
		id := fw.FrameworkInfo.GetID().GetValue()
		known[id] = true
		if err := r.framework(fw, used["f/"+id], running[id], unreachable[id], completed[id]); err != nil {
			return nil, err
		}
	}
	w.EndArray()
	w.Key("completed_frameworks").BeginArray()
	for _, fw := range frameworks.GetCompletedFrameworks() {
		id := fw.FrameworkInfo.GetID().GetValue()
		if known[id] {
			continue
		}
		known[id] = true
		if err := r.framework(fw, nil, nil, nil, completed[id]); err != nil {
			return nil, err
		}
	}
	w.EndArray()
	w.Key("orphan_tasks").BeginArray()
	orphans := append([]mesos.Task(nil), tasks.GetOrphanTasks()...)
	for _, t := range tasks.GetTasks() {
		if !known[t.FrameworkID.Value] {
			orphans = append(orphans, t)
		}
	}
	for i := range orphans {
		if err := r.task(&orphans[i]); err != nil {
			return nil, err
		}
	}
	w.EndArray()
	w.Key("unregistered_frameworks").BeginArray().EndArray()
	w.EndObject()
	return w.Bytes(), nil
}

type renderer struct {
	w mesosjson.Writer
}

func seconds(t *mesos.TimeInfo) float64 {
	return float64(t.GetNanoseconds()) / 1e9
}

func (r *renderer) agent(a master.Response_GetAgents_Agent, used []mesos.Resource) {
	w := &r.w
	info := a.AgentInfo
	w.BeginObject()
	w.Key("id").String(info.GetID().GetValue())
	w.Key("pid").String(a.GetPID())
	w.Key("hostname").String(info.Hostname)
	w.Key("port").Int(int64(info.GetPort()))
	if a.RegisteredTime != nil {
		w.Key("registered_time").Float(seconds(a.RegisteredTime))
	}
	if a.ReregisteredTime != nil {
		w.Key("reregistered_time").Float(seconds(a.ReregisteredTime))
	}
	total := a.TotalResources
	if len(total) == 0 {
		total = info.Resources
	}
	w.Key("resources")
	r.resources(total)
	w.Key("used_resources")
	r.resources(used)
	w.Key("offered_resources")
	r.resources(nil)
	w.Key("reserved_resources").BeginObject().EndObject()
	w.Key("unreserved_resources")
	r.resources(total)
	w.Key("attributes").BeginObject()
	for _, at := range info.Attributes {
		w.Key(at.Name)
		switch {
		case at.Scalar != nil:
			w.Float(at.Scalar.Value)
		case at.Ranges != nil:
			w.String(FormatRanges(at.Ranges))
		case at.Set != nil:
			w.String("{" + strings.Join(at.Set.Item, ", ") + "}")
		default:
			w.String(at.Text.GetValue())
		}
	}
	w.EndObject()
	w.Key("active").Bool(a.Active)
	w.Key("deactivated").Bool(a.GetDeactivated())
	w.Key("version").String(a.Version)
	w.Key("capabilities").BeginArray()
	for _, c := range a.Capabilities {
		w.String(c.Type.String())
	}
	w.EndArray()
	w.EndObject()
}

// resources writes the v0 resource model: an object keyed by resource name
// (sorted, as Mesos builds it from a std::map) that always lists cpus, disk,
// gpus and mem; ranges and sets use their text form.
func (r *renderer) resources(rs []mesos.Resource) {
	scalars := map[string]float64{"cpus": 0, "disk": 0, "gpus": 0, "mem": 0}
	ranges := map[string][]mesos.Value_Range{}
	sets := map[string][]string{}
	for _, res := range rs {
		switch {
		case res.Scalar != nil:
			scalars[res.Name] += res.Scalar.Value
		case res.Ranges != nil:
			ranges[res.Name] = append(ranges[res.Name], res.Ranges.Range...)
		case res.Set != nil:
			sets[res.Name] = append(sets[res.Name], res.Set.Item...)
		}
	}
	names := make([]string, 0, len(scalars)+len(ranges)+len(sets))
	for n := range scalars {
		names = append(names, n)
	}
	for n := range ranges {
		if _, dup := scalars[n]; !dup {
			names = append(names, n)
		}
	}
	for n := range sets {
		_, dupS := scalars[n]
		_, dupR := ranges[n]
		if !dupS && !dupR {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	w := &r.w
	w.BeginObject()
	for _, n := range names {
		w.Key(n)
		switch {
		case ranges[n] != nil:
			rg := append([]mesos.Value_Range(nil), ranges[n]...)
			sort.Slice(rg, func(i, j int) bool { return rg[i].Begin < rg[j].Begin })
			w.String(FormatRanges(&mesos.Value_Ranges{Range: rg}))
		case sets[n] != nil:
			w.String("{" + strings.Join(sets[n], ", ") + "}")
		default:
			w.Float(scalars[n])
		}
	}
	w.EndObject()
}

func (r *renderer) framework(fw master.Response_GetFrameworks_Framework, used []mesos.Resource, tasks, unreachable, completed []*mesos.Task) error {
	w := &r.w
	info := fw.FrameworkInfo
	w.BeginObject()
	w.Key("id").String(info.GetID().GetValue())
	w.Key("name").String(info.Name)
	w.Key("used_resources")
	r.resources(used)
	w.Key("offered_resources")
	r.resources(nil)
	w.Key("capabilities").BeginArray()
	for _, c := range info.Capabilities {
		w.String(c.Type.String())
	}
	w.EndArray()
	w.Key("hostname").String(info.GetHostname())
	w.Key("webui_url").String(info.GetWebUiURL())
	w.Key("active").Bool(fw.Active)
	w.Key("connected").Bool(fw.Connected)
	w.Key("recovered").Bool(fw.Recovered)
	w.Key("user").String(info.User)
	w.Key("failover_timeout").Float(info.GetFailoverTimeout())
	w.Key("checkpoint").Bool(info.GetCheckpoint())
	w.Key("role").String(info.GetRole())
	w.Key("registered_time").Float(seconds(fw.RegisteredTime))
	w.Key("unregistered_time").Float(seconds(fw.UnregisteredTime))
	if info.Principal != nil {
		w.Key("principal").String(*info.Principal)
	}
	if fw.ReregisteredTime != nil {
		w.Key("reregistered_time").Float(seconds(fw.ReregisteredTime))
	}
	w.Key("resources")
	r.resources(used)
	for _, list := range []struct {
		key   string
		tasks []*mesos.Task
	}{{"tasks", tasks}, {"unreachable_tasks", unreachable}, {"completed_tasks", completed}} {
		w.Key(list.key).BeginArray()
		for _, t := range list.tasks {
			if err := r.task(t); err != nil {
				return err
			}
		}
		w.EndArray()
	}
	w.Key("offers").BeginArray().EndArray()
	w.Key("executors").BeginArray().EndArray()
	w.EndObject()
	return nil
}

func (r *renderer) task(t *mesos.Task) error {
	w := &r.w
	w.BeginObject()
	w.Key("id").String(t.TaskID.Value)
	w.Key("name").String(t.Name)
	w.Key("framework_id").String(t.FrameworkID.Value)
	w.Key("executor_id").String(t.GetExecutorID().GetValue())
	w.Key("slave_id").String(t.AgentID.Value)
	w.Key("state").String(t.GetState().String())
	w.Key("resources")
	r.resources(t.Resources)
	for _, res := range t.Resources {
		if role := res.GetAllocationInfo().GetRole(); role != "" {
			w.Key("role").String(role)
			break
		}
	}
	w.Key("statuses").BeginArray()
	for i := range t.Statuses {
		if err := r.status(&t.Statuses[i]); err != nil {
			return err
		}
	}
	w.EndArray()
	if t.User != nil {
		w.Key("user").String(*t.User)
	}
	if t.Labels != nil {
		w.Key("labels")
		r.labels(t.Labels)
	}
	for _, m := range []struct {
		key string
		msg any
		set bool
	}{
		{"discovery", t.Discovery, t.Discovery != nil},
		{"container", t.Container, t.Container != nil},
		{"health_check", t.HealthCheck, t.HealthCheck != nil},
	} {
		if !m.set {
			continue
		}
		w.Key(m.key)
		if err := w.Message(m.msg); err != nil {
			return err
		}
	}
	w.EndObject()
	return nil
}

func (r *renderer) labels(l *mesos.Labels) {
	w := &r.w
	w.BeginArray()
	for _, lb := range l.Labels {
		w.BeginObject().Key("key").String(lb.Key)
		if lb.Value != nil {
			w.Key("value").String(*lb.Value)
		}
		w.EndObject()
	}
	w.EndArray()
}

func (r *renderer) status(s *mesos.TaskStatus) error {
	w := &r.w
	w.BeginObject()
	w.Key("state").String(s.GetState().String())
	w.Key("timestamp").Float(s.GetTimestamp())
	if s.Labels != nil {
		w.Key("labels")
		r.labels(s.Labels)
	}
	if cs := s.ContainerStatus; cs != nil {
		w.Key("container_status").BeginObject()
		if cs.ContainerID != nil {
			w.Key("container_id")
			if err := w.Message(cs.ContainerID); err != nil {
				return err
			}
		}
		w.Key("network_infos").BeginArray()
		for i := range cs.NetworkInfos {
			if err := w.Message(&cs.NetworkInfos[i]); err != nil {
				return err
			}
		}
		w.EndArray()
		if cs.ExecutorPID != nil {
			w.Key("executor_pid").Int(int64(*cs.ExecutorPID))
		}
		w.EndObject()
	}
	if s.Healthy != nil {
		w.Key("healthy").Bool(*s.Healthy)
	}
	w.EndObject()
	return nil
}
