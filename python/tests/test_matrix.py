"""The matrix scenario: the pure and numpy engines agree across models and block sizes; the C
worker processes write into shared memory is the product; C saved here is within rounding of
Rust's; bad files are refused naming themselves."""

import struct

import pytest
from conftest import chapter, inproc, rust_json, run_json

VARIANTS = [
    ("serial", None),
    ("threading", None),
    ("multiprocessing", "processes"),
    ("multiprocessing", "pool_map"),
    ("asyncio", "run_in_executor"),
    ("asyncio", "process_executor"),
    ("asyncio", "blocking"),
]


@pytest.fixture(scope="module")
def small(bin_dir, tmp_path_factory):
    """12 x 12: small enough for every engine in a moment."""
    from conftest import rust

    d = tmp_path_factory.mktemp("m12")
    rust(bin_dir, "decision-table", "gen", "matrix", "--n", 12, "--seed", 11, "--out", d)
    return d


@pytest.mark.parametrize("engine", ["pure", "numpy"])
def test_every_model_and_block_size_gives_the_same_digest(engine, matrix_dir):
    runs = [(model, variant, 7) for model, variant in VARIANTS]
    runs += [("serial", None, 1), ("serial", None, 64), ("threading", None, 3), ("multiprocessing", None, 16)]
    digests = {}
    for model, variant, rows in runs:
        extra = ["--variant", variant] if variant else []
        s = inproc("matrix", matrix_dir, "--engine", engine, "--model", model, "--block-rows", rows, "--workers", 2, *extra)
        assert s["failed"] == 0 and s["shape"] == [40, 40, 40]
        digests[(model, variant, rows)] = s["digest"]
    assert len(set(digests.values())) == 1, digests


def test_numpy_reports_its_blas_pinned_to_one_thread(matrix_dir):
    s = inproc("matrix", matrix_dir, "--engine", "numpy", "--model", "threading")
    assert s["blas"]["num_threads"] == 1 and s["blas_threads"] == 1
    assert s["blas"]["internal_api"] and s["kernel_gflops"] > 0


def test_numpy_rows_do_not_depend_on_the_block_they_are_in():
    # The reason for the padding: without it OpenBLAS rounds a row differently in a block of
    # odd length. With it, every block size gives the bytes of the whole product.
    import numpy as np

    from chapter import matrix

    rng = np.random.default_rng(3)
    a, b = rng.uniform(-1, 1, (37, 50)), rng.uniform(-1, 1, (50, 29))
    bm = type("B", (), {"m": b})

    def blocked(rows):
        out = []
        for s in range(0, 37, rows):
            block = a[s : s + rows]
            pad = (-len(block)) % matrix.PAD_ROWS
            padded = np.vstack([block, np.zeros((pad, 50))]) if pad else block
            out.append((padded @ bm.m)[: len(block)])
        return np.vstack(out)

    whole = blocked(37)
    for rows in (1, 2, 3, 5, 16, 20):
        assert np.array_equal(blocked(rows), whole), rows


def test_save_c_and_compare_measure_how_far_python_is_from_rust(small, bin_dir, tmp_path):
    rust_c = tmp_path / "c-rust.mat"
    rust_json(bin_dir, "serial", "matrix", small, "--save-c", rust_c)
    same = run_json("compare", "matrix", rust_c, rust_c)
    assert same["identical"] and same["max_abs"] == 0
    for engine in ("pure", "numpy"):
        mine = tmp_path / f"c-{engine}.mat"
        run_json("matrix", small, "--engine", engine, "--save-c", mine)
        r = run_json("compare", "matrix", rust_c, mine)
        assert r["shape"] == [12, 12] and r["elements"] == 144
        # Rounding, not a wrong result: sums of 12 products in [-1, 1], off by a few units in
        # the last place (the relative difference can be larger where a sum cancels to ~0).
        assert r["max_abs"] < 1e-14 * 12, r


