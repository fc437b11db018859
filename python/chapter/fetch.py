"""The client side of the I/O-bound scenarios, ``downloads`` and ``requests``, written once:
the Python twin of the Rust ``fetch`` module, against the same ``decision-table serve``.

The models differ only in what keeps K requests in flight (one thread, K threads, K processes,
K tasks). Everything else is here: the flags, the retry policy, the checks of what the server
sends, what "one file downloaded" means, the digests and the closing lines. The per-item work
exists twice, as a blocking client (:mod:`chapter.fetch_blocking`, ``requests``, for serial,
threading and multiprocessing) and an async one (:mod:`chapter.fetch_async`, ``aiohttp``, for
asyncio), written alike so that they read side by side.

How a download is kept honest (as in Rust):

- the body goes to a temporary file in the output directory (:class:`chapter.files.AtomicFile`:
  exclusive, unguessable name, never through a symlink), hashed as it arrives;
- fewer bytes than ``Content-Length`` promised, more or fewer than the manifest lists, or a
  SHA-256 other than the manifest's is a failed attempt (and retried), never a file;
- only a verified file is renamed to its final name; a failed attempt removes its temporary
  file; a file that runs out of retries is reported by name, counts in ``failed`` and nothing
  of it is left in the directory, not even an old copy from an earlier run (:func:`settle`).

Retries: every attempt has a timeout (``--timeout-ms``) from connecting to the last byte, so a
stalled server costs one timeout, never a hang. HTTP 5xx, 408 and 429, broken or short bodies,
timeouts, refused connections and checksum mismatches are retried up to ``--retries`` times,
waiting ``--backoff-ms``, then twice that, and so on up to 2 s. Other 4xx answers are final.

Nothing the server sends is read into memory without a cap: ``/`` and an item at most
:data:`DOC_LIMIT` bytes, the manifest at most :data:`MANIFEST_LIMIT`; beyond that the response
is refused with an error naming the URL and the limit. File bodies go to disk and may not
exceed the size the manifest lists.
"""

import json
import math
import os
import re
import threading
from dataclasses import dataclass
from hashlib import sha256

from chapter import files
from chapter.console import say
from chapter.contract import ChapterError
from chapter.digest import Digest

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_RETRIES = 10
BACKOFF_CAP_S = 2.0
#: The largest file the server makes up, and so the most a manifest may list.
MAX_SIZE = 1 << 30
#: The most bytes read into memory for ``/`` or one item.
DOC_LIMIT = 64 << 10
#: The most bytes read into memory for the manifest (100,000 files at ~130 bytes each fit).
MANIFEST_LIMIT = 32 << 20
CHUNK = 64 << 10


def base_url(s: str) -> str:
    """``--url``: a plain http:// address, without its trailing slash."""
    from urllib.parse import urlsplit

    t = s.strip()
    try:
        u = urlsplit(t)
        port = u.port
    except ValueError as e:
        raise ValueError(f"'{s}' is not a URL ({e}); use e.g. {DEFAULT_URL}") from None
    if u.scheme == "https":
        raise ValueError(f"'{s}': only plain http:// is spoken here (the server runs on loopback, without TLS)")
    if u.scheme != "http" or not u.netloc:
        raise ValueError(f"'{s}' is not a URL; use e.g. {DEFAULT_URL}")
    if not u.hostname:
        raise ValueError(f"'{s}' names no host; use e.g. {DEFAULT_URL}")
    if u.query or u.fragment or t.endswith(("?", "#")):
        raise ValueError(f"'{s}': give the server's root, without ?query or #fragment")
    del port
    return t.rstrip("/")


@dataclass(frozen=True)
class HttpArgs:
    """The flags ``downloads`` and ``requests`` share (picklable: worker processes get it)."""

    url: str = DEFAULT_URL
    retries: int = 3
    timeout_ms: int = 10_000
    backoff_ms: int = 50

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000

    def delay_s(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first)."""
        return min(self.backoff_ms / 1000 * (2 ** min(retry - 1, 40)), BACKOFF_CAP_S)


class Failure(Exception):
    """Why one attempt failed, and whether another attempt can help."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.message, self.retry = message, retry


def retry_after(http: HttpArgs, attempt: int, failure: Failure):
    """After attempt number ``attempt`` (1 for the first) failed: seconds to wait before the
    next one, or None to give up."""
    if not failure.retry or attempt > http.retries:
        return None
    return http.delay_s(attempt)


@dataclass
class FetchOutcome:
    """What became of one file or item: how many attempts it took, and the result (a file's
    SHA-256 hex, an item's value) or why it failed."""

    attempts: int
    ok: bool
    value: object = None
    error: str = ""

    @classmethod
    def failed(cls, why: str) -> "FetchOutcome":
        return cls(0, False, error=why)


