"""The chapter's rule for mixed workloads, "a process pool and a thread pool", as a real job:
download the PNGs a ``decision-table serve --images DIR`` offers and process each one (blur,
halve, gray, written atomically: :mod:`chapter.images`' kernel) as soon as it arrives. The
Python twin of the Rust ``pipeline`` scenario.

    decision-table gen images --count 16 --seed 42 --out data/images                   # (Rust tool)
    decision-table serve --port 8000 --images data/images --latency-ms 50 --bandwidth 20971520 &
    python -m chapter pipeline --url http://127.0.0.1:8000 --out /tmp/pl-py --model multiprocessing
        [--workers K] [--cpu-workers C] [--variant V] [--sigma S] [--keep-going] [--json]

The models (:func:`chapter.pool.map_pipeline` runs them):

- serial: download, process, next;
- threading: one ``ThreadPoolExecutor`` for both: each thread downloads an image, then
  processes it. The waits release the GIL, and Pillow releases it while it computes, so this
  does better than the chapter expects; pure-Python work would take turns;
- multiprocessing (the chapter's rule): a ``ThreadPoolExecutor`` of ``--workers`` threads
  downloads, a ``ProcessPoolExecutor`` of ``--cpu-workers`` processes computes, each image
  submitted as soon as it has arrived (its bytes pickled to the worker); ``--variant apart``
  downloads everything first and computes afterwards, timing each part alone (``io_s``,
  ``cpu_s``, and ``ideal_s``, the slower of the two: the lower bound no pipeline can beat);
- asyncio: at most ``--workers`` tasks download on the event loop (one ``aiohttp`` session),
  then hand the image to ``loop.run_in_executor`` with a ``ProcessPoolExecutor``
  (``--variant process_executor``, the right way), or process it on the loop itself
  (``--variant blocking``, without care: every download in flight waits unread).

A download is kept as honest as :mod:`chapter.downloads` keeps one, in memory instead of a
temporary file (:class:`Body`): never more bytes than the manifest lists, then exactly that
length, the promised ``Content-Length`` and the manifest's SHA-256, or the attempt is retried
(the same policy and messages: :mod:`chapter.fetch`). An image out of retries fails its item
naming it, and nothing is left under its name in ``--out`` (not even an earlier run's output).

The digest is the images scenario's (each output's SHA-256 in input order), so every Python
model prints :func:`chapter.images.reference_digest` of the served files. The summary's extras
are the Rust ones: ``download_late_max_ms`` / ``download_late_mean_ms`` (how much longer each
download took than the server's schedule for it: what a stalled event loop costs), ``ideal_io_s``,
``retries``, ``failed_files``, ``bytes``, ``download_workers``, ``cpu_workers``, ``os_threads``,
``processes``, and for asyncio the ticker's ``ticker_max_late_ms``.
"""

import asyncio
import functools
import hashlib
import os
import time

from chapter import fetch, images, pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest, sha256
from chapter.fetch import Failure
from chapter.files import write_atomically

ROUTE = "/images"
VARIANTS = {
    "serial": ("serial",),
    "threading": ("threads",),
    "multiprocessing": ("threads+processes", "apart"),
    "asyncio": ("process_executor", "blocking"),
}


class Body:
    """One image arriving: the bytes so far and their hash (the Rust ``Body``)."""

    def __init__(self, entry: dict) -> None:
        self.entry = entry
        self.data = bytearray()
        self.hasher = hashlib.sha256()

    def write(self, piece: bytes) -> None:
        if len(self.data) + len(piece) > self.entry["size"]:
            raise Failure(f"more than the {self.entry['size']} bytes the manifest lists", retry=True)
        self.hasher.update(piece)
        self.data += piece

    def finish(self, promised) -> bytes:
        received, size = len(self.data), self.entry["size"]
        if promised is not None and received != promised:
            raise Failure(f"short body: {received} of the {promised} bytes promised", retry=True)
        if received != size:
            raise Failure(f"{received} bytes where the manifest lists {size}", retry=True)
        sha = self.hasher.hexdigest()
        if sha != self.entry["sha256"]:
            raise Failure(f"SHA-256 {sha[:16]} where the manifest lists {self.entry['sha256'][:16]}", retry=True)
        return bytes(self.data)


