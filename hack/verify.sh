#!/usr/bin/env bash
# verify.sh: the static checks every change must pass (make verify runs it before lint).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
$GO vet ./...
for tags in netns e2e; do
	$GO vet -tags "$tags" ./...
done
$GO mod tidy -diff
(cd hack/tools && $GO mod tidy -diff)
echo "verify: ok"
