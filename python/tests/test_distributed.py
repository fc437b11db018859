"""The distributed model in Python (``chapter.distributed``) against a throw-away Redis started
here (persistence off, a free port on 127.0.0.1, stopped however the test ends): its digest is
every other Python model's for images, the bytes that travelled are counted, nothing is left in
the broker, and a poisoned task is failed and named after ``--max-attempts`` instead of being
retried for ever. Needs ``redis-server`` (``.ci/run`` installs it)."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import PYTHON_DIR, chapter, summary

from chapter import images

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def broker(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    yield url
    proc.kill()
    proc.wait()


def _workers(url, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "chapter", "worker", "--broker", url, *extra],
        cwd=PYTHON_DIR,
        stdout=subprocess.DEVNULL,
    )


def test_the_digest_is_every_python_models(images_dir, tmp_path, broker):
    inputs = images.list_inputs([str(images_dir)])
    out = tmp_path / "out"
    proc = chapter("images", images_dir, "--out", out, "--model", "distributed", "--sigma", 1.5,
                   "--workers", 2, "--broker", broker, "--json", timeout=90)
    assert proc.returncode == 0, proc.stderr
    s = summary(proc)
    assert s["digest"] == images.reference_digest(inputs, 1.5)
    assert (s["model"], s["items"], s["failed"], s["language"]) == ("distributed", 3, 0, "python")
    on_disk = sum(os.path.getsize(p) for p in inputs)
    assert s["bytes_to_workers"] == on_disk and s["duplicates"] == 0
    assert sorted(os.listdir(out)) == ["img-000.png", "img-001.png", "img-002.png"]
    import redis

    assert redis.Redis.from_url(broker).keys("dt:python:run:*") == []


def test_a_poisoned_task_is_failed_and_named(images_dir, tmp_path, broker):
    host = _workers(broker, "--processes", "2", "--claim-after-ms", "300", "--host", "a")
    try:
        out = tmp_path / "out"
        proc = chapter("images", images_dir, "--out", out, "--model", "distributed", "--workers", 2,
                       "--broker", broker, "--remote", "--keep-going", "--max-attempts", 2,
                       "--poison-task", 1, "--json", timeout=90)
    finally:
        host.kill()
        host.wait()
    assert proc.returncode == 1, proc.stderr
    s = summary(proc)
    assert (s["items"], s["failed"]) == (3, 1)
    assert "img-001.png" in proc.stderr and "given up after 2 attempts" in proc.stderr, proc.stderr
    assert sorted(os.listdir(out)) == ["img-000.png", "img-002.png"]


def test_no_broker_is_a_clear_error(images_dir, tmp_path):
    proc = chapter("images", images_dir, "--out", tmp_path / "out", "--model", "distributed",
                   "--broker", "redis://127.0.0.1:1")
    assert proc.returncode == 1
    assert "cannot reach the broker at redis://127.0.0.1:1" in proc.stderr, proc.stderr