def no_images(url: str) -> ChapterError:
    return ChapterError(
        f"{url}{ROUTE} answered HTTP 404: this server has no images; start it with "
        f"`decision-table serve --images DIR` (make DIR with `decision-table gen images`)"
    )


def parse_images(url: str, body: bytes) -> dict:
    """``/images``: the downloads manifest's checks, at least one image, none too large to hold."""
    m = fetch.parse_manifest(url, body)
    if not m["files"]:
        raise ChapterError(f"{url} lists no images: start the server with `decision-table serve --images DIR`")
    for f in m["files"]:
        if f["size"] > images.MAX_INPUT_BYTES:
            raise ChapterError(
                f"the manifest at {url} says {f['name']!r} has {f['size']} bytes, over the "
                f"{images.MAX_INPUT_BYTES >> 20} MiB this pipeline holds in memory"
            )
    return m


def _gave_up(entry, attempts, failure) -> ChapterError:
    return ChapterError(f"{entry['name']}: download failed after {attempts} attempt(s): {failure.message}")


# ---------------------------------------------------------------------------------------------
# The download stage, blocking (``requests``): serial, threading, multiprocessing's threads.


def _client(http):
    from chapter import fetch_blocking

    return fetch.per_thread(("pipeline", http), lambda: fetch_blocking.Fetcher(http))


def manifest_blocking(http) -> dict:
    import requests

    from chapter import fetch_blocking

    url = http.url + ROUTE
    client = fetch_blocking.Fetcher(http)
    try:
        with client.session.get(url, timeout=(http.timeout_s, http.timeout_s), stream=True) as r:
            if r.status_code == 404:
                raise no_images(http.url)
            if not 200 <= r.status_code < 300:
                raise ChapterError(f"{url} answered HTTP {r.status_code} {r.reason}; is it a `decision-table serve`?")
            body = bytearray()
            for chunk in r.iter_content(fetch.CHUNK):
                body += chunk
                if len(body) > fetch.MANIFEST_LIMIT:
                    raise ChapterError(fetch.too_big(url, fetch.MANIFEST_LIMIT))
    except requests.ConnectionError as e:
        raise ChapterError(
            f"cannot connect to {url}: {fetch.root_cause(e)}; is `decision-table serve` running there?"
        ) from None
    except requests.RequestException as e:
        raise ChapterError(f"{url}: {fetch.root_cause(e)}") from None
    finally:
        # Closed before any worker is forked: a child must not inherit its connection.
        client.close()
    return parse_images(url, bytes(body))


def _fetch_once(http, entry) -> bytes:
    import requests

    from chapter import fetch_blocking

    started = time.monotonic()
    session = _client(http).session
    try:
        with session.get(http.url + entry["path"], timeout=(http.timeout_s, http.timeout_s), stream=True) as r:
            fetch.check_status(r.status_code, r.reason)
            length = r.headers.get("Content-Length")
            body = Body(entry)
            for chunk in r.iter_content(fetch.CHUNK):
                body.write(chunk)
                if time.monotonic() - started > http.timeout_s:
                    raise Failure(f"timed out after {http.timeout_ms} ms", retry=True)
            return body.finish(int(length) if length is not None and length.isdigit() else None)
    except requests.RequestException as e:
        raise fetch_blocking.network(e, http) from None


def fetch_image(http, entry) -> tuple:
    """One image into memory, retried as the flags say: (name, png, attempts, seconds the
    successful attempt took). An image out of retries raises, naming it."""
    attempts = 0
    while True:
        attempts += 1
        started = time.monotonic()
        try:
            png = _fetch_once(http, entry)
            return entry["name"], png, attempts, time.monotonic() - started
        except Failure as f:
            wait = fetch.retry_after(http, attempts, f)
            if wait is None:
                raise _gave_up(entry, attempts, f) from None
            time.sleep(wait)


# ---------------------------------------------------------------------------------------------
# The download stage, async (``aiohttp``): asyncio's tasks.


async def manifest_async(session, http) -> dict:
    import aiohttp

    url = http.url + ROUTE
    try:
        async with session.get(url, allow_redirects=False) as r:
            if r.status == 404:
                raise no_images(http.url)
            if not 200 <= r.status < 300:
                raise ChapterError(f"{url} answered HTTP {r.status} {r.reason}; is it a `decision-table serve`?")
            body = bytearray()
            async for chunk in r.content.iter_chunked(fetch.CHUNK):
                body += chunk
                if len(body) > fetch.MANIFEST_LIMIT:
                    raise ChapterError(fetch.too_big(url, fetch.MANIFEST_LIMIT))
    except aiohttp.ClientConnectorError as e:
        raise ChapterError(
            f"cannot connect to {url}: {fetch.root_cause(e)}; is `decision-table serve` running there?"
        ) from None
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        raise ChapterError(f"{url}: {fetch.root_cause(e)}") from None
    return parse_images(url, bytes(body))


