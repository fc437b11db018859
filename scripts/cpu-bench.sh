#!/usr/bin/env bash
# The CPU-bound scenarios (matrix, images) in every model and variant, at the issue's default
# sizes, on the same inputs. Prints a Markdown table: best and median wall time of RUNS runs,
# speedup and efficiency against serial, peak memory (children included), the matrix kernel's
# GFLOP/s, and checks that every run printed the same digest.
#
#   scripts/cpu-bench.sh [matrix|images|all]     (RUNS=7 WORKERS=<cores> DATA=data by default)
#
# Wall time is the run's own `wall_s` (reading inputs to the last result; process start-up,
# a millisecond, is outside it). Needs jq. Takes about two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
runs=${RUNS:-7}
data=${DATA:-data}
workers=${WORKERS:-$(nproc)}
cargo build --release --quiet -p serial -p threading -p multiprocessing -p asyncio -p decision-table
bin=target/release
[ -f "$data/matrix/b.mat" ] || $bin/decision-table gen matrix --n 1024 --seed 42 --out "$data/matrix"
[ -f "$data/images/img-031.png" ] ||
    $bin/decision-table gen images --count 32 --width 1920 --height 1080 --seed 42 --out "$data/images"

# binary and its variant flags; the first is the baseline
variants=(
    "serial"
    "threading"
    "threading --gil"
    "multiprocessing"
    "multiprocessing --engine rayon"
    "asyncio"
    "asyncio --variant blocking"
)

bench() { # scenario, input args...
    local scenario=$1
    shift
    local tmp
    tmp=$(mktemp -d)
    # Round-robin: run 1 of every variant, then run 2 of every variant, ... so that a burst of
    # load from elsewhere on the machine hits every variant alike instead of one of them.
    for _ in $(seq "$runs"); do
        for i in "${!variants[@]}"; do
            local exe=${variants[$i]%% *} flags=()
            [ "$exe" = "${variants[$i]}" ] || read -ra flags <<<"${variants[$i]#* }"
            $bin/"$exe" "$scenario" "$@" "${flags[@]}" --workers "$workers" --json 2>/dev/null >>"$tmp/$i"
        done
    done
    echo
    echo "### $scenario ($runs runs each, --workers $workers, best and median wall time)"
    echo
    echo "| command | variant | best s | median s | speedup | efficiency | peak MiB | kernel GFLOP/s | digest |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    local serial_best digest first_digest
    serial_best=$(jq -s 'map(.wall_s)|min' "$tmp/0")
    first_digest=$(jq -rs '.[0].digest' "$tmp/0")
    for i in "${!variants[@]}"; do
        jq -rs --arg cmd "${variants[$i]}" --argjson serial "$serial_best" '
            (sort_by(.wall_s)) as $s | $s[0] as $best | ($s[(length/2|floor)]) as $med |
            [ $cmd, $best.variant, ($best.wall_s*1000|round/1000), ($med.wall_s*1000|round/1000),
              ($serial/$best.wall_s | .*100|round/100),
              (if $best.variant == "serial" then "-" else ($serial/$best.wall_s/$best.workers | .*100|round/100) end),
              ([.[].max_rss_kib]|max/1024|.*10|round/10),
              ($best.kernel_gflops // "-"),
              ($best.digest[0:12] + (if ([.[].digest]|unique|length) == 1 then "" else " (VARIES)" end)) ]
            | "| `\(.[0])` | " + (.[1:] | map(tostring) | join(" | ")) + " |"' "$tmp/$i"
        digest=$(jq -rs '.[0].digest' "$tmp/$i")
        [ "$digest" = "$first_digest" ] || echo "DIGEST MISMATCH: ${variants[$i]} $scenario" >&2
    done
    rm -r "$tmp"
}

case $what in
matrix | all) bench matrix "$data/matrix" ;;&
images | all) bench images "$data/images" --out "$data/images-out" ;;
esac
