"""The executor: input order whatever the completion order, stop or keep going, and what a dead
worker does to each kind of process pool, without a hang or an orphan."""

import multiprocessing
import os
import time

import pool_jobs
import pytest
from conftest import children_of

from chapter import pool
from chapter.contract import ChapterError

ALL = [
    ("serial", None),
    ("threading", None),
    ("multiprocessing", "processes"),
    ("multiprocessing", "pool_map"),
    ("asyncio", "run_in_executor"),
    ("asyncio", "process_executor"),
    ("asyncio", "blocking"),
]


@pytest.mark.parametrize("model, variant", ALL)
def test_results_come_back_in_input_order(model, variant):
    m = pool.map_in_order(range(20), 4, pool_jobs.slow_square, model, variant=variant)
    values, failed = m.conclude()
    assert values == [i * i for i in range(20)] and failed == 0
    if model == "multiprocessing" or variant == "process_executor":
        assert os.getpid() not in m.pids and 1 <= len(m.pids) <= 4
    else:
        assert m.pids == [os.getpid()]


@pytest.mark.parametrize("model, variant", ALL)
def test_results_are_never_formatted(model, variant):
    # asyncio.run in CPython 3.11 formats the main task's repr, its result included, when it
    # puts the SIGINT handler back; a matrix run's values are 32 MiB of C, and formatting them
    # took 1.1 s. An Outcome leaves its value out of its repr.
    m = pool.map_in_order(range(4), 2, pool_jobs.no_repr, model, variant=variant)
    values, failed = m.conclude()
    assert failed == 0 and all(type(v).__name__ == "NoRepr" for v in values)
    assert "NoRepr" not in repr(m)


def test_coroutine_jobs_run_as_tasks_in_order():
    m = pool.map_in_order(range(20), 5, pool_jobs.async_square, "asyncio")
    assert m.conclude() == ([i * i for i in range(20)], 0)


@pytest.mark.parametrize("model, variant", ALL)
def test_the_first_bad_input_stops_the_run(model, variant):
    m = pool.map_in_order(range(40), 2, pool_jobs.bad_on_odd, model, variant=variant)
    with pytest.raises(ChapterError, match="^item 1 is bad$"):
        m.conclude()
    # Items already running finish; the rest never start.
    assert sum(o is None for o in m.outcomes) >= 30, m.outcomes


@pytest.mark.parametrize("model, variant", ALL)
def test_keep_going_runs_everything_and_counts(model, variant):
    m = pool.map_in_order(range(10), 3, pool_jobs.bad_on_odd, model, keep_going=True, variant=variant)
    values, failed = m.conclude()
    assert failed == 5 and values == [0, None, 2, None, 4, None, 6, None, 8, None]
    assert m.outcomes[3].error == "item 3 is bad"


def test_a_bug_in_a_job_is_a_failed_item_not_a_dead_run():
    m = pool.map_in_order(range(3), 2, pool_jobs.bug, "multiprocessing", keep_going=True)
    assert m.conclude()[1] == 3
    assert m.outcomes[0].error.startswith("ZeroDivisionError")


def test_the_earliest_failure_is_reported_when_several_race():
    f = pool.FailFast(False)
    for i in (4, 2, 3):
        f.record(i, pool.Outcome(False, error=f"item {i}"))
    assert f.first == (2, "item 2")


def _no_children_left():
    time.sleep(0.1)
    assert multiprocessing.active_children() == []
    assert [p for p in children_of(os.getpid()) if os.path.exists(f"/proc/{p}/stat")] == []


def test_a_dead_worker_breaks_a_process_pool_executor_with_a_clear_error():
    started = time.monotonic()
    with pytest.raises(ChapterError) as e:
        pool.map_in_order(range(30), 2, pool_jobs.slow_square, "multiprocessing", keep_going=True, die_on_task=5)
    assert time.monotonic() - started < 20
    msg = str(e.value)
    assert "was killed by SIGKILL" in msg and "BrokenProcessPool" in msg and "5" in msg, msg
    _no_children_left()


def test_a_dead_worker_makes_pool_map_wait_until_the_timeout():
    started = time.monotonic()
    with pytest.raises(ChapterError, match="cpython issue 96062") as e:
        pool.map_in_order(
            range(30), 2, pool_jobs.slow_square, "multiprocessing", variant="pool_map",
            die_on_task=5, stall_timeout_s=1.0,
        )
    waited = time.monotonic() - started
    assert 1.0 <= waited < 15, waited
    assert "waiting for task 5" in str(e.value)
    _no_children_left()


def test_a_dead_worker_breaks_asyncios_process_executor_too():
    with pytest.raises(ChapterError, match="BrokenProcessPool"):
        pool.map_in_order(range(10), 2, pool_jobs.slow_square, "asyncio", variant="process_executor", die_on_task=2)
    _no_children_left()


def test_die_on_task_needs_a_process_pool():
    with pytest.raises(ChapterError, match="needs --model multiprocessing"):
        pool.map_in_order(range(3), 2, pool_jobs.slow_square, "threading", die_on_task=1)


def _start(*args):
    import signal
    import subprocess
    import sys

    from conftest import PYTHON_DIR

    # A shell's background job starts with SIGINT ignored, and Python keeps it that way: give
    # the run the default disposition, as a terminal would.
    # PYTHONFAULTHANDLER: a run that hangs is sent SIGABRT by _exit_status and prints every
    # thread's stack on the way out, so a hang seen once in CI says where it was.
    return subprocess.Popen(
        [sys.executable, "-m", "chapter", *map(str, args)], cwd=PYTHON_DIR,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _exit_status(proc, within_s):
    """The run's exit status, or a failure carrying the stacks of a run still there."""
    import signal
    import subprocess

    try:
        return proc.wait(within_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pytest.fail(f"still running {within_s} s after the signal; its stacks:\n{proc.stderr.read()}")


def _children_when_started(proc, want):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kids = children_of(proc.pid)
        if len(kids) >= want:
            return kids
        time.sleep(0.05)
    raise AssertionError(f"{want} children never appeared")


def _gone(pids, within_s):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}/stat") for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    "args",
    [
        ("workers", "--model", "multiprocessing", "--workers", 2, "--sleep-ms", 20000),
        ("queue", "--model", "multiprocessing", "--workers", 2, "--items", 10_000_000),
    ],
)
@pytest.mark.parametrize("sig, rc", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_and_sigterm_leave_no_worker_behind(args, sig, rc):
    import signal

    proc = _start(*args)
    kids = _children_when_started(proc, 2)
    proc.send_signal(getattr(signal, sig))
    assert _exit_status(proc, 15) == rc
    assert "interrupted; worker processes stopped" in proc.stderr.read()
    assert _gone(kids, 2), f"orphans: {kids}"


def test_workers_of_a_killed_parent_exit_by_themselves():
    import signal

    proc = _start("workers", "--model", "multiprocessing", "--workers", 2, "--sleep-ms", 20000)
    kids = _children_when_started(proc, 2)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait(5)
    proc.stderr.close()
    # They are no longer our grandchildren: poll /proc for them.
    assert _gone(kids, 3), f"orphans outlived their parent: {kids}"
