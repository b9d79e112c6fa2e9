package mesos

import (
	"fmt"
	"strings"
	"time"
)

// Ready implements the ready plugin's Readiness: true once each configured
// source has delivered its first state: the zone built from Mesos (with
// master) and the l4lb zone from the first full VIP set of the cluster API
// (with cluster). A zone kept while its source is unreachable stays ready
// (as Mesos-DNS keeps serving its last zone); its age is in the metrics and
// in readiness.
func (m *Mesos) Ready() bool {
	return (len(m.cfg.masters) == 0 || m.zone.Load() != nil) &&
		(m.l4lbBuilder == nil || m.l4lb.Load() != nil)
}

// readiness describes the plugin's state in one line, for /readyz of the API
// listener: the Mesos zone and source, then the l4lb zone and the cluster
// API, those that are configured, separated by "; ".
func (m *Mesos) readiness() (ready bool, detail string) {
	ready = true
	var parts []string
	if len(m.cfg.masters) > 0 {
		ok, d := m.mesosReadiness()
		ready = ready && ok
		parts = append(parts, d)
	}
	if m.l4lbBuilder != nil {
		ok, d := m.clusterReadiness()
		ready = ready && ok
		parts = append(parts, d)
	}
	prefix := "ready: "
	if !ready {
		prefix = "not ready: "
	}
	return ready, prefix + strings.Join(parts, "; ")
}

// mesosReadiness describes the Mesos zone and source.
func (m *Mesos) mesosReadiness() (bool, string) {
	st := m.status()
	src := "connecting to Mesos"
	switch {
	case st.Source.Connected:
		src = "following " + orUnknown(st.Source.Upstream)
	case !st.Source.Since.IsZero():
		src = fmt.Sprintf("disconnected from Mesos for %s", m.now().Sub(st.Source.Since).Round(time.Second))
	}
	if !st.Loaded {
		return false, "no zone loaded yet, " + src
	}
	return true, fmt.Sprintf("serial %d, %d records, updated %s, age %s, %s",
		st.Serial, st.Records, st.Updated.UTC().Format(time.RFC3339), st.Age.Round(time.Second), src)
}

// clusterReadiness describes the l4lb zone and the cluster API source.
func (m *Mesos) clusterReadiness() (bool, string) {
	st := m.clusterStatus()
	src := "connecting to the cluster API"
	switch {
	case st.Source.Connected:
		src = "watching " + orUnknown(st.Source.Upstream)
	case !st.Source.Since.IsZero():
		src = fmt.Sprintf("disconnected from the cluster API for %s", m.now().Sub(st.Source.Since).Round(time.Second))
	}
	if !st.Loaded {
		return false, "no l4lb zone loaded yet, " + src
	}
	return true, fmt.Sprintf("l4lb serial %d, %d VIPs, updated %s, age %s, %s",
		st.Serial, st.VIPs, st.Updated.UTC().Format(time.RFC3339), st.Age.Round(time.Second), src)
}

// orUnknown returns s, or "unknown" for "".
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
