"""A web crawl, the chapter's "web scraping -> asyncio or threading (depends on the library)":
the Python twin of the Rust ``crawl`` scenario, against the same ``decision-table site``, with
the same digest.

    decision-table site --port 8100 --pages 3000 --latency-ms 10 &
    python -m chapter crawl --url http://127.0.0.2:8100/ --depth 3 --model threading

Breadth-first from the start page to ``--depth``, each URL once, ``robots.txt`` obeyed
(``urllib.robotparser``), at most ``--per-host`` requests in flight per host, every page parsed
(:mod:`chapter.crawl_parse`, ``--parser``) and its products extracted. Depth is the *shortest*
link distance, computed level by level (a level is fetched whole, then its results are read in
input order and every new link becomes the next level), so the set of pages visited cannot
depend on timing: see the Rust ``bfs.rs`` for the why. A redirect's target stays at the
redirect's depth.

What the model is, and what a Python reader's library decides:

- serial: one request at a time (``requests``);
- threading: ``--workers`` threads (``ThreadPoolExecutor``), a ``requests.Session`` each, a
  semaphore per host shared by the threads; each thread parses what it fetched, and the GIL
  makes the parsing take turns: with ``requests``, this is the model you have;
- multiprocessing: ``--workers`` processes; each level is cut into at most ``--per-host``
  shards per host, so no host ever has more than C processes on it (politeness by
  construction, no shared limiter); parsing runs in parallel, one process per core;
- asyncio: one ``aiohttp`` session, ``--workers`` tasks, a semaphore per host; parsing goes to
  a thread (``run_in_executor``, the default), where the GIL still makes it take turns with
  the loop, or, ``--variant blocking``, runs on the loop itself, which then reads no socket
  while it parses (the ticker and the fetch latency show it). Scrapy is this model (on
  Twisted) and parses in its callbacks, on the loop.

The summary has Rust's fields: ``pages_per_s``, ``fetch_p95_ms``, ``parse_share``,
``politeness_violations`` (HTTP 429 answers; 0 for a polite crawl), ``max_rss_kib``, ...
"""

import asyncio
import functools
import os
import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from chapter import crawl_parse, fetch, pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest

DEFAULT_START = "http://127.0.0.2:8100/"
USER_AGENT = "decision-table-crawler"
MAX_PAGE = 4 << 20
MAX_ROBOTS = 512 << 10


def start_url(s: str) -> str:
    """``--url``: an http:// address on loopback."""
    u = s.strip()
    if u.startswith("https://"):
        raise ValueError(f"'{s}': only plain http:// is crawled here (the site runs on loopback, without TLS)")
    if not u.startswith("http://"):
        raise ValueError(f"'{s}' is not a URL; use e.g. {DEFAULT_START}")
    n = crawl_parse.normalise(u)
    if n is None:
        raise ValueError(
            f"'{s}' is not on loopback: this crawler only visits 127.0.0.0/8, where `decision-table site` "
            f"runs (there is no other network here)"
        )
    parts = urlsplit(n)
    # As the WHATWG URL parser (the Rust side) does: an http URL always has a path.
    return urlunsplit(parts._replace(path="/")) if not parts.path else n


@dataclass(frozen=True)
class Cfg:
    """What a worker needs (picklable: worker processes get it)."""

    per_host: int
    http: fetch.HttpArgs
    parser: str


@dataclass
class Fetched:
    """One URL visited. ``kind`` is page, redirect, missing or failed."""

    url: str
    kind: str
    title: str = ""
    items: list = field(default_factory=list)
    links: list = field(default_factory=list)
    off_site: int = 0
    status: int = 0
    location: str = None
    why: str = ""
    attempts: int = 0
    throttled: int = 0
    fetch_ms: float = 0.0
    parse_ms: float = 0.0
    bytes: int = 0


def failed(url, why) -> Fetched:
    return Fetched(url, "failed", why=why)


class Tries:
    def __init__(self, http) -> None:
        self.http, self.attempts, self.throttled = http, 0, 0

    def after(self, failure):
        return fetch.retry_after(self.http, self.attempts, failure)


def page_visit(url, body: bytes, cfg: Cfg, tries, fetch_ms) -> Fetched:
    (title, items, links, off_site), parse_ms = crawl_parse.extract(body.decode("utf-8", "replace"), url, cfg.parser)
    return Fetched(url, "page", title=title, items=items, links=links, off_site=off_site, attempts=tries.attempts,
                   throttled=tries.throttled, fetch_ms=fetch_ms, parse_ms=parse_ms, bytes=len(body))