async def _fetch_once_async(session, http, entry) -> bytes:
    import aiohttp

    from chapter import fetch_async

    try:
        async with session.get(http.url + entry["path"], allow_redirects=False) as r:
            fetch.check_status(r.status, r.reason)
            body = Body(entry)
            async for chunk in r.content.iter_chunked(fetch.CHUNK):
                body.write(chunk)
            return body.finish(r.content_length)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        raise fetch_async.network(e, http) from None


async def fetch_image_async(session, http, entry) -> tuple:
    """:func:`fetch_image` with ``await``: the other tasks run while this one waits."""
    attempts = 0
    while True:
        attempts += 1
        started = time.monotonic()
        try:
            png = await _fetch_once_async(session, http, entry)
            return entry["name"], png, attempts, time.monotonic() - started
        except Failure as f:
            wait = fetch.retry_after(http, attempts, f)
            if wait is None:
                raise _gave_up(entry, attempts, f) from None
            await asyncio.sleep(wait)


# ---------------------------------------------------------------------------------------------
# The compute stage: the images kernel on the bytes, in whatever runs it.


def process_arrived(out, sigma, arrived) -> tuple:
    """Blur, halve, gray, encode; write ``out/name`` atomically; return (the output's SHA-256,
    attempts, download seconds): the download's figures ride along to the summary."""
    name, png, attempts, took_s = arrived
    result = images.transform(name, png, sigma)
    write_atomically(os.path.join(out, name), result)
    return sha256(result), attempts, took_s


# ---------------------------------------------------------------------------------------------
# The run.


def _check(args):
    variant = args.pipeline_variant or VARIANTS[args.model][0]
    if variant not in VARIANTS[args.model]:
        raise ChapterError(
            f"--variant {variant} does not go with --model {args.model} in pipeline "
            f"(use one of: {', '.join(VARIANTS[args.model])})"
        )
    return variant


def run(args) -> dict:
    variant = _check(args)
    http = fetch.HttpArgs(args.url, args.retries, args.timeout_ms, args.backoff_ms)
    images._pillow()
    if args.model == "asyncio":
        return asyncio.run(_run_async(args, http, variant))
    manifest = manifest_blocking(http)
    fetch.prepare_out(args.out)
    n = len(manifest["files"])
    workers = 1 if args.model == "serial" else args.workers
    label = "threads+processes+apart" if variant == "apart" else variant
    run_ = Run.start("pipeline", args.model, label, workers, n)
    download = functools.partial(fetch_image, http)
    compute = functools.partial(process_arrived, args.out, args.sigma)
    if variant == "apart":
        mapped = _apart(run_, manifest["files"], args, download, compute)
    else:
        mapped = pool.map_pipeline(
            manifest["files"], args.workers, download, compute, args.model, keep_going=args.keep_going,
            cpu_workers=args.cpu_workers, die_on_task=args.die_on_task, stall_timeout_s=args.stall_timeout_s,
            start_method=args.start_method,
        )
    return finish(run_, args, manifest, workers, mapped)


def _apart(run_, entries, args, download, compute):
    """The two parts alone, one after the other: every download on a thread pool, then every
    image on a process pool (the lower bound, measured in the same run)."""
    t0 = time.perf_counter()
    downloads = pool.map_in_order(entries, args.workers, download, "threading", keep_going=args.keep_going,
                                  stall_timeout_s=args.stall_timeout_s)
    io_s = time.perf_counter() - t0
    arrived = [(i, o.value) for i, o in enumerate(downloads.outcomes) if o is not None and o.ok]
    t0 = time.perf_counter()
    computed = pool.map_in_order(
        [a for _, a in arrived], args.cpu_workers, compute, "multiprocessing", keep_going=args.keep_going,
        die_on_task=args.die_on_task, stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
    ) if arrived and downloads.stopped_by is None else pool.Mapped([])
    cpu_s = time.perf_counter() - t0
    outcomes = list(downloads.outcomes)
    for (i, _), o in zip(arrived, computed.outcomes):
        outcomes[i] = o
    for (i, _) in arrived[len(computed.outcomes):]:
        outcomes[i] = None
    say(f"apart: downloads alone {io_s:.3f} s, processing alone {cpu_s:.3f} s: no pipeline can beat "
        f"{max(io_s, cpu_s):.3f} s")
    run_.extra("io_s", round(io_s, 3)).extra("cpu_s", round(cpu_s, 3)).extra("ideal_s", round(max(io_s, cpu_s), 3))
    return pool.Mapped(outcomes, computed.pids, downloads.stopped_by or computed.stopped_by)


