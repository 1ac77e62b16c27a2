#!/usr/bin/env bash
# The README's second command: install what is needed and run the whole test suite (unit
# tests, and integration tests against a throwaway PostgreSQL and real MCP servers: our demo
# server, mcp-server-time from PyPI, and a minimal Python server).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/build-for-tests.sh
exec bash scripts/run-tests.sh "$@"
