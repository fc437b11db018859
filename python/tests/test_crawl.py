"""The crawl against a ``decision-table site`` (the Rust binary, on 127.0.0.2, 127.0.0.3, ...):
every model and every parser prints the digest the Rust serial crawler prints on the same site,
no host is ever sent more than C requests at once (the site's own counters say so), robots.txt
is obeyed, faults are retried or reported by URL, and Ctrl-C leaves no worker behind."""

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import PYTHON_DIR, chapter, children_of, run_json, rust_json, summary

MODELS = ["serial", "threading", "multiprocessing", "asyncio"]


class Site:
    def __init__(self, bin_dir, *knobs):
        self.proc = subprocess.Popen(
            [str(bin_dir / "decision-table"), "site", "--port", "0", *map(str, knobs)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), f"site said {line!r}"
        self.url = line.split()[2]
        self.hosts = self.proc.stdout.readline().split()[1:]

    def stats(self):
        out = []
        for h in self.hosts:
            with urllib.request.urlopen(h + "/_site", timeout=10) as r:
                out.append(json.load(r))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def site(bin_dir):
    """``site(*knobs)`` starts a fresh ``decision-table site``; each is stopped (by its pid) at
    the end of the test."""
    sites = []

    def start(*knobs):
        s = Site(bin_dir, *knobs)
        sites.append(s)
        return s

    yield start
    for s in sites:
        s.stop()


SMALL = ("--pages", 120, "--hosts", 3, "--per-host", 2)


def test_every_model_prints_the_rust_digest_and_is_polite(site, bin_dir):
    s = site(*SMALL, "--latency-ms", 5)
    want = rust_json(bin_dir, "serial", "crawl", "--url", s.url, "--depth", 2)
    assert want["redirects"] > 0 and want["missing"] > 0 and want["robots_skipped"] > 0
    for model in MODELS:
        got = run_json("crawl", "--url", s.url, "--depth", 2, "--workers", 8, "--per-host", 2, "--model", model)
        keys = ("digest", "items", "pages", "redirects", "missing", "robots_skipped", "products")
        assert {k: got[k] for k in keys} == {k: want[k] for k in keys}, model
        assert got["politeness_violations"] == 0 and got["failed"] == 0, model
        assert got["language"] == "python" and got["parser"] == "html.parser"
    for host in s.stats():
        assert host["politeness_violations"] == 0 and host["robots_violations"] == 0, host
        assert host["robots_txt"] == 1 + len(MODELS), "robots.txt read once per host per crawl"
        assert host["max_in_flight"] <= 2


@pytest.mark.parametrize("parser", ["bs4", "bs4-lxml"])
def test_every_parser_extracts_the_same(site, bin_dir, parser):
    s = site(*SMALL)
    want = rust_json(bin_dir, "serial", "crawl", "--url", s.url, "--depth", 1)
    got = run_json("crawl", "--url", s.url, "--depth", 1, "--model", "threading", "--parser", parser)
    assert (got["digest"], got["products"], got["parser"]) == (want["digest"], want["products"], parser)


def test_parsing_on_the_event_loop_gives_the_same_crawl(site, bin_dir):
    s = site(*SMALL)
    want = rust_json(bin_dir, "asyncio", "crawl", "--url", s.url, "--depth", 2, "--variant", "blocking")
    got = run_json("crawl", "--url", s.url, "--depth", 2, "--model", "asyncio", "--variant", "blocking")
    assert (got["digest"], got["variant"]) == (want["digest"], "blocking")
    assert got["ticks"] >= 0 and got["ticker_max_late_ms"] >= 0


def test_threads_keep_each_host_to_c_and_use_it(site):
    s = site("--pages", 90, "--hosts", 3, "--per-host", 3, "--latency-ms", 30)
    got = run_json("crawl", "--url", s.url, "--depth", 2, "--workers", 16, "--per-host", 3, "--model", "threading")
    assert got["politeness_violations"] == 0
    assert max(h["max_in_flight"] for h in s.stats()) == 3, "concurrency happened, up to the limit"


def test_an_impolite_crawl_is_counted_on_both_sides(site):
    s = site("--pages", 40, "--hosts", 2, "--per-host", 1, "--latency-ms", 30)
    got = run_json("crawl", "--url", s.url, "--depth", 1, "--workers", 8, "--per-host", 4, "--model", "asyncio",
                   "--retries", 10, "--backoff-ms", 5)
    assert got["politeness_violations"] > 0
    assert got["politeness_violations"] == sum(h["politeness_violations"] for h in s.stats())


def test_faults_are_retried_and_change_nothing(site, bin_dir):
    s = site(*SMALL, "--fault-rate", 0.3, "--stall-ms", 1500)
    flags = ("--depth", 2, "--per-host", 2, "--timeout-ms", 300, "--retries", 8, "--backoff-ms", 20)
    want = rust_json(bin_dir, "threading", "crawl", "--url", s.url, *flags)
    assert want["retries"] > 0
    for model in ("threading", "asyncio"):
        got = run_json("crawl", "--url", s.url, *flags, "--model", model)
        assert (got["digest"], got["failed"]) == (want["digest"], 0), model
        assert got["retries"] > 0
    assert all(h["politeness_violations"] == 0 for h in s.stats())


def test_a_page_out_of_retries_is_reported_by_url(site):
    s = site(*SMALL, "--fault-rate", 1, "--fault-kind", "500")
    proc = chapter("crawl", "--url", s.url, "--retries", 1, "--backoff-ms", 1, "--model", "threading", "--json")
    assert proc.returncode == 1
    got = summary(proc)
    assert (got["items"], got["failed"], got["failed_urls"]) == (1, 1, [s.url])
    assert f"FAILED {s.url} after 2 attempt(s): HTTP 500" in proc.stderr


def test_bad_flags_and_a_missing_site_are_refused():
    for url, says in [("https://127.0.0.2:1/", "only plain http://"), ("http://10.1.2.3/", "not on loopback")]:
        proc = chapter("crawl", "--url", url)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    proc = chapter("crawl", "--url", "http://127.0.0.2:1/", "--retries", 0)
    assert proc.returncode == 1
    assert "robots.txt could not be had" in proc.stderr and "decision-table site" in proc.stderr
    proc = chapter("crawl", "--model", "threading", "--variant", "blocking")
    assert proc.returncode == 2


def test_ctrl_c_in_the_middle_leaves_no_worker_behind(site):
    s = site("--pages", 300, "--hosts", 3, "--per-host", 2, "--latency-ms", 100)
    # A shell's background job starts with SIGINT ignored: give the run the default, as a
    # terminal would.
    proc = subprocess.Popen(
        [sys.executable, "-m", "chapter", "crawl", "--url", s.url, "--depth", "3", "--workers", "6",
         "--model", "multiprocessing"],
        cwd=PYTHON_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    kids = []
    while len(kids) < 2:
        assert time.monotonic() < deadline, "the worker processes never started"
        time.sleep(0.02)
        kids = children_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 130
    assert "interrupted; worker processes stopped" in proc.stderr.read()
    proc.stderr.close()
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in kids):
        assert time.monotonic() < deadline, f"orphans: {kids}"
        time.sleep(0.05)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
