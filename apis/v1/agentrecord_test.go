package v1

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleAgentRecord is the record of the second agent of the DC/OS default,
// a Mesos agent that is gone.
func sampleAgentRecord() AgentRecord {
	return AgentRecord{
		AgentAllocation: sampleAgentAllocation(),
		Hostname:        "agent-2.example.com",
		MesosAgentID:    "30257977-0153-499d-a5b0-35afd842ef4d-S1",
		RegisteredAt:    time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		RemovedAt:       time.Date(2024, 5, 2, 8, 30, 15, 500_000_000, time.UTC),
	}
}

func TestAgentRecordValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mutate  func(r *AgentRecord)
		wantErr []string
	}{
		{"valid", func(*AgentRecord) {}, nil},
		{"present Mesos agent", func(r *AgentRecord) { r.RemovedAt = time.Time{} }, nil},
		{"master: no Mesos agent, no hostname", func(r *AgentRecord) { r.MesosAgentID, r.RemovedAt, r.Hostname = "", time.Time{}, "" }, nil},
		{"IP literal hostname", func(r *AgentRecord) { r.Hostname = "fd00::5" }, nil},
		{"removed when registered", func(r *AgentRecord) { r.RemovedAt = r.RegisteredAt }, nil},
		{"bad allocation", func(r *AgentRecord) { r.VTEPMAC = MAC{} }, []string{"agent allocation 10.0.0.5: vtepMAC: missing"}},
		{"hostname with space", func(r *AgentRecord) { r.Hostname = "agent 2" }, []string{`hostname: "agent 2" has a character other than printable ASCII`}},
		{"hostname too long", func(r *AgentRecord) { r.Hostname = strings.Repeat("a", 254) }, []string{"hostname: 254 characters, more than 253"}},
		{"agent ID with newline", func(r *AgentRecord) { r.MesosAgentID = "S1\n" }, []string{"mesosAgentID: ", "at offset 2"}},
		{"no registration time", func(r *AgentRecord) { r.RegisteredAt = time.Time{} }, []string{"registeredAt: missing"}},
		{"removed but never a Mesos agent", func(r *AgentRecord) { r.MesosAgentID = "" }, []string{"removedAt: set for an agent that never was a Mesos agent"}},
		{"removed before registered", func(r *AgentRecord) { r.RemovedAt = r.RegisteredAt.Add(-time.Second) }, []string{"removedAt: 2024-05-01T11:59:59Z is before registeredAt 2024-05-01T12:00:00Z"}},
		{"several", func(r *AgentRecord) { r.AgentIP = netip.Addr{}; r.RegisteredAt = time.Time{} }, []string{"agentIP: missing", "registeredAt: missing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleAgentRecord().Clone()
			tt.mutate(&r)
			err := r.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "agent record ") {
				t.Errorf("error %q does not start with \"agent record \"", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestAgentRecordCloneAndKey(t *testing.T) {
	r := sampleAgentRecord()
	c := r.Clone()
	c.Overlays[0].Name = "changed"
	if r.Overlays[0].Name != "dcos" {
		t.Error("Clone shares Overlays with the original")
	}
	if got := c.Key(); got != "10.0.0.5" {
		t.Errorf("Key() = %q, want 10.0.0.5", got)
	}
	c.AgentIP = netip.MustParseAddr("fd00:0:0::5")
	if got := c.Key(); got != "fd00::5" {
		t.Errorf("Key() = %q, want the canonical fd00::5", got)
	}
}

func TestAgentRegistrationValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      AgentRegistration
		wantErr []string
	}{
		{"IPv4", AgentRegistration{IP: netip.MustParseAddr("198.18.0.10"), Hostname: "a1"}, nil},
		{"IPv6, no hostname", AgentRegistration{IP: netip.MustParseAddr("fd00::10")}, nil},
		{"no IP", AgentRegistration{Hostname: "a1"}, []string{"ip: missing"}},
		{"zone", AgentRegistration{IP: netip.MustParseAddr("fe80::1%eth0")}, []string{"ip: fe80::1%eth0 has a zone"}},
		{"mapped", AgentRegistration{IP: netip.MustParseAddr("::ffff:198.18.0.10")}, []string{"ip: ::ffff:198.18.0.10 is an IPv4-mapped IPv6 address, send 198.18.0.10"}},
		{"unspecified", AgentRegistration{IP: netip.IPv4Unspecified()}, []string{"ip: 0.0.0.0 is not a unicast address"}},
		{"loopback", AgentRegistration{IP: netip.MustParseAddr("127.0.0.1")}, []string{"ip: 127.0.0.1 is not a unicast address"}},
		{"multicast", AgentRegistration{IP: netip.MustParseAddr("ff02::1")}, []string{"ip: ff02::1 is not a unicast address"}},
		{"hostname", AgentRegistration{IP: netip.MustParseAddr("198.18.0.10"), Hostname: "a\x00"}, []string{"hostname: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			for _, want := range append(tt.wantErr, "agent registration ") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// TestAgentRecordJSON pins the wire encoding of agent records (raft values
// of kind "agent", the watch API) and registrations (POST /v1/agents) in
// testdata/agentrecord.json. Run with -update to rewrite it.
func TestAgentRecordJSON(t *testing.T) {
	type file struct {
		Records       []AgentRecord       `json:"records"`
		Registrations []AgentRegistration `json:"registrations"`
	}
	master := AgentRecord{
		AgentAllocation: AgentAllocation{
			AgentIP: netip.MustParseAddr("10.0.0.4"),
			VTEPIP:  netip.MustParsePrefix("44.128.0.1/20"),
			VTEPMAC: MAC{0x70, 0xb3, 0xd5, 0x80, 0x00, 0x01},
			Overlays: []OverlayAllocation{
				NewOverlayAllocation("dcos", netip.MustParsePrefix("9.0.0.0/24"), netip.Prefix{}),
			},
		},
		RegisteredAt: time.Date(2024, 5, 1, 11, 59, 0, 0, time.UTC),
	}
	in := file{
		Records: []AgentRecord{master, sampleAgentRecord()},
		Registrations: []AgentRegistration{
			{IP: netip.MustParseAddr("10.0.0.4")},
			{IP: netip.MustParseAddr("fd00::5"), Hostname: "agent-2.example.com"},
		},
	}
	for _, r := range in.Records {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range in.Registrations {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	want := checkGoldenJSON(t, "agentrecord.json", in)
	var decoded file
	if err := json.Unmarshal(want, &decoded); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if diff := cmp.Diff(in, decoded, cmpNet); diff != "" {
		t.Errorf("golden decodes differently (-want +got):\n%s", diff)
	}
	// The allocation is flattened: an agent record decodes as a plain
	// allocation too, which is what agents that only need it read.
	var records struct {
		Records []AgentAllocation `json:"records"`
	}
	if err := json.Unmarshal(want, &records); err != nil {
		t.Fatalf("decode golden records as allocations: %v", err)
	}
	if diff := cmp.Diff([]AgentAllocation{master.AgentAllocation, sampleAgentAllocation()}, records.Records, cmpNet); diff != "" {
		t.Errorf("records decoded as allocations (-want +got):\n%s", diff)
	}
}
