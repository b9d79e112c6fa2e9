package zone

import (
	"crypto/sha1"
	"strings"
)

// LabelFunc turns an arbitrary name into a DNS label (possibly empty).
type LabelFunc func(name string) string

// RFC1123 returns name as an RFC 1123 label the way Mesos-DNS's
// labels.RFC1123 does (spec mesos-dns.md §1.3): A-Z lower-cased, a-z and
// 0-9 kept, '-', '.' and '_' become '-', every other character (spaces,
// punctuation, non-ASCII) dropped; then trimCut to 63 characters with
// leading and trailing '-' removed. The result can be empty, and in one edge
// case (a run of '-' across the cut) end in '-'.
func RFC1123(name string) string { return trimCut(mapLabel(name), 63, "-", "-") }

// RFC952 is RFC1123 limited to 24 characters with leading digits removed
// too, as Mesos-DNS's labels.RFC952 (EnforceRFC952).
func RFC952(name string) string { return trimCut(mapLabel(name), 24, "-0123456789", "-") }

// DomainFrag splits name on '.', applies label to every part, drops the
// parts that become empty and joins the rest with '.', as Mesos-DNS's
// labels.DomainFrag for framework names: "chronos with a space AND MIXED
// CASE-2.0.1" is "chronoswithaspaceandmixedcase-2.0.1" with RFC1123 and
// "chronoswithaspaceandmixe" with RFC952.
func DomainFrag(name string, label LabelFunc) string {
	if !strings.Contains(name, ".") {
		return label(name)
	}
	var b strings.Builder
	for part := range strings.SplitSeq(name, ".") {
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

// mapLabel applies Mesos-DNS's character mapping. Working on bytes is the
// same as Mesos-DNS's bytes.Map over runes: every non-ASCII rune is dropped,
// and so are all of its bytes (>= 0x80), as is invalid UTF-8.
func mapLabel(name string) string {
	clean := true
	for i := 0; i < len(name) && clean; i++ {
		c := name[i]
		clean = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if clean {
		return name
	}
	b := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+('a'-'A'))
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c == '-' || c == '.' || c == '_':
			b = append(b, '-')
		}
	}
	return string(b)
}

// trimCut is Mesos-DNS's trimCut: strip the left cutset; cut at maxlen;
// strip the right cutset from the end; if that shortened the label, skip the
// right-cutset run that follows the cut and refill from the characters after
// it up to maxlen ("hello" + 58×'-' + "f" becomes "hellof"). The refill is
// not trimmed again, so it can end in '-'.
func trimCut(label string, maxlen int, left, right string) string {
	trim := strings.TrimLeft(label, left)
	size := min(len(trim), maxlen)
	head := strings.TrimRight(trim[:size], right)
	if len(head) == size {
		return head
	}
	tail := strings.TrimLeft(trim[size:], right)
	if tail == "" {
		return head
	}
	return head + tail[:min(len(tail), size-len(head))]
}

// zbase32 is the z-base-32 alphabet (tv42/zbase32, used by Mesos-DNS).
const zbase32 = "ybndrfg8ejkmcpqxot1uwisza345h769"

// TaskHash returns the 5-character hash of a task id in canonical task
// names: the first 5 characters of zbase32(sha1(id)), as Mesos-DNS's
// hashString (MESOS-DNS-157). TaskHash("test") is "iffe9".
func TaskHash(id string) string {
	sum := sha1.Sum([]byte(id))
	v := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	var out [5]byte
	for i := range out {
		out[i] = zbase32[(v>>(27-5*i))&31]
	}
	return string(out[:])
}

// AgentTail returns the last '-'-separated field of an agent id,
// lower-cased ("...-S12" gives "s12"), as Mesos-DNS's slaveIDTail. Unlike
// Mesos-DNS, characters that cannot appear in a label are mapped as
// RFC1123 maps them, so a strange id cannot break the canonical name.
func AgentTail(agentID string) string {
	return mapLabel(agentID[strings.LastIndexByte(agentID, '-')+1:])
}

// canonicalLabel returns "<task>-<hash>-<agent tail>", the canonical task
// label. When that is longer than 63 characters, which Mesos-DNS would emit
// as an invalid name, the task part is shortened (and stripped of trailing
// '-') so the label fits; it returns "" for an empty task label and when
// even that is impossible.
func canonicalLabel(task, hash, tail string) string {
	if task == "" {
		return ""
	}
	suffix := "-" + hash + "-" + tail
	if len(task)+len(suffix) <= 63 {
		return task + suffix
	}
	n := 63 - len(suffix)
	if n <= 0 {
		return ""
	}
	task = strings.TrimRight(task[:n], "-")
	if task == "" {
		return ""
	}
	return task + suffix
}

// legacyName returns the raw DiscoveryInfo name of Mesos-DNS's legacy
// record copy, lower-cased, or "" when it is not made of non-empty labels of
// letters, digits, '-' and '_' (Mesos-DNS would emit such names as they
// are, producing unservable names; we drop the legacy copy instead).
func legacyName(name string) string {
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return strings.ToLower(name)
}
