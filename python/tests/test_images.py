"""The images scenario: every model writes the same outputs (half size, 8-bit gray), bad inputs
fail as in Rust without leaving anything under a final name, and the compare tool measures how
far Pillow's pictures are from the Rust ``image`` crate's."""

import os
import struct
import threading
import zlib

import pytest
from conftest import chapter, inproc, rust, run_json
from PIL import Image

from chapter import images

VARIANTS = [
    ("serial", None),
    ("threading", None),
    ("multiprocessing", "processes"),
    ("multiprocessing", "pool_map"),
    ("asyncio", "run_in_executor"),
    ("asyncio", "process_executor"),
    ("asyncio", "blocking"),
]


def _pngs(d):
    return sorted(n for n in os.listdir(d))


def test_every_model_writes_the_same_outputs(images_dir, tmp_path):
    inputs = images.list_inputs([str(images_dir)])
    want = images.reference_digest(inputs, 1.5)
    for model, variant in VARIANTS:
        out = tmp_path / f"{model}-{variant}"
        extra = ["--variant", variant] if variant else []
        s = inproc("images", images_dir, "--out", out, "--model", model, "--sigma", 1.5, "--workers", 2, *extra)
        assert s["digest"] == want and s["items"] == 3 and s["failed"] == 0, (model, variant)
        assert _pngs(out) == ["img-000.png", "img-001.png", "img-002.png"], "a temporary file was left behind"
    assert want != images.reference_digest(inputs, 3.0)
    with Image.open(tmp_path / "serial-None" / "img-001.png") as img:
        assert img.mode == "L" and img.size == (32, 24)


def test_compare_measures_the_distance_to_rusts_pictures(images_dir, tmp_path, bin_dir):
    rust(bin_dir, "serial", "images", images_dir, "--out", tmp_path / "rust")
    run_json("images", images_dir, "--out", tmp_path / "py")
    r = run_json("compare", "images", tmp_path / "rust", tmp_path / "py")
    assert [i["name"] for i in r["images"]] == ["img-000.png", "img-001.png", "img-002.png"]
    # Different blur and rounding, same pipeline: a pixel or two apart on average, never a
    # different picture.
    assert 0 < r["mean_abs"] < 3 and r["worst"]["max_abs"] < 40, r
    same = run_json("compare", "images", tmp_path / "py", tmp_path / "py")
    assert same["worst"]["max_abs"] == 0
    os.remove(tmp_path / "py" / "img-002.png")
    proc = chapter("compare", "images", tmp_path / "rust", tmp_path / "py")
    assert proc.returncode == 1 and "missing from" in proc.stdout


def _huge_png(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


@pytest.fixture
def bad_inputs(images_dir, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = (images_dir / "img-000.png").read_bytes()
    (d / "good.png").write_bytes(good)
    (d / "trunc.png").write_bytes(good[: len(good) // 2])
    (d / "junk.png").write_bytes(b"this is not a picture")
    os.mkfifo(d / "fifo.png")
    _huge_png(d / "bomb.png", 9000, 9000)
    return d


@pytest.mark.parametrize(
    "name, says",
    [
        ("trunc.png", "trunc.png: not a valid PNG"),
        ("junk.png", "junk.png: not a valid PNG"),
        ("fifo.png", "fifo.png: not a regular file"),
        ("gone.png", "cannot read"),
        ("bomb.png", "bomb.png: refused"),
    ],
)
def test_a_bad_input_stops_the_run_naming_it(bad_inputs, tmp_path, name, says):
    out = tmp_path / "out"
    # A FIFO must be refused at once, not block forever waiting for a writer: the timeout
    # turns a hang into a failed test.
    proc = chapter("images", bad_inputs / name, "--out", out, "--json", timeout=30)
    assert proc.returncode == 1 and proc.stdout == ""
    assert says in proc.stderr, proc.stderr
    assert _pngs(out) == []


@pytest.mark.parametrize("model", ["threading", "multiprocessing"])
def test_keep_going_counts_the_failures_and_writes_the_rest(bad_inputs, tmp_path, model):
    out = tmp_path / "out"
    names = ["good.png", "trunc.png", "junk.png", "fifo.png", "bomb.png"]
    proc = chapter("images", *[bad_inputs / n for n in names], "--out", out, "--keep-going", "--model", model, "--json", timeout=30)
    assert proc.returncode == 1
    s = __import__("json").loads(proc.stdout)
    assert s["failed"] == 4 and s["items"] == 5
    assert _pngs(out) == ["good.png"]
    assert "error: 4 item(s) failed" in proc.stderr


def test_the_output_directory_must_not_hold_the_inputs(images_dir):
    proc = chapter("images", images_dir, "--out", images_dir)
    assert proc.returncode == 1 and "would overwrite the inputs" in proc.stderr


def test_two_inputs_with_one_name_are_refused(images_dir, tmp_path):
    (tmp_path / "img-000.png").write_bytes((images_dir / "img-000.png").read_bytes())
    proc = chapter("images", images_dir, tmp_path / "img-000.png", "--out", tmp_path / "out")
    assert proc.returncode == 1 and "have the same file name" in proc.stderr


def test_a_symlink_at_the_final_name_is_replaced_never_followed(images_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("do not touch")
    os.symlink(target, out / "img-000.png")
    run_json("images", images_dir / "img-000.png", "--out", out)
    assert target.read_text() == "do not touch"
    assert not os.path.islink(out / "img-000.png")
    with Image.open(out / "img-000.png") as img:
        assert img.mode == "L"


def test_an_atomic_write_leaves_nothing_when_it_fails(tmp_path):
    from chapter.contract import ChapterError
    from chapter.files import AtomicFile

    f = AtomicFile(str(tmp_path), "x.bin")
    f.write(b"half")
    assert os.listdir(tmp_path) != [] and not (tmp_path / "x.bin").exists()
    f.abort()
    assert os.listdir(tmp_path) == []
    (tmp_path / "x.bin").mkdir()  # a directory where the file should go: the rename fails
    f = AtomicFile(str(tmp_path), "x.bin")
    f.write(b"whole")
    with pytest.raises(ChapterError, match="cannot move the finished file"):
        f.commit()
    assert os.listdir(tmp_path) == ["x.bin"]


def test_the_fifo_is_refused_while_a_thread_would_block(bad_inputs):
    # In-process too: read_input must not open a FIFO for a blocking read.
    from chapter.contract import ChapterError
    from chapter.files import read_input

    done = []

    def attempt():
        try:
            read_input(str(bad_inputs / "fifo.png"), 1 << 20)
        except ChapterError as e:
            done.append(str(e))

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    assert done and "not a regular file" in done[0]
