package mesos

import (
	"fmt"
	"time"
)

// Ready implements the ready plugin's Readiness: true once the first zone
// has been built. A zone kept while Mesos is unreachable stays ready (as
// Mesos-DNS keeps serving its last zone); its age is in the metrics and in
// readiness.
func (m *Mesos) Ready() bool { return m.zone.Load() != nil }

// readiness describes the plugin's state in one line, for /readyz of the API
// listener.
func (m *Mesos) readiness() (ready bool, detail string) {
	st := m.status()
	src := "connecting to Mesos"
	switch {
	case st.Source.Connected:
		src = "following " + orUnknown(st.Source.Upstream)
	case !st.Source.Since.IsZero():
		src = fmt.Sprintf("disconnected from Mesos for %s", m.now().Sub(st.Source.Since).Round(time.Second))
	}
	if !st.Loaded {
		return false, "not ready: no zone loaded yet, " + src
	}
	return true, fmt.Sprintf("ready: serial %d, %d records, updated %s, age %s, %s",
		st.Serial, st.Records, st.Updated.UTC().Format(time.RFC3339), st.Age.Round(time.Second), src)
}

// orUnknown returns s, or "unknown" for "".
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
