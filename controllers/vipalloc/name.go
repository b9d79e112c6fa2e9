package vipalloc

import (
	"fmt"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

// Zone is the DNS zone of named VIPs (spec dcos-net.md §1.3, §3.2).
const Zone = "l4lb.thisdcos.directory"

// maxNameLen is the longest Name whose DNS name "<name>.<Zone>" fits the
// 253 characters of a DNS name in presentation form without the root dot.
const maxNameLen = 253 - 1 - len(Zone)

// Name returns the name of a named VIP: "<domain_frag(label)>.
// <domain_frag(framework)>", as dcos-net's dcos_l4lb_lashup_vip_listener,
// e.g. "mygroupmyapp.marathon" for the label "/mygroup/myapp" of a Marathon
// app and "api.hello-world.marathon" for "/api.hello-world". domain_frag
// (mesos_state) splits on '.', normalises every part with mesos_state:label
// and drops the parts that come out empty. The name is the input of the IP
// hash (Choose) and, with Zone appended, the DNS name.
//
// It returns an error naming the input when the label or the framework has
// no character that survives normalisation (dcos-net would publish a
// malformed name), and when the DNS name would exceed 253 characters.
func Name(label, framework string) (string, error) {
	l := v1.DCOSDomainFrag(label)
	if l == "" {
		return "", fmt.Errorf("VIP label %q: no letter or digit to make a DNS name from", label)
	}
	f := v1.DCOSDomainFrag(framework)
	if f == "" {
		return "", fmt.Errorf("framework name %q of VIP %q: no letter or digit to make a DNS name from", framework, label)
	}
	name := l + "." + f
	if len(name) > maxNameLen {
		return "", fmt.Errorf("VIP %q of framework %q: DNS name %s.%s is longer than 253 characters", label, framework, name, Zone)
	}
	return name, nil
}

// DNSName returns the DNS name of a named VIP, "<Name(label, framework)>.
// l4lb.thisdcos.directory": "/mygroup/myapp" of "marathon" is
// "mygroupmyapp.marathon.l4lb.thisdcos.directory", the SDK VIP
// "overlay-vip" of "hello-world" is
// "overlay-vip.hello-world.l4lb.thisdcos.directory". The result is always a
// valid DNS name (lower-case letter-digit-hyphen labels of 1-63 characters,
// at most 253 characters), or "" when Name returns an error.
func DNSName(label, framework string) string {
	name, err := Name(label, framework)
	if err != nil {
		return ""
	}
	return name + "." + Zone
}
