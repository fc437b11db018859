#!/usr/bin/env bash
# The matrix kernel against numpy's, one core each, taking turns: `serial matrix` (ndarray's
# general_mat_mul over matrixmultiply's dgemm) and `python -m chapter matrix --engine numpy
# --model serial` (OpenBLAS's dgemm) on the same inputs, each printing the kernel's own speed
# (`kernel_gflops`: 2mkn over the seconds inside the kernel). They alternate, run after run, so
# that whatever else the machine does hits both alike; the harness times them minutes apart.
#
#   scripts/kernel-bench.sh [N] [BLOCK_ROWS...]     (ROUNDS=5; N = 2048, blocks 256 and 1024)
#
# Prints, per engine and block size, the median and best of ROUNDS runs, and the ratio of
# the medians. Needs the release binaries and the Python environment (scripts/python-env.sh);
# makes the inputs under data/ if missing. About a minute on 2 cores at N = 2048.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2048}
shift || true
blocks=("$@")
[ ${#blocks[@]} -gt 0 ] || blocks=(256 1024)
rounds=${ROUNDS:-5}
cargo build --release --quiet -p serial -p decision-table
bin=target/release
py=$(scripts/python-env.sh)
dir=data/matrix-n$n-seed42
[ -f "$dir/b.mat" ] || "$bin/decision-table" gen matrix --n "$n" --seed 42 --out "$dir" >/dev/null
gflops() { python3 -c 'import json, sys; print(json.load(sys.stdin)["kernel_gflops"])'; }
rows=()
for ((r = 1; r <= rounds; r++)); do
    for b in "${blocks[@]}"; do
        rows+=("rust $b $("$bin/serial" matrix "$dir" --block-rows "$b" --json 2>/dev/null | gflops)")
        rows+=("numpy $b $("$py" -m chapter matrix "$dir" --block-rows "$b" --engine numpy --model serial --json 2>/dev/null | gflops)")
    done
done
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    engine, block, g = line.split()
    runs.setdefault((int(block), engine), []).append(float(g))
print(f"kernel GFLOP/s on one core, {sys.argv[1]} x {sys.argv[1]}, {sys.argv[2]} alternating runs each")
print()
print("| block rows | Rust (matrixmultiply) median / best | numpy (OpenBLAS) median / best | Rust / numpy |")
print("| ---: | ---: | ---: | ---: |")
for block in sorted({b for b, _ in runs}):
    r, p = runs[(block, "rust")], runs[(block, "numpy")]
    print(f"| {block} | {statistics.median(r):.1f} / {max(r):.1f} | {statistics.median(p):.1f} / {max(p):.1f} "
          f"| {statistics.median(r) / statistics.median(p):.2f} |")
' "$n" "$rounds"
