#!/usr/bin/env bash
# ingest.sh: the Mesos ingestion benchmarks whose figures the README records.
#   BenchmarkSubscribed10k   read + decode + apply a SUBSCRIBED of 1,000 and 10,000 synthetic tasks
#                            (reports MB/s, peak-heap-MB, retained-MB)
#   BenchmarkTaskUpdated10k  decode + apply one TASK_UPDATED frame at 10,000 tasks
#   BenchmarkApplyTaskUpdated apply one decoded TASK_UPDATED at 10,000 tasks
# COUNT=N repeats each (feed the output to benchstat from hack/tools to compare runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
COUNT=${COUNT:-3}
$GO test -run '^$' -bench 'Subscribed10k' -benchtime 3x -count "$COUNT" ./runtime/mesos/
$GO test -run '^$' -bench 'TaskUpdated10k' -benchtime 20000x -count "$COUNT" ./runtime/mesos/
$GO test -run '^$' -bench 'ApplyTaskUpdated' -count "$COUNT" ./runtime/mesos/state/
