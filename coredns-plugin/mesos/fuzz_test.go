package mesos

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS sends arbitrary wire messages to a plugin serving the
// operator-api.json capture and the l4lb zone of l4lbVIPs: it must never
// panic, and every reply must pack and fit the client's UDP buffer.
func FuzzServeDNS(f *testing.F) {
	for _, tc := range append(slices.Clone(handlerCases), l4lbCases...) {
		r := tc.Msg()
		r.SetEdns0(1232, false)
		wire, err := r.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, false)
		f.Add(wire, true)
	}
	m := l4lbPlugin(f)
	m.Next = test.NextHandler(dns.RcodeSuccess, nil)
	f.Fuzz(func(t *testing.T, wire []byte, tcp bool) {
		r := new(dns.Msg)
		if err := r.Unpack(wire); err != nil {
			return
		}
		w := dnstest.NewRecorder(&test.ResponseWriter{TCP: tcp})
		if _, err := m.ServeDNS(context.Background(), w, r); err != nil {
			t.Fatalf("ServeDNS: %v", err)
		}
		if w.Msg == nil {
			return
		}
		packed, err := w.Msg.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v\n%s", err, w.Msg)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if o := r.IsEdns0(); o != nil && o.UDPSize() > dns.MinMsgSize {
				limit = int(o.UDPSize())
			}
		}
		if len(packed) > limit {
			t.Fatalf("reply of %d bytes exceeds %d", len(packed), limit)
		}
	})
}

// FuzzSetup runs arbitrary Corefile text through setup: it may fail, never
// panic.
func FuzzSetup(f *testing.F) {
	for _, s := range []string{
		testCorefile,
		"mesos",
		"mesos {\n master http://192.0.2.11:5050\n}",
		"mesos thisdcos.directory mesos {\n master http://192.0.2.11:5050 http://192.0.2.12:5050\n ip_sources netinfo mesos host\n ttl 60\n dcos\n}",
		"mesos . {\n master 192.0.2.11:5050\n ip_mode first\n rfc952\n soa_rname root@ns1.mesos\n fallthrough mesos\n}",
		"mesos {\n master https://m:5050\n basic_auth u /p\n ca_file /ca\n cert_file /c\n key_file /k\n api [::1]:8123\n}",
		"mesos {\n master {\n}\n}",
		"mesos thisdcos.directory {\n cluster http://192.0.2.21:62080 https://m2:62080\n cluster_token_file /t\n cluster_ca_file /ca\n}",
		"mesos . {\n master 192.0.2.11:5050\n cluster http://192.0.2.21:62080\n}",
	} {
		f.Add(s)
	}
	for _, ex := range readmeCorefiles(f, "README.md") {
		f.Add(ex.text)
	}
	f.Fuzz(func(t *testing.T, input string) {
		if strings.Contains(input, "import") {
			return // caddy's import reads files
		}
		c := caddy.NewTestController("dns", input)
		_ = setup(c)
	})
}
