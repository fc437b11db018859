"""One URL fetched and parsed: the blocking client (``requests``), for serial, threading and
multiprocessing. :mod:`chapter.crawl_async` is the same for asyncio.

- A ``requests.Session`` per thread (and per process), as :mod:`chapter.fetch_blocking` does:
  a session is not documented as safe to share between threads.
- The per-host limit is a ``threading.BoundedSemaphore`` per host, shared by the threads of a
  process (:func:`chapter.crawl.host_slot`): a thread takes its host's slot before the request
  and gives it back once the body is read, then parses without it.
- Redirects are not followed (``allow_redirects=False``): a redirect is a result of the crawl,
  and its target a URL like any other.
"""

import time

import requests
from requests.adapters import HTTPAdapter

from chapter import crawl, fetch, fetch_blocking
from chapter.fetch import Failure


def _session():
    s = requests.Session()
    s.trust_env = False
    s.headers["User-Agent"] = crawl.USER_AGENT
    s.mount("http://", HTTPAdapter(pool_connections=64, pool_maxsize=1, max_retries=0))
    return s


def session():
    return fetch.per_thread("crawl", _session)


def _attempt(cfg, url, cap):
    """One attempt: ("body", bytes) | ("redirect"|"missing", status, location) | "throttled",
    or raises Failure."""
    http = cfg.http
    t = http.timeout_s
    started = time.monotonic()
    try:
        with session().get(url, timeout=(t, t), stream=True, allow_redirects=False) as r:
            what = crawl.step(r.status_code)
            if what == "read":
                return ("body", _read(r, url, cap, started, http))
            # Read the short body anyway, so the connection can carry the next request.
            try:
                _read(r, url, 64 << 10, started, http)
            except Failure:
                pass
            if what == "throttled":
                return ("throttled",)
            if what == "again":
                raise Failure(f"HTTP {r.status_code} {r.reason or ''}".rstrip(), retry=True)
            return (what, r.status_code, r.headers.get("Location"))
    except requests.RequestException as e:
        raise fetch_blocking.network(e, http) from None


def _read(r, url, cap, started, http) -> bytes:
    length = r.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise Failure(fetch.too_big(url, cap), retry=False)
    body = bytearray()
    for chunk in r.iter_content(fetch.CHUNK):
        body += chunk
        if len(body) > cap:
            raise Failure(fetch.too_big(url, cap), retry=False)
        if time.monotonic() - started > http.timeout_s:
            raise Failure(f"timed out after {http.timeout_ms} ms", retry=True)
    return bytes(body)


def attempts(cfg, url, cap):
    """Try ``url`` until it answers, fails for good, or runs out of retries: (tries, answer or
    Failure, milliseconds of the last attempt)."""
    tries = crawl.Tries(cfg.http)
    # The host's slot is held through the retries, backoff included: a request that timed out
    # may still be running on the server for a moment, and a polite client does not hand that
    # moment to another request to the same host.
    with crawl.host_slot(crawl.crawl_parse.origin(url), cfg.per_host):
        while True:
            tries.attempts += 1
            t0 = time.perf_counter()
            try:
                answer, failure = _attempt(cfg, url, cap), None
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
            time.sleep(wait)


def visit(cfg, url) -> crawl.Fetched:
    tries, answer, ms = attempts(cfg, url, crawl.MAX_PAGE)
    if isinstance(answer, Failure):
        f = crawl.failed(url, answer.message)
        f.attempts, f.throttled, f.fetch_ms = tries.attempts, tries.throttled, ms
        return f
    if answer[0] == "body":
        return crawl.page_visit(url, answer[1], cfg, tries, ms)
    return crawl.other_visit(url, answer, tries, ms)


def fetch_batch(task):
    """One work item (one URL, or one host's shard of a level), in whatever runs it."""
    cfg, urls = task
    return [visit(cfg, u) for u in urls]


def robots(cfg, host):
    _, answer, _ = attempts(cfg, host + "/robots.txt", crawl.MAX_ROBOTS)
    if isinstance(answer, Failure):
        return ("unreachable", answer.message)
    if answer[0] == "body":
        return ("rules", answer[1].decode("utf-8", "replace"))
    return ("missing", answer[1])
