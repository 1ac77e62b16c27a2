#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run `astra-mcpd demo`
# (a throwaway PostgreSQL, the demo MCP server, a few executions, their outcomes).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
echo "building astra-mcpd (release; the first build takes a few minutes)…" >&2
swift build -c release --product astra-mcpd >&2
swift build -c release --product astra-mcpd-demo-server >&2
exec .build/release/astra-mcpd demo "$@"