def other_visit(url, answer, tries, fetch_ms) -> Fetched:
    kind, status, location = answer
    if kind == "redirect":
        to = crawl_parse.resolve(url, location) if location is not None else None
        return Fetched(url, "redirect", status=status, location=to, attempts=tries.attempts,
                       throttled=tries.throttled, fetch_ms=fetch_ms)
    return Fetched(url, "missing", status=status, attempts=tries.attempts, throttled=tries.throttled,
                   fetch_ms=fetch_ms)


def step(status: int):
    """What an answer's status says: read, redirect, missing, throttled or again."""
    if 300 <= status < 400:
        return "redirect"
    if status == 429:
        return "throttled"
    if 200 <= status < 300:
        return "read"
    if status >= 500 or status == 408:
        return "again"
    return "missing"


# ---------------------------------------------------------------------------------------------
# The crawl, level by level (the Rust bfs.rs).


def _by_host(urls):
    groups = {}
    for u in urls:
        groups.setdefault(crawl_parse.origin(u), []).append(u)
    return list(groups.values())


def _interleave(lists):
    out, i = [], 0
    while True:
        row = [lst[i] for lst in lists if i < len(lst)]
        if not row:
            return out
        out.extend(row)
        i += 1


def shard(urls, per_host=None):
    """A level's URLs as work items: one URL each, hosts interleaved; or (``per_host``) at most
    that many shards per host, each a run of the host's URLs."""
    hosts = _by_host(urls)
    if per_host is None:
        return [[u] for u in _interleave(hosts)]
    sharded = []
    for us in hosts:
        k = max(1, min(per_host, len(us)))
        sharded.append([us[j::k] for j in range(k)])
    return _interleave(sharded)


class Rules:
    def __init__(self, kind, parser=None, why=""):
        self.kind, self.parser, self.why = kind, parser, why

    def allows(self, url) -> bool:
        if self.kind == "parsed":
            return self.parser.can_fetch(USER_AGENT, url)
        return self.kind == "allow"


@dataclass
class Crawled:
    visited: list = field(default_factory=list)
    depths: list = field(default_factory=list)
    rounds: int = 0
    robots_skipped: int = 0
    off_site: int = 0
    cut: int = 0
    robots_fetched: int = 0
    robots_unreachable: list = field(default_factory=list)


def crawl(args, robots, level, per_host_shards=None) -> Crawled:
    """``robots(origin)`` -> ("rules", text) | ("missing", status) | ("unreachable", why);
    ``level(items)`` -> one list of Fetched per item, in order."""
    c = Crawled()
    seen, rules = set(), {}

    def admit(candidates):
        out = []
        for url in candidates:
            if url in seen:
                continue
            if len(seen) >= args.max_pages:
                c.cut += 1
                continue
            host = crawl_parse.origin(url)
            if host not in rules:
                c.robots_fetched += 1
                kind, what = robots(host)
                if kind == "rules":
                    rp = urllib.robotparser.RobotFileParser()
                    rp.parse(what.splitlines())
                    rules[host] = Rules("parsed", rp)
                elif kind == "missing":
                    rules[host] = Rules("allow")
                else:
                    say(f"{host}/robots.txt could not be had ({what}): nothing on that host is fetched")
                    c.robots_unreachable.append(host)
                    rules[host] = Rules("deny", why=what)
            seen.add(url)
            if rules[host].allows(url):
                out.append(url)
            else:
                c.robots_skipped += 1
        return out

    todo = admit([args.url])
    if not todo and rules[crawl_parse.origin(args.url)].kind == "deny":
        host = crawl_parse.origin(args.url)
        raise ChapterError(
            f"cannot crawl {args.url}: {host}/robots.txt could not be had ({rules[host].why}); "
            f"is `decision-table site` running there?"
        )
    if not todo:
        raise ChapterError(f"{args.url}: robots.txt does not allow crawling the start page")
    depth, nxt = 0, []
    while todo:
        items = shard(todo, per_host_shards)
        results = level(items)
        c.rounds += 1
        moved = []
        for batch, fetched in zip(items, results):
            for f in fetched:
                if f.kind == "page":
                    c.off_site += f.off_site
                    if depth < args.depth:
                        nxt.extend(f.links)
                elif f.kind == "redirect":
                    if f.location is not None:
                        moved.append(f.location)
                    else:
                        c.off_site += 1
                c.visited.append(f)
                c.depths.append(depth)
        todo = admit(moved)
        if not todo and depth < args.depth:
            todo, nxt = admit(nxt), []
            depth += 1
    return c


