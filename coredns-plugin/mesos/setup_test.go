package mesos

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/mesos"
)

// testMaster is the master of the setup tests (documentation range: parsed,
// never connected to).
const testMaster = "http://192.0.2.11:5050"

// loopbackMaster is the master of tests that start the plugin but must fail
// before connecting; if one did connect, it would only reach loopback.
const loopbackMaster = "http://127.0.0.1:9"

func TestSetup(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		input string
		// want is compared with the parsed config's fields below.
		want config
	}{
		{
			name:  "defaults",
			input: "mesos {\n master " + testMaster + "\n}",
			want: config{
				zones:   []string{"mesos."},
				masters: []string{testMaster},
				zone: zone.Config{
					Domain: "mesos", IPSources: []string{"netinfo", "mesos", "host"}, IPMode: zone.IPModeDCOS,
					TTL: 60, SRVWeight: 1, DCOSTTL: 5, Masters: []netip.Addr{netip.MustParseAddr("192.0.2.11")},
					SOA: zone.SOA{MName: "ns1.mesos.", RName: "root.ns1.mesos.", Refresh: 60, Retry: 600, Expire: 86400},
				},
			},
		},
		{
			name: "every option",
			input: `mesos thisdcos.directory mesos {
				master http://192.0.2.11:5050 192.0.2.12:5050 https://master.example:5050/mesos
				ip_sources host netinfo
				ip_mode all
				ttl 30
				rfc952
				omit_legacy_names
				soa_mname ns.mesos
				soa_rname hostmaster@example.org
				listener 192.0.2.53 2001:db8::53
				api 127.0.0.1:8123
				basic_auth admin /etc/mesos/password
				ca_file /etc/mesos/ca.pem
				cert_file /etc/mesos/client.pem
				key_file /etc/mesos/client-key.pem
				fallthrough mesos
			}`,
			want: config{
				zones:        []string{"thisdcos.directory.", "mesos."},
				masters:      []string{"http://192.0.2.11:5050", "192.0.2.12:5050", "https://master.example:5050/mesos"},
				user:         "admin",
				passwordFile: "/etc/mesos/password",
				tls:          mesos.TLSConfig{CAFile: "/etc/mesos/ca.pem", CertFile: "/etc/mesos/client.pem", KeyFile: "/etc/mesos/client-key.pem"},
				api:          "127.0.0.1:8123",
				zone: zone.Config{
					Domain: "mesos", IPSources: []string{"host", "netinfo"}, IPMode: zone.IPModeAll,
					RFC952: true, OmitLegacyNames: true, TTL: 30, SRVWeight: 1, DCOS: true, DCOSTTL: 5,
					Masters:  []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")},
					Listener: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")},
					SOA:      zone.SOA{MName: "ns.mesos.", RName: "hostmaster.example.org.", Refresh: 60, Retry: 600, Expire: 86400},
				},
			},
		},
		{
			name:  "zones from the server block, custom domain",
			keys:  []string{"mesos.example.org.:53", "dcos.thisdcos.directory.:53"},
			input: "mesos {\n master " + testMaster + "\n token_file /run/token\n}",
			want: config{
				zones:     []string{"mesos.example.org.", "dcos.thisdcos.directory."},
				masters:   []string{testMaster},
				tokenFile: "/run/token",
				zone: zone.Config{
					Domain: "mesos.example.org", IPSources: []string{"netinfo", "mesos", "host"}, IPMode: zone.IPModeDCOS,
					TTL: 60, SRVWeight: 1, DCOS: true, DCOSTTL: 5, Masters: []netip.Addr{netip.MustParseAddr("192.0.2.11")},
					SOA: zone.SOA{MName: "ns1.mesos.example.org.", RName: "root.ns1.mesos.example.org.", Refresh: 60, Retry: 600, Expire: 86400},
				},
			},
		},
		{
			name:  "root zone with explicit dcos",
			keys:  []string{".:53"},
			input: "mesos {\n master " + testMaster + "\n dcos\n}",
			want: config{
				zones:   []string{"."},
				masters: []string{testMaster},
				zone: zone.Config{
					Domain: "mesos", IPSources: []string{"netinfo", "mesos", "host"}, IPMode: zone.IPModeDCOS,
					TTL: 60, SRVWeight: 1, DCOS: true, DCOSTTL: 5, Masters: []netip.Addr{netip.MustParseAddr("192.0.2.11")},
					SOA: zone.SOA{MName: "ns1.mesos.", RName: "root.ns1.mesos.", Refresh: 60, Retry: 600, Expire: 86400},
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.keys
			m, err := parse(c)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := m.cfg
			opts := cmp.Options{
				cmp.AllowUnexported(config{}),
				cmpopts.IgnoreFields(config{}, "file", "line", "lines", "fall"),
				cmpopts.EquateComparable(netip.Addr{}),
				cmpopts.EquateEmpty(),
			}
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got.zones, m.Zones); diff != "" {
				t.Errorf("plugin zones differ from the config's (-config +plugin):\n%s", diff)
			}
		})
	}
}

