// Command axfrzone turns a Mesos-DNS `/v1/axfr` JSON document (as served by
// the mesos plugin's HTTP API or by Mesos-DNS itself) into an RFC 1035 zone
// file for CoreDNS's `file` plugin and a dnsperf query file, so that
// hack/bench/dns.sh can serve the very same records through both plugins.
//
//	axfrzone -axfr axfr.json -zone mesos.zone -queries queries.txt [-seed 1]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
)

// axfr is the Mesos-DNS /v1/axfr document.
type axfr struct {
	TTL            uint32
	Serial         uint32
	RefreshSeconds uint32
	Mname, Rname   string
	Domain         string
	Records        struct {
		As, AAAAs, SRVs map[string][]string
	}
}

func main() {
	in := flag.String("axfr", "", "the /v1/axfr JSON document")
	zoneOut := flag.String("zone", "", "zone file to write")
	queriesOut := flag.String("queries", "", "dnsperf query file to write")
	seed := flag.Uint64("seed", 1, "shuffle seed of the queries")
	flag.Parse()
	if err := run(*in, *zoneOut, *queriesOut, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "axfrzone:", err)
		os.Exit(1)
	}
}

func fqdn(s string) string { return strings.TrimSuffix(s, ".") + "." }

func run(in, zoneOut, queriesOut string, seed uint64) error {
	if in == "" || zoneOut == "" || queriesOut == "" {
		return fmt.Errorf("-axfr, -zone and -queries are required")
	}
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var a axfr
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("decode %s: %w", in, err)
	}
	if a.Domain == "" {
		return fmt.Errorf("%s: no Domain", in)
	}
	origin := fqdn(a.Domain)
	var z strings.Builder
	fmt.Fprintf(&z, "$ORIGIN %s\n$TTL %d\n", origin, a.TTL)
	fmt.Fprintf(&z, "@ IN SOA %s %s %d %d %d %d %d\n", fqdn(a.Mname), fqdn(a.Rname), a.Serial, a.RefreshSeconds, 600, 86400, a.TTL)
	fmt.Fprintf(&z, "@ IN NS %s\n", fqdn(a.Mname))
	var queries []string
	emit := func(m map[string][]string, typ string, rdata func(string) (string, error)) error {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range m {
				if !yield(n) {
					return
				}
			}
		})
		for _, n := range names {
			for _, v := range m[n] {
				rd, err := rdata(v)
				if err != nil {
					return fmt.Errorf("%s %s %q: %w", n, typ, v, err)
				}
				fmt.Fprintf(&z, "%s IN %s %s\n", fqdn(n), typ, rd)
			}
			queries = append(queries, fqdn(n)+" "+typ)
		}
		return nil
	}
	ip := func(v string) (string, error) {
		if net.ParseIP(v) == nil {
			return "", fmt.Errorf("not an IP")
		}
		return v, nil
	}
	if err := emit(a.Records.As, "A", ip); err != nil {
		return err
	}
	if err := emit(a.Records.AAAAs, "AAAA", ip); err != nil {
		return err
	}
	if err := emit(a.Records.SRVs, "SRV", func(v string) (string, error) {
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("0 1 %s %s", port, fqdn(host)), nil
	}); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed))
	r.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
	if err := os.WriteFile(zoneOut, []byte(z.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(queriesOut, []byte(strings.Join(queries, "\n")+"\n"), 0o644)
}
