"""The chapter's own examples: every model prints the Rust binaries' digest, overlaps its waits
where it should, and the queue check catches what it must."""

import re

import pytest
from conftest import inproc, rust_json

from chapter import examples
from chapter.contract import ChapterError

MODELS = ["serial", "threading", "multiprocessing", "asyncio"]


@pytest.fixture(scope="module")
def rust_digests(bin_dir):
    return {
        "cakes": rust_json(bin_dir, "serial", "cakes", "--cakes", 9, "--bake-ms", 0)["digest"],
        "workers": rust_json(bin_dir, "serial", "workers", "--workers", 3, "--sleep-ms", 7)["digest"],
        "queue": rust_json(bin_dir, "serial", "queue", "--items", 2000)["digest"],
    }


@pytest.mark.parametrize("model", MODELS)
def test_cakes_digest_is_rusts(model, rust_digests):
    # Nine cakes: the eight named flavours and "number 9".
    s = inproc("cakes", "--model", model, "--cakes", 9, "--bake-ms", 0)
    assert s["digest"] == rust_digests["cakes"]
    assert s["items"] == 9


@pytest.mark.parametrize("model", MODELS)
def test_workers_digest_is_rusts(model, rust_digests):
    s = inproc("workers", "--model", model, "--workers", 3, "--sleep-ms", 7)
    assert s["digest"] == rust_digests["workers"]


@pytest.mark.parametrize(
    "model, workers, capacity",
    [(m, 3, 16) for m in MODELS] + [("threading", 1, 1), ("multiprocessing", 1, 1), ("asyncio", 1, 1)],
)
def test_queue_delivers_everything_once_with_rusts_digest(model, workers, capacity, rust_digests):
    s = inproc("queue", "--model", model, "--items", 2000, "--workers", workers, "--capacity", capacity)
    assert s["digest"] == rust_digests["queue"]


def test_two_cakes_overlap_in_every_concurrent_model():
    # Sleeping releases the GIL: two 250 ms cakes take about 250 ms, not 500 (generous bounds:
    # the machine is shared).
    bake = 0.25
    assert inproc("cakes", "--model", "serial", "--bake-ms", 250)["wall_s"] >= 2 * bake
    for model in MODELS[1:]:
        wall = inproc("cakes", "--model", model, "--bake-ms", 250)["wall_s"]
        assert bake <= wall < 1.8 * bake, (model, wall)


def test_processes_bake_in_other_processes():
    s = inproc("cakes", "--model", "multiprocessing", "--bake-ms", 1)
    assert len(set(s["pids"])) == 2 and s["parent_pid"] not in s["pids"]


def test_queue_check_catches_loss_duplicates_and_corruption():
    good = [(i, examples.queue_value(i)) for i in range(5)]
    assert examples.verify_queue(5, good) == examples.verify_queue(5, list(reversed(good)))
    for bad, says in [
        (good[:4], "1 item(s) never consumed"),
        (good + [good[2]], "1 consumed more than once"),
        (good[:3] + [(3, good[3][1] ^ 1)] + good[4:], "1 with a wrong value"),
        (good + [(7, 0)], "1 unknown"),
    ]:
        with pytest.raises(ChapterError, match=re.escape(says)):
            examples.verify_queue(5, bad)
