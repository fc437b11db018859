#!/usr/bin/env bash
# scripts/compare.sh: run every scenario in every model on the same inputs under hyperfine, check
# that the models agree, and write a report with the measured decision table.
#
#   scripts/compare.sh                      # the full run (under 30 minutes on 2 cores)
#   scripts/compare.sh --quick              # small inputs, few runs (about 3 minutes)
#   scripts/compare.sh --scenario matrix --scenario images --out /tmp/results
#   scripts/compare.sh --no-python          # the Rust models only
#
# What it does, in order: finds or installs hyperfine; builds the release binaries once; makes
# the Python virtualenv once (scripts/python-env.sh); generates the inputs once; starts the
# local servers in the background (a trap stops them however the script ends); runs every
# model of both languages once with --json and stops if the digests of one language differ;
# times each scenario with hyperfine over every model and variant of both languages with
# identical arguments; writes OUT/REPORT.md (tables, SVG charts, the chapter's table with a
# verdict per language).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
HYPERFINE_CRATE_VERSION=1.20.0 # 1.21 and later need a newer rustc than the machine's 1.95

# The scenarios, in report order. Each has a function scenario_<name> below.
ALL_SCENARIOS=(cakes workers queue matrix images downloads requests chat)

usage() {
    cat <<EOF
usage: scripts/compare.sh [--quick] [--no-python] [--scenario NAME]... [--out DIR]

  --quick           small inputs and few runs (about 5 minutes on 2 cores)
  --no-python       time the Rust models only (no virtualenv is made)
  --scenario NAME   run only this scenario (repeatable); one of: ${ALL_SCENARIOS[*]}
  --out DIR         where results and REPORT.md go (default: results)
EOF
}

die() {
    echo "compare.sh: error: $*" >&2
    exit 2
}

QUICK=0
PYTHON=1
OUT="$ROOT/results"
SELECTED=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --no-python) PYTHON=0 ;;
    --scenario)
        [ $# -ge 2 ] || die "--scenario needs a name (one of: ${ALL_SCENARIOS[*]})"
        SELECTED+=("$2")
        shift
        ;;
    --scenario=*) SELECTED+=("${1#--scenario=}") ;;
    --out)
        [ $# -ge 2 ] || die "--out needs a folder"
        OUT="$2"
        shift
        ;;
    --out=*) OUT="${1#--out=}" ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument '$1'"
        ;;
    esac
    shift
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL_SCENARIOS[@]}")
for s in "${SELECTED[@]}"; do
    case " ${ALL_SCENARIOS[*]} " in
    *" $s "*) ;;
    *) die "there is no scenario called '$s'; choose from: ${ALL_SCENARIOS[*]}" ;;
    esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ---------------------------------------------------------------------------------------------
# Tools

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed ($2)"
}

find_or_install_hyperfine() {
    if command -v hyperfine >/dev/null 2>&1; then
        return
    fi
    echo "== hyperfine not found: installing it"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        if ! apt-get install -y -q hyperfine >/dev/null 2>&1; then
            apt-get update -q >/dev/null 2>&1 || true
            apt-get install -y -q hyperfine >/dev/null 2>&1 || true
        fi
    fi
    if ! command -v hyperfine >/dev/null 2>&1; then
        echo "   (no usable apt-get: building hyperfine $HYPERFINE_CRATE_VERSION with cargo)"
        cargo install hyperfine --version "$HYPERFINE_CRATE_VERSION" --locked ||
            die "could not install hyperfine with apt-get or cargo"
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v hyperfine >/dev/null 2>&1 || die "hyperfine was installed but is not on PATH"
}

need cargo "install the Rust toolchain: https://rustup.rs"
need git "install git"
find_or_install_hyperfine
HYPERFINE_VERSION=$(hyperfine --version | awk '{print $2}')

# ---------------------------------------------------------------------------------------------
# Background processes: every server the run starts is recorded here and stopped on exit.

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        wait "$pid" 2>/dev/null || true
    done
    # The distributed model's hosts (network namespaces), if this run made them.
    [ -z "${DIST_HOSTS_PREFIX:-}" ] || "$ROOT/scripts/hosts.sh" down "$DIST_HOSTS_PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Scenarios. Each calls `add NAME COMMAND` once per model or variant, with the same arguments for
