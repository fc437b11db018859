#!/usr/bin/env bash
# scripts/test.sh: every test of the workspace, the README's test command. First the Rust
# tests (`cargo test --workspace`: unit tests, and integration tests that run the real binaries
# against servers started in-process), then the Python side's (pytest in python/tests, run
# against the debug binaries just built: the Rust models are its reference, and
# `decision-table` makes its inputs and serves its requests).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The db tests start throw-away PostgreSQL clusters: install it where it is missing (apt-get, as
# root), and then require it, so a test that cannot find it fails instead of skipping.
echo "== PostgreSQL for the db tests (scripts/pg.sh install)"
if "$ROOT/scripts/pg.sh" install; then
    export DT_REQUIRE_POSTGRES=1
else
    echo "   PostgreSQL cannot be installed here: the tests that need it print SKIPPED"
fi

echo "== cargo test --workspace (at ${SECONDS} s)"
cargo test --workspace

# The gui scenario's real window needs the `window` feature (eframe: a heavy build, so not part of
# the workspace's default build) and an X server: its one smoke test runs on its own, under Xvfb.
echo "== the gui window under Xvfb (cargo test -p threading --features window --test window) at ${SECONDS} s"
if command -v Xvfb >/dev/null 2>&1 && command -v xdotool >/dev/null 2>&1 && command -v import >/dev/null 2>&1; then
    cargo test -p threading --features window --test window
else
    echo "   not run: Xvfb, xdotool or ImageMagick's import is missing (apt-get install xvfb xdotool imagemagick libgl1-mesa-dri)"
fi

echo "== pytest (python/tests) at ${SECONDS} s"
# Every binary the Python tests call, in the debug profile cargo test just used.
cargo build --workspace --quiet
PY=$("$ROOT/scripts/python-env.sh")
# One pytest worker per core (pytest-xdist): most of the tests wait on servers and child
# processes, and one at a time they took four minutes of CI.
(cd python && DT_BIN_DIR="$ROOT/target/debug" "$PY" -m pytest -q -n "$(nproc)")
