#!/usr/bin/env bash
# throwaway-postgres.sh — a disposable PostgreSQL cluster for tests and the benchmark.
#
#   scripts/throwaway-postgres.sh start DIR   # initdb (if needed) + start; prints the URL on stdout
#   scripts/throwaway-postgres.sh url DIR     # prints the URL of a running cluster
#   scripts/throwaway-postgres.sh stop DIR    # fast shutdown, then deletes DIR
#
# The cluster listens on 127.0.0.1 on a free port and on a unix socket in DIR/sock,
# uses trust auth for the superuser "postgres", and runs with fsync off: never put data
# you care about in it. Works as root (the server runs as the "postgres" user, because
# postgres refuses to run as root) or as an ordinary user (runs as that user).
#
# Environment: PG_BINDIR (default: newest /usr/lib/postgresql/*/bin).
set -euo pipefail

die() { echo "throwaway-postgres: $*" >&2; exit 1; }
say() { echo "throwaway-postgres: $*" >&2; }

[ $# -eq 2 ] || die "usage: $0 start|stop|url DIR"
cmd=$1
dir=$2
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
dir=${dir%/}
marker="$dir/.throwaway-postgres"

if [ -z "${PG_BINDIR:-}" ]; then
    PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
[ -x "${PG_BINDIR:-}/postgres" ] || die "no PostgreSQL server binaries found (set PG_BINDIR)"

# Run a command as the cluster owner. As root: drop to "postgres" with setpriv, which
# execs in place (no intermediate process, no PAM), so exit codes and signals are direct.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install the postgresql package)"
    as_owner() { (cd "$dir" && setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"); }
else
    as_owner() { (cd "$dir" && "$@"); }
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 40000 ))
}

url_of() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

is_running() { [ -f "$dir/data/postmaster.pid" ] && as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

case "$cmd" in
start)
    if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir exists, is not empty and was not made by this script; refusing to touch it"
    fi
    mkdir -p "$dir"
    touch "$marker"
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" "$marker"

    if is_running; then
        say "already running"
        url_of
        exit 0
    fi

    if [ ! -f "$dir/data/PG_VERSION" ]; then
        say "initdb in $dir/data"
        # --no-sync: skip fsync of the new cluster (fast, unsafe on crash: fine for throwaway).
        as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            --no-sync --no-instructions >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi

    # Unix socket paths are limited to 107 bytes; fall back to a short directory in /tmp.
    sockdir="$dir/sock"
    if [ ${#sockdir} -gt 80 ]; then
        sockdir=$(mktemp -d /tmp/pgsock.XXXXXX)
    fi
    mkdir -p "$sockdir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$sockdir"
    echo "$sockdir" >"$dir/sockdir"

    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        # -w waits until postmaster.pid says "ready" (PostgreSQL >= 10), -t caps the wait.
        if as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -s \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sockdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >&2; then
            echo "$port" >"$dir/port"
            say "running: port $port, socket dir $sockdir, log $dir/postgres.log"
            url_of
            exit 0
        fi
        say "start attempt $attempt on port $port failed; retrying"
    done
    tail -n 20 "$dir/postgres.log" >&2 || true
    die "could not start the server"
    ;;
url)
    is_running || die "not running in $dir"
    url_of
    ;;
stop)
    [ -e "$dir" ] || exit 0
    [ -e "$marker" ] || die "$dir was not made by this script; refusing to touch it"
    if is_running; then
        # fast = roll back open transactions, disconnect clients, then shut down cleanly.
        as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >&2 \
            || as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 -s stop >&2 || true
    fi
    sockdir=$(cat "$dir/sockdir" 2>/dev/null || true)
    case "$sockdir" in /tmp/pgsock.*) rm -rf -- "$sockdir" ;; esac
    rm -rf -- "$dir"
    say "stopped and removed $dir"
    ;;
*)
    die "usage: $0 start|stop|url DIR"
    ;;
esac
