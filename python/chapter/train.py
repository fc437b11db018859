"""The chapter's "machine-learning training" row: mini-batch SGD of a small classifier on
Fashion-MNIST, with numpy, in every model; the twin of the Rust ``scenarios::train``.

    apt-get install dataset-fashion-mnist          # the data, under /usr/share/datasets/fashion-mnist
    python -m chapter train --model multiprocessing [--data DIR] [--workers N] [--epochs 5]
        [--hidden 128] [--train-limit N] [--test-limit N] [--json]

The same run as Rust's, step for step: the four IDX files read with ``gzip`` and ``struct``
(and the same checks: a missing, truncated, corrupt or wrong file is refused naming it); an MLP
784-128-10 (``--hidden 0``: softmax regression) in float32, its weights drawn from the same
SplitMix64 stream as Rust's (bit for bit the same initial weights), each epoch shuffled by the
same Fisher-Yates draws, SGD with momentum and a learning rate falling linearly to zero.

Synchronous data-parallel, so every model trains the same bits: each batch is cut into
``--shards`` pieces by position, whatever ``--workers`` is; the models compute the shards'
gradients wherever they like (a loop; a ``ThreadPoolExecutor``; worker processes that each read
the data set once and get the weights and their shards through a pipe every step; an event
loop handing them to ``run_in_executor``); the shards' gradients are summed in shard order and
applied once. The digest is SHA-256 of the final weights' bytes (float32, little-endian), as in
Rust. Python's and Rust's digests differ by design: OpenBLAS's sgemm and Rust's
``matrixmultiply`` round differently, so after thousands of steps the weights differ in their
last bits (the accuracy does not, to a few tenths of a percent).

BLAS is pinned to one thread per worker, as in ``chapter.matrix`` (``--blas-threads``): the
models are the parallelism being measured. numpy's matrix products release the GIL, so threads
do overlap here; the element-wise work between them does not.

A worker process that dies (``--die-on-task I`` kills the one handed message I, for tests) or
makes no reply within ``--stall-timeout-s`` is replaced, and its shards recomputed at the same
weights: the same bits, never a silently different model (``--respawns`` times; after that the
run fails naming the worker).
"""

import asyncio
import concurrent.futures as cf
import gzip
import importlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import struct
import time
import zlib

from chapter import pool, usage
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import of_all
from chapter.matrix import blas_info, set_blas_threads
from chapter.rng import mix

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASSES = 10
EVAL_CHUNK = 1000
MAX_BYTES = 1 << 30
_HINT = (
    " (on Debian: apt-get install dataset-fashion-mnist; or give --data DIR, a folder holding "
    "Fashion-MNIST's four IDX files)"
)
_KIND = {1: "labels", 3: "images"}


# ---------------------------------------------------------------------------------------------
# The IDX files: a magic (0, 0, 0x08 for unsigned bytes, the number of dimensions), each
# dimension as a big-endian u32, then the bytes. gzip-compressed or not: the first two bytes say.


def path_of(folder, name):
    gz, raw = os.path.join(folder, name + ".gz"), os.path.join(folder, name)
    return raw if not os.path.exists(gz) and os.path.exists(raw) else gz


