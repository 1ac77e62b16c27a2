#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh) and builds the test suite and the two
# binaries the integration tests start as child processes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build --product astra-mcpd
swift build --product astra-mcpd-demo-server
swift build --build-tests
