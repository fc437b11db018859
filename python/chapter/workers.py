"""The chapter's five workers that each wait two seconds, in the four models: 10 s one after
another, about 2 s with threads, processes or tasks, because their waits overlap.

    python -m chapter workers --model asyncio [--workers N] [--sleep-ms MS] [--json]

Threads and processes are started and then joined, as the chapter does; tasks are gathered.
The digest is one line per worker in worker order (the Rust ``workers_digest``).
"""

import asyncio
import os
import threading

from chapter import examples, usage
from chapter.cakes import join_processes
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.examples import Clock
from chapter.pool import _context, worker_init

VARIANT = {"serial": "serial", "threading": "threads", "multiprocessing": "processes", "asyncio": "tasks"}


def _wait_in_child(i, sleep_ms, t0_ns):
    worker_init()
    examples.run_worker(i, sleep_ms, Clock(t0_ns), f"process {os.getpid()}")


async def _wait_async(i, sleep_ms, clock):
    who = f"task {i + 1}"
    examples.worker_started(i, clock, who)
    await asyncio.sleep(sleep_ms / 1000)
    examples.worker_finished(i, clock, who)


def run(args) -> dict:
    n, model = args.workers, args.model
    run_ = Run.start("workers", model, VARIANT[model], 1 if model == "serial" else n, n)
    clock = Clock()
    if model == "serial":
        for i in range(n):
            examples.run_worker(i, args.sleep_ms, clock, "main thread")
        say(
            f"All {n} workers finished in {clock.secs():.3f} s, one after another. threading, "
            f"multiprocessing and asyncio overlap the waits and take about "
            f"{args.sleep_ms / 1000:.3f} s, the longest single wait."
        )
    elif model == "threading":
        # Small stacks: these threads only sleep and print, and --workers 10000 with the
        # default 8 MiB reservation each would ask for 80 GiB of address space.
        threading.stack_size(256 * 1024)
        threads = []
        try:
            for i in range(n):
                t = threading.Thread(
                    target=examples.run_worker, args=(i, args.sleep_ms, clock, f"thread {i + 1}"), name=f"worker-{i + 1}"
                )
                try:
                    t.start()
                except RuntimeError as e:
                    raise ChapterError(f"could not start thread {i + 1} of {n}: {e}") from None
                threads.append(t)
        finally:
            for t in threads:
                t.join()
            threading.stack_size(0)
        say(f"All {n} threads finished in {clock.secs():.3f} s")
    elif model == "multiprocessing":
        usage.expect_children()
        ctx = _context(args.start_method)
        procs = [ctx.Process(target=_wait_in_child, args=(i, args.sleep_ms, clock.t0_ns)) for i in range(n)]
        started = []
        try:
            for p in procs:
                p.start()
                started.append(p)
        finally:
            join_processes(started, args.sleep_ms / 1000 + 60)
        say(f"All {n} processes finished in {clock.secs():.3f} s")
        run_.extra("parent_pid", os.getpid()).extra("pids", [p.pid for p in procs])
    else:

        async def main():
            await asyncio.gather(*(_wait_async(i, args.sleep_ms, clock) for i in range(n)))

        asyncio.run(main())
        say(f"All {n} tasks finished in {clock.secs():.3f} s")
    return run_.finish(examples.workers_digest(n, args.sleep_ms), 0)
