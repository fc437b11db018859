"""One URL fetched and parsed: the async client (``aiohttp``), for asyncio.
:mod:`chapter.crawl_blocking` is the same for the other models, with ``await`` here.

- One ``aiohttp.ClientSession`` for the crawl, its connector allowing ``--workers``
  connections; an ``asyncio.Semaphore`` of ``--per-host`` per host. (aiohttp's connector can
  also limit connections per host, ``limit_per_host``: the library would decide politeness
  for you; the semaphore is used instead so the Rust and Python crawls count the same thing.)
- Parsing: on a thread (``loop.run_in_executor``, the default) or on the loop itself
  (``--variant blocking``). On a thread the loop keeps reading sockets between the GIL's
  switches; on the loop nothing else runs until the page is parsed.
"""

import asyncio
import time

import aiohttp

from chapter import crawl, crawl_parse, fetch, fetch_async
from chapter.fetch import Failure


class Crawler:
    def __init__(self, cfg, workers: int, on_loop: bool) -> None:
        self.cfg, self.on_loop = cfg, on_loop
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=workers),
            timeout=aiohttp.ClientTimeout(total=cfg.http.timeout_s),
            trust_env=False,
            auto_decompress=False,
            headers={"User-Agent": crawl.USER_AGENT},
        )
        self.slots = {}

    async def close(self) -> None:
        await self.session.close()

    def _slot(self, host):
        sem = self.slots.get(host)
        if sem is None:
            sem = self.slots[host] = asyncio.Semaphore(self.cfg.per_host)
        return sem

    async def _read(self, r, url, cap) -> bytes:
        if r.content_length is not None and r.content_length > cap:
            raise Failure(fetch.too_big(url, cap), retry=False)
        body = bytearray()
        while True:
            chunk = await r.content.read(cap + 1 - len(body))
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > cap:
                raise Failure(fetch.too_big(url, cap), retry=False)

    async def _attempt(self, url, cap):
        try:
            async with self.session.get(url, allow_redirects=False) as r:
                what = crawl.step(r.status)
                if what == "read":
                    return ("body", await self._read(r, url, cap))
                try:
                    await self._read(r, url, 64 << 10)
                except Failure:
                    pass
                if what == "throttled":
                    return ("throttled",)
                if what == "again":
                    raise Failure(f"HTTP {r.status} {r.reason or ''}".rstrip(), retry=True)
                return (what, r.status, r.headers.get("Location"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise fetch_async.network(e, self.cfg.http) from None

    async def attempts(self, url, cap):
        tries = crawl.Tries(self.cfg.http)
        # The host's permit is held through the retries, backoff included (see crawl_blocking).
        async with self._slot(crawl_parse.origin(url)):
            while True:
                tries.attempts += 1
                t0 = time.perf_counter()
                try:
                    answer, failure = await self._attempt(url, cap), None
                except Failure as f:
                    answer, failure = None, f
                ms = crawl.now_ms(t0)
                if answer is not None and answer[0] == "throttled":
                    tries.throttled += 1
                    failure = Failure("HTTP 429 Too Many Requests", retry=True)
                elif answer is not None:
                    return tries, answer, ms
                wait = tries.after(failure)
                if wait is None:
                    return tries, failure, ms
                await asyncio.sleep(wait)  # the other tasks run meanwhile

    async def visit(self, url) -> crawl.Fetched:
        tries, answer, ms = await self.attempts(url, crawl.MAX_PAGE)
        if isinstance(answer, Failure):
            f = crawl.failed(url, answer.message)
            f.attempts, f.throttled, f.fetch_ms = tries.attempts, tries.throttled, ms
            return f
        if answer[0] == "body":
            if self.on_loop:
                # Deliberately wrong: the loop parses, and reads no socket meanwhile.
                return crawl.page_visit(url, answer[1], self.cfg, tries, ms)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, crawl.page_visit, url, answer[1], self.cfg, tries, ms)
        return crawl.other_visit(url, answer, tries, ms)

    async def fetch_batch(self, urls):
        return [await self.visit(u) for u in urls]

    async def robots(self, host):
        _, answer, _ = await self.attempts(host + "/robots.txt", crawl.MAX_ROBOTS)
        if isinstance(answer, Failure):
            return ("unreachable", answer.message)
        if answer[0] == "body":
            return ("rules", answer[1].decode("utf-8", "replace"))
        return ("missing", answer[1])


async def make(cfg, workers, on_loop) -> Crawler:
    """Made inside the running loop (aiohttp's session belongs to it)."""
    return Crawler(cfg, workers, on_loop)
