"""The chapter's "mathematical computation" row: C = A x B on dense f64 matrices, by blocks of
rows through :func:`chapter.pool.map_in_order`, in every model.

    decision-table gen matrix --n 192 --seed 42 --out data/matrix-192      # the inputs (Rust tool)
    python -m chapter matrix data/matrix-192 --model multiprocessing [--workers N]
        [--block-rows R] [--engine pure|numpy] [--save-c FILE] [--json]

A work item is a block of C's rows, the same in every model (:func:`block_job`): read those rows
of A from its file, multiply by B (read once per process and kept), hash each row of C. The
digest is SHA-256 over each row's SHA-256 of its f64 little-endian bytes, rows in order (a row
of a failed block counts as the bytes ``failed``): the structure of the Rust digest, so it does
not depend on how rows were grouped into blocks.

Engines:

- ``pure`` (the default): lists of floats and a loop in the interpreter. This is where the GIL
  shows plainly: the threads of ``--model threading`` take turns holding it and compute no
  faster than one, while ``--model multiprocessing`` gives each worker its own interpreter and
  GIL. Every element is ``((0.0 + a0*b0) + a1*b1) + ...`` over k in order, a multiply then an
  add (no fused multiply-add), in every model, so all pure-Python models print the same digest.
  It is about a thousand times slower than the Rust kernel: n = 192 to 256 is plenty.
- ``numpy``: each block is one ``a_block @ B``, a BLAS ``dgemm``, which releases the GIL, so
  threads use every core here. The result of a row must not depend on the block it was in,
  and with OpenBLAS it does: measured on this machine (OpenBLAS 0.3.31, Haswell kernels), a
  row computed in a block with an odd number of rows comes out up to 4e-14 different from the
  same row in an even block (the last, odd row goes through a different remainder kernel). So
  every block is padded with zero rows to a multiple of 16 rows (the widest DGEMM micro-tile
  among OpenBLAS's x86-64 kernels) and the padding dropped: each row then goes through the
  same full tiles whatever ``--block-rows`` is, and the numpy models agree with each other and
  across block sizes (the tests check it on the machine they run on). Measured here too: with
  one BLAS thread, OpenBLAS's Haswell DGEMM computes each element as the same chain of fused
  multiply-adds over k as the Rust kernel as long as k fits one of its 256-wide panels, so for
  n <= 256 the numpy digest *is* the Rust digest; at n = 512 it is not (the partial sums of two
  panels are added). That is an observation about one BLAS build, not a promise.
- Blocks computed in other processes (``--model multiprocessing``, ``--variant
  process_executor``) write their rows of C into a memory file the parent shares with them
  (:mod:`chapter.matrix_shared`, the twin of the Rust side's) and send back only the kernel time
  and the row hashes: C is not pickled through the pipes.
- How far either is from Rust: the Rust binaries use a GEMM crate (`matrixmultiply`) whose
  rounding neither engine reproduces, so the digests differ by design; ``--save-c`` here and in
  Rust, then ``python -m chapter compare matrix``, says by how much (a few units in the last
  place: the tests check it).

BLAS threads: the models are the parallelism being measured, so BLAS is pinned to one thread
per worker (``--blas-threads 1``, the default): ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` are set before numpy is first imported (child processes inherit them), and
``threadpoolctl.threadpool_limits`` applies the same limit in every worker in case numpy was
loaded earlier. Without the pin, each of two workers would start a BLAS thread per core and
four threads would fight over two cores. ``--blas-threads 0`` leaves BLAS alone (to see what
BLAS's own threads do with ``--model serial``). The summary reports which BLAS numpy uses
(``blas``) and the kernel speed per core (``kernel_gflops``: 2mkn over the seconds spent inside
the kernel, summed over workers), as Rust does.
"""

import hashlib
import importlib
import math
import os
import struct
import sys
import threading
import time
from array import array