func TestSetupFallthrough(t *testing.T) {
	tests := []struct {
		input string
		want  []string
	}{
		{"mesos {\n master " + testMaster + "\n}", nil},
		{"mesos {\n master " + testMaster + "\n fallthrough\n}", []string{"."}},
		{"mesos {\n master " + testMaster + "\n fallthrough mesos example.org\n}", []string{"mesos.", "example.org."}},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			m, err := parse(caddy.NewTestController("dns", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, m.Fall.Zones); diff != "" {
				t.Errorf("fallthrough zones (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetupErrors(t *testing.T) {
	m := " master " + testMaster + "\n"
	tests := []struct {
		name  string
		keys  []string
		input string
		// option must appear in the error, with "Testfile:<line>".
		option string
		line   int
	}{
		{"no master", nil, "mesos", "master", 1},
		{"no master in block", nil, "mesos {\n ttl 5\n}", "master", 1},
		{"master without URL", nil, "mesos {\n master\n}", "master", 2},
		{"master with a bad scheme", nil, "mesos {\n master ftp://192.0.2.11:5050\n}", "master", 2},
		{"master with credentials", nil, "mesos {\n master http://u:p@192.0.2.11:5050\n}", "master", 2},
		{"master listed twice", nil, "mesos {\n master 192.0.2.11:5050 192.0.2.11:5050\n}", "master", 2},
		{"option given twice", nil, "mesos {\n" + m + " ttl 5\n ttl 6\n}", "ttl", 4},
		{"ip_sources empty", nil, "mesos {\n" + m + " ip_sources\n}", "ip_sources", 3},
		{"ip_sources unknown", nil, "mesos {\n" + m + " ip_sources netinfo dns\n}", "ip_sources", 3},
		{"ip_sources duplicate", nil, "mesos {\n" + m + " ip_sources host host\n}", "ip_sources", 3},
		{"ip_mode unknown", nil, "mesos {\n" + m + " ip_mode newest\n}", "ip_mode", 3},
		{"ip_mode without value", nil, "mesos {\n" + m + " ip_mode\n}", "ip_mode", 3},
		{"ttl zero", nil, "mesos {\n" + m + " ttl 0\n}", "ttl", 3},
		{"ttl negative", nil, "mesos {\n" + m + " ttl -1\n}", "ttl", 3},
		{"ttl too large", nil, "mesos {\n" + m + " ttl 2147483648\n}", "ttl", 3},
		{"ttl not a number", nil, "mesos {\n" + m + " ttl 1m\n}", "ttl", 3},
		{"ttl two values", nil, "mesos {\n" + m + " ttl 5 6\n}", "ttl", 3},
		{"rfc952 with a value", nil, "mesos {\n" + m + " rfc952 yes\n}", "rfc952", 3},
		{"dcos with a value", nil, "mesos {\n" + m + " dcos yes\n}", "dcos", 3},
		{"omit_legacy_names with a value", nil, "mesos {\n" + m + " omit_legacy_names yes\n}", "omit_legacy_names", 3},
		{"dcos outside the zones", nil, "mesos mesos {\n" + m + " dcos\n}", "dcos", 3},
		{"soa_mname not a name", nil, "mesos {\n" + m + " soa_mname a..b\n}", "soa_mname", 3},
		{"soa_mname missing", nil, "mesos {\n" + m + " soa_mname\n}", "soa_mname", 3},
		{"soa_rname root", nil, "mesos {\n" + m + " soa_rname .\n}", "soa_rname", 3},
		{"listener not an IP", nil, "mesos {\n" + m + " listener 192.0.2\n}", "listener", 3},
		{"listener missing", nil, "mesos {\n" + m + " listener\n}", "listener", 3},
		{"api without port", nil, "mesos {\n" + m + " api 8123\n}", "api", 3},
		{"api with a named port", nil, "mesos {\n" + m + " api :http\n}", "api", 3},
		{"api with a host name", nil, "mesos {\n" + m + " api example.org:8123\n}", "api", 3},
		{"token_file missing", nil, "mesos {\n" + m + " token_file\n}", "token_file", 3},
		{"basic_auth without password file", nil, "mesos {\n" + m + " basic_auth admin\n}", "basic_auth", 3},
		{"token_file and basic_auth", nil, "mesos {\n" + m + " token_file /t\n basic_auth admin /p\n}", "basic_auth", 4},
		{"cert_file without key_file", nil, "mesos {\n" + m + " cert_file /c.pem\n}", "cert_file", 3},
		{"key_file without cert_file", nil, "mesos {\n" + m + " key_file /k.pem\n}", "key_file", 3},
		{"ca_file with two files", nil, "mesos {\n" + m + " ca_file /a /b\n}", "ca_file", 3},
		{"fallthrough to a bad zone", nil, "mesos {\n" + m + " fallthrough a..b\n}", "fallthrough", 3},
		{"unknown option", nil, "mesos {\n" + m + " domain mesos\n}", "domain", 3},
		{"bad zone argument", nil, "mesos a..b {\n" + m + "}", "zone", 1},
		{"domain that zone config refuses", []string{"bad_domain.:53"}, "mesos {\n" + m + "}", "domain", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.keys
			err := setup(c)
			if err == nil {
				t.Fatal("setup succeeded, want an error")
			}
			for _, want := range []string{tc.option, fmt.Sprintf("Testfile:%d ", tc.line), "plugin/mesos"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestSetupOnce(t *testing.T) {
	c := caddy.NewTestController("dns", "mesos {\n master "+testMaster+"\n}\nmesos {\n master "+testMaster+"\n}")
	if err := setup(c); err == nil {
		t.Fatal("setup of two mesos blocks succeeded, want an error")
	}
}

// TestStartupErrors checks the errors found when the plugin starts: secret
// files that cannot be read name their option and line.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	m := " master " + loopbackMaster + "\n"
	tests := []struct {
		name, input, option string
		line                int
	}{
		{"token file missing", "mesos {\n" + m + " token_file " + missing + "\n}", "token_file", 3},
		{"token file empty", "mesos {\n" + m + " token_file " + empty + "\n}", "token_file", 3},
		{"password file missing", "mesos {\n" + m + " basic_auth admin " + missing + "\n}", "basic_auth", 3},
		{"CA file missing", "mesos {\n" + m + " ca_file " + missing + "\n}", "ca_file", 3},
		{"client certificate missing", "mesos {\n" + m + " cert_file " + missing + "\n key_file " + empty + "\n}", "cert_file", 3},
		{"client key not a key", "mesos {\n" + m + " cert_file " + empty + "\n key_file " + empty + "\n}", "key_file", 3},
		{"CA file without certificates", "mesos {\n" + m + " ca_file " + empty + "\n}", "ca_file", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(caddy.NewTestController("dns", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			err = p.start()
			if err == nil {
				p.stop()
				t.Fatal("start succeeded, want an error")
			}
			for _, want := range []string{tc.option, fmt.Sprintf("Testfile:%d ", tc.line)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestStartupReadsSecrets(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("  s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := parse(caddy.NewTestController("dns", "mesos {\n master "+testMaster+"\n token_file "+token+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := p.cfg.mesosConfig()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mesos.Auth{Token: "s3cret-token"}, mc.Auth); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
}
