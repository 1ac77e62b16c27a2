#!/usr/bin/env bash
# The README's second command: install what is needed and run the whole test suite (unit
# tests, and integration tests against a throwaway PostgreSQL and real MCP servers: our demo
# server, mcp-server-time from PyPI, and a minimal Python server).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
# The integration tests start these binaries as child processes.
swift build --product astra-mcpd
swift build --product astra-mcpd-demo-server
swift build --build-tests
swift test --skip-build "$@"
