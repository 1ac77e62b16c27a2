#!/usr/bin/env bash
# The proof that the suite is green every run: builds once (as scripts/test.sh does), then
# runs the whole suite N times in a row and reports how many runs passed. With --busy-core,
# one core is kept busy by stress-ng for the whole loop, as a loaded CI machine would be.
#
#   bash scripts/test-repeatedly.sh [N] [--busy-core]      (default N = 10)
#
# The log of every failed run is kept in $TMPDIR/astra-mcpd-runs/.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
runs=10
busy=false
for arg in "$@"; do
    case "$arg" in
        --busy-core) busy=true ;;
        ''|*[!0-9]*) echo "usage: $0 [N] [--busy-core]" >&2; exit 2 ;;
        *) runs=$arg ;;
    esac
done

bash scripts/build-for-tests.sh
export PATH="/opt/swift/usr/bin:$PATH"
logs="${TMPDIR:-/tmp}/astra-mcpd-runs"
mkdir -p "$logs"

stress_pid=
if $busy; then
    command -v stress-ng >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -q -y stress-ng >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -q -y stress-ng >/dev/null; }
    stress-ng --cpu 1 --timeout 0 --quiet &
    stress_pid=$!
    trap 'kill $stress_pid 2>/dev/null || true' EXIT
fi

passed=0
failed=0
for run in $(seq 1 "$runs"); do
    log="$logs/run-$(date +%s)-$run.log"
    start=$(date +%s)
    if bash scripts/run-tests.sh >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "run $run: passed in $(( $(date +%s) - start )) s"
        rm -f "$log"
    else
        failed=$((failed + 1))
        echo "run $run: FAILED in $(( $(date +%s) - start )) s (log: $log)"
        grep -E '^✘ Test .*(recorded an issue|failed after)' "$log" | head -n 10 || true
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
