"""The bigfile scenario: every Python model prints the Rust binaries' digest on the same file
(the same ranges, the same integer sums, the same rounding of the mean); bad lines are refused
naming the file, the line number and the byte offset, as in Rust, and ``--keep-going`` counts
them; files that are not files of rows are refused by name.

    cd python && ../.venv/bin/python -m pytest tests/test_bigfile.py
"""

import subprocess

import pytest
from conftest import chapter, inproc, rust, rust_json

from chapter import bigfile

VARIANTS = [
    ("serial", None),
    ("threading", None),
    ("multiprocessing", "processes"),
    ("multiprocessing", "pool_map"),
    ("asyncio", "run_in_executor"),
    ("asyncio", "process_executor"),
]


@pytest.fixture(scope="module")
def big(bin_dir, tmp_path_factory):
    f = tmp_path_factory.mktemp("bigfile") / "big.txt"
    rust(bin_dir, "decision-table", "gen", "bigfile", "--rows", 20_000, "--stations", 150, "--seed", 3, "--out", f)
    return f


def test_every_model_prints_the_rust_digest(big, bin_dir):
    want = rust_json(bin_dir, "serial", "bigfile", big)["digest"]
    assert rust_json(bin_dir, "threading", "bigfile", big, "--chunk-bytes", "4K")["digest"] == want
    for model, variant in VARIANTS:
        for chunk in ("300", "64K"):
            extra = ["--variant", variant] if variant else []
            s = inproc("bigfile", big, "--model", model, "--workers", 2, "--chunk-bytes", chunk, *extra)
            assert s["digest"] == want, (model, variant, chunk)
            assert (s["rows"], s["failed"], s["bytes"]) == (20_000, 0, big.stat().st_size)
    cold = inproc("bigfile", big, "--cold")
    assert (cold["digest"], cold["cache"]) == (want, "cold")


def test_the_mean_rounds_half_away_from_zero_in_integers():
    assert [bigfile.mean_tenths(s, c) for s, c in [(5, 2), (-5, 2), (4, 3), (5, 3), (-1, 3), (0, 9)]] == [
        3, -3, 1, 2, 0, 0,
    ]
    assert [bigfile.format_tenths(t) for t in (0, -5, -35, 999)] == ["0.0", "-0.5", "-3.5", "99.9"]
    assert len(bigfile.TENTHS) == 2200 and bigfile.TENTHS[b"-0.0"] == 0 and bigfile.TENTHS[b"05.5"] == 55


def _with_bad_line(tmp_path, bad: bytes, final_newline=True):
    before = b"".join(b"Oslo;%d.%d\n" % (i % 30, i % 10) for i in range(60))
    after = b"".join(b"Lima;-%d.%d\n" % (i % 20, i % 10) for i in range(40))
    f = tmp_path / "bad.txt"
    if final_newline:
        f.write_bytes(before + bad + b"\n" + after)
    else:
        f.write_bytes(before + after + bad)
        before = before + after
    return f, len(before), before.count(b"\n") + 1


@pytest.mark.parametrize(
    "bad, why",
    [
        (b"Hamburg12.0", "no ';'"),
        (b"x" * 101 + b";1.0", "longer than 100 bytes"),
        (b";1.0", "station name is empty"),
        (b"Ham\xffburg;1.0", "not UTF-8"),
        (b"Hamburg;12.34", "temperature is not"),
        (b"Hamburg;1.0\r", "temperature is not"),
    ],
)
def test_a_bad_line_is_refused_naming_its_line_and_offset(tmp_path, bin_dir, bad, why):
    f, offset, line = _with_bad_line(tmp_path, bad)
    at = f"line {line} (byte {offset})"
    for model in ("serial", "multiprocessing"):
        proc = chapter("bigfile", f, "--model", model, "--chunk-bytes", "256")
        assert proc.returncode == 1 and at in proc.stderr and why in proc.stderr, proc.stderr
    rust_proc = subprocess.run(
        [str(bin_dir / "serial"), "bigfile", str(f), "--chunk-bytes", "256"], capture_output=True, text=True, timeout=60
    )
    assert rust_proc.returncode == 1 and at in rust_proc.stderr, rust_proc.stderr
    kept = inproc("bigfile", f, "--keep-going", "--chunk-bytes", "256", "--model", "threading", expect_rc=1)
    assert (kept["failed"], kept["malformed"], kept["rows"]) == (1, 1, 100)


def test_a_last_line_without_newline_an_empty_file_and_a_directory_are_refused(tmp_path):
    f, offset, line = _with_bad_line(tmp_path, b"Hamburg;1.0", final_newline=False)
    proc = chapter("bigfile", f)
    assert proc.returncode == 1 and f"line {line} (byte {offset})" in proc.stderr
    assert "does not end in a newline" in proc.stderr
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    proc = chapter("bigfile", empty)
    assert proc.returncode == 1 and "empty.txt is empty" in proc.stderr
    proc = chapter("bigfile", tmp_path)
    assert proc.returncode == 1 and "is a directory" in proc.stderr
    proc = chapter("bigfile", "--chunk-bytes", "10", tmp_path)
    assert proc.returncode == 2 and "--chunk-bytes" in proc.stderr


def test_a_dead_worker_fails_the_run_rather_than_answer_without_its_range(big):
    proc = chapter("bigfile", big, "--model", "multiprocessing", "--chunk-bytes", "16K", "--die-on-task", 2)
    assert proc.returncode == 1 and "error:" in proc.stderr and "died" in proc.stderr, proc.stderr
    assert proc.stdout == ""
