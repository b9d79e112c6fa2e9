package vipalloc

import (
	"strings"
	"testing"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
)

func TestDNSName(t *testing.T) {
	long := strings.Repeat("a", 70)
	for _, tt := range []struct {
		name, label, framework string
		want                   string
	}{
		// spec dcos-net.md §3.2
		{"marathon group", "/mygroup/myapp", "marathon", "mygroupmyapp.marathon.l4lb.thisdcos.directory"},
		{"dots split labels", "/api.hello-world", "marathon", "api.hello-world.marathon.l4lb.thisdcos.directory"},
		{"sdk service", "overlay-vip", "hello-world", "overlay-vip.hello-world.l4lb.thisdcos.directory"},
		{"upstream test name", "foo", "bar", "foo.bar.l4lb.thisdcos.directory"},
		// mesos_state:label unit tests (spec §1.3)
		{"label drops punctuation", "fd%gsf---gs7-f$gs--d7fddg-123", "marathon", "fdgsf---gs7-fgs--d7fddg-123.marathon.l4lb.thisdcos.directory"},
		{"label skips leading dash", "-4abc123", "marathon", "4abc123.marathon.l4lb.thisdcos.directory"},
		{"label strips trailing dash", "89fdgsf---gs7-fgs--d7fddg-", "marathon", "89fdgsf---gs7-fgs--d7fddg.marathon.l4lb.thisdcos.directory"},
		{"framework with dots and spaces", "/app", "chronos with a space AND MIXED CASE-2.0.1", "app.chronoswithaspaceandmixedcase-2.0.1.l4lb.thisdcos.directory"},
		{"upper case", "/MyApp", "Marathon", "myapp.marathon.l4lb.thisdcos.directory"},
		{"underscore becomes dash", "/my_app", "marathon", "my-app.marathon.l4lb.thisdcos.directory"},
		{"empty parts dropped", "/a..b.", ".marathon..", "a.b.marathon.l4lb.thisdcos.directory"},
		{"parts that normalise to nothing dropped", "/a./$/.b", "marathon", "a.b.marathon.l4lb.thisdcos.directory"},
		{"non-ASCII dropped", "/café", "marathon", "caf.marathon.l4lb.thisdcos.directory"},
		{"cut at 63", "/" + long, "marathon", strings.Repeat("a", 63) + ".marathon.l4lb.thisdcos.directory"},
		{"dashes at the cut dropped and refilled", "/" + strings.Repeat("a", 60) + "----bcdef", "m", strings.Repeat("a", 60) + "bcd.m.l4lb.thisdcos.directory"},
		{"only a slash", "/", "marathon", ""},
		{"empty label", "", "marathon", ""},
		{"empty framework", "/app", "", ""},
		{"framework of symbols", "/app", "$%^", ""},
		{"too long", "/" + strings.Repeat("abcdefghij.", 21), "marathon", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := DNSName(tt.label, tt.framework)
			if got != tt.want {
				t.Errorf("DNSName(%q, %q) = %q, want %q", tt.label, tt.framework, got, tt.want)
			}
			name, err := Name(tt.label, tt.framework)
			if tt.want == "" {
				if err == nil {
					t.Errorf("Name(%q, %q) = %q, want an error", tt.label, tt.framework, name)
				}
				return
			}
			if err != nil || name+"."+Zone != tt.want {
				t.Errorf("Name(%q, %q) = %q, %v, want %q", tt.label, tt.framework, name, err, strings.TrimSuffix(tt.want, "."+Zone))
			}
		})
	}
}

func TestNameErrors(t *testing.T) {
	for _, tt := range []struct {
		label, framework, wantErr string
	}{
		{"/", "marathon", `VIP label "/": no letter or digit`},
		{"/app", "--", `framework name "--" of VIP "/app": no letter or digit`},
		{"/" + strings.Repeat("abcdefghij.", 21), "marathon", "longer than 253 characters"},
	} {
		_, err := Name(tt.label, tt.framework)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Name(%q, %q) = %v, want error containing %q", tt.label, tt.framework, err, tt.wantErr)
		}
	}
}

// FuzzDNSName checks that DNSName returns a valid DNS name below Zone or ""
// together with an error from Name, and that normalising a name again does
// not change it.
func FuzzDNSName(f *testing.F) {
	for _, s := range [][2]string{
		{"/mygroup/myapp", "marathon"}, {"/api.hello-world", "marathon"}, {"overlay-vip", "hello-world"},
		{"/", "x"}, {"a..b", ".c."}, {strings.Repeat("a-", 40), "chronos with a space AND MIXED CASE-2.0.1"},
		{"\xff\xfe/é", "ü"}, {strings.Repeat("abcdefghij.", 22), "m"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, label, framework string) {
		got := DNSName(label, framework)
		name, err := Name(label, framework)
		if got == "" {
			if err == nil {
				t.Fatalf("DNSName(%q, %q) = \"\" but Name = %q without error", label, framework, name)
			}
			return
		}
		if err != nil || got != name+"."+Zone {
			t.Fatalf("DNSName(%q, %q) = %q but Name = %q, %v", label, framework, got, name, err)
		}
		if msg := checkDNSName(got); msg != "" {
			t.Fatalf("DNSName(%q, %q) = %q: %s", label, framework, got, msg)
		}
		if again := v1.DCOSDomainFrag(name); again != name {
			t.Fatalf("normalising %q again gives %q", name, again)
		}
	})
}

// checkDNSName returns why s is not a lower-case host name of
// letter-digit-hyphen labels, or "".
func checkDNSName(s string) string {
	if len(s) > 253 {
		return "longer than 253 characters"
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 {
			return "label " + l + " not 1-63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label " + l + " starts or ends with '-'"
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "label " + l + " has a character outside [a-z0-9-]"
			}
		}
	}
	return ""
}
