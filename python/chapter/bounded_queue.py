"""The bounded producer/consumer queue, in the four models: one producer puts items
``0..N`` on a queue that holds at most ``--capacity``; ``--workers`` consumers take them off and
do each item's work (:func:`chapter.examples.queue_value`). At the end every item must have
been consumed exactly once with the right value, and the check says so (the Rust
``verify_queue``: same digest).

- serial: a ``collections.deque`` on one thread; producer and consumer take turns (fill to
  capacity, empty, again);
- threading: ``queue.Queue(maxsize=C)``; ``put`` blocks while the queue is full: back-pressure,
  so a fast producer cannot pile every item up in memory;
- multiprocessing: ``multiprocessing.Queue(maxsize=C)`` to consumer processes, answers coming
  back on a second queue that a thread of the parent drains while the producer is still
  putting (a consumer cannot exit before its answers are read: draining only at the end would
  deadlock);
- asyncio: ``asyncio.Queue(maxsize=C)``; ``await put`` waits while it is full.

Python's queues (before 3.13's ``shutdown``) cannot be closed, so the producer ends with one
``None`` per consumer: that is how each consumer learns to stop. Every wait on another
process is bounded: a consumer process that dies ends the run with an error naming it.

    python -m chapter queue --model multiprocessing [--items N] [--workers K] [--capacity C]
"""

import asyncio
import collections
import itertools
import os
import queue as std_queue
import threading
import time

from chapter import examples, usage
from chapter.cakes import join_processes
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.pool import _context, _died_how, worker_init

VARIANT = {
    "serial": "deque",
    "threading": "queue.Queue",
    "multiprocessing": "multiprocessing.Queue",
    "asyncio": "asyncio.Queue",
}
_POLL_S = 0.5
# How long an interrupted run waits for its killed consumers and its collector, in all.
_STOP_S = 3.0


def run(args) -> dict:
    model, items, k, cap = args.model, args.items, args.workers, args.capacity
    run_ = Run.start("queue", model, VARIANT[model], 1 if model == "serial" else k, items)
    per_consumer = {"serial": _serial, "threading": _threads, "multiprocessing": _processes, "asyncio": _tasks}[
        model
    ](items, k, cap, run_, args)
    if model != "serial":
        for who, got in per_consumer:
            say(f"consumer {who} took {len(got)} items")
    consumed = [pair for _, got in per_consumer for pair in got]
    digest = examples.verify_queue(items, consumed)
    say(f"Consumed {len(consumed)} of {items} items, each exactly once")
    return run_.finish(digest, 0)


def _serial(items, k, cap, run_, args):
    q = collections.deque()
    consumed, nxt = [], 0
    while len(consumed) < items:
        while len(q) < cap and nxt < items:  # the producer's turn: fill it up
            q.append(nxt)
            nxt += 1
        while q:  # the consumer's turn: empty it
            i = q.popleft()
            consumed.append((i, examples.queue_value(i)))
    return [("main thread", consumed)]


def _threads(items, k, cap, run_, args):
    q = std_queue.Queue(maxsize=cap)
    results = [[] for _ in range(k)]

    def consume(got):
        while True:
            i = q.get()
            if i is None:
                return
            got.append((i, examples.queue_value(i)))

    threads = [threading.Thread(target=consume, args=(results[j],), name=f"consumer-{j + 1}") for j in range(k)]
    for t in threads:
        t.start()
    try:
        for i in range(items):
            q.put(i)  # waits while the queue is full
    finally:
        for _ in threads:
            q.put(None)
        for t in threads:
            t.join()
    return [(f"thread {j + 1}", got) for j, got in enumerate(results)]


def _consume_in_child(tasks, answers):
    worker_init()
    pid = os.getpid()
    while True:
        i = tasks.get()
        if i is None:
            answers.put((pid, None, None))
            return
        answers.put((pid, i, examples.queue_value(i)))


def _processes(items, k, cap, run_, args):
    usage.expect_children()
    ctx = _context(args.start_method)
    tasks, answers = ctx.Queue(maxsize=cap), ctx.Queue()
    procs = [ctx.Process(target=_consume_in_child, args=(tasks, answers)) for _ in range(k)]
    for p in procs:
        p.start()
    got = {p.pid: [] for p in procs}
    failure = []

    def check_alive():
        dead = [p for p in procs if not p.is_alive() and p.exitcode != 0]
        if dead:
            raise ChapterError(
                "; ".join(f"consumer process {p.pid} {_died_how(p.exitcode)}" for p in dead)
                + " before the queue was done"
            )

    def collect():
        finished = 0
        try:
            while finished < k:
                try:
                    pid, i, v = answers.get(timeout=_POLL_S)
                except std_queue.Empty:
                    check_alive()
                    continue
                if i is None:
                    finished += 1
                else:
                    got[pid].append((i, v))
        except ChapterError as e:
            failure.append(e)

    # A daemon: if the run is interrupted while it waits, nothing is left for it to do, and a
    # join with a deadline is all the clean-up needs from it.
    collector = threading.Thread(target=collect, name="collector", daemon=True)
    collector.start()
    try:
        # A lazy sequence, not a list: ten million items as a list took 0.4 s to build in one C
        # call, during which a Ctrl-C or SIGTERM waits for its handler to run.
        for i in itertools.chain(range(items), [None] * k):
            while True:
                try:
                    tasks.put(i, timeout=_POLL_S)  # waits while the queue is full
                    break
                except std_queue.Full:
                    if failure:
                        raise failure[0]
                    check_alive()
        collector.join()
        if failure:
            raise failure[0]
    except BaseException:
        # A dead consumer, Ctrl-C, SIGTERM: nothing more to wait for; no consumer outlives it.
        # One deadline for every wait here (not a timeout each, which added up to 15 s).
        for p in procs:
            p.kill()
        deadline = time.monotonic() + _STOP_S
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        collector.join(max(0.0, deadline - time.monotonic()))
        raise
    finally:
        tasks.close()
        answers.close()
    join_processes(procs, 30)
    run_.extra("parent_pid", os.getpid()).extra("pids", [p.pid for p in procs])
    return [(f"process {pid}", pairs) for pid, pairs in got.items()]


def _tasks(items, k, cap, run_, args):
    async def main():
        q = asyncio.Queue(maxsize=cap)
        results = [[] for _ in range(k)]

        async def consume(got):
            while True:
                i = await q.get()
                if i is None:
                    return
                got.append((i, examples.queue_value(i)))

        consumers = [asyncio.create_task(consume(results[j])) for j in range(k)]

        async def produce():
            for i in range(items):
                await q.put(i)  # waits while the queue is full
            for _ in range(k):
                await q.put(None)

        await asyncio.gather(produce(), *consumers)
        return [(f"task {j + 1}", got) for j, got in enumerate(results)]

    return asyncio.run(main())
