"""The executor every scenario runs its items on: the Python twin of the Rust crates' pools.

    map_in_order(items, workers, job, model, keep_going) -> Mapped

runs ``job(item)`` for every item and returns the outcomes **in input order**, whatever order
they finished in, so every model feeds the digest the same way. (``map_pipeline(items, workers,
download, compute, model, ...)`` does the same with two jobs per item, for the ``pipeline``
scenario: see it at the end of this file.) The scenario code is the same
for every model; only ``model`` (and ``variant``) choose what runs the items:

========================  ============================================================
model / variant           what runs the items
========================  ============================================================
serial / serial           a plain loop on the main thread
threading / threads       ``concurrent.futures.ThreadPoolExecutor`` of ``workers`` threads
multiprocessing /         ``concurrent.futures.ProcessPoolExecutor`` of ``workers``
processes                 processes (the chapter's pick for CPU-bound work)
multiprocessing /         ``multiprocessing.Pool.imap`` (chunksize 1): the chapter's
pool_map                  ``Pool.map``, fed lazily so results arrive one by one
asyncio / tasks           a coroutine ``job`` per item, at most ``workers`` in flight
                          (a semaphore), gathered
asyncio /                 a plain ``job`` handed to ``loop.run_in_executor`` on a thread
run_in_executor           pool (the default for CPU work in asyncio: the loop stays free)
asyncio /                 the same on a process pool (the way out of the GIL from asyncio)
process_executor
asyncio / blocking        the plain ``job`` called on the event loop itself (the mistake,
                          on purpose: nothing else runs meanwhile; the ticker shows it)
========================  ============================================================

Stop or keep going (the Rust ``items::FailFast``): without ``keep_going`` the first failed item
stops the run: items not yet started are skipped (``None``), items already running finish, and
the run's error is the earliest failure in input order. With ``keep_going`` every item runs and
failures are counted. A job signals a bad input by raising (``ChapterError`` for one it
expected, with a message naming the input).

Why the pools are fed through a window of at most ``workers`` items (twice that for processes,
so a worker finds its next task already in its pipe): submitting everything at once would leave
nothing to skip after a failure (``ProcessPoolExecutor`` moves submitted calls into its pipes
early, where they cannot be cancelled), and would hold every pending call in memory.

Where Python cannot do what the Rust pool does, it says so instead of hiding it:

- a worker process that dies (``--die-on-task I`` kills the one running task I, for tests)
  breaks a ``ProcessPoolExecutor`` for good: every pending future gets ``BrokenProcessPool``.
  The Rust pool replaces the worker and carries on; here the run ends with an error naming the
  dead worker and how it died, and how many tasks were lost.
- ``multiprocessing.Pool`` replaces a dead worker but loses its task, and waits for that
  result forever (cpython issue 96062). Every wait here is bounded (``stall_timeout_s``): after
  that long with no result the run ends with an error that says why, and the pool is
  terminated.

No orphans: worker processes ignore SIGINT (the parent handles Ctrl-C and tears the pool down),
exit by themselves within half a second if their parent dies, and every pool is shut down and
joined, so reaped, before the run reports; :func:`kill_children` is the last resort of
an interrupted run.
"""

import asyncio
import concurrent.futures as cf
import inspect
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from chapter import usage
from chapter.console import say
from chapter.contract import ChapterError

MODELS = ("serial", "threading", "multiprocessing", "asyncio")
VARIANTS = {
    "serial": ("serial",),
    "threading": ("threads",),
    "multiprocessing": ("processes", "pool_map"),
    "asyncio": ("run_in_executor", "process_executor", "blocking"),
}
DEFAULT_VARIANT = {
    "serial": "serial",
    "threading": "threads",
    "multiprocessing": "processes",
    "asyncio": "run_in_executor",
}
#: How long any pool may go without producing a single result before the run gives up.
DEFAULT_STALL_TIMEOUT_S = 600.0
#: fork is CPython 3.11's default on Linux, and the cheapest start; spawn is there to compare.
DEFAULT_START_METHOD = "fork"


