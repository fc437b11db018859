"""The pipeline scenario (download the server's images, process each as it arrives) against a
``decision-table serve --images``: every Python model prints the images scenario's digest of
the served files, faults are retried as Rust retries them, an image out of retries is named and
leaves nothing behind, Ctrl-C leaves no worker and only whole outputs, and computing on the
event loop is seen to stall the downloads.

    cd python && DT_BIN_DIR=../target/debug ../.venv/bin/python -m pytest tests/test_pipeline.py
"""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PYTHON_DIR, chapter, children_of, inproc, rust, rust_json, summary

from chapter import images

VARIANTS = [
    ("serial", None),
    ("threading", None),
    ("multiprocessing", None),
    ("multiprocessing", "apart"),
    ("asyncio", None),
    ("asyncio", "blocking"),
]


def _make_images(bin_dir, d, count, width, height):
    rust(bin_dir, "decision-table", "gen", "images", "--count", count, "--width", width, "--height", height,
         "--seed", 4, "--out", d)
    return images.list_inputs([str(d)])


def _expected(inputs):
    """What each output must hold, by name: the kernel run on its input here."""
    return {
        os.path.basename(p): hashlib.sha256(images.transform(p, open(p, "rb").read(), 1.5)).hexdigest()
        for p in inputs
    }


def _outputs(out):
    if not os.path.isdir(out):
        return {}
    return {
        n: hashlib.sha256(open(os.path.join(out, n), "rb").read()).hexdigest()
        for n in os.listdir(out)
        if not n.startswith(".")
    }


@pytest.fixture(scope="module")
def small_images(bin_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline-images")
    return d, _make_images(bin_dir, d, 5, 64, 48)


@pytest.mark.parametrize("model,variant", VARIANTS)
def test_every_model_prints_the_images_reference(serve, small_images, tmp_path, model, variant):
    d, inputs = small_images
    url = serve("--images", d, "--files", 1, "--size", 0)
    out = tmp_path / "out"
    extra = ["--variant", variant] if variant else []
    s = inproc("pipeline", "--url", url, "--out", out, "--model", model, "--sigma", 1.5, "--workers", 3,
               "--cpu-workers", 2, *extra)
    assert s["scenario"] == "pipeline" and s["items"] == 5 and s["failed"] == 0
    assert s["digest"] == images.reference_digest(inputs, 1.5), (model, variant)
    assert _outputs(out) == _expected(inputs)
    assert sorted(os.listdir(out)) == [f"img-00{i}.png" for i in range(5)], "a temporary file was left"
    if variant == "apart":
        assert s["ideal_s"] == max(s["io_s"], s["cpu_s"]) and s["cpu_s"] > 0


FAULTY = ("--fault-rate", 0.4, "--stall-ms", 2000, "--seed", 17, "--files", 1, "--size", 0)
RETRY = ("--timeout-ms", 400, "--retries", 5, "--backoff-ms", 5, "--sigma", 1.5)


def test_faults_are_retried_as_rust_retries_them(serve, small_images, bin_dir, tmp_path):
    d, inputs = small_images
    # Which request goes wrong depends on the seed, the path and how often it was asked for,
    # so on a fresh server every client meets the same faults, whatever its concurrency.
    want = rust_json(bin_dir, "serial", "pipeline", "--url", serve("--images", d, *FAULTY), "--out",
                     tmp_path / "rust", *RETRY)
    assert want["retries"] > 0 and want["failed"] == 0
    for model in ("threading", "asyncio"):
        url = serve("--images", d, *FAULTY)
        s = inproc("pipeline", "--url", url, "--out", tmp_path / model, "--workers", 3, "--model", model, *RETRY)
        assert (s["retries"], s["failed"]) == (want["retries"], 0), model
        assert s["digest"] == images.reference_digest(inputs, 1.5), model


@pytest.mark.parametrize("model", ["serial", "multiprocessing", "asyncio"])
def test_an_image_out_of_retries_is_named_and_nothing_of_it_is_left(serve, small_images, tmp_path, model):
    d, _ = small_images
    url = serve("--images", d, "--fault-rate", 1, "--fault-kind", "short", "--files", 1, "--size", 0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "img-001.png").write_bytes(b"an earlier run's output")
    proc = chapter("pipeline", "--url", url, "--out", out, "--retries", 1, "--backoff-ms", 1, "--model", model,
                   "--keep-going", "--json")
    assert proc.returncode == 1, proc.stderr
    s = summary(proc)
    assert s["failed"] == 5 and s["failed_files"] == [f"img-00{i}.png" for i in range(5)]
    assert "FAILED img-001.png: download failed after 2 attempt(s)" in proc.stderr
    assert os.listdir(out) == []
    proc = chapter("pipeline", "--url", url, "--out", out, "--retries", 0, "--model", model)
    assert proc.returncode == 1 and "error: img-000.png: download failed after 1 attempt(s)" in proc.stderr


def test_ctrl_c_leaves_no_worker_and_only_whole_outputs(serve, bin_dir, tmp_path):
    inputs = _make_images(bin_dir, tmp_path / "in", 12, 48, 32)
    url = serve("--images", tmp_path / "in", "--latency-ms", 150, "--files", 1, "--size", 0)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chapter", "pipeline", "--url", url, "--out", str(out), "--model", "multiprocessing",
         "--workers", "2", "--cpu-workers", "2", "--sigma", "1.5"],
        cwd=PYTHON_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _outputs(out):
        assert time.monotonic() < deadline and proc.poll() is None, "no output appeared while the run went on"
        time.sleep(0.01)
    workers = children_of(proc.pid)
    assert workers, "no worker process while images are processed"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: SIGINT to the whole group
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in workers):
        assert time.monotonic() < deadline, f"orphaned workers: {workers}"
        time.sleep(0.05)
    got, want = _outputs(out), _expected(inputs)
    assert 0 < len(got) < 12, "the run was not interrupted mid-way"
    for name, sha in got.items():
        assert want[name] == sha, f"{name} is not a whole output"


