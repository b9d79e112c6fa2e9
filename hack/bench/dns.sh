#!/usr/bin/env bash
# dns.sh: DNS serving benchmark of mesosnet-coredns (issue: DNS performance targets).
#
# One mesosnet-sim plays a Mesos master with a synthetic cluster of $TASKS tasks. The same
# mesosnet-coredns binary then serves, one after the other under the same dnsperf load:
#   mesos   the records through our `mesos` plugin (fed by the sim's SUBSCRIBE stream),
#   file    the very same records (taken from the plugin's Mesos-DNS /v1/axfr) through CoreDNS's `file` plugin,
#   whoami  the trivial `whoami` plugin: the ceiling of the CoreDNS server itself.
# It prints QPS, mean, p50 and p99 latency of each and the ratios mesos/file and mesos/whoami.
#
#   hack/bench/dns.sh                      # TASKS=10000 DURATION=10 CLIENTS=4
#   QTYPES="A AAAA" hack/bench/dns.sh      # only queries of these types (default: every A, AAAA and SRV owner)
#   PLUGINS="errors prometheus" hack/bench/dns.sh   # these plugins ahead of the measured one in all three servers
# Needs dnsperf, dig and curl (installed from Debian's archive when missing). Traffic stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${TASKS:-10000}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
BASE=${BASE_PORT:-25000}
SIM=$((BASE + 50)) MESOS=$((BASE + 53)) FILE=$((BASE + 54)) WHOAMI=$((BASE + 55)) API=$((BASE + 123)) READY=$((BASE + 181))

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/" ./cmd/mesosnet-sim ./cmd/mesosnet-coredns ./hack/bench/axfrzone

"$work/mesosnet-sim" --listen "127.0.0.1:$SIM" --synthetic "$TASKS" --log-level warn &
pids+=($!)

# extra PORT prints the plugins of $PLUGINS, one a line; prometheus listens on PORT.
extra() {
	local p
	for p in ${PLUGINS:-}; do
		if [[ $p == prometheus ]]; then echo "    prometheus 127.0.0.1:$1"; else echo "    $p"; fi
	done
}

cat >"$work/Corefile.mesos" <<CORE
mesos:$MESOS {
    bind 127.0.0.1
$(extra $((MESOS + 1000)))
    ready 127.0.0.1:$READY
    mesos mesos {
        master http://127.0.0.1:$SIM
        api 127.0.0.1:$API
    }
}
CORE
"$work/mesosnet-coredns" -conf "$work/Corefile.mesos" -quiet >"$work/mesos.log" 2>&1 &
pids+=($!)

for _ in $(seq 600); do
	curl -fs "http://127.0.0.1:$READY/ready" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$READY/ready" >/dev/null || { echo "mesos plugin never became ready" >&2; cat "$work/mesos.log" >&2; exit 1; }
curl -fs "http://127.0.0.1:$API/v1/axfr" >"$work/axfr.json"
"$work/axfrzone" -axfr "$work/axfr.json" -zone "$work/mesos.zone" -queries "$work/queries.txt"
if [[ -n ${QTYPES:-} ]]; then
	grep -E " ($(echo "$QTYPES" | tr ' ' '|'))\$" "$work/queries.txt" >"$work/queries.filtered" || true
	mv "$work/queries.filtered" "$work/queries.txt"
	[[ -s $work/queries.txt ]] || { echo "no queries of types $QTYPES" >&2; exit 1; }
fi

cat >"$work/Corefile.file" <<CORE
mesos:$FILE {
    bind 127.0.0.1
$(extra $((FILE + 1000)))
    file $work/mesos.zone
}
CORE
cat >"$work/Corefile.whoami" <<CORE
.:$WHOAMI {
    bind 127.0.0.1
$(extra $((WHOAMI + 1000)))
    whoami
}
CORE
"$work/mesosnet-coredns" -conf "$work/Corefile.file" -quiet >"$work/file.log" 2>&1 &
pids+=($!)
"$work/mesosnet-coredns" -conf "$work/Corefile.whoami" -quiet >"$work/whoami.log" 2>&1 &
pids+=($!)
for port in $FILE $WHOAMI; do
	for _ in $(seq 100); do
		dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 leader.mesos A >/dev/null 2>&1 && break
		sleep 0.1
	done
done

echo "records: $(grep -c ' IN ' "$work/mesos.zone") in the zone, $(wc -l <"$work/queries.txt") distinct queries, $TASKS tasks"
# Sanity: the mesos and file plugins give the same answer to a sample of queries.
for q in $(head -20 "$work/queries.txt" | tr ' ' ':'); do
	name=${q%%:*} typ=${q##*:}
	a=$(dig +short -p "$MESOS" @127.0.0.1 "$name" "$typ" | sort)
	b=$(dig +short -p "$FILE" @127.0.0.1 "$name" "$typ" | sort)
	[[ "$a" == "$b" ]] || { echo "answers differ for $name $typ: mesos [$a] file [$b]" >&2; exit 1; }
done

run() { # name port -> "qps mean p50 p99"
	dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries.txt" -l "$DURATION" -c "$CLIENTS" -q 200 -v >"$work/$1.perf" 2>&1
	qps=$(awk '/Queries per second/ {print $4}' "$work/$1.perf")
	lost=$(awk '/Queries lost/ {print $3}' "$work/$1.perf")
	grep '^> ' "$work/$1.perf" | awk '{print $5}' | sort -g >"$work/$1.lat"
	n=$(wc -l <"$work/$1.lat")
	p50=$(sed -n "$((n * 50 / 100 + 1))p" "$work/$1.lat")
	p99=$(sed -n "$((n * 99 / 100 + 1))p" "$work/$1.lat")
	mean=$(awk '{s += $1} END {printf "%.6f", s / NR}' "$work/$1.lat")
	printf '%-7s %12.0f qps  mean %.3f ms  p50 %.3f ms  p99 %.3f ms  lost %s\n' "$1" "$qps" "$(echo "$mean*1000" | bc -l)" "$(echo "$p50*1000" | bc -l)" "$(echo "$p99*1000" | bc -l)" "$lost"
	echo "$qps" >"$work/$1.qps"
}
command -v bc >/dev/null || { apt-get install -y -qq bc >/dev/null; }
run whoami "$WHOAMI"
run file "$FILE"
run mesos "$MESOS"
printf 'mesos/file QPS ratio: %.2f   mesos/whoami QPS ratio: %.2f\n' \
	"$(echo "$(cat "$work/mesos.qps")/$(cat "$work/file.qps")" | bc -l)" \
	"$(echo "$(cat "$work/mesos.qps")/$(cat "$work/whoami.qps")" | bc -l)"
