"""What every test shares: the Rust binaries (the reference and the servers), a way to run
``python -m chapter`` and read its one JSON line, inputs made by ``decision-table gen``, and a
``decision-table serve`` per test that needs one.

The Rust binaries are found through ``DT_BIN_DIR``, else the repository's ``target/release``,
then ``target/debug``.
"""

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parent
BINARIES = ("decision-table", "serial", "threading", "multiprocessing", "asyncio")


def _bin_dir():
    candidates = [os.environ["DT_BIN_DIR"]] if os.environ.get("DT_BIN_DIR") else [
        REPO / "target" / "release",
        REPO / "target" / "debug",
    ]
    for d in map(Path, candidates):
        if all((d / b).is_file() and os.access(d / b, os.X_OK) for b in BINARIES):
            return d
    return None


@pytest.fixture(scope="session")
def bin_dir():
    d = _bin_dir()
    if d is None:
        where = os.environ.get("DT_BIN_DIR") or f"{REPO}/target/release or {REPO}/target/debug"
        pytest.fail(
            f"the Rust binaries ({', '.join(BINARIES)}) are not in {where}: build them with "
            f"`cargo build --release --workspace` in {REPO}, or point DT_BIN_DIR at a folder "
            f"that holds them",
            pytrace=False,
        )
    return d


def chapter(*args, timeout=60, **kw):
    """Run ``python -m chapter ARGS`` and return the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "CHAPTER_JSON"}
    proc = subprocess.run(
        [sys.executable, "-m", "chapter", *map(str, args)],
        cwd=PYTHON_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )
    return proc


def summary(proc):
    """The one JSON object a ``--json`` run printed on stdout."""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout should be one JSON line, got {proc.stdout!r}; stderr: {proc.stderr}"
    return json.loads(lines[0])


def run_json(*args, expect_rc=0, timeout=60):
    proc = chapter(*args, "--json", timeout=timeout)
    assert proc.returncode == expect_rc, f"exit {proc.returncode}, stderr:\n{proc.stderr}"
    return summary(proc)


def inproc(*args, expect_rc=0):
    """``python -m chapter ARGS --json`` in this process (a fraction of the start-up cost of a
    new interpreter), returning the summary; for runs whose process-level behaviour (exit on a
    signal, a FIFO, a dead parent) is not what is being tested."""
    import contextlib
    import io

    from chapter import cli, console

    old_term = signal.getsignal(signal.SIGTERM)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main([*map(str, args), "--json"])
    finally:
        signal.signal(signal.SIGTERM, old_term)
        console.set_json(False)
    assert rc == expect_rc, f"exit {rc}, stderr:\n{err.getvalue()}"
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def rust(bin_dir, name, *args, timeout=60):
    proc = subprocess.run([str(bin_dir / name), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} {args} exited {proc.returncode}: {proc.stderr}"
    return proc


def rust_json(bin_dir, name, *args, timeout=60):
    return json.loads(rust(bin_dir, name, *args, "--json", timeout=timeout).stdout)


def length_prefixed_digest(parts) -> str:
    """The workspace's digest, written out here independently of the code under test."""
    h = hashlib.sha256()
    for p in parts:
        h.update(struct.pack("<Q", len(p)))
        h.update(p)
    return h.hexdigest()


@pytest.fixture(scope="session")
def matrix_dir(bin_dir, tmp_path_factory):
    """A 40 x 40 pair: odd block sizes leave remainders, small enough for pure Python."""
    d = tmp_path_factory.mktemp("matrix")
    rust(bin_dir, "decision-table", "gen", "matrix", "--n", 40, "--seed", 7, "--out", d)
    return d


@pytest.fixture(scope="session")
def matrix_128(bin_dir, tmp_path_factory):
    """Big enough for a multiprocessing run to last a few tenths of a second."""
    d = tmp_path_factory.mktemp("matrix128")
    rust(bin_dir, "decision-table", "gen", "matrix", "--n", 128, "--seed", 9, "--out", d)
    return d


@pytest.fixture(scope="session")
def images_dir(bin_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rust(bin_dir, "decision-table", "gen", "images", "--count", 3, "--width", 64, "--height", 48, "--seed", 5, "--out", d)
    return d


class Server:
    def __init__(self, bin_dir, *knobs):
        self.proc = subprocess.Popen(
            [str(bin_dir / "decision-table"), "serve", "--port", "0", *map(str, knobs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), f"serve said {line!r}"
        self.url = line.split()[2]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def serve(bin_dir):
    """``serve(*knobs)`` starts a fresh ``decision-table serve`` and returns its URL; every
    server is stopped (by its pid) at the end of the test."""
    servers = []

    def start(*knobs):
        s = Server(bin_dir, *knobs)
        servers.append(s)
        return s.url

    yield start
    for s in servers:
        s.stop()


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                out.append(int(name))
    return out
