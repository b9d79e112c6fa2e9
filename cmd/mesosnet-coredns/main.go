// Command mesosnet-coredns is CoreDNS built from mesosnet's own main with only
// the plugins mesosnet ships, plus the `mesos` plugin serving *.mesos,
// dcos.thisdcos.directory and l4lb.thisdcos.directory. It is configured by
// a Corefile exactly as CoreDNS is (`-conf Corefile`).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The CoreDNS plugins mesosnet ships; nothing else is linked in.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"

	// mesosnet's own plugins.
	_ "github.com/mesosnet/mesosnet/coredns-plugin/mesos"
)

// Directives is the plugin chain order of mesosnet-coredns: CoreDNS's own
// order (plugin.cfg) restricted to the plugins we ship, with `mesos` right
// after `hosts`, so /etc/hosts-style overrides win and everything the mesos
// plugin does not own falls through to file and forward.
var Directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"mesos",
	"file",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = Directives
}

func main() {
	coremain.Run()
}