def _open(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise ChapterError(f"cannot open {path}: {e.strerror}{_HINT}") from None
    if not os.path.isfile(path):
        kind = "a directory" if os.path.isdir(path) else "not a regular file (a FIFO, a socket or a device)"
        raise ChapterError(f"{path} is {kind}: refusing to read it")
    del st
    f = open(path, "rb")
    head = f.read(2)
    f.seek(0)
    return gzip.GzipFile(fileobj=f) if head == b"\x1f\x8b" else f


def _read(f, n, path, at):
    """Up to n bytes; a damaged gzip stream becomes an error naming the file."""
    try:
        return f.read(n)
    except EOFError as e:
        raise ChapterError(f"{path}: truncated: the compressed data ends after {at} bytes ({e})") from None
    except (OSError, zlib.error) as e:
        raise ChapterError(f"{path}: corrupt: {e} (after {at} bytes)") from None


def _header(f, path, ndims):
    what = _KIND.get(ndims, "data")
    magic = _read(f, 4, path, 0)
    if len(magic) < 4:
        raise ChapterError(f"{path}: truncated: shorter than an IDX header ({len(magic)} bytes)")
    if magic != bytes([0, 0, 8, ndims]):
        shown = " ".join(f"{b:02x}" for b in magic)
        raise ChapterError(
            f"{path}: not an IDX file of {what} (wrong magic {shown}; expected 00 00 08 {ndims:02x})"
        )
    raw = _read(f, 4 * ndims, path, 4)
    if len(raw) < 4 * ndims:
        raise ChapterError(f"{path}: truncated: the file ends inside its header")
    dims = list(struct.unpack(f">{ndims}I", raw))
    total = math.prod(dims)
    shown = " x ".join(map(str, dims))
    if total > MAX_BYTES:
        raise ChapterError(f"{path}: header says {shown}: more than the {MAX_BYTES} bytes this reads")
    if total == 0:
        raise ChapterError(f"{path}: header says {shown}: it holds no {what}")
    return dims, total, 4 + 4 * ndims


def read_header(path, ndims):
    with _open(path) as f:
        return _header(f, path, ndims)[0]


def read_idx(path, ndims):
    """(dims, bytes) of an IDX file, checked: the header, the length, the gzip checksum."""
    what = _KIND.get(ndims, "data")
    with _open(path) as f:
        dims, total, at = _header(f, path, ndims)
        data = _read(f, total, path, at)
        if len(data) < total:
            raise ChapterError(
                f"{path}: truncated: the header promises {' x '.join(map(str, dims))} ({total} bytes "
                f"of {what}), the data ends after {len(data)}"
            )
        # One byte more: a longer file is refused, and gzip checks its CRC only at the end.
        if _read(f, 1, path, at + total):
            raise ChapterError(f"{path}: wrong size: more data than the header's {' x '.join(map(str, dims))} promises")
    return dims, data


def write_idx(path, dims, data: bytes, compress=True):
    """An IDX file of unsigned bytes (the tests' small sets)."""
    body = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + bytes(data)
    with open(path, "wb") as f:
        f.write(gzip.compress(body, compresslevel=1) if compress else body)


def sizes(folder, train_limit, test_limit):
    """(pixels, training images, test images) from the headers, checked against each other:
    what a parent whose workers hold the data needs."""
    ti, tl, ei, el = (path_of(folder, n) for n in FILES)
    n, rows, cols = read_header(ti, 3)
    _same_count(ti, n, tl, read_header(tl, 1)[0])
    m, erows, ecols = read_header(ei, 3)
    _same_count(ei, m, el, read_header(el, 1)[0])
    _same_pixels(ti, rows * cols, ei, erows * ecols)
    return rows * cols, min(n, train_limit or n), min(m, test_limit or m)


def _same_count(images, n, labels, m):
    if n != m:
        raise ChapterError(f"{images} holds {n} images but {labels} holds {m} labels: they are not one set")


def _same_pixels(a, pa, b, pb):
    if pa != pb:
        raise ChapterError(f"{a} has images of {pa} pixels but {b} of {pb}: they are not one data set")


def _split(images, labels, limit):
    import numpy as np

    (n, rows, cols), img = read_idx(images, 3)
    (m,), lab = read_idx(labels, 1)
    _same_count(images, n, labels, m)
    y = np.frombuffer(lab, dtype=np.uint8)
    bad = np.flatnonzero(y >= CLASSES)
    if bad.size:
        i = int(bad[0])
        raise ChapterError(f"{labels}: label {y[i]} of image {i} is not a class (Fashion-MNIST has classes 0 to {CLASSES - 1})")
    keep = min(n, limit or n)
    x = np.frombuffer(img, dtype=np.uint8).reshape(n, rows * cols)[:keep]
    return x, y[:keep], rows * cols


def load(folder, train_limit=None, test_limit=None):
    """The data set: ((train images, labels), (test images, labels), pixels)."""
    ti, tl, ei, el = (path_of(folder, n) for n in FILES)
    xtr, ytr, p = _split(ti, tl, train_limit)
    xte, yte, q = _split(ei, el, test_limit)
    _same_pixels(ti, p, ei, q)
    return (xtr, ytr), (xte, yte), p


# ---------------------------------------------------------------------------------------------
# The network: one flat float32 vector, each layer's weights (inputs x outputs) then biases.


def layers(inputs, hidden):
    return [(inputs, CLASSES)] if hidden == 0 else [(inputs, hidden), (hidden, CLASSES)]


def n_params(inputs, hidden):
    return sum(i * o + o for i, o in layers(inputs, hidden))


def describe(inputs, hidden):
    return f"softmax regression {inputs}-{CLASSES}" if hidden == 0 else f"MLP {inputs}-{hidden}-{CLASSES}"


def _u64_stream(state, n):
    """The next n outputs of SplitMix64 from ``state``, at once (numpy's uint64 wraps as Rust's
    wrapping arithmetic does)."""
    import numpy as np

    with np.errstate(over="ignore"):
        z = np.uint64(state) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
        return z ^ (z >> np.uint64(31))


def _for_item(seed, index):
    """The state of Rust's ``SplitMix64::for_item(seed, index)``."""
    return mix(seed ^ mix((index + 0x5851_F42D_4C95_7F2D) & 0xFFFF_FFFF_FFFF_FFFF))


def init(inputs, hidden, seed):
    """Rust's ``Net::init``, bit for bit: weights uniform in +-sqrt(6 / (in + out)) from one
    stream, in layout order; biases 0."""
    import numpy as np

    shapes = layers(inputs, hidden)
    draws = _u64_stream(_for_item(seed, 0), sum(i * o for i, o in shapes))
    unit = (draws >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    parts, at = [], 0
    for i, o in shapes:
        a = math.sqrt(6.0 / (i + o))
        parts.append(((unit[at : at + i * o] * 2.0 - 1.0) * a).astype(np.float32))
        parts.append(np.zeros(o, dtype=np.float32))
        at += i * o
    return np.concatenate(parts)


def shuffle(n, seed, epoch):
    """Rust's ``train::shuffle``: Fisher-Yates from stream 1 + epoch of ``seed``."""
    import numpy as np

    draws = _u64_stream(_for_item(seed, 1 + epoch), max(n - 1, 0))
    bounds = np.arange(n, 1, -1, dtype=np.uint64)  # i + 1 for i = n-1 .. 1
    js = (draws % bounds).tolist()
    order = list(range(n))
    for k, j in enumerate(js):
        i = n - 1 - k
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def _views(params, inputs, hidden):
    out, at = [], 0
    for i, o in layers(inputs, hidden):
        w = params[at : at + i * o].reshape(i, o)
        b = params[at + i * o : at + i * o + o]
        out.append((w, b))
        at += i * o + o
    return out


def _forward(params, inputs, hidden, x):
    import numpy as np

    ws = _views(params, inputs, hidden)
    acts = [x]
    for l, (w, b) in enumerate(ws):
        z = acts[l] @ w + b
        if l + 1 == len(ws):
            return acts, z, ws
        acts.append(np.maximum(z, np.float32(0)))


def _softmax(z, y):
    """Probabilities in place of the logits; each row's cross-entropy loss."""
    import numpy as np

    zmax = z.max(axis=1, keepdims=True)
    own = z[np.arange(len(y)), y] - zmax[:, 0]
    np.subtract(z, zmax, out=z)
    np.exp(z, out=z)
    s = z.sum(axis=1)
    z /= s[:, None]
    return np.log(s) - own


def gradient(params, inputs, hidden, images, labels, samples):
    """The summed-loss gradient of ``samples`` (flat, the parameters' layout) and that loss."""
    import numpy as np

    x = images[samples].astype(np.float32) / np.float32(255)
    y = labels[samples]
    acts, delta, ws = _forward(params, inputs, hidden, x)
    loss = float(_softmax(delta, y).astype(np.float64).sum())
    delta[np.arange(len(y)), y] -= np.float32(1)
    grads = []
    for l in range(len(ws) - 1, -1, -1):
        w, _ = ws[l]
        grads.append((acts[l].T @ delta, delta.sum(axis=0)))
        if l > 0:
            delta = (delta @ w.T) * (acts[l] > 0)
    flat = np.concatenate([part.ravel() for gw, gb in reversed(grads) for part in (gw, gb)])
    return flat.astype(np.float32, copy=False), loss


def evaluate(params, inputs, hidden, images, labels, start, count):
    import numpy as np

    x = images[start : start + count].astype(np.float32) / np.float32(255)
    y = labels[start : start + count]
    _, z, _ = _forward(params, inputs, hidden, x)
    correct = int((z.argmax(axis=1) == y).sum())
    loss = float(_softmax(z, y).astype(np.float64).sum())
    return correct, loss


# ---------------------------------------------------------------------------------------------
# The work: tasks are ("g", samples) for a shard's gradient, ("e", start, count) for a chunk of
# the test set; a hand is one worker's tasks of one round.


def run_hand(data, hidden, params, tasks):
    """Compute a hand's tasks at ``params`` on ``data``, in order."""
    (xtr, ytr), (xte, yte), pixels = data
    out = []
    for t in tasks:
        if t[0] == "g":
            out.append(("g",) + gradient(params, pixels, hidden, xtr, ytr, t[1]))
        else:
            out.append(("e",) + evaluate(params, pixels, hidden, xte, yte, t[1], t[2]))
    return out


def deal(tasks, workers):
    """Round-robin by position: [(positions, tasks)] per worker that has any."""
    hands = [([], []) for _ in range(max(workers, 1))]
    for i, t in enumerate(tasks):
        hands[i % len(hands)][0].append(i)
        hands[i % len(hands)][1].append(t)
    return [h for h in hands if h[0]]


def in_task_order(n, answered):
    slots = [None] * n
    for positions, done in answered:
        for i, d in zip(positions, done):
            slots[i] = d
    return slots


class Serial:
    label = ("serial", "serial")

    def __init__(self, data, hidden, workers, args):
        self.data, self.hidden = data, hidden

    def run(self, params, tasks):
        return run_hand(self.data, self.hidden, params, tasks)

    def close(self):
        pass


class Threads:
    """A ``ThreadPoolExecutor`` kept for the whole run; each round's hands go to it at once."""

    label = ("threading", "threads")

    def __init__(self, data, hidden, workers, args):
        self.data, self.hidden, self.workers = data, hidden, workers
        self.stall = args.stall_timeout_s
        self.ex = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")

    def run(self, params, tasks):
        futures = [
            (pos, self.ex.submit(run_hand, self.data, self.hidden, params, hand))
            for pos, hand in deal(tasks, self.workers)
        ]
        try:
            return in_task_order(len(tasks), [(pos, f.result(timeout=self.stall)) for pos, f in futures])
        except cf.TimeoutError:
            raise ChapterError(f"the worker threads gave no answer within {self.stall:g} s") from None

    def close(self):
        self.ex.shutdown(wait=True)


class Tasks:
    """An event loop kept for the whole run; each round's hands handed to ``run_in_executor``
    (a thread pool) and gathered in order."""

    label = ("asyncio", "run_in_executor")

    def __init__(self, data, hidden, workers, args):
        self.data, self.hidden, self.workers = data, hidden, workers
        self.stall = args.stall_timeout_s
        self.loop = asyncio.new_event_loop()
        self.ex = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="executor")

    async def _round(self, params, tasks):
        running = [
            (pos, self.loop.run_in_executor(self.ex, run_hand, self.data, self.hidden, params, hand))
            for pos, hand in deal(tasks, self.workers)
        ]
        try:
            return [(pos, await asyncio.wait_for(f, self.stall)) for pos, f in running]
        except asyncio.TimeoutError:
            raise ChapterError(f"the executor gave no answer within {self.stall:g} s") from None

    def run(self, params, tasks):
        return in_task_order(len(tasks), self.loop.run_until_complete(self._round(params, tasks)))

    def close(self):
        self.ex.shutdown(wait=True)
        self.loop.close()


# The worker process's side.


def _worker_main(conn, folder, train_limit, test_limit, hidden, blas_threads, die_on_task):
    """A worker process: read the data set once, then answer each (id, weights, tasks) with
    (id, pid, ok, results or message) until the parent closes the pipe."""
    pool.worker_init()
    set_blas_threads(blas_threads)
    try:
        data, error = load(folder, train_limit, test_limit), None
    except ChapterError as e:
        data, error = None, str(e)
    pid = os.getpid()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:  # the parent's "stop"
            return
        msg_id, params, tasks = msg
        if die_on_task is not None and msg_id == die_on_task:
            os.kill(pid, signal.SIGKILL)  # tests only: dies as a crash would kill it
        if error is not None:
            conn.send((msg_id, pid, False, error))
            continue
        try:
            conn.send((msg_id, pid, True, run_hand(data, hidden, params, tasks)))
        except Exception as e:  # a bug, reported as the run's failure rather than a silent death
            conn.send((msg_id, pid, False, f"{type(e).__name__}: {e}"))


class Processes:
    """Worker processes that each hold the data set; the weights and a worker's shards go to it
    through its pipe every round, its gradients come back the same way (pickled numpy arrays:
    one copy each way). A dead or stuck worker is replaced and its hand computed again."""

    label = ("multiprocessing", "processes")

    def __init__(self, spec, hidden, workers, args):
        self.spec, self.hidden, self.workers, self.args = spec, hidden, workers, args
        self.ctx = multiprocessing.get_context(args.start_method or pool.DEFAULT_START_METHOD)
        self.procs, self.conns = [None] * workers, [None] * workers
        self.pids, self.replaced, self.next_id, self.respawns_left = [], 0, 0, args.respawns
        self.sent = self.received = 0
        usage.expect_children()
        for k in range(workers):
            self._spawn(k)

    def _spawn(self, k):
        folder, train_limit, test_limit = self.spec
        mine, theirs = self.ctx.Pipe()
        p = self.ctx.Process(
            target=_worker_main,
            args=(theirs, folder, train_limit, test_limit, self.hidden, self.args.blas_threads, self.args.die_on_task),
            name=f"worker-{k + 1}",
            daemon=True,
        )
        p.start()
        theirs.close()  # so that the worker's death is the end of our end of the pipe
        self.procs[k], self.conns[k] = p, mine
        self.pids.append(p.pid)

    def _send(self, k, params, hand):
        msg_id, self.next_id = self.next_id, self.next_id + 1
        self.sent += params.nbytes
        try:
            self.conns[k].send((msg_id, params, hand))
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False  # dead already: found below

    def _lost(self, k, why):
        p = self.procs[k]
        p.join(1)
        if p.is_alive():
            p.kill()
            p.join(1)
        self.conns[k].close()
        message = why or f"worker process {p.pid} {pool._died_how(p.exitcode)}"
        if self.respawns_left == 0:
            raise ChapterError(f"{message}; no respawns left (--respawns): giving up")
        self.respawns_left -= 1
        self.replaced += 1
        say(f"{message}; a new worker computes its shards again, at the same weights")
        self._spawn(k)

    def round(self, params, hands):
        for k, (_, hand) in enumerate(hands):
            self._send(k, params, hand)
        answers = [None] * len(hands)
        stall = self.args.stall_timeout_s
        deadline = time.monotonic() + stall
        killed = set()
        while any(a is None for a in answers):
            pending = [k for k, a in enumerate(answers) if a is None]
            waits = [self.conns[k] for k in pending] + [self.procs[k].sentinel for k in pending]
            ready = multiprocessing.connection.wait(waits, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                # Stuck, not dead: kill it; it is then replaced like a dead one.
                for k in pending:
                    self.procs[k].kill()
                    killed.add(k)
                deadline = time.monotonic() + 30
                continue
            for k in pending:
                conn, p = self.conns[k], self.procs[k]
                if conn in ready or conn.poll():
                    try:
                        _, pid, ok, value = conn.recv()
                    except (EOFError, OSError):
                        pass  # died mid-reply: below
                    else:
                        if not ok:
                            raise ChapterError(f"worker process {pid}: {value}")
                        answers[k] = value
                        self.received += sum(d[1].nbytes for d in value if d[0] == "g")
                        continue
                if p.sentinel in ready or not p.is_alive():
                    why = None
                    if k in killed:
                        why = f"worker process {p.pid} made no reply within {stall:g} s and was killed"
                        killed.discard(k)
                    self._lost(k, why)
                    self._send(k, params, hands[k][1])
                    deadline = time.monotonic() + stall
        return answers

    def load(self):
        """Every worker reads the data set before the first step (an empty hand each)."""
        import numpy as np

        self.round(np.zeros(0, dtype=np.float32), [([], [])] * self.workers)

    def run(self, params, tasks):
        hands = deal(tasks, self.workers)
        answers = self.round(params, hands)
        return in_task_order(len(tasks), [(pos, done) for (pos, _), done in zip(hands, answers)])

    def close(self, interrupted=False):
        for k, p in enumerate(self.procs):
            if p is None:
                continue
            if interrupted:
                p.kill()
            else:
                # Say stop: end of file alone is not enough, since a worker forked after this
                # one inherited this pipe's parent end and keeps it open until it exits itself
                # (each join then waited out its 5 s).
                try:
                    self.conns[k].send(None)
                except OSError:
                    pass  # already dead: nothing to tell
            self.conns[k].close()
        for p in self.procs:
            if p is not None:
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join(1)


# ---------------------------------------------------------------------------------------------
# The run.


def run(args) -> dict:
    set_blas_threads(args.blas_threads)
    importlib.import_module("numpy")  # after the pin: OpenBLAS reads it when it loads
    set_blas_threads(args.blas_threads)
    model = args.model
    pixels, n_train, n_test = sizes(args.data, args.train_limit, args.test_limit)
    workers = 1 if model == "serial" else min(args.workers, args.shards)
    if model != "serial" and workers < args.workers:
        say(f"--workers {args.workers}: a batch has only {args.shards} shards (--shards), so {workers} workers compute them")
    steps_per_epoch = -(-n_train // args.batch)
    total_steps = steps_per_epoch * args.epochs
    kind = {"serial": Serial, "threading": Threads, "multiprocessing": Processes, "asyncio": Tasks}[model]
    run_ = Run.start("train", model, kind.label[1], workers, total_steps)
    spec = (args.data, args.train_limit, args.test_limit)
    if kind is Processes:
        exe = Processes(spec, args.hidden, workers, args)
    else:
        exe = kind(load(*spec), args.hidden, workers, args)
    try:
        if kind is Processes:
            exe.load()
        digest = _train(args, run_, exe, pixels, n_train, n_test, steps_per_epoch, total_steps, workers)
    except BaseException as e:
        if kind is Processes:
            exe.close(interrupted=not isinstance(e, Exception))
        raise
    exe.close()
    if kind is Processes:
        run_.extra("parent_pid", os.getpid()).extra("pids", exe.pids).extra("replaced", exe.replaced)
        run_.extra("pipe_bytes_sent", exe.sent).extra("pipe_bytes_received", exe.received)
    run_.extra("blas", blas_info()).extra("blas_threads", args.blas_threads)
    return run_.finish(digest, 0)


def _train(args, run_, exe, pixels, n_train, n_test, steps_per_epoch, total_steps, workers):
    import numpy as np

    load_s = run_.elapsed_s()
    hidden = args.hidden
    say(
        f"{describe(pixels, hidden)}: {n_train} training and {n_test} test images, {args.epochs} epochs "
        f"of {steps_per_epoch} steps ({args.batch} samples, {args.shards} shards each), {workers} worker(s)"
    )
    params = init(pixels, hidden, args.seed)
    velocity = np.zeros_like(params)
    lr0, momentum = np.float32(args.lr), np.float32(args.momentum)
    evals = [("e", s, min(EVAL_CHUNK, n_test - s)) for s in range(0, n_test, EVAL_CHUNK)]
    marks = sorted({-(-(k * steps_per_epoch) // args.evals_per_epoch) for k in range(1, args.evals_per_epoch + 1)})
    started = time.perf_counter()
    train_s = eval_s = 0.0
    samples_seen, curve, reached = 0, [], None
    accuracy = test_loss = train_loss = 0.0
    for epoch in range(args.epochs):
        order = shuffle(n_train, args.seed, epoch)
        batches = [order[s : s + args.batch] for s in range(0, n_train, args.batch)]
        begin = 0
        for mark in marks:
            stretch = batches[begin : min(mark, len(batches))]
            first = epoch * steps_per_epoch + begin
            begin = mark
            clock = time.perf_counter()
            loss = 0.0
            for b, batch in enumerate(stretch):
                size = -(-len(batch) // args.shards)
                tasks = [("g", batch[s : s + size]) for s in range(0, len(batch), size)]
                done = exe.run(params, tasks)
                total = done[0][1].copy()
                for d in done[1:]:
                    total += d[1]  # in shard order
                loss += sum(d[2] for d in done)
                lr = lr0 * (np.float32(1) - np.float32(first + b) / np.float32(total_steps))
                scale = np.float32(1) / np.float32(len(batch))
                velocity *= momentum
                velocity += total * scale
                params -= lr * velocity
            train_s += time.perf_counter() - clock
            seen = sum(len(b) for b in stretch)
            samples_seen += seen
            train_loss = loss / max(seen, 1)
            clock = time.perf_counter()
            correct = loss_sum = 0
            for d in exe.run(params, evals):
                correct += d[1]
                loss_sum += d[2]
            accuracy, test_loss = correct / n_test, loss_sum / n_test
            eval_s += time.perf_counter() - clock
            at_s = time.perf_counter() - started
            epochs_done = epoch + min(mark, len(batches)) / len(batches)
            say(
                f"epoch {epochs_done:.2f}: test accuracy {accuracy:.4f}, test loss {test_loss:.4f}, "
                f"training loss {train_loss:.4f}; {samples_seen / train_s:.0f} samples/s"
            )
            if reached is None and accuracy >= args.target:
                reached = (at_s, samples_seen)
            curve.append(
                {
                    "epoch": round(epochs_done, 4),
                    "samples": samples_seen,
                    "seconds": round(at_s, 4),
                    "train_seconds": round(train_s, 4),
                    "accuracy": accuracy,
                    "test_loss": round(test_loss, 6),
                }
            )
    if reached:
        say(f"test accuracy {accuracy:.4f}; reached the target {args.target} after {reached[0]:.2f} s ({reached[1]} samples)")
    else:
        say(f"test accuracy {accuracy:.4f}; never reached the target {args.target}")
    for key, value in (
        ("net", describe(pixels, hidden)),
        ("parameters", int(params.size)),
        ("train_samples", n_train),
        ("test_samples", n_test),
        ("epochs", args.epochs),
        ("batch", args.batch),
        ("shards", args.shards),
        ("lr", args.lr),
        ("momentum", args.momentum),
        ("seed", args.seed),
        ("accuracy", accuracy),
        ("test_loss", round(test_loss, 6)),
        ("train_loss", round(train_loss, 6)),
        ("samples_per_s", round(samples_seen / train_s)),
        ("target", args.target),
        ("seconds_to_target", round(reached[0], 4) if reached else None),
        ("samples_to_target", reached[1] if reached else None),
        ("load_s", round(load_s, 4)),
        ("train_s", round(train_s, 4)),
        ("eval_s", round(eval_s, 4)),
        ("curve", curve),
        ("digest_of", "the final weights, f32 little-endian"),
    ):
        run_.extra(key, value)
    return of_all([params.astype("<f4").tobytes()])
