package zone

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestConfigDefault(t *testing.T) {
	var c Config
	c.Default()
	want := Config{
		Domain:    "mesos",
		IPSources: []string{"netinfo", "mesos", "host"},
		IPMode:    IPModeDCOS,
		TTL:       60,
		SRVWeight: 1,
		DCOSTTL:   5,
		SOA:       SOA{MName: "ns1.mesos.", RName: "root.ns1.mesos.", Refresh: 60, Retry: 600, Expire: 86400},
	}
	if diff := cmp.Diff(want, c, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() of the defaults: %v", err)
	}
	c = Config{Domain: "Example.COM."}
	c.Default()
	if c.SOA.MName != "ns1.example.com." || c.SOA.RName != "root.ns1.example.com." {
		t.Errorf("SOA names for domain %q: %q, %q", c.Domain, c.SOA.MName, c.SOA.RName)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"dc/os sources", func(c *Config) { c.IPSources = []string{"host", "netinfo"} }, ""},
		{"trailing dot", func(c *Config) { c.Domain = "mesos." }, ""},
		{"rname with at", func(c *Config) { c.SOA.RName = "root@example.com" }, ""},
		{"bad domain", func(c *Config) { c.Domain = "me sos" }, `field Domain "me sos"`},
		{"domain label too long", func(c *Config) { c.Domain = strings.Repeat("a", 64) }, "label longer than 63"},
		{"domain overlaps dcos zone", func(c *Config) { c.DCOS, c.Domain = true, "thisdcos.directory" }, "overlaps dcos.thisdcos.directory."},
		{"domain under dcos zone", func(c *Config) { c.DCOS, c.Domain = true, "x.dcos.thisdcos.directory" }, "overlaps"},
		{"unknown source", func(c *Config) { c.IPSources = []string{"host", "dns"} }, `IPSources: unknown source "dns"`},
		{"duplicate source", func(c *Config) { c.IPSources = []string{"host", "host"} }, `IPSources: duplicate source "host"`},
		{"bad mode", func(c *Config) { c.IPMode = "newest" }, `IPMode: "newest"`},
		{"bad master", func(c *Config) { c.Masters = []netip.Addr{{}} }, "Masters[0]: invalid address"},
		{"duplicate master", func(c *Config) {
			c.Masters = []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.1")}
		}, "Masters[1]: duplicate address 10.0.0.1"},
		{"bad listener", func(c *Config) { c.Listener = []netip.Addr{{}} }, "Listener[0]"},
		{"bad mname", func(c *Config) { c.SOA.MName = "a..b" }, `SOA.MName "a..b"`},
		{"bad rname", func(c *Config) { c.SOA.RName = "x y" }, `SOA.RName "x y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				if _, err := NewBuilder(c, nil); err != nil {
					t.Fatalf("NewBuilder: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if _, err := NewBuilder(c, nil); err == nil {
				t.Fatalf("NewBuilder accepted the config")
			}
		})
	}
}

func TestBuilderNormalisesConfig(t *testing.T) {
	b := newTestBuilder(t, Config{Domain: "Mesos.", SOA: SOA{MName: "NS1.Mesos", RName: "admin@Example.com"}})
	cfg := b.Config()
	if cfg.Domain != "mesos" || cfg.SOA.MName != "ns1.mesos." || cfg.SOA.RName != "admin.example.com." {
		t.Errorf("normalised config: domain %q, mname %q, rname %q", cfg.Domain, cfg.SOA.MName, cfg.SOA.RName)
	}
}