@dataclass
class Outcome:
    """What became of one item: ``ok`` and its ``value``, or the ``error`` message."""

    ok: bool
    # Left out of the repr: CPython 3.11's asyncio.run formats the main task's repr, result
    # included, when it puts the SIGINT handler back (signal.getsignal tries the handler as an
    # enum value, and the failed lookup's message holds its repr). With a matrix run's 32 MiB
    # of C in the values, that took 1.1 s of every asyncio run (measured with cProfile).
    value: object = field(default=None, repr=False)
    error: str = ""


@dataclass
class Mapped:
    """The outcomes in input order (``None`` for an item skipped after a failure), the pids
    that ran them, the failure that stopped the run if one did, and model-specific extras."""

    outcomes: list
    pids: list = field(default_factory=list)
    stopped_by: tuple = None
    extras: dict = field(default_factory=dict)

    def conclude(self):
        """The end of a run: raise the error that stopped it, or return (values with None for
        failed items, number failed)."""
        if self.stopped_by is not None:
            raise ChapterError(self.stopped_by[1])
        values, failed = [], 0
        for o in self.outcomes:
            if o is not None and o.ok:
                values.append(o.value)
            else:
                values.append(None)
                failed += 1
        return values, failed


class FailFast:
    """Shared by every worker of one run (threads and the event loop; processes report to the
    parent, which records for them)."""

    def __init__(self, keep_going: bool) -> None:
        self.keep_going = keep_going
        self.stopped = False
        self.first = None
        self._lock = threading.Lock()

    def record(self, index: int, outcome: Outcome) -> None:
        if outcome.ok:
            return
        say(f"failed: {outcome.error}")
        if self.keep_going:
            return
        with self._lock:
            self.stopped = True
            if self.first is None or index < self.first[0]:
                self.first = (index, outcome.error)


# ---------------------------------------------------------------------------------------------
# What runs in the worker (any worker: thread, process, the loop).


def _call(job, index, item, die_on_task):
    """Run one item and report (pid, ok, value or message). Exceptions become messages here,
    in the worker, so a process pool ships back a string rather than a pickled exception."""
    if die_on_task is not None and index == die_on_task:
        # Tests only: the worker dies as a crash would kill it, without a word.
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        return os.getpid(), True, job(item)
    except ChapterError as e:
        return os.getpid(), False, str(e)
    except Exception as e:  # a bug, but still one failed item, not a dead run
        return os.getpid(), False, f"{type(e).__name__}: {e}"


async def _acall(job, index, item):
    try:
        return os.getpid(), True, await job(item)
    except ChapterError as e:
        return os.getpid(), False, str(e)
    except Exception as e:
        return os.getpid(), False, f"{type(e).__name__}: {e}"


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def worker_init(extra_init=None) -> None:
    """First thing in every worker process."""
    # Ctrl-C reaches the whole process group; the parent handles it and stops the pool, so a
    # worker must not die of it half-way through a result (which would break the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the parent's SIGTERM handler (which raises to clean up the run);
    # a worker told to stop should just stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A worker that outlives a killed parent is an orphan burning a core: it checks twice a
    # second that its parent is still there. (Not PR_SET_PDEATHSIG: that fires when the
    # *thread* that forked the worker ends, and multiprocessing.Pool forks replacement workers
    # from a helper thread that ends in Pool.terminate(), killing a worker that may hold the
    # pool's queue lock, and terminate() then waits for that lock forever. Seen here.)
    parent = os.getppid()
    if parent == 1:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    if extra_init is not None:
        extra_init()


def _context(start_method):
    return multiprocessing.get_context(start_method or DEFAULT_START_METHOD)


# ---------------------------------------------------------------------------------------------
# The entry point.


