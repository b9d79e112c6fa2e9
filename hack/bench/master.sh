#!/usr/bin/env bash
# master.sh: memory and ingestion benchmark of mesosnet-master (targets: <= 300 MB RSS per master
# with 10,000 tasks, 1,000 agents and 10,000 VIPs).
#
# One mesosnet-sim plays the Mesos master of a synthetic cluster of $TASKS tasks on $TASKS/10 agents.
# The synthetic cluster has fewer named VIPs than $VIPS (910 at 10,000 tasks, seed 1), so tasks with
# $VIPS_PER_TASK new named VIPs each (one port per VIP) are launched through the sim's control API
# until the state wants >= $VIPS. Then 3 mesosnet-masters start on loopback, with the product's
# default overlay and VIP ranges (data only: nothing is sent to those addresses), follow the sim and
# must record every task and allocate every VIP; then $AGENTS of the sim's agents register. It prints
#   - the time from starting the masters until a leader was elected, until it had recorded all tasks
#     (ingest) and until its vipalloc had allocated all VIPs (the exact counts the leader's code
#     computes from the sim's state, hack/bench/registeragents -count), polled every 0.1 s with
#     `mesosnetctl status -o json` against the leader,
#   - the time the registrations took,
#   - VmHWM (peak) and VmRSS of every master (/proc/PID/status), the leader marked.
#
#   hack/bench/master.sh                      # TASKS=10000 VIPS=10000 VIPS_PER_TASK=10 AGENTS=1000
#   VIPS_PER_TASK=1 hack/bench/master.sh      # one VIP per added task: about 19,000 tasks
# Needs curl and jq (installed from Debian's archive when missing). Traffic stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${TASKS:-10000}
VIPS=${VIPS:-10000}
VIPS_PER_TASK=${VIPS_PER_TASK:-10}
AGENTS=${AGENTS:-1000}
TIMEOUT=${TIMEOUT:-600}
BASE=${BASE_PORT:-26000}
SIM=$((BASE + 50))

need=()
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
if ((${#need[@]})); then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

make build >/dev/null
go build -o "$work/" ./hack/bench/registeragents
ctl=(bin/mesosnetctl)
load=("$work/registeragents" -sim "http://127.0.0.1:$SIM")

bin/mesosnet-sim --listen "127.0.0.1:$SIM" --synthetic "$TASKS" --log-level warn >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
	curl -fs "http://127.0.0.1:$SIM/health" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$SIM/health" >/dev/null || { echo "mesosnet-sim did not start" >&2; cat "$work/sim.log" >&2; exit 1; }

out=$("${load[@]}" -count)
read -r _ tasks _ vips <<<"$out"
echo "sim: $tasks tasks wanting $vips named VIPs"
if ((vips < VIPS)); then
	add=$(((VIPS - vips + VIPS_PER_TASK - 1) / VIPS_PER_TASK))
	"${load[@]}" -vip-tasks "$add" -vips-per-task "$VIPS_PER_TASK"
	out=$("${load[@]}" -count)
	read -r _ tasks _ vips <<<"$out"
	echo "sim: $tasks tasks wanting $vips named VIPs"
fi

token="$work/token"
head -c 24 /dev/urandom | base64 >"$token"
peers=() urls=()
for i in 1 2 3; do
	peers+=(--peer "m$i,127.0.0.1:$((BASE + 500 + i)),127.0.0.1:$((BASE + 80 + i))")
	urls+=("http://127.0.0.1:$((BASE + 80 + i))")
done
api=$(
	IFS=,
	echo "${urls[*]}"
)
declare -A mpid
start=$(now)
for i in 1 2 3; do
	mkdir -p "$work/m$i"
	bin/mesosnet-master --id "m$i" --data-dir "$work/m$i" \
		--raft-listen "127.0.0.1:$((BASE + 500 + i))" --api-listen "127.0.0.1:$((BASE + 80 + i))" \
		"${peers[@]}" --token-file "$token" --mesos-masters "http://127.0.0.1:$SIM" \
		--log-level warn >"$work/m$i.log" 2>&1 &
	pids+=($!)
	mpid[m$i]=$!
done

# status prints "leader tasks vips agents leaderAPI" as the cluster reports them: the leader
# once known (asked first), else the first master that answers.
first=$api
status() {
	"${ctl[@]}" status -o json --api "$first" --api-token-file "$token" --timeout 5s 2>/dev/null |
		jq -r '"\(if (.leader.id // "") == "" then "-" else .leader.id end) \(.counts.task // 0) \(.counts.vip // 0) \(.counts.agent // 0) \(.leader.apiAddress // "-")"'
}

elected="" ingested="" allocated=""
deadline=$(($(date +%s) + TIMEOUT))
while :; do
	out=$(status) || out="- 0 0 0 -"
	read -r leader t v _ la <<<"$out"
	if [[ -z $elected && $leader != - ]]; then
		elected=$(since "$start")
		first="http://$la,$api"
		continue
	fi
	if [[ -z $ingested ]] && ((t == tasks)); then ingested=$(since "$start"); fi
	if [[ -z $allocated ]] && ((v == vips)); then allocated=$(since "$start"); fi
	[[ -n $ingested && -n $allocated ]] && break
	if (($(date +%s) > deadline)); then
		echo "timed out after ${TIMEOUT} s: leader $leader, $t tasks, $v VIPs; want $tasks tasks and $vips VIPs" >&2
		tail -n 20 "$work"/m*.log >&2
		exit 1
	fi
	sleep 0.1
done
echo "from starting the masters: leader elected ${elected} s, all $tasks tasks recorded ${ingested} s, all $vips VIPs allocated ${allocated} s (leader $leader)"

"${load[@]}" -api "$api" -api-token-file "$token" -agents "$AGENTS"
# The leader may have changed, and a follower answer a few entries behind: poll.
for _ in $(seq 100); do
	out=$(status) || out="- 0 0 0 -"
	read -r leader t v a _ <<<"$out"
	((t == tasks && v == vips && a == AGENTS)) && break
	sleep 0.1
done
echo "cluster: leader $leader, $t tasks, $v VIPs, $a agents"
if ((t != tasks || v != vips || a != AGENTS || v < VIPS || t < TASKS)); then
	echo "want $tasks tasks (>= $TASKS), $vips VIPs (>= $VIPS) and $AGENTS agents" >&2
	exit 1
fi

# Let the followers apply the last entries before reading their memory.
sleep 2
printf '%-4s %-7s %8s %8s %10s\n' id pid VmHWM VmRSS ""
for i in 1 2 3; do
	p=${mpid[m$i]}
	hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")
	rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")
	mark=""
	[[ m$i == "$leader" ]] && mark="(leader)"
	printf '%-4s %-7s %5s MB %5s MB %10s\n' "m$i" "$p" "$hwm" "$rss" "$mark"
done
