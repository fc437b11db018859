"""The chapter's two cakes, one second each, in the four models.

- serial: one after the other on the main thread, 2 s;
- threading: a ``threading.Thread`` per cake, started then joined, about 1 s (sleeping does
  not hold the GIL, so threads overlap their waits);
- multiprocessing: a ``multiprocessing.Process`` per cake, started then joined, about 1 s plus
  the start-up of the processes; each line names the pid that baked it;
- asyncio: a coroutine per cake, gathered on one thread, about 1 s (``await asyncio.sleep``:
  a blocking ``time.sleep`` there would stall the loop and take 2 s).

The digest is the names of the cakes in order (the Rust ``cakes_digest``).

    python -m chapter cakes --model threading [--cakes N] [--bake-ms MS] [--json]

These examples use the chapter's own primitives (``Thread``/``Process`` start and join,
``asyncio.gather``) rather than :mod:`chapter.pool`: they are what the chapter teaches.
"""

import asyncio
import os
import threading

from chapter import examples, usage
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.examples import Clock
from chapter.pool import _context, worker_init

VARIANT = {"serial": "serial", "threading": "threads", "multiprocessing": "processes", "asyncio": "tasks"}


def _bake_in_child(name, bake_ms, t0_ns):
    worker_init()
    examples.bake_cake(name, bake_ms, Clock(t0_ns), f"process {os.getpid()}")


async def _bake_async(name, bake_ms, clock, who):
    examples.cake_started(name, clock, who)
    await asyncio.sleep(bake_ms / 1000)
    examples.cake_done(name, clock, who)


def run(args) -> dict:
    n, model = args.cakes, args.model
    run_ = Run.start("cakes", model, VARIANT[model], 1 if model == "serial" else n, n)
    clock = Clock()
    names = [examples.cake_name(i) for i in range(n)]
    if model == "serial":
        for name in names:
            examples.bake_cake(name, args.bake_ms, clock, "main thread")
    elif model == "threading":
        threads = [
            threading.Thread(target=examples.bake_cake, args=(name, args.bake_ms, clock, f"thread {i + 1}"))
            for i, name in enumerate(names)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif model == "multiprocessing":
        usage.expect_children()
        ctx = _context(args.start_method)
        bakers = [ctx.Process(target=_bake_in_child, args=(name, args.bake_ms, clock.t0_ns)) for name in names]
        for p in bakers:
            p.start()
        join_processes(bakers, args.bake_ms / 1000 + 60)
        run_.extra("parent_pid", os.getpid()).extra("pids", [p.pid for p in bakers])
    else:

        async def main():
            await asyncio.gather(
                *(_bake_async(name, args.bake_ms, clock, f"task {i + 1}") for i, name in enumerate(names))
            )

        asyncio.run(main())
    say(f"Total time: {clock.secs():.3f} s")
    return run_.finish(examples.cakes_digest(n), 0)


def join_processes(procs, timeout_s):
    """Join every process within ``timeout_s``; one that is late or did not exit cleanly is an
    error (the late ones are killed, so nothing outlives the run)."""
    import time

    deadline = time.monotonic() + timeout_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    late = [p for p in procs if p.is_alive()]
    for p in late:
        p.kill()
        p.join(5)
    if late:
        raise ChapterError(f"process(es) {[p.pid for p in late]} did not finish within {timeout_s:g} s; killed")
    bad = [p for p in procs if p.exitcode != 0]
    if bad:
        from chapter.pool import _died_how

        raise ChapterError(
            "; ".join(f"process {p.pid} {_died_how(p.exitcode)}" for p in bad)
        )
