#!/usr/bin/env bash
# scripts/python-env.sh: make (once) the virtualenv the Python side runs in, at .venv in the
# repository (or $VENV), with python/requirements.txt installed from PyPI, and print its
# interpreter's path. It is made again only when requirements.txt changes (a hash is kept
# beside it), so the harness and the tests share one and pay for it once.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
REQS="$ROOT/python/requirements.txt"

base=${PYTHON:-}
if [ -z "$base" ]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            base=$candidate
            break
        fi
    done
fi
[ -n "$base" ] || { echo "python-env.sh: error: no python3 on PATH (CPython 3.11 is expected)" >&2; exit 2; }

want=$(sha256sum "$REQS" | awk '{print $1}')
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "== making the Python virtualenv $VENV ($("$base" --version 2>&1)) from python/requirements.txt" >&2
    rm -rf "$VENV"
    "$base" -m venv "$VENV" >&2 ||
        { echo "python-env.sh: error: '$base -m venv' failed (on Debian: apt-get install python3-venv)" >&2; exit 2; }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS" >&2 ||
        { echo "python-env.sh: error: pip could not install python/requirements.txt" >&2; exit 2; }
    echo "$want" >"$VENV/.requirements.sha256"
fi
# `python -m chapter` from anywhere: the package's folder on the venv's path.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ROOT/python" >"$site/chapter-source.pth"
echo "$VENV/bin/python"
