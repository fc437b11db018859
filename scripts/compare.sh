#!/usr/bin/env bash
# scripts/compare.sh: run every scenario in every model on the same inputs under hyperfine, check
# that the models agree, and write a report with the measured decision table.
#
#   scripts/compare.sh                      # the full run (under 30 minutes on 2 cores)
#   scripts/compare.sh --quick              # small inputs, few runs (about 3 minutes)
#   scripts/compare.sh --scenario matrix --scenario images --out /tmp/results
#
# What it does, in order: finds or installs hyperfine; builds the release binaries once;
# generates the inputs once; starts the local servers in the background (a trap stops them however
# the script ends); runs every model once with --json and stops if their digests differ; times
# each scenario with one hyperfine invocation over every model and variant with identical
# arguments; writes OUT/REPORT.md (tables, SVG charts, the chapter's table with verdicts).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
HYPERFINE_CRATE_VERSION=1.20.0 # 1.21 and later need a newer rustc than the machine's 1.95

# The scenarios, in report order. Each has a function scenario_<name> below.
ALL_SCENARIOS=(cakes workers queue)

usage() {
    cat <<EOF
usage: scripts/compare.sh [--quick] [--scenario NAME]... [--out DIR]

  --quick           small inputs and few runs (about 3 minutes on 2 cores)
  --scenario NAME   run only this scenario (repeatable); one of: ${ALL_SCENARIOS[*]}
  --out DIR         where results and REPORT.md go (default: results)
EOF
}

die() {
    echo "compare.sh: error: $*" >&2
    exit 2
}

QUICK=0
OUT="$ROOT/results"
SELECTED=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
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
add() {
    NAMES+=("$1")
    CMDS+=("$2")
}

# The four crates with the same arguments.
add_all_models() {
    local m
    for m in serial threading multiprocessing asyncio; do
        add "$m" "$BIN/$m $1"
    done
}

scenario_cakes() {
    local ms=1000
    [ $QUICK = 1 ] && ms=300
    RUNS=5 WARMUP=1
    [ $QUICK = 1 ] && RUNS=3
    add_all_models "cakes --cakes 2 --bake-ms $ms"
}

scenario_workers() {
    local ms=2000
    [ $QUICK = 1 ] && ms=300
    RUNS=3 WARMUP=1
    add_all_models "workers --workers 5 --sleep-ms $ms"
}

scenario_queue() {
    local items=200000
    [ $QUICK = 1 ] && items=20000
    RUNS=10 WARMUP=2
    [ $QUICK = 1 ] && RUNS=5
    add_all_models "queue --items $items --workers 2 --capacity 64"
}

# ---------------------------------------------------------------------------------------------
# One scenario: check the digests, then time it.

run_scenario() {
    local s=$1 i name cmd digest first="" failed=0
    NAMES=() CMDS=() RUNS=5 WARMUP=1
    "scenario_$s"
    mkdir -p "$OUT/summaries/$s" "$OUT/hyperfine"
    rm -f "$OUT/summaries/$s"/*
    echo "== $s: one run of every model with --json, to check they agree"
    local hf_args=()
    for i in "${!NAMES[@]}"; do
        name=${NAMES[$i]} cmd=${CMDS[$i]}
        printf '%s\n' "${cmd#"$ROOT"/}" >"$OUT/summaries/$s/$name.cmd"
        # shellcheck disable=SC2086 # the command is a plain word list by construction
        if ! $cmd --json >"$OUT/summaries/$s/$name.json" 2>"$OUT/summaries/$s/$name.log"; then
            echo "   $name FAILED: $cmd --json" >&2
            tail -n 5 "$OUT/summaries/$s/$name.log" | sed 's/^/     /' >&2
            failed=1
            continue
        fi
        digest=$(sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' "$OUT/summaries/$s/$name.json")
        printf '   %-24s %s\n' "$name" "$digest"
        if [ -z "$first" ]; then
            first=$digest
        elif [ "$digest" != "$first" ]; then
            failed=2
        fi
        hf_args+=(-n "$name" "$cmd")
    done
    [ $failed = 1 ] && die "$s: a model failed its check run (logs in $OUT/summaries/$s/)"
    [ $failed = 2 ] && die "$s: the models' digests differ (above): they did not compute the same result"
    echo "== $s: timing ${#NAMES[@]} commands with hyperfine ($WARMUP warm-up, $RUNS runs each)"
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$OUT/hyperfine/$s.json" --export-markdown "$OUT/hyperfine/$s.md" \
        "${hf_args[@]}" >"$OUT/hyperfine/$s.log" 2>&1 || {
        tail -n 20 "$OUT/hyperfine/$s.log" >&2
        die "$s: hyperfine failed (log: $OUT/hyperfine/$s.log)"
    }
    sed 's/^/   /' "$OUT/hyperfine/$s.md"
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

rm -rf "$OUT/hyperfine" "$OUT/summaries" "$OUT/charts"
for s in "${SELECTED[@]}"; do
    run_scenario "$s"
done

write_meta
"$BIN/decision-table" report "$OUT"
echo "== done in ${SECONDS}s ($([ $QUICK = 1 ] && echo quick || echo full) run): $OUT/REPORT.md"
