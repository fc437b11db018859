"""The gui scenario's Python twin, headless: the job inside the frame freezes the frame loop;
on a thread, in a process or beside an event loop it does not; a pure-Python job on a thread
still lets frames through, the GIL handing over every switch interval; missing inputs are the
app's error; closing mid-job stops the workers and leaves only whole files. Every model writes
the images scenario's outputs (its digest)."""

import os

import pytest
from conftest import chapter, run_json, rust
from PIL import Image

from chapter import gui, images

SESSION = ("--start-ms", 100, "--click-every-ms", 50, "--tail-ms", 200, "--max-seconds", 120)


@pytest.fixture(scope="module")
def gui_dir(bin_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("gui-images")
    rust(bin_dir, "decision-table", "gen", "images", "--count", 12, "--width", 320, "--height", 180, "--seed", 5, "--out", d)
    return d


def _whole(out):
    """(PNGs that decode, names of anything else)."""
    whole, other = 0, []
    for name in os.listdir(out):
        try:
            with Image.open(os.path.join(out, name)) as im:
                im.load()
            whole += name.endswith(".png")
        except Exception:
            other.append(name)
    return whole, other


def test_in_the_frame_the_loop_freezes_for_the_whole_job(gui_dir, tmp_path):
    s = run_json("gui", gui_dir, "--out", tmp_path, "--model", "serial", *SESSION)
    assert s["digest"] == images.reference_digest(images.list_inputs([str(gui_dir)]), 2.0)
    assert s["variant"] == "in-frame" and s["frames_during_job"] == 1
    assert s["frame_max_ms"] >= s["job_s"] * 1000 * 0.95
    assert s["click_max_ms"] >= s["job_s"] * 1000 * 0.5


@pytest.mark.parametrize("model", ["threading", "multiprocessing", "asyncio"])
def test_beside_the_loop_frames_keep_coming(gui_dir, tmp_path, model):
    s = run_json("gui", gui_dir, "--out", tmp_path, "--model", model, "--workers", 1, *SESSION)
    assert s["digest"] == images.reference_digest(images.list_inputs([str(gui_dir)]), 2.0)
    job_ms = s["job_s"] * 1000
    assert s["frames_during_job"] >= 5, s
    assert s["frame_max_ms"] < job_ms * 0.5, s
    assert s["clicks_seen"] >= 3 and s["click_p50_ms"] < job_ms * 0.5, s
    assert _whole(tmp_path) == (12, [])


def test_a_pure_python_job_on_a_thread_shares_the_gil_with_the_frames(gui_dir, tmp_path):
    s = run_json("gui", gui_dir, "--out", tmp_path / "t", "--model", "threading", "--engine", "pure", *SESSION)
    ref = run_json("gui", gui_dir, "--out", tmp_path / "s", "--model", "serial", "--engine", "pure", *SESSION)
    assert s["digest"] == ref["digest"] and s["variant"] == "threads+pure"
    assert s["switch_interval_ms"] == pytest.approx(5.0)
    # The frame loop still ran while the thread computed: the GIL changed hands.
    assert s["frames_during_job"] >= 5 and s["frame_max_ms"] < s["job_s"] * 1000 * 0.5, s


def test_missing_inputs_are_the_apps_error(tmp_path):
    proc = chapter("gui", tmp_path / "nowhere", "--out", tmp_path / "out", "--model", "threading", *SESSION, "--json")
    assert proc.returncode == 1, proc.stderr
    assert "| error: " in proc.stderr and "nowhere" in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_closing_mid_job_stops_the_workers_and_leaves_whole_files(bin_dir, tmp_path):
    # Larger pictures than gui_dir's: Pillow in two processes does those 12 in about 0.1 s, so
    # the job would end before the close. These 24 take about 0.3 s; the close comes 0.1 s in.
    pictures = tmp_path / "pictures"
    rust(bin_dir, "decision-table", "gen", "images", "--count", 24, "--width", 640, "--height", 360,
         "--seed", 5, "--out", pictures)
    out = tmp_path / "out"
    s = run_json("gui", pictures, "--out", out, "--model", "multiprocessing", "--workers", 2,
                 "--start-ms", 100, "--close-at-ms", 200, "--tail-ms", 200)
    assert s.get("cancelled") is True and s["items_done"] < 24, s
    whole, other = _whole(out)
    assert other == [] and whole < 24
    # No worker outlived the run: no process still has this run's output folder in its
    # command line (forked workers keep their parent's).
    assert _processes_mentioning(str(out)) == []


def _processes_mentioning(text):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def test_quantiles_and_the_job_span_match_rust():
    assert gui.quantile(list(range(1, 101)), 0.99) == 99
    starts = [i / 60 for i in range(61)] + [3.0 + i / 60 for i in range(31)]
    f = gui.frame_fields(starts, (1.0, 3.0))
    assert f["frames_over_100ms"] == 1 and f["frame_max_ms"] == 2000.0 and f["frames_during_job"] == 1
