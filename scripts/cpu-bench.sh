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

# binary and its variant flags
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
    echo
    echo "### $scenario ($runs runs each, --workers $workers, best and median wall time)"
    echo
    echo "| command | variant | best s | median s | speedup | efficiency | peak MiB | kernel GFLOP/s | digest |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    local serial_best="" first_digest=""
    for v in "${variants[@]}"; do
        local cmd=$v
        local exe=${cmd%% *} flags=()
        [ "$exe" = "$cmd" ] || read -ra flags <<<"${cmd#* }"
        local all=()
        for _ in $(seq "$runs"); do
            all+=("$($bin/"$exe" "$scenario" "$@" "${flags[@]}" --workers "$workers" --json 2>/dev/null)")
        done
        printf '%s\n' "${all[@]}" | jq -rs --arg cmd "$cmd" --arg serial "$serial_best" '
            (sort_by(.wall_s)) as $s | $s[0] as $best | ($s[(length/2|floor)]) as $med |
            [ $cmd, $best.variant, ($best.wall_s*1000|round/1000), ($med.wall_s*1000|round/1000),
              (if $serial == "" then 1 else ($serial|tonumber)/$best.wall_s end | .*100|round/100),
              (if $serial == "" then "-" else (($serial|tonumber)/$best.wall_s/($best.workers) | .*100|round/100) end),
              ([.[].max_rss_kib]|max/1024|.*10|round/10),
              ($best.kernel_gflops // "-"),
              ($best.digest[0:12] + (if ([.[].digest]|unique|length) == 1 then "" else " (VARIES)" end)) ]
            | "| `\(.[0])` | " + (.[1:] | map(tostring) | join(" | ")) + " |"'
        local best digest
        best=$(printf '%s\n' "${all[@]}" | jq -s 'map(.wall_s)|min')
        digest=$(printf '%s\n' "${all[@]}" | jq -rs '.[0].digest')
        [ -n "$serial_best" ] || serial_best=$best
        [ -n "$first_digest" ] || first_digest=$digest
        [ "$digest" = "$first_digest" ] || echo "DIGEST MISMATCH: $cmd $scenario" >&2
    done
}

case $what in
matrix | all) bench matrix "$data/matrix" ;;&
images | all) bench images "$data/images" --out "$data/images-out" ;;
esac
