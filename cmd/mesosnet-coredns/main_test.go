package main

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/google/go-cmp/cmp"
)

func TestMesosDirectiveRightAfterHosts(t *testing.T) {
	hosts := slices.Index(dnsserver.Directives, "hosts")
	mesos := slices.Index(dnsserver.Directives, "mesos")
	if hosts < 0 || mesos != hosts+1 {
		t.Fatalf("directives %v: want mesos right after hosts (hosts at %d, mesos at %d)", dnsserver.Directives, hosts, mesos)
	}
}

func TestEveryDirectiveIsLinkedIn(t *testing.T) {
	// caddy lists server-type plugins as "<server type>.<name>".
	registered := caddy.ListPlugins()["others"]
	var missing []string
	for _, d := range Directives {
		if !slices.Contains(registered, "dns."+d) {
			missing = append(missing, d)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("directives without a linked plugin (-want +got):\n%s", diff)
	}
}