# every model; NAME is the hyperfine -n name and the summary's file name. Each sets RUNS and
# WARMUP for hyperfine.

NAMES=()
CMDS=()
GROUPS_=()
# add NAME COMMAND [RUNS]: RUNS overrides the scenario's RUNS for a command much slower than the
# rest (pure-Python arithmetic), which hyperfine then times in an invocation of its own.
add() {
    NAMES+=("$1")
    CMDS+=("$2")
    GROUPS_+=("${3:-}")
}

# The four crates with the same arguments.
add_all_models() {
    local m
    for m in serial threading multiprocessing asyncio; do
        add "$m" "$BIN/$m $1"
    done
}

# The same arguments for the four Python models (`python -m chapter ... --model M`), named
# python-M[-SUFFIX]; nothing with --no-python.
add_python_models() {
    local args=$1 suffix=${2:-} runs=${3:-} m
    [ $PYTHON = 1 ] || return 0
    for m in serial threading multiprocessing asyncio; do
        add "python-$m${suffix:+-$suffix}" "$PY -m chapter $args --model $m" "$runs"
    done
}

scenario_cakes() {
    local ms=1000
    [ $QUICK = 1 ] && ms=300
    RUNS=5 WARMUP=1
    [ $QUICK = 1 ] && RUNS=3
    add_all_models "cakes --cakes 2 --bake-ms $ms"
    add_python_models "cakes --cakes 2 --bake-ms $ms"
}

scenario_workers() {
    local ms=2000
    [ $QUICK = 1 ] && ms=300
    RUNS=3 WARMUP=1
    add_all_models "workers --workers 5 --sleep-ms $ms"
    add_python_models "workers --workers 5 --sleep-ms $ms"
}

scenario_queue() {
    local items=100000
    [ $QUICK = 1 ] && items=10000
    RUNS=10 WARMUP=2
    [ $QUICK = 1 ] && RUNS=5
    add_all_models "queue --items $items --workers 2 --capacity 64"
    add_python_models "queue --items $items --workers 2 --capacity 64" "" 3
}

# The CPU-bound scenarios: every model and every variant (the emulated GIL, rayon, a blocked
# event loop) on the same generated inputs.
add_cpu_variants() {
    local args=$1
    add serial "$BIN/serial $args"
    add threading "$BIN/threading $args"
    add threading-gil "$BIN/threading $args --gil"
    add multiprocessing "$BIN/multiprocessing $args"
    add multiprocessing-rayon "$BIN/multiprocessing $args --engine rayon"
    add asyncio "$BIN/asyncio $args"
    add asyncio-blocking "$BIN/asyncio $args --variant blocking"
}

# gen_matrix N: the inputs of an N x N product, made once; sets DIR.
gen_matrix() {
    DIR="$OUT/inputs/matrix-n$1-seed42"
    [ -f "$DIR/b.mat" ] || "$BIN/decision-table" gen matrix --n "$1" --seed 42 --out "$DIR" >/dev/null
}

scenario_matrix() {
    local n=2048 pure_n=256
    [ $QUICK = 1 ] && n=1024 pure_n=128
    RUNS=10 WARMUP=2
    [ $QUICK = 1 ] && RUNS=5
    gen_matrix $n
    add_cpu_variants "matrix $DIR --workers $CORES"
    # numpy on the same inputs (BLAS pinned to one thread per worker, see python/chapter/matrix.py);
    # pure Python, about a thousand times slower, on a smaller product of its own.
    add_python_models "matrix $DIR --workers $CORES --engine numpy" numpy
    add_distributed "matrix $DIR"
    gen_matrix $pure_n
    add_python_models "matrix $DIR --workers $CORES --engine pure" "" 3
}

