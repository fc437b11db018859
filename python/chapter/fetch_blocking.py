"""One file, one item: the blocking client (``requests``), for serial, threading and
multiprocessing. :mod:`chapter.fetch_async` is the same code for asyncio, with ``await``.

Each thread has a client of its own (:func:`client`): ``requests.Session`` is not documented as
safe to share between threads, and one session per thread, with one pooled connection each, is
also what the Rust threads do (K threads, K connections). A worker process makes its own on its
first task and keeps it, so it reuses its connection from task to task. The environment's
proxies are ignored (``trust_env = False``): the server is on loopback. Retries are ours,
counted and reported, never urllib3's.

Timeouts: ``requests`` applies its timeout to connecting and to each read, not to the whole
response, so a body is read in pieces and the attempt gives up once ``--timeout-ms`` has passed
since it started (a stalled read is cut by the read timeout itself).
"""

import time

import requests
import urllib3
from requests.adapters import HTTPAdapter

from chapter import fetch
from chapter.contract import ChapterError
from chapter.fetch import Failure, FetchOutcome


def _timed_out(e) -> bool:
    if isinstance(e, requests.Timeout):
        return True
    return any(isinstance(a, urllib3.exceptions.ReadTimeoutError) for a in getattr(e, "args", ()))


def network(e: Exception, http) -> Failure:
    """A network error as one readable line, and always worth a retry."""
    if _timed_out(e):
        return Failure(f"timed out after {http.timeout_ms} ms", retry=True)
    if isinstance(e, requests.exceptions.ChunkedEncodingError):
        return Failure(f"the body broke off: {fetch.root_cause(e)}", retry=True)
    if isinstance(e, requests.ConnectionError):
        return Failure(f"cannot connect: {fetch.root_cause(e)}", retry=True)
    return Failure(f"{type(e).__name__}: {fetch.root_cause(e)}", retry=True)


class Fetcher:
    def __init__(self, http: fetch.HttpArgs) -> None:
        self.http = http
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        self.session.close()

    def _get(self, path: str):
        t = self.http.timeout_s
        return self.session.get(self.http.url + path, timeout=(t, t), stream=True, allow_redirects=False)

    def _read_capped(self, response, url: str, limit: int, started: float) -> bytes:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise Failure(fetch.too_big(url, limit), retry=False)
        body = bytearray()
        for chunk in response.iter_content(fetch.CHUNK):
            body += chunk
            if len(body) > limit:
                raise Failure(fetch.too_big(url, limit), retry=False)
            if time.monotonic() - started > self.http.timeout_s:
                raise Failure(f"timed out after {self.http.timeout_ms} ms", retry=True)
        return bytes(body)

    def document(self, path: str, limit: int) -> bytes:
        """One attempt at a small document that must be there: the first contact."""
        url = self.http.url + path
        started = time.monotonic()
        try:
            with self._get(path) as r:
                if not 200 <= r.status_code < 300:
                    raise ChapterError(
                        f"{url} answered HTTP {r.status_code} {r.reason}; is it a `decision-table serve`?"
                    )
                return self._read_capped(r, url, limit, started)
        except Failure as f:
            raise ChapterError(f.message) from None
        except requests.RequestException as e:
            if _timed_out(e):
                raise ChapterError(f"{url} did not answer in time; is it a `decision-table serve`?") from None
            if isinstance(e, requests.ConnectionError):
                raise ChapterError(
                    f"cannot connect to {url}: {fetch.root_cause(e)}; is `decision-table serve` running there?"
                ) from None
            raise ChapterError(f"{url}: {fetch.root_cause(e)}") from None

    def about(self) -> dict:
        return fetch.parse_about(self.http.url, self.document("/", fetch.DOC_LIMIT))

    def manifest(self) -> dict:
        url = self.http.url + "/manifest"
        return fetch.parse_manifest(url, self.document("/manifest", fetch.MANIFEST_LIMIT))

    def download(self, entry: dict, out: str) -> FetchOutcome:
        outcome = self._retrying(lambda: self._download_once(entry, out))
        fetch.settle(entry, out, outcome)
        return outcome

    def _download_once(self, entry: dict, out: str) -> str:
        started = time.monotonic()
        try:
            with self._get(entry["path"]) as r:
                fetch.check_status(r.status_code, r.reason)
                length = r.headers.get("Content-Length")
                promised = int(length) if length is not None and length.isdigit() else None
                part = fetch.Part(entry, out)
                try:
                    for chunk in r.iter_content(fetch.CHUNK):
                        part.write(chunk)
                        if time.monotonic() - started > self.http.timeout_s:
                            raise Failure(f"timed out after {self.http.timeout_ms} ms", retry=True)
                    part.verify(promised)
                except BaseException:
                    part.abort()
                    raise
        except requests.RequestException as e:
            raise network(e, self.http) from None
        return part.commit()

    def item(self, item_id: int) -> FetchOutcome:
        return self._retrying(lambda: self._item_once(item_id))

    def _item_once(self, item_id: int) -> int:
        path = f"/api/items/{item_id}"
        started = time.monotonic()
        try:
            with self._get(path) as r:
                fetch.check_status(r.status_code, r.reason)
                body = self._read_capped(r, self.http.url + path, fetch.DOC_LIMIT, started)
        except requests.RequestException as e:
            raise network(e, self.http) from None
        return fetch.parse_item(item_id, body)

    def _retrying(self, attempt) -> FetchOutcome:
        attempts = 0
        while True:
            attempts += 1
            try:
                return FetchOutcome(attempts, True, attempt())
            except Failure as f:
                wait = fetch.retry_after(self.http, attempts, f)
                if wait is None:
                    return FetchOutcome(attempts, False, error=f.message)
                time.sleep(wait)


def client(http: fetch.HttpArgs) -> Fetcher:
    return fetch.per_thread(("blocking", http), lambda: Fetcher(http))


def download_job(task) -> FetchOutcome:
    """One file, in whatever runs it (the main thread, a pool thread, a worker process)."""
    http, out, entry = task
    return client(http).download(entry, out)


def item_job(task) -> FetchOutcome:
    http, item_id = task
    return client(http).item(item_id)
