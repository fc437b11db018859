#!/usr/bin/env bash
# scripts/compare.sh: run every scenario in every model on the same inputs under hyperfine, check
# that the models agree, and write a report with the measured decision table.
#
#   scripts/compare.sh                      # the full run (under 30 minutes on 2 cores)
#   scripts/compare.sh --quick              # small inputs, one run each (about 4.5 minutes)
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
# DT_PROFILE=debug times the debug binaries `cargo test` already built: CI's smoke run of the
# harness on a fresh machine, which a release build of the workspace would double. Not for
# measuring: the workspace's own code is unoptimised there.
PROFILE=${DT_PROFILE:-release}
BIN="$ROOT/target/$PROFILE"
HYPERFINE_CRATE_VERSION=1.20.0 # 1.21 and later need a newer rustc than the machine's 1.95

# The scenarios, in report order. Each has a function scenario_<name> below.
ALL_SCENARIOS=(cakes workers queue matrix images bigfile downloads requests crawl db chat chat-capacity spawn pipeline gui train)

usage() {
    cat <<EOF
usage: scripts/compare.sh [--quick] [--no-python] [--scenario NAME]... [--out DIR]

  --quick           small inputs, one timed run each (about 4.5 minutes on 2 cores)
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
    # Sleeps vary by a millisecond: three runs, and the check run is the warm-up.
    RUNS=3 WARMUP=0
    add_all_models "cakes --cakes 2 --bake-ms $ms"
    add_python_models "cakes --cakes 2 --bake-ms $ms"
}

scenario_workers() {
    local ms=1000
    [ $QUICK = 1 ] && ms=300
    RUNS=3 WARMUP=0
    add_all_models "workers --workers 5 --sleep-ms $ms"
    add_python_models "workers --workers 5 --sleep-ms $ms"
}

