#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...]: run every fuzz target (cargo fuzz, libFuzzer, with
# AddressSanitizer) for SECONDS each (default 60), one after the other, keeping a corpus per
# target under fuzz/corpus (seeded from fuzz/seeds, which is committed). A crash stops the
# script with the input saved under fuzz/artifacts/TARGET/: turn it into a regression test.
#
# The targets: frame (the frame reader every process pool reads its children with),
# matrix_header (the matrix file's header), chat_line (the chat line reader and the load
# client's parser of server lines), documents (/, /manifest and /api/items/{i}), bigfile_lines
# (the bigfile scanner: fast path and rule book, whole and split); more where
# the scenarios add parsers (see fuzz/fuzz_targets/). CI does not run this; it takes a while.
#
# cargo fuzz needs nightly-only compiler flags; the machine has one stable toolchain, so
# RUSTC_BOOTSTRAP=1 lets it use them (the fuzz builds only; nothing else is built this way).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${1:-60}
shift || true
case $SECONDS_EACH in
'' | *[!0-9]*) echo "fuzz.sh: error: SECONDS must be a whole number, not '$SECONDS_EACH'" >&2; exit 2 ;;
esac
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi
cd "$ROOT/fuzz"
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    echo "== $t: ${SECONDS_EACH} s"
    cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)" || true
    if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz.sh: $t found a crash: fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