def map_in_order(
    items,
    workers,
    job,
    model,
    keep_going=False,
    *,
    variant=None,
    die_on_task=None,
    stall_timeout_s=DEFAULT_STALL_TIMEOUT_S,
    start_method=None,
    init=None,
) -> Mapped:
    """Run ``job`` over ``items`` in ``model`` and return their outcomes in input order.

    ``job`` is a plain function for every model (it must be picklable, a module-level function
    or a ``functools.partial`` of one, for process pools), or a coroutine function for asyncio's
    ``tasks``. ``init`` runs once in every worker process before its first item."""
    items = list(items)
    variant = variant or (
        "tasks" if model == "asyncio" and inspect.iscoroutinefunction(job) else DEFAULT_VARIANT[model]
    )
    if die_on_task is not None and variant not in ("processes", "pool_map", "process_executor"):
        raise ChapterError(
            f"--die-on-task kills a worker process: it needs --model multiprocessing (here {model}/{variant})"
        )
    fail = FailFast(keep_going)
    if model == "serial":
        return _serial(items, job, fail)
    if model == "threading":
        ex = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        return _windowed(items, workers, job, fail, ex, workers, None, stall_timeout_s, "ThreadPoolExecutor")
    if model == "multiprocessing":
        usage.expect_children()
        if variant == "pool_map":
            return _pool_map(items, workers, job, fail, die_on_task, stall_timeout_s, start_method, init)
        ex = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_context(start_method),
            initializer=worker_init,
            initargs=(init,),
        )
        return _windowed(
            items, workers, job, fail, ex, 2 * workers, die_on_task, stall_timeout_s, "ProcessPoolExecutor"
        )
    if model == "asyncio":
        return asyncio.run(
            _gather_main(items, workers, job, fail, variant, die_on_task, stall_timeout_s, start_method, init)
        )
    raise ChapterError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")


def _serial(items, job, fail) -> Mapped:
    outcomes, pid = [], os.getpid()
    for i, item in enumerate(items):
        if fail.stopped:
            outcomes.append(None)
            continue
        _, ok, value = _call(job, i, item, None)
        o = Outcome(True, value) if ok else Outcome(False, error=value)
        fail.record(i, o)
        outcomes.append(o)
    return Mapped(outcomes, [pid], fail.first)


def _note_pid(pids, pid):
    if pid not in pids:
        pids.append(pid)


def _windowed(items, workers, job, fail, ex, window, die_on_task, stall_timeout_s, what) -> Mapped:
    """A ThreadPoolExecutor or ProcessPoolExecutor fed at most ``window`` items at a time."""
    n = len(items)
    outcomes = [None] * n
    pids = []
    pending = {}
    next_i = 0
    # The worker processes seen so far (a ProcessPoolExecutor's private dict, read for the
    # error message only): the executor drops a dead one from it when the pool breaks, so the
    # culprit is looked for among those seen while it lived.
    workers_seen = {}
    try:
        while next_i < n or pending:
            while next_i < n and len(pending) < window and not fail.stopped:
                f = ex.submit(_call, job, next_i, items[next_i], die_on_task)
                pending[f] = next_i
                next_i += 1
                workers_seen.update(getattr(ex, "_processes", None) or {})
            if not pending:
                break
            done, _ = cf.wait(pending, timeout=stall_timeout_s, return_when=cf.FIRST_COMPLETED)
            if not done:
                raise ChapterError(
                    f"{what}: no item finished in {stall_timeout_s:g} s "
                    f"(items {sorted(pending.values())} in flight); giving up"
                )
            for f in done:
                i = pending.pop(f)
                try:
                    pid, ok, value = f.result()
                except BrokenProcessPool:
                    lost = sorted([i] + list(pending.values()))
                    raise ChapterError(_broken_pool_message(workers_seen, lost, n - next_i, n)) from None
                _note_pid(pids, pid)
                o = Outcome(True, value) if ok else Outcome(False, error=value)
                fail.record(i, o)
                outcomes[i] = o
    except BaseException as e:
        _shut(ex, interrupted=not isinstance(e, Exception))
        raise
    _shut(ex, interrupted=False)
    return Mapped(outcomes, pids, fail.first)


def _shut(ex, interrupted):
    """Shut an executor down. After a failure or an error, what has not started never starts
    (``cancel_futures``); after Ctrl-C or SIGTERM the worker processes are killed first, rather
    than waited for."""
    if interrupted:
        kill_children()
        ex.shutdown(wait=False, cancel_futures=True)
    else:
        ex.shutdown(wait=True, cancel_futures=True)