def _batch_results(items, mapped):
    """The pool's outcomes as one list of Fetched per item: a batch that could not run (its job
    raised, it never started) is a failure for each of its URLs."""
    out = []
    for batch, o in zip(items, mapped.outcomes):
        if o is not None and o.ok and len(o.value) == len(batch):
            out.append(o.value)
        else:
            why = "never ran" if o is None else (o.error or "the worker returned a short batch")
            out.append([failed(u, why) for u in batch])
    return out


# ---------------------------------------------------------------------------------------------
# The digest and the closing lines (the Rust finish.rs).


def visit_line(f: Fetched) -> str:
    if f.kind == "page":
        return f"{f.url} 200 {f.title}"
    if f.kind == "redirect":
        return f"{f.url} {f.status} {f.location or 'off-site'}"
    if f.kind == "missing":
        return f"{f.url} {f.status}"
    return f"{f.url} failed"


def digest(visited) -> str:
    lines = sorted(visit_line(f).encode() for f in visited)
    items = sorted(f"{sku}\t{name}\t{cents}".encode() for f in visited if f.kind == "page" for sku, name, cents in f.items)
    d = Digest()
    d.update_u64(len(lines))
    for line in lines:
        d.update(line)
    d.update_u64(len(items))
    for i in items:
        d.update(i)
    return d.finish()


