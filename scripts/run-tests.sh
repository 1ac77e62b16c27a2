#!/usr/bin/env bash
# Runs the already built test suite once (scripts/test.sh sets up and builds first).
#
# Integration tests start daemons, PostgreSQL databases and MCP servers of their own; on a
# 2-core machine running every suite at once overloads it. ASTRA_TEST_PARALLELISM (default 4)
# bounds how many tests run at the same time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/opt/swift/usr/bin:$PATH"
# A suite that stops making progress is a bug to see, not 90 minutes of silence: it is
# stopped after ASTRA_TEST_TIMEOUT (default 30 minutes; a whole run takes about one).
exec timeout --kill-after=30s "${ASTRA_TEST_TIMEOUT:-30m}" \
    swift test --skip-build --experimental-maximum-parallelization-width "${ASTRA_TEST_PARALLELISM:-4}" "$@"