def _died_how(exitcode):
    if exitcode is None:
        return "was still running"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _broken_pool_message(procs, lost, never_submitted, n) -> str:
    # Which worker died, among the processes seen (for the message only: the run fails the
    # same way without it). When the pool breaks it terminates the surviving workers itself
    # (SIGTERM), so the culprit is the one that ended some other way.
    for p in procs.values():
        p.join(timeout=1)
    culprits = [
        f"pid {pid} {_died_how(p.exitcode)}"
        for pid, p in procs.items()
        if p.exitcode not in (None, 0, -signal.SIGTERM)
    ]
    who = "; ".join(culprits) if culprits else "a worker process died"
    return (
        f"a worker process of the ProcessPoolExecutor died ({who}) with tasks {_ranges(lost)} "
        f"in flight. concurrent.futures cannot replace a dead worker: the whole pool is broken "
        f"(BrokenProcessPool), so {len(lost) + never_submitted} of {n} tasks never completed "
        f"and --keep-going cannot save them (the Rust pool replaces the worker and loses one task)"
    )


def _ranges(indices) -> str:
    shown = ", ".join(str(i) for i in indices[:10])
    return shown + (f" and {len(indices) - 10} more" if len(indices) > 10 else "")


def _pool_map(items, workers, job, fail, die_on_task, stall_timeout_s, start_method, init) -> Mapped:
    """``multiprocessing.Pool``: the classic API, lazily (``imap``) so each result can be
    waited for with a timeout, which ``Pool.map`` itself does not offer."""
    import functools

    n = len(items)
    outcomes = [None] * n
    pids = []
    call = functools.partial(_call_pair, job, die_on_task)
    pool = _context(start_method).Pool(workers, initializer=worker_init, initargs=(init,))
    try:
        results = pool.imap(call, enumerate(items), chunksize=1)
        for i in range(n):
            try:
                pid, ok, value = results.next(timeout=stall_timeout_s)
            except multiprocessing.TimeoutError:
                raise ChapterError(
                    f"multiprocessing.Pool has had no result for {stall_timeout_s:g} s, waiting for "
                    f"task {i}: a worker process probably died. Pool replaces a dead worker but "
                    f"loses its task, and without a timeout it would wait for that result forever "
                    f"(cpython issue 96062); the pool is terminated"
                ) from None
            _note_pid(pids, pid)
            o = Outcome(True, value) if ok else Outcome(False, error=value)
            fail.record(i, o)
            outcomes[i] = o
            if fail.stopped:
                # The pool has every task queued already; terminating it is the only way to
                # start no more of them.
                break
        else:
            pool.close()
    finally:
        pool.terminate()
        pool.join()
    return Mapped(outcomes, pids, fail.first)


def _call_pair(job, die_on_task, pair):
    i, item = pair
    return _call(job, i, item, die_on_task)


# ---------------------------------------------------------------------------------------------
# asyncio.


class Ticker:
    """A task that wants to run every 10 ms and records how late it got to: a free event loop
    keeps it within a millisecond or so, a blocked one makes it wait (the Rust ``Ticker``)."""

    TICK_S = 0.010

    def __init__(self) -> None:
        self.ticks = 0
        self.max_late_s = 0.0
        self._due = time.monotonic() + self.TICK_S
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self._due - time.monotonic()))
            now = time.monotonic()
            self.max_late_s = max(self.max_late_s, now - self._due)
            self.ticks += 1
            self._due = max(self._due + self.TICK_S, now)

    async def stop(self):
        # A tick still waiting counts too: a ticker starved for the whole run shows as late.
        self.max_late_s = max(self.max_late_s, time.monotonic() - self._due)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.ticks, round(self.max_late_s * 1000, 1)


