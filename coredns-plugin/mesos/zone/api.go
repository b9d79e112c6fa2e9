package zone

import (
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/miekg/dns"
)

// AXFR is the body of Mesos-DNS's GET /v1/axfr (spec mesos-dns.md §3), the
// JSON dcos-net mirrors into mesos.thisdcos.directory. Field names are
// Mesos-DNS's Go field names, which it serialises untagged.
type AXFR struct {
	TTL            uint32
	Serial         uint32
	RefreshSeconds int
	Mname          string
	Rname          string
	Domain         string
	Records        AXFRRecords
}

// AXFRRecords maps owner names to record values: addresses for As and
// AAAAs, "target:port" for SRVs. Values are sorted.
type AXFRRecords struct {
	As    map[string][]string
	AAAAs map[string][]string
	SRVs  map[string][]string
}

// AXFR returns the records of the Mesos-DNS domain (not those of
// dcos.thisdcos.directory) in the shape of Mesos-DNS's /v1/axfr. The SOA
// MName record is included even when MName is outside the domain, as
// Mesos-DNS does. RefreshSeconds is the SOA refresh: the zone follows Mesos
// events rather than polling.
func (z *Zone) AXFR() AXFR {
	cfg := z.g.cfg
	out := AXFR{
		TTL:            cfg.TTL,
		Serial:         z.serial,
		RefreshSeconds: int(cfg.SOA.Refresh),
		Mname:          z.apexes[0].soa.Ns,
		Rname:          z.apexes[0].soa.Mbox,
		Domain:         cfg.Domain,
		Records: AXFRRecords{
			As:    map[string][]string{},
			AAAAs: map[string][]string{},
			SRVs:  map[string][]string{},
		},
	}
	for itr := z.names.Iterator(); !itr.Done(); {
		name, rs, _ := itr.Next()
		if inDCOSZone(name) {
			continue
		}
		add := func(m map[string][]string, rrs []dns.RR) {
			if len(rrs) == 0 {
				return
			}
			vals := make([]string, len(rrs))
			for i, rr := range rrs {
				vals[i] = valueOf(rr).String()
			}
			m[name] = vals
		}
		add(out.Records.As, rs.A)
		add(out.Records.AAAAs, rs.AAAA)
		add(out.Records.SRVs, rs.SRV)
	}
	return out
}

// inDCOSZone reports whether name is in dcos.thisdcos.directory.
func inDCOSZone(name string) bool {
	return name == DCOSOrigin || strings.HasSuffix(name, "."+DCOSOrigin)
}

// Enumeration is the body of Mesos-DNS's GET /v1/enumerate.
type Enumeration struct {
	Frameworks []EnumFramework `json:"frameworks"`
}

// EnumFramework is one framework of an Enumeration, with its raw name.
type EnumFramework struct {
	Name  string     `json:"name"`
	Tasks []EnumTask `json:"tasks"`
}

// EnumTask is one task of an EnumFramework, with its raw TaskInfo name.
type EnumTask struct {
	Name    string       `json:"name"`
	ID      string       `json:"id"`
	Records []EnumRecord `json:"records"`
}

// EnumRecord is one record of a task: the owner name, the value (address or
// "target:port") and the type ("A", "AAAA" or "SRV").
type EnumRecord struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	Rtype string `json:"rtype"`
}