def test_computing_on_the_event_loop_stalls_the_downloads(serve, bin_dir, tmp_path):
    # Two downloads of about half a second each in flight, and tens of milliseconds of Pillow
    # per 1280 x 720 picture: whenever one is processed on the loop, the other waits unread.
    inputs = _make_images(bin_dir, tmp_path / "in", 4, 1280, 720)
    size = max(os.path.getsize(p) for p in inputs)
    url = serve("--images", tmp_path / "in", "--bandwidth", size * 2, "--files", 1, "--size", 0)
    s = inproc("pipeline", "--url", url, "--out", tmp_path / "out", "--model", "asyncio", "--variant", "blocking",
               "--workers", 2, "--sigma", 1.5)
    assert s["digest"] == images.reference_digest(inputs, 1.5)
    assert s["ticker_max_late_ms"] >= 20 and s["download_late_max_ms"] >= 20, s


def test_a_server_without_images_and_a_wrong_variant_are_clear_errors(serve, tmp_path):
    url = serve("--files", 1, "--size", 0)
    proc = chapter("pipeline", "--url", url, "--out", tmp_path / "out")
    assert proc.returncode == 1 and "--images DIR" in proc.stderr and "/images" in proc.stderr
    proc = chapter("pipeline", "--url", url, "--model", "threading", "--variant", "apart")
    assert proc.returncode == 1 and "--variant apart does not go with --model threading" in proc.stderr


def test_a_dead_worker_process_breaks_the_pool_and_is_named(serve, small_images, tmp_path):
    d, _ = small_images
    url = serve("--images", d, "--files", 1, "--size", 0)
    proc = chapter("pipeline", "--url", url, "--out", tmp_path / "out", "--model", "multiprocessing",
                   "--die-on-task", 2, "--sigma", 1.5)
    # concurrent.futures cannot replace a dead worker (the Rust pool does): the run fails,
    # naming the worker and how it died.
    assert proc.returncode == 1, proc.stderr
    assert "a worker process of the ProcessPoolExecutor died" in proc.stderr and "SIGKILL" in proc.stderr