async def _gather_main(items, workers, job, fail, variant, die_on_task, stall_timeout_s, start_method, init):
    executor = None
    if variant == "run_in_executor":
        executor = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="executor")
    elif variant == "process_executor":
        usage.expect_children()
        executor = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_context(start_method),
            initializer=worker_init,
            initargs=(init,),
        )
    ticker = Ticker() if variant != "tasks" else None
    try:
        mapped = await gather_in_order(
            items, workers, job, fail, variant=variant, executor=executor,
            die_on_task=die_on_task, stall_timeout_s=stall_timeout_s,
        )
    except BaseException as e:
        if executor is not None:
            _shut(executor, interrupted=not isinstance(e, Exception))
        raise
    if executor is not None:
        _shut(executor, interrupted=False)
    if ticker is not None:
        ticks, late_ms = await ticker.stop()
        say(f"ticker: {ticks} ticks, at worst {late_ms:.1f} ms late")
        mapped.extras.update(ticks=ticks, ticker_max_late_ms=late_ms)
    return mapped


async def gather_in_order(
    items,
    workers,
    job,
    fail,
    *,
    variant="tasks",
    executor=None,
    die_on_task=None,
    stall_timeout_s=DEFAULT_STALL_TIMEOUT_S,
) -> Mapped:
    """The asyncio side of :func:`map_in_order`, for code already running in an event loop
    (the I/O scenarios, which open their HTTP session in the loop first). ``fail`` is a
    :class:`FailFast` or a bool (keep going)."""
    if isinstance(fail, bool):
        fail = FailFast(fail)
    items = list(items)
    n = len(items)
    outcomes = [None] * n
    pids = []
    loop = asyncio.get_running_loop()
    # The semaphore is taken *before* a task is created, so at most `workers` tasks exist at a
    # time: gathering a million coroutines created up front would hold a million of them.
    permits = asyncio.Semaphore(workers)
    live = set()
    broken = []
    # The process pool's workers seen while they lived (see `_windowed`).
    workers_seen = {}

    async def one(i, item):
        try:
            if fail.stopped:
                return
            if variant == "tasks":
                result = await _acall(job, i, item)
            elif variant == "blocking":
                result = _call(job, i, item, None)  # blocks the loop, on purpose
            else:
                fut = loop.run_in_executor(executor, _call, job, i, item, die_on_task)
                workers_seen.update(getattr(executor, "_processes", None) or {})
                result = await asyncio.wait_for(fut, stall_timeout_s)
            pid, ok, value = result
            _note_pid(pids, pid)
            o = Outcome(True, value) if ok else Outcome(False, error=value)
            fail.record(i, o)
            outcomes[i] = o
        except BrokenProcessPool:
            broken.append(i)
            fail.stopped = True
        except asyncio.TimeoutError:
            fail.stopped = True
            fail.first = fail.first or (i, f"task {i}: no result in {stall_timeout_s:g} s; giving up")
        finally:
            permits.release()

    for i, item in enumerate(items):
        await permits.acquire()
        if fail.stopped:
            permits.release()
            break
        t = loop.create_task(one(i, item))
        live.add(t)
        t.add_done_callback(live.discard)
    if live:
        await asyncio.gather(*live)
    if broken:
        raise ChapterError(_broken_pool_message(workers_seen, sorted(broken), 0, n))
    return Mapped(outcomes, pids, fail.first)


# ---------------------------------------------------------------------------------------------
# The last resort.


def kill_children(grace_s: float = 1.0) -> None:
    """Terminate and reap every child process this process started (an interrupted run)."""
    kids = multiprocessing.active_children()
    for p in kids:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in kids:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1)
    # Children not started by multiprocessing (none today, but cheap to be sure).
    for pid in usage.descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + grace_s + 2
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# A pipeline: two jobs per item, a download then its processing (the `pipeline` scenario).

PIPELINE_VARIANTS = {
    "serial": ("serial",),
    "threading": ("threads",),
    "multiprocessing": ("threads+processes",),
    "asyncio": ("process_executor", "blocking"),
}


def _both(download, compute, item):
    return compute(download(item))