def check_status(status: int, reason: str) -> None:
    if 200 <= status < 300:
        return
    what = f"HTTP {status} {reason or ''}".rstrip()
    raise Failure(what, retry=status >= 500 or status in (408, 429))


def root_cause(e: BaseException) -> str:
    """The innermost readable cause: "Connection refused (os error 111)", not "Max retries
    exceeded with url: ..."."""
    seen, stack, best = set(), [e], None
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno is not None and cur.strerror:
            best = f"{cur.strerror} (os error {cur.errno})"
        stack.extend([getattr(cur, "reason", None), cur.__cause__, cur.__context__])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    if best:
        return best
    m = re.search(r"\[Errno (\d+)\] ([^'\"\)]+)", str(e))
    return f"{m.group(2)} (os error {m.group(1)})" if m else str(e) or type(e).__name__


def too_big(url: str, limit: int) -> str:
    return f"{url}: the response is larger than the {limit}-byte limit; refused"


def _json(body: bytes):
    return json.loads(body.decode("utf-8"))


def parse_about(url: str, body: bytes) -> dict:
    try:
        about = _json(body)
        for key in ("server", "files", "size", "latency_ms", "bandwidth", "fault_rate"):
            about[key]
        if not isinstance(about["latency_ms"], int) or not isinstance(about["bandwidth"], int):
            raise TypeError
        return about
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ChapterError(f"{url} did not describe itself as a `decision-table serve`") from None


