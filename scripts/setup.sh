#!/usr/bin/env bash
# setup.sh — idempotent machine set-up for building, testing and benchmarking astra-mcpd
# on Debian 12 (run as root on a fresh machine; re-runs take well under a second).
#
#   1. apt: the C libraries the Swift build links (libpq, libcurl, libsystemd, pkg-config),
#      PostgreSQL (the tests start a throwaway cluster with scripts/throwaway-postgres.sh),
#      python3-venv, bubblewrap (the stdio sandbox the tests use) and openssl (the database TLS
#      test's certificates). apt-get update runs only when something is missing and the
#      package lists are absent or stale. No service is started (see policy-rc.d below).
#   2. A Python venv at $REPO/.venv with the PyPI packages `mcp` and `mcp-server-time`
#      (the reference MCP server used by the demo and the tests) and `standardwebhooks` (the
#      reference implementation that verifies our callback signatures), `jsonschema` and
#      `hypothesis` (the reference JSON Schema validator and the generator of the differential
#      test's schemas and instances), with `rfc3339-validator` and `rfc3987`, without which
#      jsonschema silently skips the `date-time` and `uri` formats, and `authlib` with its
#      `joserfc` (the OAuth authorization server the OAuth client credentials tests run against);
#      skipped when its stamp file says the same package set is already installed.
#
# Environment overrides: PYTHON (interpreter for the venv, default /usr/bin/python3),
# ASTRA_PIP_PACKAGES (the pip requirement list, default pinned below).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
APT_PACKAGES=(libpq-dev libcurl4-openssl-dev libsystemd-dev pkg-config postgresql postgresql-contrib
              python3 python3-venv bubblewrap openssl)
# Pinned so a new upstream release cannot change what the tests see; bump deliberately.
PIP_PACKAGES="${ASTRA_PIP_PACKAGES:-mcp==2.3.0 mcp-server-time==2026.10.19 standardwebhooks==1.1.0 jsonschema==4.26.0 hypothesis==6.170.17 rfc3339-validator==0.1.4 rfc3987==1.3.8 authlib==1.9.6 joserfc==1.8.0}"
STAMP="$VENV/.astra-setup-stamp"
LOG="${TMPDIR:-/tmp}/astra-mcpd-setup.$(id -u).log"

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Two set-ups at once (e.g. both README commands in parallel) would fight over apt and
# the venv; take a machine-wide lock.
# (Best effort: skipped if the lock file cannot be opened.)
if { exec 9>>"${TMPDIR:-/tmp}/astra-mcpd-setup.$(id -u).lock"; } 2>/dev/null; then
    flock 9
fi

# ---------------------------------------------------------------- apt packages
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run this script as root"
    export DEBIAN_FRONTEND=noninteractive
    APT=(apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

    # Keep package maintainer scripts from starting services (postgresql would start
    # its default cluster): the standard Debian policy-rc.d hook, removed afterwards.
    # An existing policy-rc.d (e.g. in a container image) is left alone.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi

    lists_fresh() {  # package lists exist and were refreshed less than 6 hours ago (ctime: apt sets mtime to the server's Last-Modified)
        [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -cmin -360 -print -quit 2>/dev/null)" ]
    }
    apt_update() { say "apt-get update"; "${APT[@]}" update >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "apt-get update failed (log: $LOG)"; }; }

    lists_fresh || apt_update
    say "installing ${missing[*]} (log: $LOG)"
    if ! "${APT[@]}" install --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
        # Stale lists point at superseded .debs: refresh once and retry.
        apt_update
        "${APT[@]}" install --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
            || { tail -n 20 "$LOG" >&2; die "apt-get install failed (log: $LOG)"; }
    fi
else
    say "apt packages already installed"
fi

# ---------------------------------------------------------------- python venv
PY="${PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3 || true)"
[ -n "$PY" ] || die "no python3 found"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than 3.10 (mcp needs >= 3.10)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PIP_PACKAGES" ] && [ -x "$VENV/bin/mcp-server-time" ] \
    && "$VENV/bin/python" -c '' 2>/dev/null; then
    say "venv up to date ($VENV)"
else
    if ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "creating venv $VENV"
        rm -rf "$VENV"
        "$PY" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
    fi
    say "pip install $PIP_PACKAGES"
    rm -f "$STAMP"
    # shellcheck disable=SC2086 # word splitting of the requirement list is intended
    PIP_ROOT_USER_ACTION=ignore "$VENV/bin/pip" install --disable-pip-version-check --no-input -q \
        $PIP_PACKAGES >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "pip install failed (log: $LOG)"; }
    "$VENV/bin/mcp-server-time" --help >/dev/null 2>&1 || die "mcp-server-time does not run"
    echo "$PIP_PACKAGES" >"$STAMP"
fi

say "done"
