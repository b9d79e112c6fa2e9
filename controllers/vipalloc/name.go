package vipalloc

import (
	"fmt"
	"strings"
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
	l := domainFrag(label)
	if l == "" {
		return "", fmt.Errorf("VIP label %q: no letter or digit to make a DNS name from", label)
	}
	f := domainFrag(framework)
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

// domainFrag is mesos_state:domain_frag/1: split on '.', label every part,
// drop empty parts, join with '.'.
func domainFrag(s string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(s, ".") {
		l := label(part)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	return b.String()
}

// label is mesos_state:label/1 (spec dcos-net.md §1.3): ASCII lower-cased;
// everything up to the first [a-z0-9] skipped; then '-', '_' and '.' become
// '-' and every other character outside [a-z0-9] (including every byte of a
// non-ASCII rune) is dropped; on reaching 63 characters, trailing '-' are
// dropped and only letters and digits refill up to 63; trailing '-'
// stripped. "fd%gsf---gs7-f$gs--d7fddg-123" is "fdgsf---gs7-fgs--d7fddg-123",
// "-4abc123" is "4abc123". The result can be empty. (The same rule as the DNS
// plugin's zone.DCOSLabel; kept here so the allocator does not depend on the
// DNS plugin.)
func label(s string) string {
	const maxLen = 63
	b := make([]byte, 0, min(len(s), maxLen))
	started, refill := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !started && !alnum {
			continue
		}
		started = true
		if len(b) == maxLen && !refill {
			b = trimDashes(b)
			refill = true
		}
		if len(b) == maxLen {
			break
		}
		switch {
		case alnum:
			b = append(b, c)
		case !refill && (c == '-' || c == '_' || c == '.'):
			b = append(b, '-')
		}
	}
	return string(trimDashes(b))
}

func trimDashes(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return b
}