def map_pipeline(
    items,
    workers,
    download,
    compute,
    model,
    keep_going=False,
    *,
    variant=None,
    cpu_workers=None,
    die_on_task=None,
    stall_timeout_s=DEFAULT_STALL_TIMEOUT_S,
    start_method=None,
) -> Mapped:
    """Run ``compute(download(item))`` for every item in ``model``, as soon as each download
    ends, and return the outcomes in input order (a failed download is its item's failure):

    - serial: download, process, next, on the main thread;
    - threading: one ``ThreadPoolExecutor`` of ``workers`` threads for both: each thread
      downloads an item and processes it. The waits release the GIL, and so does Pillow while
      it computes; pure-Python work would take turns;
    - multiprocessing (the chapter's rule): a ``ThreadPoolExecutor`` of ``workers`` threads
      downloads, a ``ProcessPoolExecutor`` of ``cpu_workers`` processes computes, each item
      submitted to it as its download ends (its bytes pickled across);
    - asyncio: ``download`` is a coroutine function; at most ``workers`` tasks download at once
      on the event loop, then each hands its item to ``loop.run_in_executor`` with a
      ``ProcessPoolExecutor`` of ``cpu_workers`` (``process_executor``, the right way), or
      computes on the loop itself (``blocking``, the mistake: every download in flight waits).

    ``compute`` must be picklable (a module-level function) for the process pools. Items wait
    between the two pools in a bounded window, so a slow CPU stage pauses the downloads instead
    of piling images up in memory."""
    import functools

    items = list(items)
    cpu_workers = cpu_workers or workers
    variant = variant or PIPELINE_VARIANTS[model][0]
    fail = FailFast(keep_going)
    if model == "serial":
        return _serial(items, functools.partial(_both, download, compute), fail)
    if model == "threading":
        ex = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        job = functools.partial(_both, download, compute)
        return _windowed(items, workers, job, fail, ex, workers, None, stall_timeout_s, "ThreadPoolExecutor")
    if model == "multiprocessing":
        usage.expect_children()
        return _threads_then_processes(
            items, workers, cpu_workers, download, compute, fail, die_on_task, stall_timeout_s, start_method
        )
    if model == "asyncio":
        return asyncio.run(
            pipeline_in_loop(
                items, workers, download, compute, fail, variant=variant, cpu_workers=cpu_workers,
                stall_timeout_s=stall_timeout_s, start_method=start_method,
            )
        )
    raise ChapterError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")


def _threads_then_processes(items, workers, cpu_workers, download, compute, fail, die_on_task, stall_timeout_s, start_method):
    import collections

    n = len(items)
    outcomes = [None] * n
    pids = []
    processes = _started_process_pool(cpu_workers, start_method)
    downloads = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download")
    fetching, computing, waiting = {}, {}, collections.deque()
    # The worker processes seen while they lived, for the message if one dies (see `_windowed`).
    workers_seen = dict(getattr(processes, "_processes", None) or {})
    next_i = 0
    try:
        while next_i < n or fetching or computing or waiting:
            # Downloads start while there is room: at most `workers` in flight, and no more
            # once `cpu_workers` downloaded items are already waiting for a process.
            while next_i < n and len(fetching) < workers and len(waiting) < cpu_workers and not fail.stopped:
                fetching[downloads.submit(_call, download, next_i, items[next_i], None)] = next_i
                next_i += 1
            while waiting and len(computing) < 2 * cpu_workers and not fail.stopped:
                i, arrived = waiting.popleft()
                computing[processes.submit(_call, compute, i, arrived, die_on_task)] = i
                workers_seen.update(getattr(processes, "_processes", None) or {})
            if fail.stopped:
                waiting.clear()
            if not fetching and not computing:
                break
            done, _ = cf.wait(list(fetching) + list(computing), timeout=stall_timeout_s, return_when=cf.FIRST_COMPLETED)
            if not done:
                raise ChapterError(f"pipeline: nothing finished in {stall_timeout_s:g} s; giving up")
            for f in done:
                if f in fetching:
                    i = fetching.pop(f)
                    _, ok, value = f.result()
                    if ok:
                        waiting.append((i, value))
                        continue
                else:
                    i = computing.pop(f)
                    try:
                        pid, ok, value = f.result()
                    except BrokenProcessPool:
                        lost = sorted([i] + list(computing.values()))
                        raise ChapterError(_broken_pool_message(workers_seen, lost, n - next_i, n)) from None
                    _note_pid(pids, pid)
                o = Outcome(True, value) if ok else Outcome(False, error=value)
                fail.record(i, o)
                outcomes[i] = o
    except BaseException as e:
        interrupted = not isinstance(e, Exception)
        _shut(processes, interrupted)
        _shut(downloads, interrupted)
        raise
    _shut(processes, interrupted=False)
    _shut(downloads, interrupted=False)
    return Mapped(outcomes, pids, fail.first)