_SAFE = re.compile(r"[A-Za-z0-9._-]+\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def safe_name(name) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 255 and not name.startswith(".") and bool(_SAFE.match(name))


def parse_manifest(url: str, body: bytes) -> dict:
    """Parse and check ``/manifest``: a name that could leave the output directory, a duplicate,
    a bad checksum or an absurd size is refused before anything is fetched."""
    try:
        m = _json(body)
        about, entries = m["about"], m["files"]
        if not isinstance(entries, list) or not isinstance(about, dict):
            raise TypeError
        for f in entries:
            if not isinstance(f, dict) or not isinstance(f.get("size"), int) or not isinstance(f.get("path"), str):
                raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ChapterError(f"{url} is not a valid manifest") from None
    names = set()
    for f in entries:
        name = f.get("name")
        if not safe_name(name):
            raise ChapterError(
                f"the manifest at {url} names a file {name!r}: only letters, digits, '.', '_' and '-' "
                f"are accepted, not starting with '.'"
            )
        if name in names:
            raise ChapterError(f"the manifest at {url} lists {name!r} twice")
        names.add(name)
        if not f["path"].startswith("/"):
            raise ChapterError(f"the manifest at {url} gives {name!r} a path {f['path']!r} not starting with '/'")
        if not 0 <= f["size"] <= MAX_SIZE:
            raise ChapterError(f"the manifest at {url} says {name!r} has {f['size']} bytes, over the 1 GiB limit")
        if not isinstance(f.get("sha256"), str) or not _HEX64.match(f["sha256"]):
            raise ChapterError(f"the manifest at {url} gives {name!r} a SHA-256 that is not 64 hex digits")
    return m


def parse_item(item_id: int, body: bytes) -> int:
    try:
        item = _json(body)
        got, value = item["id"], item["value"]
        if not isinstance(got, int) or not isinstance(value, int) or value < 0:
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise Failure(f"not an item document: {type(e).__name__}", retry=True) from None
    if got != item_id:
        raise Failure(f"asked for item {item_id}, got item {got}", retry=False)
    return value


def prepare_out(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ChapterError(f"cannot create the output directory {out}: {e.strerror}") from None
    if not os.path.isdir(out):
        raise ChapterError(f"--out {out} is not a directory")


class Part:
    """A download in progress: a temporary file in the output directory and the hash so far."""

    def __init__(self, entry: dict, out: str) -> None:
        self.entry = entry
        try:
            self.file = files.AtomicFile(out, entry["name"])
        except ChapterError as e:
            raise Failure(str(e), retry=False) from None
        self.hasher = sha256()
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.entry["size"]:
            raise Failure(f"more than the {self.entry['size']} bytes the manifest lists", retry=True)
        self.hasher.update(data)
        try:
            self.file.write(data)
        except ChapterError as e:
            raise Failure(str(e), retry=False) from None

    def verify(self, promised) -> "Part":
        """Check the length and the checksum; all that is left then is :meth:`commit`."""
        size = self.entry["size"]
        if promised is not None and self.received != promised:
            raise Failure(f"short body: {self.received} of the {promised} bytes promised", retry=True)
        if self.received != size:
            raise Failure(f"{self.received} bytes where the manifest lists {size}", retry=True)
        sha = self.hasher.hexdigest()
        if sha != self.entry["sha256"]:
            raise Failure(
                f"SHA-256 {sha[:16]} where the manifest lists {self.entry['sha256'][:16]}", retry=True
            )
        self.sha = sha
        return self

    def commit(self) -> str:
        """Rename the verified file to its final name. Replacing an earlier run's file can
        block while ext4 writes the new data out first, so async code runs this on a thread."""
        try:
            self.file.commit()
        except ChapterError as e:
            raise Failure(str(e), retry=False) from None
        return self.sha

    def abort(self) -> None:
        self.file.abort()


def settle(entry: dict, out: str, outcome: FetchOutcome) -> None:
    """After a file's last attempt: a file that failed leaves nothing under its name, not an
    old copy, nor a temporary file (a worker process killed mid-download left one)."""
    files.remove_leftovers(out, entry["name"], also_final=not outcome.ok)


# ---------------------------------------------------------------------------------------------
# Closing a run.


def ideal_download_s(about: dict, n: int, size: int, workers: int) -> float:
    transfer = 0.0 if about["bandwidth"] == 0 else size / about["bandwidth"]
    return math.ceil(n / max(workers, 1)) * (about["latency_ms"] / 1000 + transfer)


def ideal_requests_s(about: dict, n: int, workers: int) -> float:
    return math.ceil(n / max(workers, 1)) * about["latency_ms"] / 1000


def downloads_digest(outcomes) -> str:
    d = Digest()
    for o in outcomes:
        d.update(o.value.encode() if o.ok else b"failed")
    return d.finish()


def requests_digest(outcomes) -> str:
    d, total = Digest(), 0
    for o in outcomes:
        if o.ok:
            total += o.value
            d.update_u64(o.value)
        else:
            d.update(b"failed")
    d.update_u64(total)
    return d.finish()


def from_pool(mapped) -> list:
    """Pool outcomes (whose values are FetchOutcomes) as FetchOutcomes: an item the pool could
    not run at all (it never started, its job raised) is a failure with attempts 0."""
    out = []
    for o in mapped.outcomes:
        if o is None:
            out.append(FetchOutcome.failed("never ran"))
        elif o.ok:
            out.append(o.value)
        else:
            out.append(FetchOutcome.failed(o.error))
    return out


def _threads(run_):
    s = run_.sampler
    s.sample()
    return s.os_threads(), s.processes()


def finish_downloads(run_, manifest, out, workers, outcomes):
    failed_files, total = [], 0
    for entry, o in zip(manifest["files"], outcomes):
        settle(entry, out, o)
        if o.ok:
            total += entry["size"]
        else:
            say(f"FAILED {entry['name']} after {o.attempts} attempt(s): {o.error}; nothing is left under that name")
            failed_files.append(entry["name"])
    n = len(manifest["files"])
    size = max((f["size"] for f in manifest["files"]), default=0)
    ideal = ideal_download_s(manifest["about"], n, size, workers)
    retries = sum(max(o.attempts - 1, 0) for o in outcomes)
    os_threads, processes = _threads(run_)
    say(
        f"{n - len(failed_files)} of {n} files downloaded and verified ({total / (1 << 20):.1f} MiB) in "
        f"{run_.elapsed_s():.3f} s (ideal {ideal:.3f} s), {retries} retries, {os_threads} OS threads "
        f"in {processes} process(es)"
    )
    run_.extra("ideal_s", round(ideal, 3)).extra("os_threads", os_threads).extra("processes", processes)
    run_.extra("bytes", total).extra("retries", retries).extra("failed_files", failed_files)
    return run_.finish(downloads_digest(outcomes), len(failed_files))


def finish_requests(run_, about, workers, outcomes):
    failed_items = [i for i, o in enumerate(outcomes) if not o.ok]
    for i in failed_items[:10]:
        say(f"FAILED item {i} after {outcomes[i].attempts} attempt(s): {outcomes[i].error}")
    if len(failed_items) > 10:
        say(f"... and {len(failed_items) - 10} more failed items (all listed in --json)")
    total = sum(o.value for o in outcomes if o.ok)
    ideal = ideal_requests_s(about, len(outcomes), workers)
    retries = sum(max(o.attempts - 1, 0) for o in outcomes)
    os_threads, processes = _threads(run_)
    say(
        f"{len(outcomes) - len(failed_items)} of {len(outcomes)} items fetched in {run_.elapsed_s():.3f} s "
        f"(ideal {ideal:.3f} s), sum of values {total}, {retries} retries, {os_threads} OS threads in "
        f"{processes} process(es)"
    )
    run_.extra("ideal_s", round(ideal, 3)).extra("os_threads", os_threads).extra("processes", processes)
    run_.extra("sum", total).extra("retries", retries).extra("failed_items", failed_items)
    return run_.finish(requests_digest(outcomes), len(failed_items))


_local = threading.local()


def per_thread(key, factory):
    """The client of this thread for ``key`` (and of this process: a forked worker must not
    reuse a client, and its open connection, inherited from its parent)."""
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    got = clients.get(key)
    if got is None or got[0] != os.getpid():
        got = clients[key] = (os.getpid(), factory())
    return got[1]