scenario_images() {
    local count=32 w=1920 h=1080
    [ $QUICK = 1 ] && count=8
    local dir="$OUT/inputs/images-${count}x${w}x$h-seed42"
    [ -f "$dir/.complete" ] || {
        "$BIN/decision-table" gen images --count $count --width $w --height $h --seed 42 --out "$dir" >/dev/null
        touch "$dir/.complete"
    }
    RUNS=3 WARMUP=1
    add_cpu_variants "images $dir --out $OUT/work/images-out --workers $CORES"
    add_python_models "images $dir --out $OUT/work/images-out-python --workers $CORES"
    add_distributed "images $dir --out $OUT/work/images-out-distributed" "images $dir --out $OUT/work/images-out-python-distributed"
}

# ---------------------------------------------------------------------------------------------
# The distributed model (docs/distributed.md): a Redis broker with persistence off, and
# DIST_HOST_COUNT hosts made of network namespaces (scripts/hosts.sh; links with added latency
# and a bandwidth limit) running one worker process each, so the run has as many workers as
# the other models; where namespaces cannot be made (not root), the workers run as plain
# processes on loopback and the harness says so. Started by each scenario that times it
# (images, matrix) and stopped with that scenario's servers; the hosts stay until the end.

DIST_HOST_COUNT=2
DIST_LINK_DELAY=1ms
DIST_LINK_RATE=1gbit
DIST_HOSTS_PREFIX=""
DIST_BRIDGE=""

find_or_install_redis() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 && return 0
    echo "== redis-server not found: installing Debian's redis-server and redis-tools"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q redis-server redis-tools >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 || true; apt-get install -y -q redis-server redis-tools >/dev/null 2>&1 || true; }
    fi
    command -v redis-server >/dev/null 2>&1 || die "the distributed model needs redis-server (apt-get install redis-server redis-tools)"
}

# start_distributed: the broker, the hosts (once) and their workers, Rust's and Python's; sets
# DIST_URL (the driver's address of the broker).
start_distributed() {
    local port log why i url_there
    find_or_install_redis
    if [ -z "$DIST_HOSTS_PREFIX" ] && [ -z "$DIST_BRIDGE" ]; then
        if why=$("$ROOT/scripts/hosts.sh" check); then
            DIST_HOSTS_PREFIX="dtc$((RANDOM % 1000))"
            "$ROOT/scripts/hosts.sh" up "$DIST_HOSTS_PREFIX" $DIST_HOST_COUNT $DIST_LINK_DELAY $DIST_LINK_RATE >"$OUT/work/hosts.txt"
            DIST_BRIDGE=$(sed -n 's/^BRIDGE_ADDR=//p' "$OUT/work/hosts.txt")
            echo "   distributed: $DIST_HOST_COUNT hosts in network namespaces, links: $(sed -n 's/^SHAPING=//p' "$OUT/work/hosts.txt")"
        else
            DIST_BRIDGE=none
            echo "   distributed: no network namespaces here ($why): the $DIST_HOST_COUNT hosts' workers run as plain processes on loopback"
        fi
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log="$OUT/work/redis-$port.log"
    local binds="127.0.0.1"
    [ -n "$DIST_HOSTS_PREFIX" ] && binds="127.0.0.1 $DIST_BRIDGE"
    redis-server --port "$port" --bind "$binds" --save "" --appendonly no --protected-mode no \
        --dir "$OUT/work" --logfile "$log" &
    PIDS+=($!)
    wait_for_port "127.0.0.1:$port"
    DIST_URL="redis://127.0.0.1:$port"
    url_there=$DIST_URL
    [ -n "$DIST_HOSTS_PREFIX" ] && url_there="redis://$DIST_BRIDGE:$port"
    for i in $(seq 1 $DIST_HOST_COUNT); do
        dist_on_host "$i" "$BIN/distributed" worker --broker "$url_there" --processes 1 --host "h$i"
        if [ $PYTHON = 1 ]; then
            dist_on_host "$i" "$PY" -m chapter worker --broker "$url_there" --processes 1 --host "h$i"
        fi
    done
    # One broker's ceiling, for docs/distributed.md: small commands a second, one at a time
    # and pipelined, and the task entry itself (once per scenario: a few seconds).
    {
        redis-benchmark -p "$port" --csv -n 20000 -t ping,set,get
        redis-benchmark -p "$port" --csv -n 50000 -P 16 -t set,get
        redis-benchmark -p "$port" --csv -n 20000 XADD dt:bench '*' run r task 1
        redis-cli -p "$port" DEL dt:bench
    } >"$OUT/work/redis-benchmark.csv" 2>&1 || true
}