def _started_process_pool(workers, start_method):
    """A ProcessPoolExecutor whose workers are already running. With fork, a worker is a copy of
    this process as it is when the pool starts: started before any download thread exists, no
    worker can inherit a lock one of them held (an import, a connection pool) mid-fork."""
    ex = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(start_method), initializer=worker_init, initargs=(None,)
    )
    ex.submit(os.getpid).result(timeout=60)
    return ex


async def pipeline_in_loop(
    items,
    workers,
    download,
    compute,
    fail,
    *,
    variant="process_executor",
    cpu_workers=None,
    stall_timeout_s=DEFAULT_STALL_TIMEOUT_S,
    start_method=None,
) -> Mapped:
    """The asyncio side of :func:`map_pipeline`, for code already running in an event loop
    (the pipeline opens its HTTP session in the loop first). ``fail`` is a :class:`FailFast`
    or a bool (keep going)."""
    if isinstance(fail, bool):
        fail = FailFast(fail)
    items = list(items)
    cpu_workers = cpu_workers or workers
    n = len(items)
    outcomes = [None] * n
    pids = []
    loop = asyncio.get_running_loop()
    executor = None
    if variant == "process_executor":
        usage.expect_children()
        executor = _started_process_pool(cpu_workers, start_method)
    ticker = Ticker()
    permits = asyncio.Semaphore(workers)
    broken = []
    # The process pool's workers seen while they lived (see `_windowed`).
    workers_seen = dict(getattr(executor, "_processes", None) or {})

    async def one(i, item):
        try:
            if fail.stopped:
                return
            _, ok, value = await _acall(download, i, item)
            if ok:
                if variant == "blocking":
                    result = _call(compute, i, value, None)  # on the loop, on purpose: the mistake
                else:
                    fut = loop.run_in_executor(executor, _call, compute, i, value, None)
                    workers_seen.update(getattr(executor, "_processes", None) or {})
                    result = await asyncio.wait_for(fut, stall_timeout_s)
                pid, ok, value = result
                _note_pid(pids, pid)
            o = Outcome(True, value) if ok else Outcome(False, error=value)
            fail.record(i, o)
            outcomes[i] = o
        except BrokenProcessPool:
            broken.append(i)
            fail.stopped = True
        except asyncio.TimeoutError:
            fail.stopped = True
            fail.first = fail.first or (i, f"task {i}: no result in {stall_timeout_s:g} s; giving up")
        finally:
            permits.release()

    live = set()
    try:
        for i, item in enumerate(items):
            # A task holds its permit until its image is processed: at most `workers` images
            # are downloading or waiting for a process at once.
            await permits.acquire()
            if fail.stopped:
                permits.release()
                break
            t = loop.create_task(one(i, item))
            live.add(t)
            t.add_done_callback(live.discard)
        if live:
            await asyncio.gather(*live)
    except BaseException as e:
        if executor is not None:
            _shut(executor, interrupted=not isinstance(e, Exception))
        raise
    if executor is not None:
        _shut(executor, interrupted=False)
    ticks, late_ms = await ticker.stop()
    say(f"ticker: {ticks} ticks, at worst {late_ms:.1f} ms late")
    if broken:
        raise ChapterError(_broken_pool_message(workers_seen, sorted(broken), 0, n))
    return Mapped(outcomes, pids, fail.first, extras={"ticks": ticks, "ticker_max_late_ms": late_ms})