scenario_queue() {
    local items=100000
    [ $QUICK = 1 ] && items=10000
    RUNS=5 WARMUP=1
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

# halve_matrix DIR: DIR-top and DIR-bottom, each with half of A's rows (the top half, the rest)
# and the same B (a hard link): two products that together are DIR's, made once, with the
# Python side's reader and atomic writer of the matrix format (standard library only).
halve_matrix() {
    local half
    for half in top bottom; do
        [ -f "$1-$half/b.mat" ] && continue
        mkdir -p "$1-$half"
        PYTHONPATH="$ROOT/python" python3 - "$1/a.mat" "$1-$half/a.mat" $half <<'PY'
import sys
from chapter.matrix import read_header, read_rows, write
src, dst, half = sys.argv[1:]
rows, cols = read_header(src)
start, count = (0, rows // 2) if half == "top" else (rows // 2, rows - rows // 2)
write(dst, count, cols, read_rows(src, start, count))
PY
        ln -f "$1/b.mat" "$1-$half/b.mat"
    done
}

# at_once CMD1 CMD2: one command that runs both at the same time and fails if either fails.
at_once() {
    printf "sh -c '%s >/dev/null & p=\$!; %s >/dev/null && wait \$p'" "$1" "$2"
}

scenario_matrix() {
    local n=2048 pure_n=256
    [ $QUICK = 1 ] && n=1024 pure_n=128
    # Efficiency is this row's figure: the serial run is timed in the same hyperfine run as the
    # models (5 runs, not 2 in a run of its own), so that the machine's drift over minutes does
    # not show as a speedup above the core count.
    RUNS=5 WARMUP=1 SERIAL_APART=0
    gen_matrix $n
    add_cpu_variants "matrix $DIR --workers $CORES"
    # The machine's own ceiling for two cores, no model at all: two serial processes started
    # at once, each on half of A's rows, sharing nothing but the machine (caches, memory
    # bandwidth, the host's other guests). No model can be more efficient than this; a target
    # above it is a target for another machine. Timed only (two digests of half products); its
    # speedup is against the serial run of the whole product, the same work.
    halve_matrix "$DIR"
    add two-serials "$(at_once "$BIN/serial matrix $DIR-top" "$BIN/serial matrix $DIR-bottom")"
    TIMED_ONLY_[matrix:two-serials]=1 DIGEST_GROUP_[matrix:two-serials]=rust
    # numpy on the same inputs (BLAS pinned to one thread per worker, see python/chapter/matrix.py);
    # pure Python, about a thousand times slower, on a smaller product of its own.
    add_python_models "matrix $DIR --workers $CORES --engine numpy" numpy
    if [ $PYTHON = 1 ]; then
        local np="-m chapter matrix --engine numpy --model serial"
        add python-two-serials "$(at_once "$PY $np $DIR-top" "$PY $np $DIR-bottom")"
        TIMED_ONLY_[matrix:python-two-serials]=1 DIGEST_GROUP_[matrix:python-two-serials]=python-numpy
    fi
    add_distributed "matrix $DIR"
    gen_matrix $pure_n
    add_python_models "matrix $DIR --workers $CORES --engine pure" "" 3
}

scenario_images() {
    local count=32 w=1920 h=1080
    [ $QUICK = 1 ] && count=6
    local dir="$OUT/inputs/images-${count}x${w}x$h-seed42"
    [ -f "$dir/.complete" ] || {
        "$BIN/decision-table" gen images --count $count --width $w --height $h --seed 42 --out "$dir" >/dev/null
        touch "$dir/.complete"
    }
    # The check run just before read every picture: it is the warm-up.
    RUNS=2 WARMUP=0
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

# bigfile's two additions to run_scenario, keyed by "scenario:name": a hyperfine --prepare for
# a command (run before each of its runs, warm-up included, and not timed), and commands that are
# timed only, with no --json check (cat and wc -l have no summary and no digest).
declare -A PREPARE_=() TIMED_ONLY_=() DIGEST_GROUP_=()

# bigfile: the One Billion Row Challenge's workload. Warm rows read a file already in the page
# cache (CPU-bound); cold rows (`-cold`) have the pages of their file dropped before every run,
# by `decision-table drop-cache` as hyperfine's --prepare (and by the models' own --cold in the
# check run): I/O-bound. `cat FILE` (its output goes to /dev/null) and `wc -l FILE` are the
# read-speed ceiling, timed in the same hyperfine run as the models, with the same treatment.
# The cold rows read a tenth of the warm file (this machine's disk reads a few tens of MB/s
# while others use it), and Python parses its own smaller file, warm and cold (pure-Python
# parsing runs at about a million and a half lines a second): compare them by `gb_per_s`.
# Budget: about 4 minutes full (1.5 GB warm, 150 MB cold, 45 MB Python), 30 s quick (60, 15
# and 7.5 MB).
scenario_bigfile() {
    local rows=100000000 cold_rows=10000000 py_rows=3000000 cold_runs=2
    [ $QUICK = 1 ] && rows=4000000 cold_rows=1000000 py_rows=500000
    local file="$OUT/inputs/bigfile-$rows-seed42.txt" cold="$OUT/inputs/bigfile-$cold_rows-seed42.txt"
    local pyfile="$OUT/inputs/bigfile-$py_rows-seed42.txt" f
    for f in "$file:$rows" "$cold:$cold_rows" "$pyfile:$py_rows"; do
        [ -f "${f%:*}" ] || "$BIN/decision-table" gen bigfile --rows "${f##*:}" --stations 413 --seed 42 --out "${f%:*}" >/dev/null
    done
    RUNS=3 WARMUP=1
    local args="bigfile $file --workers $CORES" cargs="bigfile $cold --workers $CORES --cold"
    local drop="$BIN/decision-table drop-cache $cold" m
    add serial "$BIN/serial $args"
    add threading "$BIN/threading $args"
    add multiprocessing "$BIN/multiprocessing $args"
    add asyncio "$BIN/asyncio $args"
    # tokio::fs's thread hop per read makes it five times slower than the others: timed once.
    add asyncio-tokio-fs "$BIN/asyncio $args --variant tokio-fs" 1
    add cat "cat $file"
    add wc-l "wc -l $file"
    TIMED_ONLY_[bigfile:cat]=1 TIMED_ONLY_[bigfile:wc-l]=1
    for m in serial threading multiprocessing asyncio; do
        add "$m-cold" "$BIN/$m $cargs" $cold_runs
        PREPARE_[bigfile:$m-cold]=$drop DIGEST_GROUP_[bigfile:$m-cold]=rust-cold
    done
    DIGEST_GROUP_[bigfile:asyncio-tokio-fs-cold]=rust-cold
    add asyncio-tokio-fs-cold "$BIN/asyncio $cargs --variant tokio-fs" $cold_runs
    add cat-cold "cat $cold" $cold_runs
    add wc-l-cold "wc -l $cold" $cold_runs
    PREPARE_[bigfile:asyncio-tokio-fs-cold]=$drop PREPARE_[bigfile:cat-cold]=$drop PREPARE_[bigfile:wc-l-cold]=$drop
    TIMED_ONLY_[bigfile:cat-cold]=1 TIMED_ONLY_[bigfile:wc-l-cold]=1
    add_python_models "bigfile $pyfile --workers $CORES"
    # Python cold too, on its own file: whether the disk ever sets Python's pace.
    add_python_models "bigfile $pyfile --workers $CORES --cold" cold $cold_runs
    for m in serial threading multiprocessing asyncio; do
        PREPARE_[bigfile:python-$m-cold]="$BIN/decision-table drop-cache $pyfile"
        DIGEST_GROUP_[bigfile:python-$m-cold]=python-cold
    done
}

# The responsive GUI: the same images job behind a 60 Hz headless frame loop, started by a
# click at 0.3 s, a probe click every 100 ms; what the report reads is each run's --json
# summary (frame intervals, click latencies), the timings only bound the sessions. Small
# pictures, so that the emulated GIL's checkpoints (between the pipeline's stages) come every
# few milliseconds, as CPython's every 5 ms. One session each, timed once: about 1.5 minutes
# (20 s with --quick).
scenario_gui() {
    local count=48 w=640 h=360 tail=500
    [ $QUICK = 1 ] && count=12 tail=300
    local dir="$OUT/inputs/gui-${count}x${w}x$h-seed42"
    [ -f "$dir/.complete" ] || {
        "$BIN/decision-table" gen images --count $count --width $w --height $h --seed 42 --out "$dir" >/dev/null
        touch "$dir/.complete"
    }
    RUNS=2 WARMUP=0
    [ $QUICK = 1 ] && RUNS=1
    local args="gui $dir --out $OUT/work/gui-out --headless --tail-ms $tail"
    add serial "$BIN/serial $args"
    add threading "$BIN/threading $args"
    add threading-gil "$BIN/threading $args --gil"
    add threading-all-cores "$BIN/threading $args --all-cores"
    add multiprocessing "$BIN/multiprocessing $args"
    add asyncio "$BIN/asyncio $args"
    args="gui $dir --out $OUT/work/gui-out-python --tail-ms $tail"
    add_python_models "$args"
    [ $PYTHON = 1 ] && add python-threading-pure "$PY -m chapter $args --model threading --engine pure"
    return 0
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
    RUNS=3 WARMUP=0
    add_all_models "downloads --url $URL --out $OUT/work/downloads --workers 8"
    add_python_models "downloads --url $URL --out $OUT/work/downloads-python --workers 8"
}

scenario_requests() {
    # 1000 GETs at 20 ms each; K = 100 for every model, and K = 1000 for threads and tasks.
    local count=1000
    [ $QUICK = 1 ] && count=100
    start_http_server --latency-ms 20
    RUNS=3 WARMUP=0
    add_all_models "requests --url $URL --count $count --workers 100"
    add threading-k1000 "$BIN/threading requests --url $URL --count $count --workers 1000"
    add asyncio-k1000 "$BIN/asyncio requests --url $URL --count $count --workers 1000"
    add_python_models "requests --url $URL --count $count --workers 100"
    if [ $PYTHON = 1 ]; then
        add python-threading-k1000 "$PY -m chapter requests --url $URL --count $count --workers 1000 --model threading"
        add python-asyncio-k1000 "$PY -m chapter requests --url $URL --count $count --workers 1000 --model asyncio"
    fi
}

# start_site KNOBS...: a `decision-table site` on a free port of 127.0.0.2, 127.0.0.3, ...,
# stopped by the trap; sets URL to its start page.
start_site() {
    local log="$OUT/work/site-$RANDOM.log" hostport
    "$BIN/decision-table" site --port 0 "$@" >"$log" 2>&1 &
    PIDS+=($!)
    wait_for_line "$log" '^listening on ' "decision-table site $*"
    URL=$(awk 'NR == 1 { print $3 }' "$log")
    hostport=${URL#http://}
    wait_for_port "${hostport%/}"
}

scenario_crawl() {
    # A 200-page site on 4 hosts, at most 4 requests at once per host, 5 ms to first byte,
    # crawled to depth 3; --quick: 100 pages, depth 2. Every
    # model and variant of both languages crawls the same site with the same flags (K = 16,
    # C = 4); the Python parsers beyond html.parser run on threads.
    local pages=200 depth=3
    [ $QUICK = 1 ] && pages=100 depth=2
    start_site --pages $pages --hosts 4 --per-host 4 --latency-ms 5
    RUNS=3 WARMUP=0
    local args="crawl --url $URL --depth $depth --per-host 4 --workers 16"
    add serial "$BIN/serial $args"
    add threading "$BIN/threading $args"
    add threading-gil "$BIN/threading $args --gil"
    add multiprocessing "$BIN/multiprocessing $args"
    add asyncio "$BIN/asyncio $args"
    add asyncio-blocking "$BIN/asyncio $args --variant blocking"
    add_python_models "$args"
    if [ $PYTHON = 1 ]; then
        add python-asyncio-blocking "$PY -m chapter $args --model asyncio --variant blocking"
        # BeautifulSoup is the peer a Python user would reach for; it parses several times
        # slower than html.parser alone, so it is timed once, and left out of --quick.
        if [ $QUICK = 0 ]; then
            add python-threading-bs4 "$PY -m chapter $args --model threading --parser bs4" 1
            add python-threading-bs4-lxml "$PY -m chapter $args --model threading --parser bs4-lxml" 1
        fi
        # (On 2,000 pages the Python rows took 12 to 80 s a run, the crawl alone 20 minutes of a
        # full run, and on 600 pages 15: 200 pages keep every row and the 30-minute budget.)
    fi
}

CHAT_SERVERS=()
scenario_chat() {
    # The serial server serves one client at a time: a load of many clients cannot complete
    # against it, so it is left out here (its tests show everyone else waiting).
    local clients=1000 m addr log
    [ $QUICK = 1 ] && clients=200
    RUNS=3 WARMUP=1
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

scenario_pipeline() {
    # Mixed I/O + CPU: N 1080p PNGs (4.9 MB each, the images scenario's generator and seed)
    # downloaded from a server with 50 ms to first byte and 24 MiB/s per connection, 4 in flight,
    # each processed by the images kernel on every core as it arrives. Chosen so that the two
    # parts alone are of the same order (I/O about 4 rounds of 0.25 s, CPU about N x 0.1 s / 2
    # cores): the pipeline can then hide one behind the other, and the models differ in how.
    # threading-apart and python-multiprocessing-apart time the two parts alone in the same
    # hyperfine run: their summaries' io_s and cpu_s, and ideal_s = the larger, the lower bound.
    local count=16 w=1920 h=1080 k=4
    [ $QUICK = 1 ] && count=4
    local dir="$OUT/inputs/images-${count}x${w}x$h-seed42"
    [ -f "$dir/.complete" ] || {
        "$BIN/decision-table" gen images --count $count --width $w --height $h --seed 42 --out "$dir" >/dev/null
        touch "$dir/.complete"
    }
    start_http_server --images "$dir" --files 1 --size 0 --latency-ms 50 --bandwidth 25165824
    RUNS=2 WARMUP=0
    local args="pipeline --url $URL --workers $k --cpu-workers $CORES"
    local rust_out="--out $OUT/work/pipeline-out" py_out="--out $OUT/work/pipeline-out-python"
    add serial "$BIN/serial $args $rust_out"
    add threading "$BIN/threading $args $rust_out"
    add threading-apart "$BIN/threading $args $rust_out --apart"
    add multiprocessing "$BIN/multiprocessing $args $rust_out"
    add asyncio "$BIN/asyncio $args $rust_out"
    add asyncio-blocking "$BIN/asyncio $args $rust_out --variant blocking"
    add_python_models "$args $py_out"
    if [ $PYTHON = 1 ]; then
        add python-multiprocessing-apart "$PY -m chapter $args $py_out --model multiprocessing --variant apart"
        add python-asyncio-blocking "$PY -m chapter $args $py_out --model asyncio --variant blocking"
    fi
}

# After the pipeline scenario: each row's mean against its language's lower bound,
# max(downloads alone, processing alone), both measured in this run by the -apart row.
finish_pipeline() {
    echo "== pipeline: every run against its language's lower bound ($OUT/pipeline-bounds.md)"
    python3 - "$OUT" <<'PY' | tee "$OUT/pipeline-bounds.md" | sed 's/^/   /'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
results = json.loads((out / "hyperfine/pipeline.json").read_text())["results"]
def summary(name):
    p = out / "summaries/pipeline" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else {}
bound = {}
for lang, name in (("rust", "threading-apart"), ("python", "python-multiprocessing-apart")):
    s = summary(name)
    if "ideal_s" in s:
        bound[lang] = (s["io_s"], s["cpu_s"], s["ideal_s"])
print("| run | mean | lower bound (I/O alone, CPU alone) | mean / bound | peak memory | downloads late, worst | event loop late, worst |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
for r in results:
    name = r.get("command_name") or r["command"]
    lang = "python" if name.startswith("python-") else "rust"
    s = summary(name)
    io, cpu, b = bound.get(lang, (None, None, None))
    ratio = f"{r['mean'] / b:.2f}" if b else "–"
    where = f"{b:.3f} s ({io:.3f} s, {cpu:.3f} s)" if b else "–"
    mem = f"{s['max_rss_kib'] / 1024:.0f} MiB" if "max_rss_kib" in s else "–"
    late = f"{s['download_late_max_ms']:.0f} ms" if "download_late_max_ms" in s else "–"
    loop = f"{s['ticker_max_late_ms']:.0f} ms" if "ticker_max_late_ms" in s else "–"
    print(f"| {name} | {r['mean']:.3f} s | {where} | {ratio} | {mem} | {late} | {loop} |")
PY
}

# ---------------------------------------------------------------------------------------------
# The scale curves (docs/chat.md, "Capacity"): sweeps of a size rather than timed commands, so
# they add nothing to hyperfine; each point's summary goes under $OUT/summaries/sweeps/<name>/
# for the report (decision-table/src/report/sweep.rs reads them).

# forget_pid PID: drop a server this run has stopped from PIDS, so the exit trap cannot signal
# whatever process reuses its id later (a sweep starts and stops dozens of servers).
forget_pid() {
    local kept=() p
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

# json_number FILE KEY: a number of a one-line JSON summary, or nothing.
json_number() {
    sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" "$1" 2>/dev/null | head -n 1
}

# chat_point SERVER N: start SERVER pinned to its core, put N paced clients on it from the
# other core, stop it. Leaves DIR/SERVER-nN.json (the load's summary, with the server's memory
# read through --server-pid once every client is in), .server.json (the server's own summary)
# or .error (what the load client said, if it gave no summary). Returns 0 if the point is
# within the bound: everyone let in, nothing lost, p99 under CAP_BOUND ms.
chat_point() {
    local m=$1 n=$2 stem="$CAP_DIR/$1-n$2" log="$OUT/work/capacity-$1-$2.err" pid addr p99
    case $m in
    python-*) $CAP_SERVER_PIN $PY -m chapter chat-server --model "${m#python-}" --addr 127.0.0.1:0 --json >"$stem.server.json" 2>"$log" & ;;
    *) $CAP_SERVER_PIN "$BIN/$m" chat-server --addr 127.0.0.1:0 --json >"$stem.server.json" 2>"$log" & ;;
    esac
    pid=$!
    PIDS+=("$pid")
    wait_for_line "$log" 'listening on' "$m chat-server"
    addr=$(grep -o 'listening on [0-9.:]*' "$log" | head -n 1 | awk '{print $3}')
    # shellcheck disable=SC2086 # the pinning is a plain word list or nothing
    $CAP_LOAD_PIN "$BIN/decision-table" chat-load --addr "$addr" --server-pid "$pid" --model "$m" \
        --clients "$n" --senders $CAP_SENDERS --messages $CAP_MESSAGES --rate $CAP_RATE \
        --connect-timeout-s 60 --timeout-s 30 --json >"$stem.json" 2>"$stem.log" || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    [ -s "$stem.server.json" ] || rm -f "$stem.server.json"
    if [ ! -s "$stem.json" ]; then
        rm -f "$stem.json"
        mv "$stem.log" "$stem.error"
        printf '   %-18s N=%-6s no summary: %s\n' "$m" "$n" "$(tail -n 1 "$stem.error")"
        return 1
    fi
    p99=$(json_number "$stem.json" latency_p99_ms)
    printf '   %-18s N=%-6s let in %-6s lost %-6s p99 %8s ms  server PSS %6s MiB\n' "$m" "$n" \
        "$(json_number "$stem.json" admitted)" "$(json_number "$stem.json" failed)" "${p99:-–}" \
        "$(awk -v k="$(json_number "$stem.json" server_pss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')"
    chat_point_under "$stem" "$n" "$CAP_BOUND"
}

# chat_point_under STEM N LIMIT: did the point in STEM.json let all N in, lose nothing, and keep
# its p99 under LIMIT ms?
chat_point_under() {
    local p99
    p99=$(json_number "$1.json" latency_p99_ms)
    [ "$(json_number "$1.json" admitted)" = "$2" ] && [ "$(json_number "$1.json" failed)" = 0 ] &&
        [ -n "$p99" ] && awk -v p="$p99" -v b="$3" 'BEGIN { exit !(p < b) }'
}

# chat_point_retried SERVER N: chat_point, and once more if it was a near miss (CAP_RETRIES=1):
# everyone let in, nothing lost, p99 over the bound but under twice it. One stall of a shared
# machine must not end a sweep; a p99 of twice the bound or more is no stall (in the last full
# run before this rule, none of the six such points came back within it on a second try, and
# those second tries took 74 s). The first try's files are kept as SERVER-nN.try1.* (the
# report reads the last try).
chat_point_retried() {
    local stem="$CAP_DIR/$1-n$2" f
    chat_point "$1" "$2" && return 0
    [ "$CAP_RETRIES" -gt 0 ] && chat_point_under "$stem" "$2" $((2 * CAP_BOUND)) || return 1
    for f in "$stem".*; do
        mv "$f" "$stem.try1.${f#"$stem".}"
    done
    chat_point "$1" "$2"
}

scenario_chat-capacity() {
    # Latency-bounded capacity, as websocket-shootout and tcp-echo benchmarks measure it: a
    # paced load (5 senders at 2 messages/s each, relayed to everyone), N from 100 up
    # the grid until a server misses the bound (something lost, or p99 >= 250 ms) or cannot
    # take the clients, then a few halvings between the last N within and the first over.
    # The top of the grid is the open-file limit (20,000 per process here): the server and the
    # load client each hold a descriptor per client, so one load process reaches within a few
    # dozen clients of where the server itself stops, and more load processes would buy
    # nothing. The serial server holds one client at a time (its tests show it): left out.
    CAP_DIR="$OUT/summaries/sweeps/chat-capacity"
    CAP_SENDERS=5 CAP_RATE=2 CAP_MESSAGES=6 CAP_BOUND=250 CAP_RETRIES=1
    # (A finer grid, 10 points and two halvings, took 5 of the full run's 30 minutes.)
    local grid=(100 1000 3000 10000 19900) halvings=1
    if [ $QUICK = 1 ]; then
        grid=(1000) CAP_MESSAGES=4 CAP_RETRIES=0 halvings=0
    fi
    rm -rf "$CAP_DIR"
    mkdir -p "$CAP_DIR"
    local pinning="server and load client unpinned (fewer than 2 cores)"
    CAP_SERVER_PIN="" CAP_LOAD_PIN=""
    if [ "$CORES" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
        # Two cores: the load client's reading of N sockets must not take the server's core.
        CAP_SERVER_PIN="taskset -c 1" CAP_LOAD_PIN="taskset -c 0"
        pinning="The server (and its child processes) ran on CPU 1 and the load client on CPU 0 (\`taskset\`), so neither took the other's core"
    fi
    local servers=(threading multiprocessing asyncio) m n lo hi mid i
    [ $PYTHON = 1 ] && servers+=(python-asyncio python-threading)
    printf '{"senders":%s,"rate":%s,"messages":%s,"bound_p99_ms":%s,"retries":%s,"grid":[%s],"pinning":"%s","left_out":"%s"}\n' \
        $CAP_SENDERS $CAP_RATE $CAP_MESSAGES $CAP_BOUND $CAP_RETRIES "$(IFS=,; echo "${grid[*]}")" "$(json_string "$pinning")" \
        "The serial server is left out: it serves one client at a time, so a load of many clients cannot complete against it (its tests show everyone else waiting)." \
        >"$CAP_DIR/sweep.json"
    echo "== chat-capacity: ${servers[*]}, N up to ${grid[-1]}, $CAP_SENDERS senders x $CAP_RATE/s, bound p99 < $CAP_BOUND ms"
    for m in "${servers[@]}"; do
        case $m in
        python-*) printf 'server: %s\n' "$(relative "$CAP_SERVER_PIN $PY -m chapter chat-server --model ${m#python-} --addr 127.0.0.1:0 --json")" ;;
        *) printf 'server: %s\n' "$(relative "$CAP_SERVER_PIN $BIN/$m chat-server --addr 127.0.0.1:0 --json")" ;;
        esac >"$CAP_DIR/$m.cmd"
        printf 'load: %s\n' "$(relative "$CAP_LOAD_PIN $BIN/decision-table chat-load --addr ADDR --server-pid PID --model $m --clients N --senders $CAP_SENDERS --messages $CAP_MESSAGES --rate $CAP_RATE --connect-timeout-s 60 --timeout-s 30 --json")" >>"$CAP_DIR/$m.cmd"
        lo=0 hi=0
        for n in "${grid[@]}"; do
            if chat_point_retried "$m" "$n"; then lo=$n; else hi=$n; break; fi
        done
        # Narrow the capacity down between the last N within the bound and the first over it.
        for ((i = 0; i < halvings && lo > 0 && hi > 0; i++)); do
            mid=$(((lo + hi) / 2 / 100 * 100))
            [ "$mid" -gt "$lo" ] && [ "$mid" -lt "$hi" ] || break
            if chat_point_retried "$m" "$mid"; then lo=$mid; else hi=$mid; fi
        done
    done
}

# spawn_point MODEL N: `MODEL spawn --count N`; leaves DIR/MODEL-nN.json, or .error with the
# refusal. Returns non-zero if it was refused.
spawn_point() {
    local stem="$SPAWN_DIR/$1-n$2"
    if "$BIN/$1" spawn --count "$2" --sleep-ms "$SPAWN_SLEEP_MS" --json >"$stem.json" 2>"$stem.log"; then
        printf '   %-10s N=%-8s started in %6s s, %6s KiB per unit\n' "$1" "$2" \
            "$(json_number "$stem.json" start_s)" "$(json_number "$stem.json" per_unit_kib)"
        rm -f "$stem.log"
        return 0
    fi
    rm -f "$stem.json"
    mv "$stem.log" "$stem.error"
    printf '   %-10s N=%-8s refused: %s\n' "$1" "$2" "$(tail -n 1 "$stem.error" | cut -c 1-110)"
    return 1
}

scenario_spawn() {
    # N sleeping tasks from 1,000 to 1,000,000, and N threads until they meet the kernel's
    # limits (vm.max_map_count, pid_max: `threading spawn` stops with a clear error, which is
    # the curve's last point, not a failure), then once more at the most that started.
    # Each sleeps 2 s: longer than starting them all takes (1,000,000 tasks or 15,000 threads
    # take 0.5 s on a quiet machine, 2.5 s on a busy one), so all are alive when it is measured.
    SPAWN_DIR="$OUT/summaries/sweeps/spawn" SPAWN_SLEEP_MS=2000
    local tasks=(1000 3000 10000 30000 100000 300000 1000000) threads=(1000 3000 10000 30000 100000) n reached
    if [ $QUICK = 1 ]; then
        tasks=(1000 100000 1000000) threads=(1000 10000)
    fi
    rm -rf "$SPAWN_DIR"
    mkdir -p "$SPAWN_DIR"
    relative "$BIN/asyncio spawn --count N --sleep-ms $SPAWN_SLEEP_MS --json" >"$SPAWN_DIR/asyncio.cmd"
    relative "$BIN/threading spawn --count N --sleep-ms $SPAWN_SLEEP_MS --json" >"$SPAWN_DIR/threading.cmd"
    echo "== spawn: tasks up to ${tasks[-1]}, threads up to their wall"
    for n in "${tasks[@]}"; do
        spawn_point asyncio "$n" || break
    done
    for n in "${threads[@]}"; do
        spawn_point threading "$n" && continue
        # "could not start thread K of N": K - 1 started, the most this machine gave.
        reached=$(sed -n 's/.*could not start thread \([0-9]*\) of.*/\1/p' "$SPAWN_DIR/threading-n$n.error" | head -n 1)
        [ -n "$reached" ] && [ "$reached" -gt 1 ] && spawn_point threading $((reached - 1)) || true
        break
    done
}

# ---------------------------------------------------------------------------------------------
# db: N small transactions against a throw-away PostgreSQL started here (scripts/pg.sh), 1 ms
# away each way (a network namespace with netem where the kernel has it, else the user-space
# `decision-table delay-proxy`, said which), and against SQLite. hyperfine times every model at
# K = 32 on the delayed server; a sweep runs each model once per K (transactions per second
# against K, beside pgbench on the same server) on the delayed server, on loopback and on
# SQLite, and writes db-sweep/THROUGHPUT.md. Every run resets the tables itself, so every run
# starts from the same state and prints the same digest.

DB_ACCOUNTS=1000
DB_DELAY_MS=1

# start_pg DIR [--netem-ms MS]: a cluster in DIR, stopped by the trap; sets PG_URL, PG_PID,
# PG_PORT and PG_ENTER (the prefix that runs a client where the server is reachable).
start_pg() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    "$ROOT/scripts/pg.sh" run "$dir" "$@" >"$dir.log" 2>&1 &
    PG_PID=$!
    PIDS+=("$PG_PID")
    PG_ENTER=""
    case " $* " in *" --netem-ms "*) PG_ENTER="nsenter -t $PG_PID -n --" ;; esac
    PG_URL=$("$ROOT/scripts/pg.sh" wait "$dir" "$PG_PID") || { tail -n 20 "$dir.log" >&2; die "PostgreSQL did not start in $dir"; }
    PG_PORT=$(cat "$dir/port")
    # pgbench's tables (scale 1: 100,000 accounts) in a database of their own.
    $PG_ENTER "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE pgbench" >/dev/null
    $PG_ENTER "$PG_BIN/pgbench" -i -q -s 1 -h 127.0.0.1 -p "$PG_PORT" -U postgres pgbench >"$dir.pgbench-init.log" 2>&1 ||
        die "pgbench -i failed (log: $dir.pgbench-init.log)"
}

# db_sweep LABEL ENTER URL PGPORT Ks...: every model once per K with --json, and pgbench -N
# (its TPC-B-like "simple update": the same read, update and insert per transaction) on the
# same server; ENTER prefixes every client (nsenter, or nothing). PGPORT empty: no pgbench.
db_sweep() {
    local label=$1 enter=$2 url=$3 port=$4 k n m name dir
    shift 4
    for k in "$@"; do
        # About half a second per run whatever K: more transactions where more are in flight.
        n=$((50 * k)); [ $n -lt 100 ] && n=100; [ $n -gt 1500 ] && n=1500
        [ $QUICK = 1 ] && [ $n -gt 1000 ] && n=1000
        dir="$OUT/db-sweep/$label/k$k"
        mkdir -p "$dir"
        echo "   $label, K = $k, $n transactions"
        local runs=()
        [ "$k" = 1 ] && runs+=("serial:$BIN/serial db")
        runs+=("threading:$BIN/threading db" "multiprocessing:$BIN/multiprocessing db" "asyncio:$BIN/asyncio db")
        [ "${url#sqlite:}" = "$url" ] && runs+=("asyncio-pipelined:$BIN/asyncio db --variant pipelined")
        if [ $PYTHON = 1 ]; then
            [ "$k" = 1 ] && runs+=("python-serial:$PY -m chapter db --model serial")
            runs+=("python-threading:$PY -m chapter db --model threading" "python-asyncio:$PY -m chapter db --model asyncio")
            [ "$k" -le 32 ] && runs+=("python-multiprocessing:$PY -m chapter db --model multiprocessing")
            [ "${url#sqlite:}" = "$url" ] && runs+=("python-asyncio-pipelined:$PY -m chapter db --model asyncio --variant pipelined")
        fi
        for m in "${runs[@]}"; do
            name=${m%%:*}
            # shellcheck disable=SC2086 # plain word lists by construction
            $enter ${m#*:} --db "$url" --transactions $n --workers "$k" --json >"$dir/$name.json" 2>"$dir/$name.log" ||
                { tail -n 5 "$dir/$name.log" >&2; die "db sweep: $name at K = $k failed (log: $dir/$name.log)"; }
        done
        if [ -n "$port" ]; then
            local per=$(((n + k - 1) / k)) threads=$((k < CORES ? k : CORES))
            # shellcheck disable=SC2086
            $enter "$PG_BIN/pgbench" -n -N -M prepared -c "$k" -j "$threads" -t "$per" -h 127.0.0.1 -p "$port" \
                -U postgres pgbench >"$dir/pgbench.txt" 2>&1 || die "pgbench at K = $k failed (log: $dir/pgbench.txt)"
        fi
    done
}

scenario_db() {
    local n=400 k=32 ks=(1 8 32 128) sqlite="$OUT/inputs/db.sqlite" latency
    [ $QUICK = 1 ] && n=100 ks=(8)
    "$ROOT/scripts/pg.sh" install >/dev/null || die "PostgreSQL is needed for the db scenario"
    PG_BIN=$("$ROOT/scripts/pg.sh" bindir)
    mkdir -p "$OUT/inputs"
    rm -rf "$OUT/db-sweep"
    mkdir -p "$OUT/db-sweep"
    # The same server reached two ways: on loopback, and 1 ms away each way.
    start_pg "$OUT/work/pg"
    local lo_url=$PG_URL lo_port=$PG_PORT
    "$BIN/decision-table" gen db --db "$lo_url" --accounts $DB_ACCOUNTS --seed 42 >/dev/null
    local why far_url far_port far_enter=""
    if why=$("$ROOT/scripts/pg.sh" netem-check 2>&1); then
        latency="netem: a network namespace whose loopback delays each packet ${DB_DELAY_MS} ms (a second cluster inside it)"
        start_pg "$OUT/work/pg-netem" --netem-ms $DB_DELAY_MS
        far_url=$PG_URL far_port=$PG_PORT far_enter=$PG_ENTER
        $far_enter "$BIN/decision-table" gen db --db "$far_url" --accounts $DB_ACCOUNTS --seed 42 >/dev/null
    else
        echo "   db: no netem here ($why);"
        echo "   db: the delayed variant goes through decision-table delay-proxy (${DB_DELAY_MS} ms each way, in user space) instead"
        latency="delay-proxy: decision-table delay-proxy in front of the same server, ${DB_DELAY_MS} ms each way, in user space (no netem here: $why)"
        "$BIN/decision-table" delay-proxy --to "127.0.0.1:$lo_port" --delay-us $((DB_DELAY_MS * 1000)) >"$OUT/work/delay-proxy.log" 2>&1 &
        PIDS+=($!)
        wait_for_line "$OUT/work/delay-proxy.log" '^listening on ' "decision-table delay-proxy"
        far_port=$(awk 'NR == 1 { split($3, a, ":"); print a[2] }' "$OUT/work/delay-proxy.log")
        far_url="postgresql://postgres@127.0.0.1:$far_port/postgres"
    fi
    echo "$latency" >"$OUT/db-sweep/latency.txt"
    "$BIN/decision-table" gen db --db "sqlite:$sqlite" --accounts $DB_ACCOUNTS --seed 42 >/dev/null
    echo "== db: the sweep (every model once per K; pgbench beside it)"
    db_sweep delayed "$far_enter" "$far_url" "$far_port" "${ks[@]}"
    [ $QUICK = 1 ] || db_sweep loopback "" "$lo_url" "$lo_port" "${ks[@]}"
    # SQLite takes one writer at a time: at K = 128 Python's threads queued on its lock for 37 s
    # a run, and the curve is flat from K = 8 on. So its sweep stops at K = 32.
    local sqlite_ks=() sk
    for sk in "${ks[@]}"; do [ "$sk" -le 32 ] && sqlite_ks+=("$sk"); done
    db_sweep sqlite "" "sqlite:$sqlite" "" "${sqlite_ks[@]}"
    python3 "$ROOT/scripts/db-sweep.py" "$OUT/db-sweep" >"$OUT/db-sweep/THROUGHPUT.md" ||
        die "db: the sweep's digests differ or its table could not be made (see $OUT/db-sweep)"
    sed 's/^/   /' "$OUT/db-sweep/THROUGHPUT.md"
    # hyperfine: every model at K = 32 on the delayed server. Serial waits out every round trip
    # (about 11 ms a transaction), so it is timed with fewer runs of its own.
    RUNS=3 WARMUP=1
    local args="db --db $far_url --transactions $n --workers $k"
    local e=${far_enter:+$far_enter }
    add serial "$e$BIN/serial $args" 1
    add threading "$e$BIN/threading $args"
    add multiprocessing "$e$BIN/multiprocessing $args"
    add asyncio "$e$BIN/asyncio $args"
    add asyncio-pipelined "$e$BIN/asyncio $args --variant pipelined"
    if [ $PYTHON = 1 ]; then
        add python-serial "$e$PY -m chapter $args --model serial" 1
        add python-threading "$e$PY -m chapter $args --model threading"
        add python-multiprocessing "$e$PY -m chapter $args --model multiprocessing"
        add python-asyncio "$e$PY -m chapter $args --model asyncio"
        add python-asyncio-pipelined "$e$PY -m chapter $args --model asyncio --variant pipelined"
    fi
}

# The machine-learning training row: Fashion-MNIST from Debian's dataset-fashion-mnist
# (installed here where missing), an MLP 784-128-10 trained for 5 epochs from the same seed in
# every model (--quick: 1 epoch of the first 6,000 training images, tested on 2,000), and
# Hogwild beside them; the report adds samples/s, accuracy and a chart of its own.
FASHION_MNIST=/usr/share/datasets/fashion-mnist
ensure_fashion_mnist() {
    [ -f "$FASHION_MNIST/train-images-idx3-ubyte.gz" ] && return 0
    echo "== Fashion-MNIST not found in $FASHION_MNIST: installing Debian's dataset-fashion-mnist"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || true
    fi
    [ -f "$FASHION_MNIST/train-images-idx3-ubyte.gz" ] ||
        die "the train scenario needs Fashion-MNIST: apt-get install dataset-fashion-mnist (as root), or leave it out (--scenario ...)"
}

scenario_train() {
    local args="train --data $FASHION_MNIST --workers $CORES"
    [ $QUICK = 1 ] && args="$args --epochs 1 --train-limit 6000 --test-limit 2000 --target 0.7"
    ensure_fashion_mnist
    # Training runs vary little and last seconds: two runs, the check run the warm-up.
    RUNS=2 WARMUP=0
    add serial "$BIN/serial $args"
    add threading "$BIN/threading $args"
    add threading-hogwild "$BIN/threading $args --hogwild"
    add multiprocessing "$BIN/multiprocessing $args"
    add asyncio "$BIN/asyncio $args"
    add_python_models "$args"
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
    local s=$1 i g name cmd digest lang failed=0 started=${#PIDS[@]} t0 warmup
    declare -A first=()
    NAMES=() CMDS=() GROUPS_=() RUNS=5 WARMUP=1 SERIAL_APART=1 ONCE_S=5
    "scenario_$s"
    # The serial rows are the slowest of every I/O scenario by far (requests: 20 s a run) and
    # vary least (one thing after another): two runs in a full run (one if the check run took
    # over ONCE_S = 5 s, below). --quick is a smoke run of every row, not a measurement: the check run
    # and one timed run each, no warm-up (its figures carry no spread).
    [ $QUICK = 1 ] && WARMUP=0 RUNS=1
    for i in "${!NAMES[@]}"; do
        g=${GROUPS_[$i]:-$RUNS}
        [ $QUICK = 1 ] && g=1
        case ${NAMES[$i]} in serial | python-serial)
            [ $SERIAL_APART = 1 ] && [ "$g" -gt 2 ] && g=2
            ;;
        esac
        GROUPS_[$i]=$g
    done
    mkdir -p "$OUT/summaries/$s" "$OUT/hyperfine"
    rm -f "$OUT/summaries/$s"/* "$OUT/hyperfine/$s".*
    echo "== $s: one run of every model with --json, to check they agree"
    # The rows in the order they were added: the report's tables follow it.
    printf '%s\n' "${NAMES[@]}" >"$OUT/summaries/$s/order"
    for i in "${!NAMES[@]}"; do
        name=${NAMES[$i]} cmd=${CMDS[$i]}
        printf '%s\n' "$(relative "$cmd")" >"$OUT/summaries/$s/$name.cmd"
        if [ -n "${TIMED_ONLY_[$s:$name]:-}" ]; then
            printf '   %-28s (timed only: no summary)\n' "$name"
            # A yardstick doing the same work as a group's serial run gets a speedup against it.
            [ -n "${DIGEST_GROUP_[$s:$name]:-}" ] &&
                printf '%s\n' "${DIGEST_GROUP_[$s:$name]}" >"$OUT/summaries/$s/$name.group"
            continue
        fi
        t0=$(date +%s%N)
        # shellcheck disable=SC2086 # the command is a plain word list by construction
        if ! $cmd --json >"$OUT/summaries/$s/$name.json" 2>"$OUT/summaries/$s/$name.log"; then
            echo "   $name FAILED: $(relative "$cmd") --json" >&2
            tail -n 5 "$OUT/summaries/$s/$name.log" | sed 's/^/     /' >&2
            failed=1
            continue
        fi
        # A row whose check run took over ONCE_S seconds (the serial rows of requests and
        # crawl, one wait after another; training; the Python serial rows of images and the
        # pipeline) is timed once in a full run: these vary by a few percent at most, and their
        # second and third runs were what took the full run past its 30 minutes (1,950 s on a
        # slow day of this shared machine; about 150 s of it went to such runs).
        [ $(($(date +%s%N) - t0)) -gt $((ONCE_S * 1000000000)) ] && GROUPS_[$i]=1
        digest=$(sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' "$OUT/summaries/$s/$name.json")
        # A run that says it is not reproducible (Hogwild's lock-free updates) has no digest
        # to agree on: shown, not compared.
        if grep -q '"reproducible":false' "$OUT/summaries/$s/$name.json"; then
            printf '   %-28s %s (not reproducible)\n' "$name" "$digest"
            continue
        fi
        # Each language's models must agree among themselves; Rust and Python may differ by
        # design where their libraries round differently (the report says by how much).
        case $name in python-*) lang=python ;; *) lang=rust ;; esac
        # The pure-Python matrix runs on inputs of its own: it agrees with its own kind.
        [ "$s" = matrix ] && [ "$lang" = python ] && case $name in *-numpy) lang=python-numpy ;; esac
        # A row on inputs of its own (bigfile's cold rows read a smaller file) agrees with its kind.
        lang=${DIGEST_GROUP_[$s:$name]:-$lang}
        # The GUI's pure-Python engine computes another picture than Pillow's: its own kind.
        [ "$s" = gui ] && [ "$lang" = python ] && case $name in *-pure) lang=python-pure ;; esac
        # The report checks each row against its group too (not against a row of other inputs).
        printf '%s\n' "$lang" >"$OUT/summaries/$s/$name.group"
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
    local groups=()
    for i in "${!NAMES[@]}"; do
        g=${GROUPS_[$i]:-$RUNS}
        case " ${groups[*]} " in *" $g "*) ;; *) groups+=("$g") ;; esac
    done
    for g in "${groups[@]}"; do
        local hf_args=()
        for i in "${!NAMES[@]}"; do
            [ "${GROUPS_[$i]:-$RUNS}" = "$g" ] && hf_args+=(-n "${NAMES[$i]}" "${CMDS[$i]}")
        done
        # Rows timed once or twice are the slow ones: the check run above was their warm-up.
        warmup=$WARMUP
        [ "$g" -le 2 ] && warmup=0
        echo "== $s: timing $((${#hf_args[@]} / 3)) commands with hyperfine ($warmup warm-up, $g runs each)"
        # A --prepare for each command of the group once any has one (hyperfine takes one for
        # all commands, or one each, in order); `true` for the others.
        local preps=() prep_any=0 p
        for i in "${!NAMES[@]}"; do
            [ "${GROUPS_[$i]:-$RUNS}" = "$g" ] || continue
            p=${PREPARE_[$s:${NAMES[$i]}]:-}
            [ -n "$p" ] && prep_any=1
            preps+=(--prepare "${p:-true}")
        done
        [ $prep_any = 1 ] && hf_args+=("${preps[@]}")
        hyperfine -N --style basic --warmup "$warmup" --runs "$g" \
            --export-json "$OUT/hyperfine/$s.runs$g.json" --export-markdown "$OUT/hyperfine/$s.runs$g.md" \
            "${hf_args[@]}" >"$OUT/hyperfine/$s.runs$g.log" 2>&1 || {
            tail -n 20 "$OUT/hyperfine/$s.runs$g.log" >&2
            die "$s: hyperfine failed (log: $OUT/hyperfine/$s.runs$g.log)"
        }
        sed 's/^/   /' "$OUT/hyperfine/$s.runs$g.md"
    done
    merge_exports "$s"
    [ "$s" = chat ] && finish_chat
    [ "$s" = pipeline ] && { finish_pipeline || echo "   (no table of the pipeline's bounds: see above)" >&2; }
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

case $PROFILE in
release) echo "== building the release binaries"
    (cd "$ROOT" && cargo build --release --workspace --quiet) || die "the release build failed" ;;
debug) echo "== building the debug binaries (DT_PROFILE=debug: a smoke run, not a measurement)"
    (cd "$ROOT" && cargo build --workspace --quiet) || die "the debug build failed" ;;
*) die "DT_PROFILE must be release or debug, not '$PROFILE'" ;;
esac
PY=""
if [ $PYTHON = 1 ]; then
    PY=$("$ROOT/scripts/python-env.sh") || die "cannot make the Python virtualenv (run with --no-python to skip the Python side)"
fi

CORES=$(nproc 2>/dev/null || echo 2)
rm -rf "$OUT/hyperfine" "$OUT/summaries" "$OUT/charts" "$OUT/work"
mkdir -p "$OUT/work"
for s in "${SELECTED[@]}"; do
    started_at=$SECONDS
    run_scenario "$s"
    echo "== $s: $((SECONDS - started_at)) s"
done

# What the run leaves for docs/results names files relative to the repository, as the report's
# commands do (the SQLite sweep's summaries and logs carry their database's path).
# (grep finds nothing when the results are outside the repository: not a failure.)
{ grep -rlF "$ROOT/" "$OUT/summaries" "$OUT/db-sweep" 2>/dev/null || true; } | xargs -r sed -i "s|$ROOT/||g"
write_meta
"$BIN/decision-table" report "$OUT"
echo "== done in ${SECONDS}s ($([ $QUICK = 1 ] && echo quick || echo full) run): $OUT/REPORT.md"