# dist_on_host I COMMAND...: a worker on host I (in its namespace, or here), stopped with the scenario.
dist_on_host() {
    local i=$1
    shift
    if [ -n "$DIST_HOSTS_PREFIX" ]; then
        "$ROOT/scripts/hosts.sh" exec "$DIST_HOSTS_PREFIX" "$i" "$@" >/dev/null 2>>"$OUT/work/distributed-workers.log" &
    else
        "$@" >/dev/null 2>>"$OUT/work/distributed-workers.log" &
    fi
    PIDS+=($!)
}

# add_distributed RUST_ARGS [PYTHON_ARGS]: the distributed model on the hosts' workers, named
# distributed (and python-distributed), with as many workers as the other models.
add_distributed() {
    start_distributed
    local workers=$DIST_HOST_COUNT
    add distributed "$BIN/distributed $1 --workers $workers --broker $DIST_URL --remote"
    if [ -n "${2:-}" ] && [ $PYTHON = 1 ]; then
        add python-distributed "$PY -m chapter $2 --workers $workers --model distributed --broker $DIST_URL --remote"
    fi
}

# start_http_server KNOBS...: a `decision-table serve` on a free port, stopped by the trap; sets URL.
start_http_server() {
    local log="$OUT/work/serve-$RANDOM.log"
    "$BIN/decision-table" serve --port 0 "$@" >"$log" 2>&1 &
    PIDS+=($!)
    wait_for_line "$log" '^listening on ' "decision-table serve $*"
    URL=$(awk 'NR == 1 { print $3 }' "$log")
    wait_for_port "${URL#http://}"
}

scenario_downloads() {
    # The issue's setting: 64 files of 1 MiB, 50 ms to first byte, 10 MiB/s per connection, K = 8.
    local files=64 size=1048576
    [ $QUICK = 1 ] && files=16 size=262144
    start_http_server --files $files --size $size --latency-ms 50 --bandwidth 10485760
    RUNS=3 WARMUP=1
    add_all_models "downloads --url $URL --out $OUT/work/downloads --workers 8"
    add_python_models "downloads --url $URL --out $OUT/work/downloads-python --workers 8"
}

scenario_requests() {
    # 1000 GETs at 20 ms each; K = 100 for every model, and K = 1000 for threads and tasks.
    local count=1000
    [ $QUICK = 1 ] && count=200
    start_http_server --latency-ms 20
    RUNS=3 WARMUP=1
    add_all_models "requests --url $URL --count $count --workers 100"
    add threading-k1000 "$BIN/threading requests --url $URL --count $count --workers 1000"
    add asyncio-k1000 "$BIN/asyncio requests --url $URL --count $count --workers 1000"
    add_python_models "requests --url $URL --count $count --workers 100"
    if [ $PYTHON = 1 ]; then
        add python-threading-k1000 "$PY -m chapter requests --url $URL --count $count --workers 1000 --model threading"
        add python-asyncio-k1000 "$PY -m chapter requests --url $URL --count $count --workers 1000 --model asyncio"
    fi
}

