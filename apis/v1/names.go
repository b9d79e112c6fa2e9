package v1

import "strings"

// DCOSLabel normalises a name into one DNS label the way DC/OS does
// (mesos_state:label/1, spec dcos-net.md §1.3): ASCII lower-cased;
// everything up to the first [a-z0-9] skipped; then '-', '_' and '.' become
// '-' and every other character outside [a-z0-9] (including every byte of a
// non-ASCII rune) is dropped; on reaching 63 characters, trailing '-' are
// dropped and only letters and digits refill up to 63; trailing '-'
// stripped. "fd%gsf---gs7-f$gs--d7fddg-123" is "fdgsf---gs7-fgs--d7fddg-123",
// "-4abc123" is "4abc123". The result can be empty. It names tasks and
// frameworks in dcos.thisdcos.directory and, through DCOSDomainFrag, named
// VIPs in l4lb.thisdcos.directory.
func DCOSLabel(name string) string {
	const maxLen = 63
	b := make([]byte, 0, min(len(name), maxLen))
	started, refill := false, false
	for i := 0; i < len(name); i++ {
		c := name[i]
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

// DCOSDomainFrag is mesos_state:domain_frag/1: split on '.', DCOSLabel every
// part, drop empty parts, join with '.'. "/mygroup/myapp" is
// "mygroupmyapp", "/api.hello-world" is "api.hello-world".
func DCOSDomainFrag(name string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(name, ".") {
		l := DCOSLabel(part)
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

func trimDashes(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return b
}
