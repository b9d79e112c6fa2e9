package zone

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

func TestLabels(t *testing.T) {
	const chronos = "chronos with a space AND MIXED CASE-2.0.1"
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		// Spec mesos-dns.md §1.3.
		{"rfc1123 spec example", RFC1123, chronos, "chronoswithaspaceandmixedcase-2-0-1"},
		{"rfc952 spec example", RFC952, chronos, "chronoswithaspaceandmixe"},
		{"rfc1123 refill after dash run", RFC1123, "hello" + strings.Repeat("-", 58) + "f", "hellof"},
		{"rfc1123 refill can end in dash", RFC1123, "a" + strings.Repeat("-", 62) + "b-", "ab-"},
		{"rfc1123 cut at 63", RFC1123, strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{"rfc1123 mapping", RFC1123, "Foo_Bar.baz", "foo-bar-baz"},
		{"rfc1123 trims dashes", RFC1123, "--foo--", "foo"},
		{"rfc1123 keeps leading digits", RFC1123, "123", "123"},
		{"rfc1123 drops punctuation", RFC1123, "a$b/c d(e)", "abcde"},
		{"rfc1123 drops non-ascii", RFC1123, "ñandú\xff", "and"},
		{"rfc1123 nothing left", RFC1123, "$$$", ""},
		{"rfc1123 empty", RFC1123, "", ""},
		{"rfc952 strips leading digits", RFC952, "123", ""},
		{"rfc952 strips digits and dashes", RFC952, "-9lives", "lives"},
		{"rfc952 cut at 24", RFC952, strings.Repeat("b", 30), strings.Repeat("b", 24)},
		{"rfc952 trailing dash after cut", RFC952, strings.Repeat("c", 23) + "-d", strings.Repeat("c", 23) + "d"},
		// DomainFrag keeps the dots of framework names.
		{"domainfrag rfc1123", func(s string) string { return DomainFrag(s, RFC1123) }, chronos, "chronoswithaspaceandmixedcase-2.0.1"},
		{"domainfrag rfc952", func(s string) string { return DomainFrag(s, RFC952) }, chronos, "chronoswithaspaceandmixe"},
		{"domainfrag drops empty parts", func(s string) string { return DomainFrag(s, RFC1123) }, ".a..$.B.", "a.b"},
		{"domainfrag no dots", func(s string) string { return DomainFrag(s, RFC1123) }, "Marathon", "marathon"},
		// Spec dcos-net.md §1.3, mesos_state unit tests.
		{"dcos drops invalid", v1.DCOSLabel, "fd%gsf---gs7-f$gs--d7fddg-123", "fdgsf---gs7-fgs--d7fddg-123"},
		{"dcos skips to first alnum", v1.DCOSLabel, "-4abc123", "4abc123"},
		{"dcos strips trailing dash", v1.DCOSLabel, "89fdgsf---gs7-fgs--d7fddg-", "89fdgsf---gs7-fgs--d7fddg"},
		{"dcos framework", v1.DCOSLabel, chronos, "chronoswithaspaceandmixedcase-2-0-1"},
		{"dcos calico task", v1.DCOSLabel, "Task(RunCalicoNode-B3213DE4)", "taskruncaliconode-b3213de4"},
		{"dcos marathon app", v1.DCOSLabel, "myapp.mygroup", "myapp-mygroup"},
		{"dcos refill only alnum", v1.DCOSLabel, strings.Repeat("a", 62) + "--b-c", strings.Repeat("a", 62) + "b"},
		{"dcos cut at 63", v1.DCOSLabel, strings.Repeat("x", 64), strings.Repeat("x", 63)},
		{"dcos nothing left", v1.DCOSLabel, "_-.$", ""},
		// Canonical-name parts.
		{"hash vector", TaskHash, "test", "iffe9"},
		{"hash of a fake.json task", TaskHash, "liquor-store.b8db9f73-562f-11e4-a088-c20493233aa5", "4dfjd"},
		{"agent tail", AgentTail, "20140803-125133-3041283216-5050-2410-S12", "s12"},
		{"agent tail without dash", AgentTail, "S0", "s0"},
		{"agent tail sanitised", AgentTail, "x-S.1", "s-1"},
		{"legacy name lower-cased", legacyName, "Big.Dog", "big.dog"},
		{"legacy name with space dropped", legacyName, "big dog", ""},
		{"legacy name with empty label dropped", legacyName, "big..dog", ""},
		{"legacy name with trailing dot dropped", legacyName, "big.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.f(tt.in)); diff != "" {
				t.Errorf("(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCanonicalLabel(t *testing.T) {
	long := strings.Repeat("t", 60)
	tests := []struct {
		name, task, hash, tail, want string
	}{
		{"short", "web", "iffe9", "s0", "web-iffe9-s0"},
		{"exactly 63", strings.Repeat("t", 54), "iffe9", "s0", strings.Repeat("t", 54) + "-iffe9-s0"},
		{"task part shortened", long, "iffe9", "s12", strings.Repeat("t", 53) + "-iffe9-s12"},
		{"shortened part loses its dash", strings.Repeat("t", 53) + "-x" + long, "iffe9", "s0", strings.Repeat("t", 53) + "-iffe9-s0"},
		{"empty task", "", "iffe9", "s0", ""},
		{"tail too long", "web", "iffe9", strings.Repeat("s", 60), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := canonicalLabel(tt.task, tt.hash, tt.tail)
			if got != tt.want {
				t.Errorf("canonicalLabel = %q, want %q", got, tt.want)
			}
			if len(got) > 63 {
				t.Errorf("len %d > 63", len(got))
			}
		})
	}
}

// checkLabel fails unless l is empty or made of [a-z0-9-] without a
// leading '-', at most maxlen long, and servable under a domain.
func checkLabel(t *testing.T, what, in, l string, maxlen int) {
	t.Helper()
	if len(l) > maxlen {
		t.Fatalf("%s(%q) = %q: longer than %d", what, in, l, maxlen)
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			t.Fatalf("%s(%q) = %q: byte %q", what, in, l, c)
		}
	}
	if l != "" && (l[0] == '-' || !validName(l+".mesos.")) {
		t.Fatalf("%s(%q) = %q: not a valid label", what, in, l)
	}
}

// FuzzLabels checks that no input makes any label function produce an
// invalid label.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{"", "web", "chronos with a space AND MIXED CASE-2.0.1", "hello" + strings.Repeat("-", 58) + "f",
		"123", "-9lives", "a.b..c", "ñandú", "\xff\xfe", strings.Repeat("a-", 40), "Task(RunCalicoNode-B3213DE4)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkLabel(t, "RFC1123", in, RFC1123(in), 63)
		l952 := RFC952(in)
		checkLabel(t, "RFC952", in, l952, 24)
		if l952 != "" && l952[0] >= '0' && l952[0] <= '9' {
			t.Fatalf("RFC952(%q) = %q starts with a digit", in, l952)
		}
		d := v1.DCOSLabel(in)
		checkLabel(t, "v1.DCOSLabel", in, d, 63)
		if strings.HasSuffix(d, "-") {
			t.Fatalf("v1.DCOSLabel(%q) = %q ends with '-'", in, d)
		}
		for _, spec := range []LabelFunc{RFC1123, RFC952} {
			frag := DomainFrag(in, spec)
			if frag == "" {
				continue
			}
			for part := range strings.SplitSeq(frag, ".") {
				if part == "" {
					t.Fatalf("DomainFrag(%q) = %q has an empty part", in, frag)
				}
				checkLabel(t, "DomainFrag", in, part, 63)
			}
		}
		if tail := AgentTail(in); strings.Trim(tail, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("AgentTail(%q) = %q", in, tail)
		}
		h := TaskHash(in)
		if len(h) != 5 || strings.Trim(h, zbase32) != "" {
			t.Fatalf("TaskHash(%q) = %q", in, h)
		}
		if c := canonicalLabel(RFC1123(in), h, "s0"); c != "" {
			checkLabel(t, "canonicalLabel", in, c, 63)
		}
		if l := legacyName(in); l != "" {
			long := false
			for part := range strings.SplitSeq(l, ".") {
				if part == "" {
					t.Fatalf("legacyName(%q) = %q has an empty label", in, l)
				}
				long = long || len(part) > 63
			}
			// Too long names are dropped by validName where they are used.
			if !long && len(l) < 200 && !validName(l+".mesos.") {
				t.Fatalf("legacyName(%q) = %q is not servable", in, l)
			}
		}
	})
}