// Enumerate lists every registered framework (also those without tasks,
// frameworks sharing a name separately) in framework id order, each with
// its TASK_RUNNING tasks on known agents in task id order, as Mesos-DNS's
// /v1/enumerate. Unlike Mesos-DNS, which lists under a task only the
// records that task inserted first (so the listing depends on task order),
// a task lists every Mesos-DNS record it produces, once, in generation
// order. Records of dcos.thisdcos.directory are not listed. It derives the
// records anew, so it costs about as much as building the zone.
func (z *Zone) Enumerate() Enumeration {
	out := Enumeration{Frameworks: []EnumFramework{}}
	index := make(map[string]int)
	for _, f := range z.snap.Frameworks() {
		index[f.ID] = len(out.Frameworks)
		out.Frameworks = append(out.Frameworks, EnumFramework{Name: f.Name, Tasks: []EnumTask{}})
	}
	var buf []rec
	for t, raw := range z.snap.All() {
		i, ok := index[t.Key.FrameworkID]
		agent := agentOf(z.snap, t.AgentID)
		if !ok || agent == nil || raw.State == nil || *raw.State != mesos.TASK_RUNNING {
			continue
		}
		buf = z.g.mesosTask(buf[:0], &t, raw, *agent)
		et := EnumTask{Name: raw.Name, ID: t.Key.TaskID, Records: []EnumRecord{}}
		seen := make(map[rec]bool, len(buf))
		for _, r := range buf {
			if seen[r] {
				continue
			}
			seen[r] = true
			et.Records = append(et.Records, EnumRecord{Name: r.name, Host: r.v.String(), Rtype: dns.TypeToString[r.v.typ]})
		}
		out.Frameworks[i].Tasks = append(out.Frameworks[i].Tasks, et)
	}
	return out
}

// HostRecord is one row of Mesos-DNS's GET /v1/hosts/{host}.
type HostRecord struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

// ServiceRecord is one row of Mesos-DNS's GET /v1/services/{service}.
type ServiceRecord struct {
	Service string `json:"service"`
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Port    string `json:"port"`
}

// httpName normalises a name of the HTTP API as Mesos-DNS does: ".*"
// removed, lower-cased, trailing dot added.
func httpName(name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, ".*", ""))
	return dns.Fqdn(name)
}

// Hosts answers Mesos-DNS's GET /v1/hosts/{host}: one row per A then per
// AAAA record of name (with or without the trailing dot, any case). An
// unknown name gives Mesos-DNS's single all-empty row.
func (z *Zone) Hosts(name string) []HostRecord {
	dom := httpName(name)
	rs, ok := z.names.Get(dom)
	if !ok || len(rs.A)+len(rs.AAAA) == 0 {
		return []HostRecord{{}}
	}
	out := make([]HostRecord, 0, len(rs.A)+len(rs.AAAA))
	for _, rr := range rs.A {
		out = append(out, HostRecord{Host: dom, IP: valueOf(rr).String()})
	}
	for _, rr := range rs.AAAA {
		out = append(out, HostRecord{Host: dom, IP: valueOf(rr).String()})
	}
	return out
}

// Services answers Mesos-DNS's GET /v1/services/{service}: per SRV record
// of name a row with the target's first A address and, when the target has
// AAAA records, a row with its first AAAA address (a row with an empty ip
// when it has neither). service is echoed as requested. An unknown name
// gives Mesos-DNS's single all-empty row.
func (z *Zone) Services(name string) []ServiceRecord {
	rs, ok := z.names.Get(httpName(name))
	if !ok || len(rs.SRV) == 0 {
		return []ServiceRecord{{}}
	}
	out := make([]ServiceRecord, 0, len(rs.SRV))
	for _, rr := range rs.SRV {
		srv := rr.(*dns.SRV)
		port := strconv.Itoa(int(srv.Port))
		target, _ := z.names.Get(srv.Target)
		var a, aaaa string
		if target != nil && len(target.A) > 0 {
			a = valueOf(target.A[0]).String()
		}
		if target != nil && len(target.AAAA) > 0 {
			aaaa = valueOf(target.AAAA[0]).String()
		}
		if a != "" || aaaa == "" {
			out = append(out, ServiceRecord{Service: name, Host: srv.Target, IP: a, Port: port})
		}
		if aaaa != "" {
			out = append(out, ServiceRecord{Service: name, Host: srv.Target, IP: aaaa, Port: port})
		}
	}
	return out
}
