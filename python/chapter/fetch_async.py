"""One file, one item: the async client (``aiohttp``), for asyncio. :mod:`chapter.fetch_blocking`
is the same code for the other three models; the differences are the ``await``\\ s, one shared
session, and where the file rename runs.

- One ``aiohttp.ClientSession`` for the whole run, its connector limited to K connections
  (``--workers``), shared by every task: tasks are on one thread, nothing to protect.
- ``ClientTimeout(total=--timeout-ms)`` covers an attempt from connecting to the last byte.
- The body is written with plain ``os.write`` from the event loop: a 64 KiB write into the
  page cache takes microseconds and never waits on the network. The final rename is the
  exception, and goes to a thread (``asyncio.to_thread``): replacing an earlier run's file makes
  ext4 write the new data out first, which can take tens of milliseconds, and the whole loop,
  every download included, would wait for it (measured in Rust: docs/io-bound.md).
"""

import asyncio

import aiohttp

from chapter import fetch
from chapter.contract import ChapterError
from chapter.fetch import Failure, FetchOutcome


def network(e: Exception, http) -> Failure:
    if isinstance(e, asyncio.TimeoutError):
        return Failure(f"timed out after {http.timeout_ms} ms", retry=True)
    if isinstance(e, aiohttp.ClientPayloadError):
        return Failure(f"the body broke off: {fetch.root_cause(e)}", retry=True)
    if isinstance(e, (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError)):
        return Failure(f"cannot connect: {fetch.root_cause(e)}", retry=True)
    return Failure(f"{type(e).__name__}: {fetch.root_cause(e)}", retry=True)


class Fetcher:
    """Make it inside the running loop; ``await close()`` at the end."""

    def __init__(self, http: fetch.HttpArgs, workers: int) -> None:
        self.http = http
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=workers),
            timeout=aiohttp.ClientTimeout(total=http.timeout_s),
            trust_env=False,
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self.session.close()

    def _get(self, path: str):
        return self.session.get(self.http.url + path, allow_redirects=False)

    async def _read_capped(self, response, url: str, limit: int) -> bytes:
        if response.content_length is not None and response.content_length > limit:
            raise Failure(fetch.too_big(url, limit), retry=False)
        body = bytearray()
        while True:
            chunk = await response.content.read(limit + 1 - len(body))
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise Failure(fetch.too_big(url, limit), retry=False)

    async def document(self, path: str, limit: int) -> bytes:
        url = self.http.url + path
        try:
            async with self._get(path) as r:
                if not 200 <= r.status < 300:
                    raise ChapterError(f"{url} answered HTTP {r.status} {r.reason}; is it a `decision-table serve`?")
                return await self._read_capped(r, url, limit)
        except Failure as f:
            raise ChapterError(f.message) from None
        except asyncio.TimeoutError:
            raise ChapterError(f"{url} did not answer in time; is it a `decision-table serve`?") from None
        except aiohttp.ClientConnectorError as e:
            raise ChapterError(
                f"cannot connect to {url}: {fetch.root_cause(e)}; is `decision-table serve` running there?"
            ) from None
        except aiohttp.ClientError as e:
            raise ChapterError(f"{url}: {fetch.root_cause(e)}") from None

    async def about(self) -> dict:
        return fetch.parse_about(self.http.url, await self.document("/", fetch.DOC_LIMIT))

    async def manifest(self) -> dict:
        url = self.http.url + "/manifest"
        return fetch.parse_manifest(url, await self.document("/manifest", fetch.MANIFEST_LIMIT))

    async def download(self, entry: dict, out: str) -> FetchOutcome:
        outcome = await self._retrying(lambda: self._download_once(entry, out))
        fetch.settle(entry, out, outcome)
        return outcome

    async def _download_once(self, entry: dict, out: str) -> str:
        try:
            async with self._get(entry["path"]) as r:
                fetch.check_status(r.status, r.reason)
                promised = r.content_length
                part = fetch.Part(entry, out)
                try:
                    async for chunk in r.content.iter_chunked(fetch.CHUNK):
                        part.write(chunk)
                    part.verify(promised)
                except BaseException:
                    part.abort()
                    raise
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise network(e, self.http) from None
        return await asyncio.to_thread(part.commit)

    async def item(self, item_id: int) -> FetchOutcome:
        return await self._retrying(lambda: self._item_once(item_id))

    async def _item_once(self, item_id: int) -> int:
        path = f"/api/items/{item_id}"
        try:
            async with self._get(path) as r:
                fetch.check_status(r.status, r.reason)
                body = await self._read_capped(r, self.http.url + path, fetch.DOC_LIMIT)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise network(e, self.http) from None
        return fetch.parse_item(item_id, body)

    async def _retrying(self, attempt) -> FetchOutcome:
        attempts = 0
        while True:
            attempts += 1
            try:
                return FetchOutcome(attempts, True, await attempt())
            except Failure as f:
                wait = fetch.retry_after(self.http, attempts, f)
                if wait is None:
                    return FetchOutcome(attempts, False, error=f.message)
                await asyncio.sleep(wait)  # the other tasks run meanwhile