from chapter import pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest
from chapter.files import write_atomically
from chapter.matrix_shared import SharedC

MAGIC = b"DTMATRIX"
VERSION = 1
HEADER_LEN = 32
MAX_DIM = 16_384
ENGINES = ("pure", "numpy")
#: Rows every numpy block is padded to a multiple of (see the module doc).
PAD_ROWS = 16
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# ---------------------------------------------------------------------------------------------
# The file format (matrix.rs): magic, version u32, reserved u32, rows u64, cols u64, then
# rows x cols f64, all little-endian.


def _hint(path):
    d = os.path.dirname(path) or "."
    return f" (make the inputs with `decision-table gen matrix --out {d}`)"


def read_header(path):
    """(rows, cols) of a matrix file, after checking the magic, the version, the dimensions
    and that the file's size is exactly what the header promises."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ChapterError(f"cannot open matrix file {path}: {e.strerror}{_hint(path)}") from None
    with f:
        h = f.read(HEADER_LEN)
        if len(h) < HEADER_LEN:
            raise ChapterError(f"{path}: truncated: shorter than the {HEADER_LEN}-byte header")
        if h[:8] != MAGIC:
            raise ChapterError(f'{path}: not a matrix file (wrong magic: expected "DTMATRIX")')
        version, _, rows, cols = struct.unpack("<IIQQ", h[8:])
        if version != VERSION:
            raise ChapterError(f"{path}: matrix format version {version}; this program reads version {VERSION}")
        if not (1 <= rows <= MAX_DIM and 1 <= cols <= MAX_DIM):
            raise ChapterError(f"{path}: header says {rows} x {cols}; each side must be 1 to {MAX_DIM}")
        expected = HEADER_LEN + rows * cols * 8
        actual = os.fstat(f.fileno()).st_size
        if actual < expected:
            raise ChapterError(
                f"{path}: truncated: a {rows} x {cols} matrix needs {expected} bytes, the file has {actual}"
            )
        if actual > expected:
            raise ChapterError(
                f"{path}: wrong size: a {rows} x {cols} matrix needs {expected} bytes, the file has {actual}"
            )
    return rows, cols


def read_rows(path, start, count):
    """Rows ``start..start+count`` of a matrix file, as little-endian f64 bytes."""
    rows, cols = read_header(path)
    if start + count > rows:
        raise ChapterError(f"{path}: rows {start}..{start + count} asked for, the matrix has {rows}")
    with open(path, "rb") as f:
        f.seek(HEADER_LEN + start * cols * 8)
        data = f.read(count * cols * 8)
    if len(data) != count * cols * 8:
        raise ChapterError(f"{path}: truncated while reading")
    return data


def read_all(path):
    rows, cols = read_header(path)
    return rows, cols, read_rows(path, 0, rows)


def write(path, rows, cols, data: bytes):
    """Write a matrix file; it appears under its name only once complete."""
    if len(data) != rows * cols * 8:
        raise ChapterError("matrix data does not match its shape")
    write_atomically(path, MAGIC + struct.pack("<IIQQ", VERSION, 0, rows, cols) + bytes(data))


def check_inputs(a, b):
    (ar, ac), (br, bc) = read_header(a), read_header(b)
    if ac != br:
        raise ChapterError(
            f"{a} is {ar} x {ac} and {b} is {br} x {bc}: A's columns must equal B's rows"
        )
    return ar, ac, bc


def _floats(data: bytes):
    xs = array("d")
    xs.frombytes(data)
    if sys.byteorder != "little":
        xs.byteswap()
    return xs


def _le_bytes(xs) -> bytes:
    arr = array("d", xs)
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tobytes()


# ---------------------------------------------------------------------------------------------
# The kernels.


def _pure_kernel(a_rows, b_rows, n):
    """C rows = A rows x B, in the interpreter: for each k, add a[k] * B[k] to the row of C.
    The comprehension over j keeps the order of the sum over k fixed (k = 0, 1, 2, ...)."""
    out = []
    for a in a_rows:
        c = [0.0] * n
        for a_k, b_k in zip(a, b_rows):
            c = [c_j + a_k * b_kj for c_j, b_kj in zip(c, b_k)]
        out.append(c)
    return out


def set_blas_threads(threads: int) -> None:
    """Pin BLAS to ``threads`` threads in this process (0: leave it alone). Before numpy is
    imported the environment does it; after, threadpoolctl."""
    if threads <= 0:
        return
    for var in _BLAS_ENV:
        os.environ[var] = str(threads)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def blas_info():
    """Which BLAS numpy runs on, and with how many threads."""
    import numpy

    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            keep = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
            return {k: libs[0].get(k) for k in keep} | {"numpy": numpy.__version__}
    except ImportError:
        pass
    try:  # what numpy was built with, when threadpoolctl cannot see the library
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"internal_api": blas.get("name"), "version": blas.get("version"), "numpy": numpy.__version__}
    except Exception:
        return {"numpy": numpy.__version__}


class _B:
    """B, read once per process in the engine's layout."""

    def __init__(self, path, engine):
        k, n, data = read_all(path)
        self.inner, self.cols = k, n
        if engine == "numpy":
            import numpy as np

            self.m = np.frombuffer(data, dtype="<f8").reshape(k, n).astype(np.float64)
        else:
            flat = _floats(data)
            self.rows = [flat[i * n : (i + 1) * n].tolist() for i in range(k)]


