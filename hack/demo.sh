#!/usr/bin/env bash
# demo.sh: the mesosnet demo on one machine. mesosnet-sim plays a Mesos master replaying a real DC/OS
# capture (12 tasks across Docker/UCR/pods on host, bridge and overlay networks); three mesosnet-master
# processes form a raft cluster that follows it (tasks, VIP addresses, agent registrations) and serve the
# cluster API on 127.0.0.1:16081-16083; mesosnet-coredns serves the DNS names (Mesos-DNS's *.mesos and
# DC/OS's dcos.thisdcos.directory) on 127.0.0.1:15353; and mesosnetctl follows Mesos through mesosnet's
# Mesos source, printing every task as mesosnet normalises it.
#
#   hack/demo.sh                 # until Ctrl-C
#   DEMO_SECONDS=10 hack/demo.sh # stop by itself (used by the tests of the demo)
#
# While it runs, drive Mesos through the simulator's control API, e.g.:
#   curl -s -XPOST localhost:15050/sim/v1/tasks -d '{"name":"web","container":"DOCKER","network":"container",
#        "ports":[{"name":"http","container_port":80,"labels":{"VIP_0":"/web:80"}}]}'
#   curl -s -XDELETE localhost:15050/sim/v1/tasks/<task id>
#   dig @127.0.0.1 -p 15353 docker-on-dcos.marathon.mesos
#   dig @127.0.0.1 -p 15353 _docker-on-bridge._tcp.marathon.mesos SRV
#   MESOSNET_API=http://127.0.0.1:16081 MESOSNET_TOKEN_FILE=<printed below> bin/mesosnetctl vips
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
LISTEN=${DEMO_LISTEN:-127.0.0.1:15050}
FIXTURE=${DEMO_FIXTURE:-../shared/fixtures/mesos-api/v1-operator-api/dcos-net/operator-api.json}

DNS=${DEMO_DNS:-127.0.0.1:15353}
for b in mesosnet-sim mesosnetctl mesosnet-coredns mesosnet-master; do
	[[ -x $BIN/$b ]] || { echo "demo: $BIN/$b missing: run 'make build' (or 'make demo')" >&2; exit 1; }
done
[[ -f $FIXTURE ]] || { echo "demo: fixture $FIXTURE not found (shared/ must sit beside the repository)" >&2; exit 1; }

"$BIN/mesosnet-sim" --listen "$LISTEN" --replay "$FIXTURE" --replay-interval 300ms --heartbeat 5s --log-level warn &
sim=$!
work=$(mktemp -d)
echo demo-token >"$work/token"
cat >"$work/Corefile" <<CORE
mesos:${DNS##*:} thisdcos.directory:${DNS##*:} {
    bind ${DNS%:*}
    mesos {
        master http://$LISTEN
        cluster http://127.0.0.1:16081 http://127.0.0.1:16082 http://127.0.0.1:16083
        cluster_token_file $work/token
    }
}
CORE
"$BIN/mesosnet-coredns" -conf "$work/Corefile" -quiet 2>"$work/coredns.log" &
dns=$!
peers=()
for i in 1 2 3; do peers+=(--peer "m$i,127.0.0.1:1650$i,127.0.0.1:1608$i"); done
masters=()
for i in 1 2 3; do
	"$BIN/mesosnet-master" --id "m$i" --data-dir "$work/m$i" --raft-listen "127.0.0.1:1650$i" --api-listen "127.0.0.1:1608$i" \
		"${peers[@]}" --token-file "$work/token" --mesos-masters "http://$LISTEN" --overlay-config hack/testplan-overlay.json \
		--vip-range 198.18.128.0/17 --log-level warn 2>"$work/m$i.log" &
	masters+=($!)
done
trap 'kill "$sim" "$dns" "${masters[@]}" 2>/dev/null || true; wait "$sim" "$dns" "${masters[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export MESOSNET_API=http://127.0.0.1:16081,http://127.0.0.1:16082,http://127.0.0.1:16083 MESOSNET_TOKEN_FILE=$work/token

for _ in $(seq 100); do
	"$BIN/mesosnetctl" mesos leader --masters "http://$LISTEN" --timeout 1s >/dev/null 2>&1 && break
	sleep 0.1
done
echo "mesosnet-sim (pid $sim) serves the Mesos operator API on http://$LISTEN, replaying $(basename "$FIXTURE")"
echo "mesosnet-master x3 (pids ${masters[*]}) serve the cluster API on $MESOSNET_API (token file $MESOSNET_TOKEN_FILE)"
for _ in $(seq 100); do
	"$BIN/mesosnetctl" status --timeout 1s >/dev/null 2>&1 && break
	sleep 0.1
done
# An agent registers with any master and gets its VTEP and subnets (as mesosnet-agent will).
for _ in $(seq 100); do
	curl -sf -H "Authorization: Bearer demo-token" -XPOST http://127.0.0.1:16082/v1/agents \
		-d '{"ip": "198.18.32.1", "hostname": "agent-1"}' >/dev/null 2>&1 && break
	sleep 0.1
done
# A Marathon app with a named VIP: the leader allocates its address, every master serves its backends.
curl -sf -XPOST "http://$LISTEN/sim/v1/tasks" -d '{"id": "web.1", "name": "web", "framework": "marathon", "container": "DOCKER",
	"network": "container", "network_name": "dcos", "ips": ["198.19.1.10"],
	"ports": [{"name": "http", "container_port": 80, "labels": {"VIP_0": "/web:80"}}]}' >/dev/null || true
echo "mesosnet-coredns (pid $dns) serves *.mesos and dcos.thisdcos.directory on $DNS (dig @${DNS%:*} -p ${DNS##*:} ...)"
"$BIN/mesosnetctl" mesos leader --masters "http://$LISTEN"
echo
echo "Following Mesos through mesosnet (Ctrl-C to stop):"
if [[ -n ${DEMO_SECONDS:-} ]]; then
	timeout --preserve-status -s INT "$DEMO_SECONDS" "$BIN/mesosnetctl" mesos tasks --watch --masters "http://$LISTEN" || true
	echo
	"$BIN/mesosnetctl" mesos tasks --masters "http://$LISTEN"
	for c in status agents subnets vips; do
		echo; echo "\$ mesosnetctl $c"
		"$BIN/mesosnetctl" "$c" || true
	done
	if command -v dig >/dev/null; then
		for q in "web.marathon.l4lb.thisdcos.directory A" "docker-on-dcos.marathon.mesos A" "docker-on-ipv6.marathon.mesos AAAA" "_docker-on-bridge._tcp.marathon.mesos SRV" "docker-on-dcos.marathon.containerip.dcos.thisdcos.directory A" "leader.mesos A"; do
			echo "\$ dig +short @${DNS%:*} -p ${DNS##*:} $q"
			dig +short +time=1 +tries=2 "@${DNS%:*}" -p "${DNS##*:}" $q
		done
	fi
else
	"$BIN/mesosnetctl" mesos tasks --watch --masters "http://$LISTEN"
fi