@pytest.mark.parametrize("engine", ["pure", "numpy"])
def test_c_the_worker_processes_wrote_into_shared_memory_is_the_product(engine, matrix_dir, tmp_path):
    # Processes put their rows into the memory file (chapter.matrix_shared), not the reply: if
    # they did not write, the C read back would be zeros, not the product the threads saved.
    want = tmp_path / "threads.mat"
    s = run_json("matrix", matrix_dir, "--engine", engine, "--model", "threading", "--save-c", want)
    assert "shared_kib" not in s
    for model, variant in (("multiprocessing", "processes"), ("multiprocessing", "pool_map"), ("asyncio", "process_executor")):
        got = tmp_path / f"{model}-{variant}.mat"
        p = run_json(
            "matrix", matrix_dir, "--engine", engine, "--model", model, "--variant", variant,
            "--workers", 2, "--block-rows", 7, "--save-c", got,
        )
        assert got.read_bytes() == want.read_bytes(), (model, variant)
        assert p["digest"] == s["digest"] and p["failed"] == 0
        # C's 40 x 40 f64s, 12.5 KiB, counted in the run's memory beside the children's PSS.
        assert p["shared_kib"] == 13 and p["max_rss_kib"] >= 13 + p["children_pss_kib"], p


def test_shared_c_refuses_rows_that_do_not_fit():
    from chapter.matrix_shared import SharedC

    c = SharedC.create(3, 2)
    try:
        c.put(1, 2, struct.pack("<4d", 1, 2, 3, 4))
        assert c.read_back() == struct.pack("<6d", 0, 0, 1, 2, 3, 4)
        for start, rows, data in ((2, 2, b"\0" * 32), (0, 1, b"\0" * 8), (-1, 1, b"\0" * 16)):
            with pytest.raises(ValueError, match="do not fit the shared C of 3 x 2"):
                c.put(start, rows, data)
    finally:
        c.close()


def _write(path, rows, cols, data, magic=b"DTMATRIX", version=1):
    path.write_bytes(magic + struct.pack("<IIQQ", version, 0, rows, cols) + data)


@pytest.mark.parametrize(
    "mutate, says",
    [
        (lambda p: _write(p, 3, 3, b"\0" * 70), "truncated: a 3 x 3 matrix needs 104 bytes"),
        (lambda p: p.write_bytes(b"DTMATRIX\1\0"), "truncated: shorter than the 32-byte header"),
        (lambda p: _write(p, 3, 3, b"\0" * 72, magic=b"XTMATRIX"), "wrong magic"),
        (lambda p: _write(p, 3, 3, b"\0" * 72, version=7), "version 7"),
        (lambda p: _write(p, 3, 3, b"\0" * 80), "wrong size"),
        (lambda p: _write(p, 0, 3, b""), "0 x 3"),
        (lambda p: p.unlink(), "gen matrix"),
        (lambda p: _write(p, 4, 3, b"\0" * 96), "A's columns must equal B's rows"),
    ],
)
def test_bad_matrix_files_are_refused_naming_them(tmp_path, mutate, says):
    _write(tmp_path / "a.mat", 3, 3, b"\0" * 72)
    _write(tmp_path / "b.mat", 3, 3, b"\0" * 72)
    mutate(tmp_path / "b.mat")
    proc = chapter("matrix", tmp_path, "--json")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "b.mat" in proc.stderr and says in proc.stderr, proc.stderr


def test_a_dead_worker_fails_the_matrix_run_clearly(matrix_dir):
    proc = chapter("matrix", matrix_dir, "--model", "multiprocessing", "--block-rows", 4, "--die-on-task", 2, timeout=30)
    assert proc.returncode == 1
    assert "BrokenProcessPool" in proc.stderr and "killed by SIGKILL" in proc.stderr
    proc = chapter(
        "matrix", matrix_dir, "--model", "multiprocessing", "--variant", "pool_map", "--block-rows", 4,
        "--die-on-task", 2, "--stall-timeout-s", 1, timeout=30,
    )
    assert proc.returncode == 1 and "96062" in proc.stderr
