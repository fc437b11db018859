"""Downloading files, the chapter's "downloading files -> threading" row: fetch the manifest of
a ``decision-table serve``, then every file it lists, K at a time, each verified and written
atomically (:mod:`chapter.fetch`).

    decision-table serve --port 8000 --files 32 --size 262144 --latency-ms 50 --bandwidth 5242880 &
    python -m chapter downloads --url http://127.0.0.1:8000 --out /tmp/dl-py --workers 8 --model threading

- serial: one file after another, ``requests`` on the main thread;
- threading: K threads of a ``ThreadPoolExecutor``, each with its own session: the waits
  release the GIL, so K downloads overlap;
- multiprocessing: K worker processes, each with its own session; they buy nothing that
  threads do not already give for network waits, and cost start-up and memory, which the
  summary shows (``children_pss_kib``);
- asyncio: K tasks on one thread sharing one ``aiohttp`` session, held to K by a semaphore.

Same digest as Rust (every file's SHA-256 hex in manifest order, ``failed`` for a file that
failed), same ``retries`` and ``failed_files`` extras.
"""

import asyncio
import functools

from chapter import fetch, pool
from chapter.contract import Run
from chapter.fetch import FetchOutcome


def run(args) -> dict:
    http = fetch.HttpArgs(args.url, args.retries, args.timeout_ms, args.backoff_ms)
    if args.model == "asyncio":
        return asyncio.run(_run_async(args, http))
    # Only the client this model uses is imported: aiohttp alone adds megabytes to the peak.
    from chapter import fetch_blocking

    first = fetch_blocking.Fetcher(http)
    try:
        manifest = first.manifest()
    finally:
        # Closed before any worker is forked: a child must not inherit its connection.
        first.close()
    fetch.prepare_out(args.out)
    n = len(manifest["files"])
    workers = 1 if args.model == "serial" else min(args.workers, max(n, 1))
    variant = pool.DEFAULT_VARIANT[args.model]
    run_ = Run.start("downloads", args.model, variant, 1 if args.model == "serial" else args.workers, n)
    tasks = [(http, args.out, entry) for entry in manifest["files"]]
    mapped = pool.map_in_order(
        tasks, workers, fetch_blocking.download_job, args.model, keep_going=True,
        stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
    )
    if args.model == "multiprocessing":
        import os

        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    return fetch.finish_downloads(run_, manifest, args.out, workers, fetch.from_pool(mapped))


async def _download(fetcher, task) -> FetchOutcome:
    _, out, entry = task
    return await fetcher.download(entry, out)


async def _run_async(args, http) -> dict:
    from chapter import fetch_async

    fetcher = fetch_async.Fetcher(http, args.workers)
    try:
        manifest = await fetcher.manifest()
        fetch.prepare_out(args.out)
        n = len(manifest["files"])
        run_ = Run.start("downloads", "asyncio", "tasks", args.workers, n)
        tasks = [(http, args.out, entry) for entry in manifest["files"]]
        mapped = await pool.gather_in_order(tasks, args.workers, functools.partial(_download, fetcher), True)
    finally:
        await fetcher.close()
    return fetch.finish_downloads(run_, manifest, args.out, args.workers, fetch.from_pool(mapped))