def quantile(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    import math

    rank = min(max(math.ceil(q * len(v)), 1), len(v))
    return v[rank - 1]


def finish(run_, crawled: Crawled, parser: str) -> dict:
    v = crawled.visited
    pages = sum(f.kind == "page" for f in v)
    redirects = sum(f.kind == "redirect" for f in v)
    missing = sum(f.kind == "missing" for f in v)
    bad = [f for f in v if f.kind == "failed"]
    for f in bad[:10]:
        say(f"FAILED {f.url} after {f.attempts} attempt(s): {f.why}")
    if len(bad) > 10:
        say(f"... and {len(bad) - 10} more failed URLs (all listed in --json)")
    products = sum(len(f.items) for f in v if f.kind == "page")
    fetch_ms = [f.fetch_ms for f in v if f.attempts > 0]
    fetch_s = sum(fetch_ms) / 1000
    parse_s = sum(f.parse_ms for f in v) / 1000
    share = parse_s / (fetch_s + parse_s) if fetch_s + parse_s > 0 else 0.0
    violations = sum(f.throttled for f in v)
    retries = sum(max(f.attempts - 1, 0) for f in v)
    nbytes = sum(f.bytes for f in v)
    wall = run_.elapsed_s()
    pps = pages / wall if wall > 0 else 0.0
    p50, p95 = quantile(fetch_ms, 0.5), quantile(fetch_ms, 0.95)
    deepest = max(crawled.depths, default=0)
    os_threads, processes = fetch._threads(run_)
    say(
        f"crawled {len(v)} URLs to depth {deepest} in {crawled.rounds} rounds: {pages} pages ({products} products, "
        f"{nbytes / (1 << 20):.1f} MiB), {redirects} redirects, {missing} missing, {len(bad)} failed; skipped "
        f"{crawled.robots_skipped} by robots.txt, {crawled.off_site} links off the site"
    )
    say(
        f"{pps:.0f} pages/s in {wall:.3f} s, fetch p50 {p50:.1f} ms p95 {p95:.1f} ms, parsing {share * 100:.0f}% of "
        f"page time ({parse_s:.3f} s, {parser}), {violations} politeness violations (HTTP 429), {retries} retries, "
        f"{os_threads} OS threads in {processes} process(es)"
    )
    if violations:
        say(f"IMPOLITE: {violations} requests went over a host's limit and were refused with HTTP 429")
    r3 = lambda x: round(x, 3)  # noqa: E731
    (run_.extra("pages", pages).extra("pages_per_s", r3(pps)).extra("fetch_p50_ms", r3(p50))
        .extra("fetch_p95_ms", r3(p95)).extra("parse_s", r3(parse_s)).extra("parse_share", r3(share))
        .extra("politeness_violations", violations).extra("products", products).extra("redirects", redirects)
        .extra("missing", missing).extra("robots_skipped", crawled.robots_skipped).extra("off_site", crawled.off_site)
        .extra("cut", crawled.cut).extra("depth", deepest).extra("rounds", crawled.rounds).extra("retries", retries)
        .extra("bytes", nbytes).extra("robots_unreachable", crawled.robots_unreachable)
        .extra("os_threads", os_threads).extra("processes", processes).extra("parser", parser)
        .extra("failed_urls", [f.url for f in bad]))
    run_.items = len(v)
    return run_.finish(digest(v), len(bad))


# ---------------------------------------------------------------------------------------------
# The models.


def _cfg(args) -> Cfg:
    http = fetch.HttpArgs(args.url, args.retries, args.timeout_ms, args.backoff_ms)
    return Cfg(args.per_host, http, args.parser)


def run(args) -> dict:
    cfg = _cfg(args)
    if args.model == "asyncio":
        return _run_async(args, cfg)
    # Only the client this model uses is imported: aiohttp alone adds megabytes to the peak.
    from chapter import crawl_blocking

    workers = 1 if args.model == "serial" else args.workers
    run_ = Run.start("crawl", args.model, pool.DEFAULT_VARIANT[args.model], workers, 0)
    pids = []

    def level(items):
        mapped = pool.map_in_order(
            [(cfg, batch) for batch in items], min(workers, len(items)), crawl_blocking.fetch_batch, args.model,
            keep_going=True, stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
        )
        pids.extend(p for p in mapped.pids if p not in pids)
        return _batch_results(items, mapped)

    with _CtrlC():
        crawled = crawl(
            args,
            functools.partial(crawl_blocking.robots, cfg),
            level,
            args.per_host if args.model == "multiprocessing" else None,
        )
    if args.model == "multiprocessing":
        run_.extra("parent_pid", os.getpid()).extra("pids", pids)
    return finish(run_, crawled, args.parser)


def _run_async(args, cfg) -> dict:
    from chapter import crawl_async

    variant = args.variant or "run_in_executor"
    with asyncio.Runner() as runner:
        crawler = runner.run(crawl_async.make(cfg, args.workers, on_loop=variant == "blocking"))
        run_ = Run.start("crawl", "asyncio", variant, args.workers, 0)
        ticker = runner.run(_start_ticker())
        try:
            crawled = crawl(
                args,
                lambda host: runner.run(crawler.robots(host)),
                lambda items: _batch_results(
                    items, runner.run(pool.gather_in_order(items, args.workers, crawler.fetch_batch, True))
                ),
            )
            ticks, late_ms = runner.run(ticker.stop())
        finally:
            runner.run(crawler.close())
    say(f"ticker: {ticks} ticks, at worst {late_ms:.1f} ms late")
    run_.extra("ticks", ticks).extra("ticker_max_late_ms", late_ms)
    return finish(run_, crawled, args.parser)


async def _start_ticker():
    return pool.Ticker()


class _CtrlC:
    """Ctrl-C that is not lost. CPython raises KeyboardInterrupt wherever the main thread is
    when the signal's handler runs; if that is inside an at-fork callback (``logging`` registers
    one, and a process pool forks its workers at the start of every level of a crawl) the
    exception is printed as "ignored" and the run goes on. So the handler notes the time, and a
    watcher thread interrupts the main thread again (``_thread.interrupt_main``) for as long as
    the run is still going 0.2 s later. Without a fork in the way, the first KeyboardInterrupt
    ends the run as it always does (the cli kills and reaps the workers, exit 130)."""

    def __enter__(self):
        import signal

        self._since = None
        self._done = threading.Event()
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        threading.Thread(target=self._watch, name="ctrl-c-watch", daemon=True).start()
        return self

    def _on_sigint(self, signum, frame):
        self._since = self._since or time.monotonic()
        raise KeyboardInterrupt

    def _watch(self):
        import _thread

        while not self._done.wait(0.05):
            if self._since is not None and time.monotonic() - self._since > 0.2:
                self._since = time.monotonic()
                _thread.interrupt_main()

    def __exit__(self, *exc):
        import signal

        self._done.set()
        signal.signal(signal.SIGINT, self._previous)
        return False


_limits = {}
_limits_lock = threading.Lock()


def host_slot(host: str, per_host: int) -> threading.BoundedSemaphore:
    """This process's semaphore for ``host``: at most ``per_host`` threads hold it at once."""
    with _limits_lock:
        key = (os.getpid(), host)
        sem = _limits.get(key)
        if sem is None:
            sem = _limits[key] = threading.BoundedSemaphore(per_host)
        return sem


def now_ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
