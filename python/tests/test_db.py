"""The db scenario in Python against SQLite and a throw-away PostgreSQL (``scripts/pg.sh run``
in a temporary folder, stopped at the end; skipped, saying why, only where PostgreSQL is not
installed, and required when ``DT_REQUIRE_POSTGRES`` is set): every model prints the Rust
binaries' digest; a resumed run applies nothing twice; a wrong URL, a server that is down, a
unique violation, a dropped connection, a server killed mid-run and Ctrl-C.

    cd python && DT_BIN_DIR=../target/debug ../.venv/bin/python -m pytest tests/test_db.py
"""

import itertools
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import PYTHON_DIR, REPO, chapter, run_json, rust, rust_json, summary

from chapter.db import Workload, read_state, Target

PG_SH = REPO / "scripts" / "pg.sh"
ACCOUNTS, SEED = 40, 7
MODELS = ("serial", "threading", "multiprocessing", "asyncio")
_names = itertools.count()


class Cluster:
    """``scripts/pg.sh run DIR``: the server is this child process (pg.sh execs it)."""

    def __init__(self, dir_):
        self.dir = dir_
        self.start(first=True)

    def start(self, first=False):
        self.log = open(self.dir.parent / f"{self.dir.name}.log", "ab")
        args = [str(PG_SH), "run", str(self.dir)] + ([] if first else ["--port", str(self.port)])
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        out = subprocess.run([str(PG_SH), "wait", str(self.dir), str(self.proc.pid)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        self.url = out.stdout.strip()
        self.port = int((self.dir / "port").read_text())

    def sql(self, db, text):
        bindir = subprocess.run([str(PG_SH), "bindir"], capture_output=True, text=True).stdout.strip()
        out = subprocess.run(
            [f"{bindir}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", db, "-c", text],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def kill(self):
        """SIGKILL to the server and every process it started, as a crash would."""
        from conftest import children_of

        kids = children_of(self.proc.pid)
        self.proc.kill()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{k}") for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _postgres_or_skip():
    ok = subprocess.run([str(PG_SH), "bindir"], capture_output=True, text=True)
    if ok.returncode != 0:
        assert not os.environ.get("DT_REQUIRE_POSTGRES"), "DT_REQUIRE_POSTGRES is set but PostgreSQL is missing"
        pytest.skip("PostgreSQL is not installed (scripts/pg.sh install installs it)")


def _world_traversable(path):
    # The server runs as the postgres user, which must reach the folder.
    for p in [path, *path.parents]:
        if str(p) in ("/", "/tmp"):
            break
        os.chmod(p, os.stat(p).st_mode | 0o711)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _postgres_or_skip()
    d = tmp_path_factory.mktemp("pg")
    _world_traversable(d)
    c = Cluster(d / "cluster")
    yield c
    c.stop()


@pytest.fixture
def pg(cluster, bin_dir):
    """A fresh database with the scenario's tables: its URL."""
    name = f"t{next(_names)}"
    cluster.sql("postgres", f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"
    rust(bin_dir, "decision-table", "gen", "db", "--db", url, "--accounts", ACCOUNTS, "--seed", SEED)
    return url


@pytest.fixture
def lite(tmp_path, bin_dir):
    url = f"sqlite:{tmp_path / 'db.sqlite'}"
    rust(bin_dir, "decision-table", "gen", "db", "--db", url, "--accounts", ACCOUNTS, "--seed", SEED)
    return url


def check(url):
    accounts, ledger = read_state(Target.parse(url))
    return Workload(SEED, ACCOUNTS).check(accounts, ledger), ledger


def test_sqlite_every_model_prints_the_rust_digest(lite, bin_dir):
    want = rust_json(bin_dir, "serial", "db", "--db", lite, "--transactions", 150)["digest"]
    for model in MODELS:
        s = run_json("db", "--db", lite, "--transactions", 150, "--workers", 4, "--model", model)
        assert s["digest"] == want, model
        assert (s["failed"], s["committed"], s["backend"], s["consistent"]) == (0, 150, "sqlite", True), model
    # asyncio has no SQLite driver to await: the blocking transactions run in its executor.
    assert s["variant"] == "run_in_executor"


def test_postgres_every_model_prints_the_rust_digest(pg, bin_dir):
    want = rust_json(bin_dir, "threading", "db", "--db", pg, "--transactions", 200, "--workers", 4)["digest"]
    runs = [("--model", m) for m in MODELS] + [("--model", "asyncio", "--variant", "pipelined")]
    for extra in runs:
        s = run_json("db", "--db", pg, "--transactions", 200, "--workers", 6, *extra)
        assert s["digest"] == want, extra
        assert (s["failed"], s["committed"], s["backend"], s["consistent"]) == (0, 200, "postgres", True), extra
    assert s["variant"] == "pipelined"


def test_a_resumed_run_applies_nothing_twice(pg):
    first = run_json("db", "--db", pg, "--transactions", 120, "--workers", 4, "--model", "threading")
    s = run_json("db", "--db", pg, "--transactions", 120, "--workers", 4, "--model", "asyncio", "--resume")
    assert (s["already_applied"], s["committed"], s["ledger_rows"]) == (120, 120, 120)
    assert s["digest"] == first["digest"]


def test_a_wrong_url_or_a_server_that_is_down_is_named(cluster):
    for url, says in [
        ("mysql://root:hunter2@127.0.0.1/bank", "mysql://root:***@127.0.0.1/bank"),
        ("sqlite:/nonexistent/db.sqlite", "gen db"),
        ("sqlite::memory:", "names no file"),
        (f"postgresql://postgres@127.0.0.1:{cluster.port}/nosuchdb", "nosuchdb"),
    ]:
        p = chapter("db", "--db", url)
        assert p.returncode == 1 and says in p.stderr and "Traceback" not in p.stderr, (url, p.stderr)
        assert "hunter2" not in p.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    t0 = time.monotonic()
    p = chapter("db", "--db", down, timeout=30)
    assert p.returncode == 1 and down in p.stderr and "cannot connect" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("model", ["threading", "asyncio"])
def test_a_unique_violation_is_named_and_applies_nothing(pg, cluster, model):
    w = Workload(SEED, ACCOUNTS)
    other = (w.txn(5)[1] + 1) % ACCOUNTS
    cluster.sql(pg.rsplit("/", 1)[1], f"BEGIN; INSERT INTO ledger VALUES (5, {other}, 777); "
                f"UPDATE accounts SET balance = balance + 777, txns = txns + 1 WHERE id = {other}; COMMIT")
    s = run_json("db", "--db", pg, "--transactions", 50, "--workers", 4, "--model", model, "--resume", expect_rc=1)
    assert s["failed_txns"] == [5] and s["committed"] == 49
    accounts, ledger = read_state(Target.parse(pg))
    accounts = [list(a) for a in accounts]
    ledger = [r for r in ledger if r[0] != 5]
    accounts[other][3] -= 777
    accounts[other][4] -= 1
    assert w.check([tuple(a) for a in accounts], ledger) is None, "transaction 5 applied something"


@pytest.mark.parametrize("model", ["threading", "multiprocessing", "asyncio"])
def test_a_dropped_connection_is_replaced_and_retried(pg, model):
    s = run_json("db", "--db", pg, "--transactions", 80, "--workers", 3, "--model", model,
                 "--drop-connection-at", 20)
    assert s["failed"] == 0 and s["retries"] >= 1 and s["consistent"] is True


def _start(url, n, model):
    env = {k: v for k, v in os.environ.items() if k != "CHAPTER_JSON"}
    return subprocess.Popen(
        [sys.executable, "-m", "chapter", "db", "--db", url, "--transactions", str(n), "--workers", "4",
         "--model", model, "--json"],
        cwd=PYTHON_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )


def _wait_for_rows(cluster, db, proc, rows):
    deadline = time.monotonic() + 60
    while int(cluster.sql(db, "SELECT count(*) FROM ledger")) < rows:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_server_killed_mid_run(tmp_path, bin_dir):
    _postgres_or_skip()
    _world_traversable(tmp_path)
    c = Cluster(tmp_path / "cluster")
    try:
        rust(bin_dir, "decision-table", "gen", "db", "--db", c.url, "--accounts", ACCOUNTS, "--seed", SEED)
        n = 3000
        proc = _start(c.url, n, "threading")
        _wait_for_rows(c, "postgres", proc, 50)
        c.kill()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        s = summary(subprocess.CompletedProcess([], 1, out, err))
        failed = s["failed_txns"]
        assert failed and s["committed"] + len(failed) == n and s["digest_of"] == "client"
        c.start()
        why, ledger = check(c.url)
        assert why is None, why
        held = {r[0] for r in ledger}
        assert all(t in held for t in range(n) if t not in failed), "a reported commit is missing"
        again = run_json("db", "--db", c.url, "--transactions", n, "--workers", 4, "--model", "asyncio", "--resume",
                         timeout=120)
        assert again["already_applied"] == len(held)
        want = rust_json(bin_dir, "serial", "db", "--db", c.url, "--transactions", n, timeout=120)["digest"]
        assert again["digest"] == want, "every transaction exactly once"
    finally:
        c.stop()


def test_ctrl_c_leaves_the_tables_consistent(pg, cluster):
    db = pg.rsplit("/", 1)[1]
    proc = _start(pg, 100_000, "multiprocessing")
    _wait_for_rows(cluster, db, proc, 30)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    deadline = time.monotonic() + 10
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dt-db'"
    while int(cluster.sql(db, sessions)) > 0:
        assert time.monotonic() < deadline, "sessions left on the server"
        time.sleep(0.05)
    assert check(pg)[0] is None
