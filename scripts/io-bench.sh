#!/usr/bin/env bash
# The I/O-bound figures of docs/io-bound.md: `downloads` and `requests` in every model against
# `decision-table serve` on loopback, from release builds.
#
#   scripts/io-bench.sh [RUNS]      # RUNS runs per row (default 3); the median run is shown
#
# Each row: the model and its K, the median wall time (min-max over the runs), the ideal time
# the client reports (ceil(N/K) rounds of latency + size/bandwidth), peak memory (children
# included) and OS threads at peak (summed over processes). Every run's digest must be the same
# for a scenario; the script stops if one is not.
set -euo pipefail
RUNS=${1:-3}
cd "$(dirname "$0")/.."
cargo build --release --workspace --quiet
B=target/release
WORK=$(mktemp -d)
SERVER=

stop_server() {
    if [ -n "$SERVER" ]; then
        kill -TERM "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
        SERVER=
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# start_server KNOBS...: start a server on a free port, set URL.
start_server() {
    stop_server
    "$B/decision-table" serve --port 0 "$@" >"$WORK/server.log" &
    SERVER=$!
    for _ in $(seq 600); do
        grep -q '^listening on ' "$WORK/server.log" 2>/dev/null && break
        sleep 0.05
    done
    URL=$(awk 'NR == 1 { print $3 }' "$WORK/server.log")
    echo "server: $* at $URL"
}

# row RUNS CRATE SCENARIO ARGS...: run a client RUNS times, print one Markdown row.
row() {
    local runs=$1 crate=$2 scenario=$3
    shift 3
    : >"$WORK/runs.jsonl"
    for _ in $(seq "$runs"); do
        rm -rf "$WORK/out"
        local extra=()
        [ "$scenario" = downloads ] && extra=(--out "$WORK/out")
        "$B/$crate" "$scenario" --url "$URL" "$@" "${extra[@]}" --json >>"$WORK/runs.jsonl" 2>"$WORK/client.err" || {
            echo "FAILED: $crate $scenario $*" >&2
            cat "$WORK/client.err" >&2
            exit 1
        }
    done
    echo "$scenario $(jq -r .digest "$WORK/runs.jsonl" | sort -u | tr '\n' ' ')" >>"$WORK/digests"
    jq -s -r '
      sort_by(.wall_s) as $r | $r[(length / 2 | floor)] as $m |
      "| \($m.model) | \($m.workers) | \($m.wall_s * 1000 | round / 1000) s (\($r[0].wall_s * 1000 | round / 1000)-\($r[-1].wall_s * 1000 | round / 1000)) | \($m.ideal_s) s | \(if $m.ideal_s > 0 then "\((($m.wall_s / $m.ideal_s - 1) * 100) | round)%" else "-" end) | \($m.max_rss_kib / 1024 * 10 | round / 10) MiB | \($m.os_threads) | \($m.processes) | \($m.digest[0:12]) |"
    ' "$WORK/runs.jsonl"
}

header() {
    echo
    echo "| model | K | wall (median, min-max) | ideal | over ideal | peak memory | OS threads | processes | digest |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
}

echo "## downloads: 64 files of 1 MiB, latency 50 ms, 10 MiB/s per connection, K = 8"
start_server --files 64 --size 1048576 --latency-ms 50 --bandwidth 10485760
header
row "$RUNS" serial downloads
for crate in threading multiprocessing asyncio; do
    row "$RUNS" "$crate" downloads --workers 8
done

echo
echo "## requests: 1000 items, latency 20 ms"
start_server --latency-ms 20
header
row 1 serial requests --count 1000
for k in 100 1000; do
    for crate in threading asyncio; do
        row "$RUNS" "$crate" requests --count 1000 --workers "$k"
    done
done
row "$RUNS" multiprocessing requests --count 1000 --workers 100
# A thousand processes: once, it takes about 1.5 GiB.
row 1 multiprocessing requests --count 1000 --workers 1000

echo
echo "## requests: the loopback cost alone (latency 0)"
start_server --latency-ms 0
header
for crate in threading asyncio; do
    row "$RUNS" "$crate" requests --count 1000 --workers 1000
done
row "$RUNS" serial requests --count 1000

echo
# One digest per scenario, whatever the model, K or run.
pairs=$(awk '{ for (i = 2; i <= NF; i++) print $1, $i }' "$WORK/digests" | sort -u)
if [ "$(echo "$pairs" | wc -l)" -ne "$(echo "$pairs" | awk '{ print $1 }' | sort -u | wc -l)" ]; then
    echo "DIGESTS DIFFER:" >&2
    echo "$pairs" >&2
    exit 1
fi
echo "every run of a scenario printed the same digest:"
echo "$pairs"