async def _run_async(args, http, variant) -> dict:
    from chapter import fetch_async

    fetcher = fetch_async.Fetcher(http, args.workers)
    try:
        manifest = await manifest_async(fetcher.session, http)
        fetch.prepare_out(args.out)
        run_ = Run.start("pipeline", "asyncio", variant, args.workers, len(manifest["files"]))
        mapped = await pool.pipeline_in_loop(
            manifest["files"], args.workers, functools.partial(fetch_image_async, fetcher.session, http),
            functools.partial(process_arrived, args.out, args.sigma), args.keep_going, variant=variant,
            cpu_workers=args.cpu_workers, stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
        )
    finally:
        await fetcher.close()
    return finish(run_, args, manifest, args.workers, mapped)


def _lateness_ms(about, entry, took_s) -> float:
    transfer = 0.0 if about["bandwidth"] == 0 else entry["size"] / about["bandwidth"]
    return max(0.0, (took_s - about["latency_ms"] / 1000 - transfer) * 1000)


def finish(run_, args, manifest, workers, mapped) -> dict:
    """Every failed image by name, with nothing left under its name; the figures; the digest."""
    entries, about = manifest["files"], manifest["about"]
    failed_files, late, retries = [], [], 0
    for entry, o in zip(entries, mapped.outcomes):
        if o is not None and o.ok:
            _, attempts, took_s = o.value
            late.append(_lateness_ms(about, entry, took_s))
            retries += attempts - 1
            continue
        stale = os.path.join(args.out, entry["name"])
        try:
            os.remove(stale)
            say(f"removed {stale} (an earlier run's output)")
        except FileNotFoundError:
            pass
        except OSError as e:
            say(f"cannot remove {stale}: {e.strerror}")
        if o is not None:
            # A failed download names its image already; a dead worker does not.
            why = o.error if o.error.startswith(entry["name"] + ":") else f"{entry['name']}: {o.error}"
            say(f"FAILED {why}; nothing is left under that name")
        failed_files.append(entry["name"])
    n = len(entries)
    largest = max((f["size"] for f in entries), default=0)
    ideal_io = fetch.ideal_download_s(about, n, largest, workers)
    late_max = max(late, default=0.0)
    late_mean = sum(late) / len(late) if late else 0.0
    s = run_.sampler
    s.sample()
    os_threads, processes = s.os_threads(), s.processes()
    total = sum(f["size"] for f in entries)
    say(
        f"{len(late)} of {n} images downloaded and processed ({total / (1 << 20):.1f} MiB in) in "
        f"{run_.elapsed_s():.3f} s; I/O alone would take {ideal_io:.3f} s; downloads ran at worst "
        f"{late_max:.0f} ms behind the server's schedule (mean {late_mean:.0f} ms); {retries} retries; "
        f"{os_threads} OS threads in {processes} process(es)"
    )
    run_.extra("bytes", total).extra("download_workers", workers).extra("cpu_workers", args.cpu_workers)
    run_.extra("ideal_io_s", round(ideal_io, 3)).extra("download_late_max_ms", round(late_max, 3))
    run_.extra("download_late_mean_ms", round(late_mean, 3)).extra("retries", retries)
    run_.extra("os_threads", os_threads).extra("processes", processes).extra("failed_files", failed_files)
    workers_pids = [p for p in mapped.pids if p != os.getpid()]
    if workers_pids:
        run_.extra("parent_pid", os.getpid()).extra("pids", workers_pids)
    run_.extras.update(mapped.extras)
    values, failed = mapped.conclude()
    d = Digest()
    for v in values:
        d.update(v[0] if v is not None else b"failed")
    return run_.finish(d.finish(), failed)

