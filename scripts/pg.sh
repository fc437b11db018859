#!/usr/bin/env bash
# scripts/pg.sh: a throw-away PostgreSQL for the db scenario, on 127.0.0.1 only, owned by the
# postgres user (when run as root), in a folder of its own.
#
#   scripts/pg.sh install                 # apt-get install postgresql where it is missing (root)
#   scripts/pg.sh start DIR [--port P]    # make the cluster if DIR has none, start it in the
#                                         # background, print its URL
#   scripts/pg.sh stop DIR                # stop it (fast shutdown) and wait until it is gone
#   scripts/pg.sh run DIR [--port P] [--netem-ms MS]
#                                         # the same in the foreground, exec'd, so the caller's $!
#                                         # is the server itself (the harness stops it with its
#                                         # other servers); --netem-ms runs it in a network
#                                         # namespace of its own whose loopback delays every
#                                         # packet by MS (so MS each way); clients reach it with
#                                         # `nsenter -t PID -n CMD`; it vanishes with the server
#   scripts/pg.sh wait DIR [PID]          # wait until it accepts connections (inside PID's
#                                         # namespace if given), print its URL
#   scripts/pg.sh netem-check             # exit 0 if namespaces and netem work here, else say why
#   scripts/pg.sh bindir                  # where initdb, postgres and pgbench are
#
# The cluster is for measuring round trips, not the disk: fsync is off (this machine's virtual
# disk takes about 3.5 ms per fsync, which would swamp everything else), but every commit is
# still written to the kernel before it is acknowledged (synchronous_commit on), so killing the
# server loses no acknowledged commit; only a crash of the whole machine could. Authentication
# is "trust": it listens on 127.0.0.1 and on a socket in DIR, and nowhere else.
set -euo pipefail

die() {
    echo "pg.sh: error: $*" >&2
    exit 2
}

bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    return 1
}

install() {
    if bindir >/dev/null; then
        echo "PostgreSQL found in $(bindir)"
        return 0
    fi
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL is not installed and this is not root with apt-get: install the 'postgresql' package"
    echo "== PostgreSQL not found: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q postgresql >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q postgresql >/dev/null 2>&1 || die "apt-get could not install postgresql"
    fi
    # The package starts a system cluster on port 5432; ours never use it, so it is stopped
    # where it was started (nothing of ours should listen but the throw-away clusters).
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
            pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
        done
    fi
    bindir >/dev/null || die "postgresql was installed but initdb is not where expected"
    echo "PostgreSQL installed in $(bindir)"
}

# as_owner CMD...: run as the postgres user when root (the server refuses to run as root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# init DIR: make the cluster once.
init() {
    local dir=$1 bin
    bin=$(bindir) || die "PostgreSQL is not installed (scripts/pg.sh install)"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        rm -rf "$dir/data"
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C \
            --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
        cat >>"$dir/data/postgresql.conf" <<'EOF'
# scripts/pg.sh: a throw-away cluster for the db scenario (see the script's header).
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 128MB
fsync = off
full_page_writes = off
synchronous_commit = on
idle_in_transaction_session_timeout = '60s'
log_min_messages = warning
EOF
    fi
}

url_of() {
    echo "postgresql://postgres@127.0.0.1:$1/postgres"
}

run() {
    local dir=$1 port="" netem="" bin
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
        --port) port=$2; shift ;;
        --netem-ms) netem=$2; shift ;;
        *) die "run: unknown argument '$1'" ;;
        esac
        shift
    done
    init "$dir"
    bin=$(bindir)
    dir=$(cd "$dir" && pwd)
    [ -n "$port" ] || port=$(free_port)
    echo "$port" >"$dir/port"
    local server=(postgres -D "$dir/data" -p "$port" -k "$dir")
    if [ -z "$netem" ]; then
        # exec: the caller's $! is the server's pid, so stopping it stops the server.
        if [ "$(id -u)" = 0 ]; then
            exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/${server[0]}" "${server[@]:1}"
        fi
        exec "$bin/${server[0]}" "${server[@]:1}"
    fi
    [ "$(id -u)" = 0 ] || die "--netem-ms needs root (a network namespace and tc)"
    # A network namespace of its own: its loopback delays every packet by MS, so a round trip
    # from a client inside it takes 2 x MS more. Only its own 127.0.0.1 is used: nothing
    # leaves the machine. The namespace has no name and goes when its last process does.
    exec unshare --net -- sh -c '
        ip link set lo up &&
        tc qdisc add dev lo root netem delay "$1"ms limit 100000 &&
        shift &&
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"' \
        netem "$netem" "$bin/${server[0]}" "${server[@]:1}"
}

# wait DIR [PID]: until the server accepts connections (30 s at most).
wait_ready() {
    local dir=$1 pid=${2:-} bin port i enter=()
    bin=$(bindir)
    for i in $(seq 300); do
        port=$(cat "$dir/port" 2>/dev/null || true)
        if [ -n "$port" ]; then
            [ -n "$pid" ] && enter=(nsenter -t "$pid" -n --)
            if "${enter[@]}" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then
                url_of "$port"
                return 0
            fi
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            die "the server in $dir exited before accepting connections"
        fi
        sleep 0.1
    done
    die "the server in $dir did not accept connections within 30 s"
}

start() {
    local dir=$1 pid
    shift
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
        wait_ready "$dir"
        return 0
    fi
    rm -f "$dir/port"
    setsid "$0" run "$dir" "$@" >"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/server.pid"
    wait_ready "$dir" "$pid" || { tail -n 20 "$dir/server.log" >&2; exit 2; }
}

stop() {
    local dir=$1 pid i
    [ -f "$dir/server.pid" ] || { echo "pg.sh: no server started in $dir" >&2; return 0; }
    pid=$(cat "$dir/server.pid")
    # SIGINT is PostgreSQL's fast shutdown: sessions are ended, then the server stops.
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/server.pid"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/server.pid"
    die "the server in $dir did not stop within 30 s; killed"
}

netem_check() {
    [ "$(id -u)" = 0 ] || { echo "netem: not root, so no network namespace and no tc" >&2; return 1; }
    command -v unshare >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 ||
        { echo "netem: unshare, nsenter or tc is missing (util-linux, iproute2)" >&2; return 1; }
    local why
    if ! why=$(unshare --net -- sh -c 'ip link set lo up' 2>&1); then
        echo "netem: network namespaces are not allowed here ($why)" >&2
        return 1
    fi
    if ! why=$(unshare --net -- sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms' 2>&1); then
        echo "netem: this kernel has no netem queueing discipline ($why)" >&2
        return 1
    fi
    return 0
}

[ $# -ge 1 ] || die "usage: scripts/pg.sh install|start DIR|stop DIR|run DIR|wait DIR [PID]|netem-check|bindir"
cmd=$1
shift
case "$cmd" in
install) install ;;
bindir) bindir || die "PostgreSQL is not installed (scripts/pg.sh install)" ;;
start) [ $# -ge 1 ] || die "start needs a folder"; start "$@" ;;
stop) [ $# -ge 1 ] || die "stop needs a folder"; stop "$1" ;;
run) [ $# -ge 1 ] || die "run needs a folder"; run "$@" ;;
wait) [ $# -ge 1 ] || die "wait needs a folder"; wait_ready "$@" ;;
netem-check) netem_check ;;
*) die "unknown command '$cmd'" ;;
esac