CHAT_SERVERS=()
scenario_chat() {
    # The serial server serves one client at a time: a load of many clients cannot complete
    # against it, so it is left out here (its tests show everyone else waiting).
    local clients=1000 m addr log
    [ $QUICK = 1 ] && clients=200
    RUNS=5 WARMUP=1
    [ $QUICK = 1 ] && RUNS=3
    CHAT_SERVERS=()
    local servers=(threading multiprocessing asyncio)
    [ $PYTHON = 1 ] && servers+=(python-asyncio python-threading)
    for m in "${servers[@]}"; do
        log="$OUT/work/chat-$m.err"
        case $m in
        python-*) $PY -m chapter chat-server --model "${m#python-}" --addr 127.0.0.1:0 --json >"$OUT/work/chat-$m.json" 2>"$log" & ;;
        *) "$BIN/$m" chat-server --addr 127.0.0.1:0 --json >"$OUT/work/chat-$m.json" 2>"$log" & ;;
        esac
        PIDS+=($!)
        CHAT_SERVERS+=("$m:$!")
        wait_for_line "$log" 'listening on' "$m chat-server"
        addr=$(grep -o 'listening on [0-9.:]*' "$log" | head -n 1 | awk '{print $3}')
        wait_for_port "$addr"
        add "$m" "$BIN/decision-table chat-load --addr $addr --model $m --clients $clients --senders 10 --messages 10"
    done
}