# One B per (file, engine) per process: a worker process reads it on its first block and keeps
# it for the rest; the threads of one process share it (the lock makes one of them read it).
_CACHE = {}
_CACHE_LOCK = threading.Lock()


def _b_for(path, engine):
    st = os.stat(path)
    key = (os.path.abspath(path), engine, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        b = _CACHE.get(key)
        if b is None:
            b = _CACHE[key] = _B(path, engine)
        return b


def block_job(task):
    """One work item, the same in every model: rows ``start..start+rows`` of C. Returns
    (seconds inside the kernel, each row's SHA-256, the rows of C as little-endian bytes), or
    ``None`` for the rows when it wrote them into the shared C of a process pool instead."""
    a_path, b_path, start, rows, engine, shared = task
    b = _b_for(b_path, engine)
    a_bytes = read_rows(a_path, start, rows)
    k, n = b.inner, b.cols
    if len(a_bytes) != rows * k * 8:
        raise ChapterError(f"{a_path}: has {len(a_bytes) // 8 // max(rows, 1)} columns, B has {k} rows")
    if engine == "numpy":
        import numpy as np

        a = np.frombuffer(a_bytes, dtype="<f8").reshape(rows, k)
        pad = (-rows) % PAD_ROWS
        if pad:
            a = np.vstack([a, np.zeros((pad, k))])
        t0 = time.perf_counter()
        c = a @ b.m
        kernel_s = time.perf_counter() - t0
        c = np.ascontiguousarray(c[:rows], dtype="<f8")
        hashes = [hashlib.sha256(c[r].tobytes()).digest() for r in range(rows)]
        return _handed_back(shared, start, rows, kernel_s, hashes, c)
    flat = _floats(a_bytes).tolist()
    a_rows = [flat[r * k : (r + 1) * k] for r in range(rows)]
    t0 = time.perf_counter()
    c_rows = _pure_kernel(a_rows, b.rows, n)
    kernel_s = time.perf_counter() - t0
    row_bytes = [_le_bytes(r) for r in c_rows]
    hashes = [hashlib.sha256(r).digest() for r in row_bytes]
    return _handed_back(shared, start, rows, kernel_s, hashes, b"".join(row_bytes))


def _handed_back(shared, start, rows, kernel_s, hashes, c):
    """A block's reply: its rows of C (f64 little-endian, any buffer) in it, or, in a process
    pool's worker, written into the shared C and left out of it."""
    if shared is not None:
        shared.put(start, rows, c)
        return kernel_s, hashes, None
    return kernel_s, hashes, bytes(c)


def _blas_init(threads):
    set_blas_threads(threads)


# ---------------------------------------------------------------------------------------------
# The run.


def run(args) -> dict:
    engine, model = args.engine, args.model
    a, b = os.path.join(args.input, "a.mat"), os.path.join(args.input, "b.mat")
    m, k, n = check_inputs(a, b)
    info = None
    if engine == "numpy":
        set_blas_threads(args.blas_threads)
        importlib.import_module("numpy")  # after the pin: OpenBLAS reads it when it loads
        set_blas_threads(args.blas_threads)
        info = blas_info()
    rows = args.block_rows
    blocks = -(-m // rows)
    variant = args.variant or pool.DEFAULT_VARIANT[model]
    run_ = Run.start("matrix", model, f"{variant}/{engine}", 1 if model == "serial" else args.workers, blocks)
    init = None
    if engine == "numpy" and args.blas_threads > 0:
        import functools

        init = functools.partial(_blas_init, args.blas_threads)
    # Blocks computed in other processes write their rows into one memory file (see
    # chapter.matrix_shared) rather than pickle them back: C is not copied through the pipes.
    in_processes = model == "multiprocessing" or variant == "process_executor"
    shared = SharedC.create(m, n) if in_processes else None
    if shared is not None:
        run_.shared_memory_kib(shared.kib())
    tasks = [(a, b, i * rows, min(rows, m - i * rows), engine, shared) for i in range(blocks)]
    try:
        mapped = pool.map_in_order(
            tasks,
            args.workers,
            block_job,
            model,
            keep_going=True,  # as in Rust: a failed block is counted, the others still computed
            variant=variant,
            die_on_task=args.die_on_task,
            stall_timeout_s=args.stall_timeout_s,
            start_method=args.start_method,
            init=init,
        )
        c = None
        if args.save_c:
            c = bytearray(shared.read_back()) if shared is not None else bytearray(m * n * 8)
    finally:
        if shared is not None:
            shared.close()
    digest, kernel_s, failed = Digest(), 0.0, 0
    for i, o in enumerate(mapped.outcomes):
        if o is not None and o.ok:
            ks, hashes, c_bytes = o.value
            kernel_s += ks
            for h in hashes:
                digest.update(h)
            if c is not None and c_bytes is not None:
                at = i * rows * n * 8
                c[at : at + len(c_bytes)] = c_bytes
            continue
        say(f"block {i} failed: {o.error if o is not None else 'never run'}")
        failed += 1
        for _ in range(i * rows, min(m, (i + 1) * rows)):
            digest.update(b"failed")
    flop = 2.0 * m * k * n
    elapsed = run_.elapsed_s()
    gflops = flop / elapsed / 1e9
    kernel_gflops = flop / kernel_s / 1e9 if kernel_s > 0 else 0.0
    say(
        f"C = A x B ({m}x{k} by {k}x{n}, {engine}) in {elapsed:.3f} s: {gflops:.3f} GFLOP/s; "
        f"inside the kernel {kernel_gflops:.3f} GFLOP/s per core"
    )
    if c is not None:
        write(args.save_c, m, n, bytes(c))
        say(f"C written to {args.save_c}")
    run_.extra("shape", [m, k, n]).extra("block_rows", rows).extra("engine", engine)
    run_.extra("gflops", round(gflops, 4)).extra("kernel_s", round(kernel_s, 6))
    run_.extra("kernel_gflops", round(kernel_gflops, 4))
    if info is not None:
        run_.extra("blas", info).extra("blas_threads", args.blas_threads)
    if model == "multiprocessing" or variant == "process_executor":
        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    run_.extras.update(mapped.extras)
    return run_.finish(digest.finish(), failed)
