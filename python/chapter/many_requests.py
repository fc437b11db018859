"""Many HTTP requests, the chapter's "many HTTP requests -> asyncio" row: GET
``/api/items/0..N-1`` from a ``decision-table serve`` with K in flight, and add up each item's
``value``.

    decision-table serve --port 8000 --latency-ms 20 &
    python -m chapter requests --url http://127.0.0.1:8000 --count 500 --workers 100 --model asyncio

- serial: one request after another; N x latency;
- threading: K threads, each parked on one request at a time (the GIL is released while they
  wait); compare their memory and ``os_threads`` with asyncio's;
- multiprocessing: K processes, each with its own session;
- asyncio: K tasks on one thread sharing one ``aiohttp`` session, held to K by a semaphore.

Same digest as Rust (each value in id order, ``failed`` for an item that failed, then the
sum), same ``sum``, ``retries`` and ``failed_items`` extras. (The module is not called
``requests``: that would shadow the library.)
"""

import asyncio
import functools
import os

from chapter import fetch, pool
from chapter.contract import Run


def run(args) -> dict:
    http = fetch.HttpArgs(args.url, args.retries, args.timeout_ms, args.backoff_ms)
    if args.model == "asyncio":
        return asyncio.run(_run_async(args, http))
    # Only the client this model uses is imported: aiohttp alone adds megabytes to the peak.
    from chapter import fetch_blocking

    first = fetch_blocking.Fetcher(http)
    try:
        about = first.about()
    finally:
        first.close()
    n = args.count
    workers = 1 if args.model == "serial" else min(args.workers, n)
    run_ = Run.start(
        "requests", args.model, pool.DEFAULT_VARIANT[args.model], 1 if args.model == "serial" else args.workers, n
    )
    mapped = pool.map_in_order(
        [(http, i) for i in range(n)], workers, fetch_blocking.item_job, args.model, keep_going=True,
        stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
    )
    if args.model == "multiprocessing":
        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    return fetch.finish_requests(run_, about, 1 if args.model == "serial" else args.workers, fetch.from_pool(mapped))


async def _item(fetcher, item_id):
    return await fetcher.item(item_id)


async def _run_async(args, http) -> dict:
    from chapter import fetch_async

    fetcher = fetch_async.Fetcher(http, args.workers)
    try:
        about = await fetcher.about()
        n = args.count
        run_ = Run.start("requests", "asyncio", "tasks", args.workers, n)
        mapped = await pool.gather_in_order(range(n), args.workers, functools.partial(_item, fetcher), True)
    finally:
        await fetcher.close()
    return fetch.finish_requests(run_, about, args.workers, fetch.from_pool(mapped))