# After the chat scenario: stop its servers so they write their summaries (peak memory of the
# server, clients served), which the report shows beside the load client's figures.
finish_chat() {
    local entry m pid
    for entry in "${CHAT_SERVERS[@]}"; do
        m=${entry%%:*} pid=${entry#*:}
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        cp "$OUT/work/chat-$m.json" "$OUT/summaries/chat/$m.server.json" 2>/dev/null || true
    done
}

# wait_for_line FILE REGEX WHAT: wait up to 30 s for a server to announce itself.
wait_for_line() {
    local i
    for i in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    sed 's/^/   /' "$1" >&2
    die "$3 did not start (log: $1)"
}

# wait_for_port HOST:PORT: wait until the address accepts connections.
wait_for_port() {
    local host=${1%:*} port=${1##*:} i
    for i in $(seq 200); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    die "nothing answers on $1"
}

# ---------------------------------------------------------------------------------------------
# One scenario: check the digests, then time it.

run_scenario() {
    local s=$1 i name cmd digest lang failed=0 started=${#PIDS[@]}
    declare -A first=()
    NAMES=() CMDS=() GROUPS_=() RUNS=5 WARMUP=1
    "scenario_$s"
    mkdir -p "$OUT/summaries/$s" "$OUT/hyperfine"
    rm -f "$OUT/summaries/$s"/* "$OUT/hyperfine/$s".*
    echo "== $s: one run of every model with --json, to check they agree"
    for i in "${!NAMES[@]}"; do
        name=${NAMES[$i]} cmd=${CMDS[$i]}
        printf '%s\n' "$(relative "$cmd")" >"$OUT/summaries/$s/$name.cmd"
        # shellcheck disable=SC2086 # the command is a plain word list by construction
        if ! $cmd --json >"$OUT/summaries/$s/$name.json" 2>"$OUT/summaries/$s/$name.log"; then
            echo "   $name FAILED: $(relative "$cmd") --json" >&2
            tail -n 5 "$OUT/summaries/$s/$name.log" | sed 's/^/     /' >&2
            failed=1
            continue
        fi
        digest=$(sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' "$OUT/summaries/$s/$name.json")
        # Each language's models must agree among themselves; Rust and Python may differ by
        # design where their libraries round differently (the report says by how much).
        case $name in python-*) lang=python ;; *) lang=rust ;; esac
        # The pure-Python matrix runs on inputs of its own: it agrees with its own kind.
        [ "$s" = matrix ] && [ "$lang" = python ] && case $name in *-numpy) lang=python-numpy ;; esac
        printf '   %-28s %s\n' "$name" "$digest"
        if [ -z "${first[$lang]:-}" ]; then
            first[$lang]=$digest
        elif [ "$digest" != "${first[$lang]}" ]; then
            failed=2
        fi
    done
    [ $failed = 1 ] && die "$s: a model failed its check run (logs in $OUT/summaries/$s/)"
    [ $failed = 2 ] && die "$s: the models' digests differ (above): they did not compute the same result"
    # One hyperfine invocation per run count (most commands share the scenario's), merged into
    # one export for the report.
    local groups=() g
    for i in "${!NAMES[@]}"; do
        g=${GROUPS_[$i]:-$RUNS}
        case " ${groups[*]} " in *" $g "*) ;; *) groups+=("$g") ;; esac
    done
    for g in "${groups[@]}"; do
        local hf_args=()
        for i in "${!NAMES[@]}"; do
            [ "${GROUPS_[$i]:-$RUNS}" = "$g" ] && hf_args+=(-n "${NAMES[$i]}" "${CMDS[$i]}")
        done
        echo "== $s: timing $((${#hf_args[@]} / 3)) commands with hyperfine ($WARMUP warm-up, $g runs each)"
        hyperfine -N --style basic --warmup "$WARMUP" --runs "$g" \
            --export-json "$OUT/hyperfine/$s.runs$g.json" --export-markdown "$OUT/hyperfine/$s.runs$g.md" \
            "${hf_args[@]}" >"$OUT/hyperfine/$s.runs$g.log" 2>&1 || {
            tail -n 20 "$OUT/hyperfine/$s.runs$g.log" >&2
            die "$s: hyperfine failed (log: $OUT/hyperfine/$s.runs$g.log)"
        }
        sed 's/^/   /' "$OUT/hyperfine/$s.runs$g.md"
    done
    merge_exports "$s"
    [ "$s" = chat ] && finish_chat
    # Stop the servers this scenario started; the next one starts its own.
    for pid in "${PIDS[@]:$started}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    return 0
}

# merge_exports SCENARIO: hyperfine/SCENARIO.runs*.json -> hyperfine/SCENARIO.json (and .md).
merge_exports() {
    python3 - "$OUT/hyperfine" "$1" <<'PY'
import json, pathlib, sys
d, s = pathlib.Path(sys.argv[1]), sys.argv[2]
parts = sorted(d.glob(f"{s}.runs*.json"))
merged = {"results": [r for p in parts for r in json.loads(p.read_text())["results"]]}
(d / f"{s}.json").write_text(json.dumps(merged, indent=1))
(d / f"{s}.md").write_text("\n".join(p.with_suffix(".md").read_text() for p in parts))
for p in parts:
    for suffix in (".json", ".md", ".log"):
        q = p.with_suffix(suffix)
        if suffix != ".log":
            q.unlink()
PY
}

# relative COMMAND: the command with the repository's path taken out, as the report shows it.
relative() {
    printf '%s' "${1//"$ROOT"\//}"
}

json_string() {
    # Escape a value for a JSON string: backslashes, quotes, control characters.
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'
}

write_meta() {
    local cpu cores mem os rustc_v commit
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    cores=$(nproc 2>/dev/null || echo 0)
    mem=$(awk '/^MemTotal:/ {printf "%.1f", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo 0)
    os="$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") $(uname -r)"
    rustc_v=$(rustc --version 2>/dev/null || echo unknown)
    commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit+dirty"
    fi
    cat >"$OUT/meta.json" <<EOF
{"mode":"$([ $QUICK = 1 ] && echo quick || echo full)","date":"$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "cpu":"$(json_string "$cpu")","cores":${cores:-0},"memory_gib":${mem:-0},"os":"$(json_string "$os")",
 "rustc":"$(json_string "$rustc_v")","hyperfine":"$(json_string "$HYPERFINE_VERSION")",
 "commit":"$(json_string "$commit")","seconds":$SECONDS}
EOF
}

# ---------------------------------------------------------------------------------------------

echo "== building the release binaries"
(cd "$ROOT" && cargo build --release --workspace --quiet) || die "the release build failed"
PY=""
if [ $PYTHON = 1 ]; then
    PY=$("$ROOT/scripts/python-env.sh") || die "cannot make the Python virtualenv (run with --no-python to skip the Python side)"
fi

CORES=$(nproc 2>/dev/null || echo 2)
rm -rf "$OUT/hyperfine" "$OUT/summaries" "$OUT/charts" "$OUT/work"
mkdir -p "$OUT/work"
for s in "${SELECTED[@]}"; do
    run_scenario "$s"
done

write_meta
"$BIN/decision-table" report "$OUT"
echo "== done in ${SECONDS}s ($([ $QUICK = 1 ] && echo quick || echo full) run): $OUT/REPORT.md"
