"""The chapter's "responsive GUI" row in Python: does the interface keep drawing and answering
while a CPU-bound job runs? The twin of the Rust ``gui`` scenario, headless: a frame loop driven
at 60 Hz, the images job (the ``images`` scenario's Pillow pipeline) started by a click, and a
"Click me" probe clicked every 100 ms.

    decision-table gen images --count 48 --width 640 --height 360 --out data/gui-images   # inputs (Rust tool)
    python -m chapter gui data/gui-images --out /tmp/gui-py --model threading [--engine pure]
        [--workers N | --all-cores] [--json]

Where the job runs is the model:

- ``serial``: inside the frame that handled the click (the button's callback does the work):
  the interface freezes until it is done;
- ``threading``: a ``ThreadPoolExecutor``; each finished image goes into a ``queue.SimpleQueue``
  that the frame drains without waiting, as a Tkinter program polls from ``after()``;
- ``multiprocessing``: a ``ProcessPoolExecutor``, results back through its pipe, then the queue;
- ``asyncio``: an event loop on a thread beside the interface, one coroutine per image awaiting
  ``loop.run_in_executor`` on a thread pool, handed over with ``run_coroutine_threadsafe``.

``--engine pillow`` (the default) is the images scenario's pipeline: Pillow releases the GIL in
its C loops, so threads do not slow the frame loop. ``--engine pure`` does the filtering in
pure Python (a 3 x 3 box blur on a quarter-size gray picture, decoded and encoded by Pillow):
the worker thread then holds the GIL, which CPython hands over every
``sys.getswitchinterval()`` (5 ms), so each frame waits for it. That is the GIL's effect on a
frame loop, measured; the Rust twin is ``threading gui --gil``.

The frame loop (:func:`drive`): wait for the next 1/60 s tick (a frame that overran skips the
ticks it missed), hand the frame its input events, and run it: take in finished images, handle
the click, and "draw", which here is the Python a toolkit's callbacks run each frame (laying
out and formatting the widgets' contents: :meth:`App.draw`). A click is a press in one frame
and a release in the next; one made while a frame runs waits for the loop, as the operating
system queues it. The summary carries the same figures as Rust's (:mod:`chapter.gui` fields
``frame_p50_ms``, ``frame_p99_ms``, ``frame_max_ms``, ``frames_over_16ms``,
``frames_over_100ms``, ``click_p50_ms``/``click_p99_ms``/``click_max_ms``,
``frame_intervals_ms``, ``job_started_s``, ``job_ended_s``) and the digest of the outputs in
input order (the images scenario's, for the Pillow engine).

Bad input: missing inputs are shown as the app's error (the frames go on), then the run exits 1
naming them; ``--close-at-ms`` closes the app mid-job as a window's close button would (no new
images, the ones in hand finish, every worker is gone, nothing half-written is left).
"""

import asyncio
import concurrent.futures
import io
import math
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections import deque

from chapter import images
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest, sha256
from chapter.files import read_input, write_atomically

HZ = 60.0
FRAME_BUDGET_MS = 1000.0 / HZ
FREEZE_MS = 100.0
#: How long closing waits for the images in hand (many times one small picture's time).
STOP_BOUND_S = 20.0
VARIANTS = {
    "serial": "in-frame",
    "threading": "threads",
    "multiprocessing": "processes",
    "asyncio": "run_in_executor",
}


def transform_pure(name, png: bytes) -> bytes:
    """The pure-Python engine: Pillow decodes and shrinks to a quarter-size gray picture (in C),
    then a 3 x 3 box blur in pure Python (the part that holds the GIL), then Pillow encodes."""
    Image, _ = images._pillow()
    try:
        img = Image.open(io.BytesIO(png), formats=["PNG"])
        img.load()
    except Exception as e:
        raise ChapterError(f"{name}: not a valid PNG ({e})") from None
    w, h = max(1, img.width // 4), max(1, img.height // 4)
    small = img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR).convert("L", matrix=images.REC709)
    px = list(small.getdata())
    out = bytearray(w * h)
    for y in range(h):
        y0, y1 = max(0, y - 1), min(h - 1, y + 1)
        for x in range(w):
            x0, x1 = max(0, x - 1), min(w - 1, x + 1)
            total = count = 0
            for yy in range(y0, y1 + 1):
                row = yy * w
                for xx in range(x0, x1 + 1):
                    total += px[row + xx]
                    count += 1
            out[y * w + x] = total // count
    buf = io.BytesIO()
    Image.frombytes("L", (w, h), bytes(out)).save(buf, format="PNG", compress_level=1, optimize=False)
    return buf.getvalue()


def process_file_pure(task) -> bytes:
    """One item of the pure engine: read, transform in Python, write; returns the SHA-256."""
    path, out, _sigma = task
    png = read_input(path, images.MAX_INPUT_BYTES, " (make inputs with `decision-table gen images`)")
    result = transform_pure(path, png)
    write_atomically(os.path.join(out, os.path.basename(path)), result)
    return sha256(result)


def _outcome(fn, task):
    """Run one item; its SHA-256, or the error as text (never an exception out of a worker)."""
    try:
        return ("done", fn(task))
    except ChapterError as e:
        return ("failed", str(e))
    except Exception as e:  # an unexpected error in one image must not kill the interface
        return ("failed", f"{task[0]}: {type(e).__name__}: {e}")


class Backend:
    """Where the job runs; one subclass per model."""

    def __init__(self, workers, start_method="fork"):
        self.workers, self.start_method = workers, start_method
        self.cancelled = threading.Event()

    def start(self, fn, tasks, inbox):
        raise NotImplementedError

    def stop(self):
        pass


class InTheFrame(Backend):
    def start(self, fn, tasks, inbox):
        # Here, in the click's frame: the interface waits for all of it.
        for i, task in enumerate(tasks):
            inbox.put((i, _outcome(fn, task)))


class Pooled(Backend):
    """threading and multiprocessing: an executor, results into the inbox by callbacks."""

    def _executor(self):
        if isinstance(self, Processes):
            ctx = multiprocessing.get_context(self.start_method)
            return concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx)
        return concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="gui-worker")

    def start(self, fn, tasks, inbox):
        self.executor = self._executor()
        for i, task in enumerate(tasks):
            fut = self.executor.submit(_outcome, fn, task)
            fut.add_done_callback(lambda f, i=i: None if f.cancelled() else inbox.put((i, _result(f))))

    def stop(self):
        ex = getattr(self, "executor", None)
        if ex is not None:
            # No new images; the ones in hand finish and are written whole.
            ex.shutdown(wait=True, cancel_futures=True)


class Threads(Pooled):
    pass


class Processes(Pooled):
    pass


def _result(fut):
    try:
        return fut.result()
    except Exception as e:  # a worker process that died
        return ("lost", f"a worker died: {type(e).__name__}: {e}")


class EventLoop(Backend):
    """An asyncio loop on a thread beside the interface; images go to its executor."""

    def start(self, fn, tasks, inbox):
        self.loop = asyncio.new_event_loop()
        self.executor = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="gui-executor")
        self.loop.set_default_executor(self.executor)
        self.thread = threading.Thread(target=self.loop.run_forever, name="gui-event-loop", daemon=True)
        self.thread.start()

        async def one(i, task):
            if self.cancelled.is_set():
                return
            outcome = await asyncio.get_running_loop().run_in_executor(None, _outcome, fn, task)
            inbox.put((i, outcome))

        async def all_of_them():
            await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks)))

        self.job = asyncio.run_coroutine_threadsafe(all_of_them(), self.loop)

    def stop(self):
        if getattr(self, "loop", None) is None:
            return
        self.cancelled.set()
        self.executor.shutdown(wait=True, cancel_futures=True)
        try:
            self.job.result(timeout=STOP_BOUND_S)
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError, Exception):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=STOP_BOUND_S)
        self.loop.close()


BACKENDS = {"serial": InTheFrame, "threading": Threads, "multiprocessing": Processes, "asyncio": EventLoop}


class App:
    """The interface's state and its per-frame work; the same whatever runs the job."""

    def __init__(self, backend, args, engine_fn):
        self.backend, self.args, self.fn = backend, args, engine_fn
        self.frames = self.clicks = 0
        self.state, self.error = "idle", None
        self.outcomes, self.done = [], 0
        self.inbox = queue.SimpleQueue()
        self.frame_starts = []
        self.job_started_s = self.job_ended_s = None
        self.result = None
        self._t0 = None
        self._last_line = 0.0

    def now(self):
        return time.perf_counter() - self._t0

    def status(self):
        if self.state == "idle":
            return "idle: press the button to start the job"
        if self.state == "running":
            return "running"
        if self.state == "error":
            return f"error: {self.error}"
        if self.state == "stopped":
            return f"stopped: closed with {self.done} of {len(self.outcomes)} images done"
        digest, failed, secs = self.result
        return f"done: {len(self.outcomes) - failed} of {len(self.outcomes)} images in {secs:.2f} s, digest {digest[:16]}"

    def line(self):
        return f"ui: frame {self.frames} | {self.done}/{len(self.outcomes)} images | {self.clicks} clicks | {self.status()}"

    def start(self):
        try:
            # A named input that is not there is the whole job's error, not one item's.
            for item in self.args.inputs:
                if not os.path.exists(item):
                    raise ChapterError(
                        f"{item}: no such file or directory (make inputs with `decision-table gen images --out {item}`)"
                    )
            files = images.list_inputs(self.args.inputs)
            images.prepare_out(self.args.out, files)
        except ChapterError as e:
            self.state, self.error = "error", str(e)
            self.job_ended_s = self.now()
            say(self.line())
            return
        self.outcomes = [None] * len(files)
        self.state, self._started = "running", time.perf_counter()
        self.job_started_s = self.now()
        say(self.line())
        self.backend.start(self.fn, [(f, self.args.out, self.args.sigma) for f in files], self.inbox)

    def receive(self):
        if self.state != "running":
            return
        while True:
            try:
                i, outcome = self.inbox.get_nowait()
            except queue.Empty:
                break
            if self.outcomes[i] is None:
                self.outcomes[i] = outcome
                self.done += 1
        if self.done == len(self.outcomes):
            d, failed = Digest(), 0
            for kind, value in self.outcomes:
                if kind == "done":
                    d.update(value)
                else:
                    failed += 1
                    d.update(b"failed")
            self.result = (d.finish(), failed, time.perf_counter() - self._started)
            self.state = "finished"
            self.job_ended_s = self.now()
            say(self.line())

    def draw(self):
        """What a toolkit's Python side does each frame: lay out the widgets, format their
        text, and hand the shapes on. A few hundred Python operations, holding the GIL."""
        shapes = []
        y = 8.0
        texts = (
            f"Responsive GUI: {self.args.model}",
            f"frame {self.frames}",
            f"Process the images ({self.backend.workers} workers)",
            f"{self.done} / {len(self.outcomes)} images",
            f"clicks: {self.clicks}",
            self.status(),
            "Close",
        )
        for text in texts:
            width = 0.0
            for ch in text:
                width += 7.0 if ch.isalnum() else 4.0
            shapes.append(("text", 8.0, y, width, 14.0, text))
            y += 22.0
        frac = self.done / len(self.outcomes) if self.outcomes else 0.0
        shapes.append(("rect", 8.0, 80.0, 360.0 * frac, 18.0, None))
        return sum(s[3] * s[4] for s in shapes)

    def frame(self, events):
        if self._t0 is None:
            self._t0 = time.perf_counter()
        now = self.now()
        self.frame_starts.append(now)
        self.frames += 1
        self.receive()
        for ev in events:
            if ev == "start" and self.state == "idle":
                # serial runs the whole job right here, inside this frame.
                self.start()
                self.receive()
            elif ev == "probe":
                self.clicks += 1
        self.draw()
        if now - self._last_line >= 1.0:
            self._last_line = now
            say(self.line())

    def close(self):
        self.backend.cancelled.set()
        self.backend.stop()
        if self.state == "running":
            self.receive()
        if self.state == "running":
            self.state = "stopped"
            self.job_ended_s = self.now()
            say(self.line())

    def ended(self):
        return self.state not in ("idle", "running")


def drive(app, args):
    """The 60 Hz frame loop with injected clicks; returns (probes sent, click latencies ms,
    start-click latency ms)."""
    period = 1.0 / HZ
    t0 = time.perf_counter()
    start_due = args.start_ms / 1000.0
    every = args.click_every_ms / 1000.0
    next_probe = start_due + every
    start_sent = False
    pressed = None
    unseen = deque()
    latencies, probes, start_click_ms = [], 0, None
    close_at = None if args.close_at_ms is None else args.close_at_ms / 1000.0
    tick = 0
    while True:
        delay = t0 + tick * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.perf_counter() - t0
        events = []
        if pressed is not None:
            # The release, in the frame after the press: where a toolkit fires the click.
            events.append(pressed)
            pressed = None
        elif not start_sent and t >= start_due:
            pressed, start_sent = "start", True
        elif start_sent and t >= next_probe:
            pressed = "probe"
            unseen.append(next_probe)
            probes += 1
            next_probe += every
        clicks_before, was_idle = app.clicks, app.state == "idle"
        app.frame(events)
        end = time.perf_counter() - t0
        for _ in range(app.clicks - clicks_before):
            if unseen:
                latencies.append((end - unseen.popleft()) * 1000.0)
        if was_idle and app.state != "idle" and start_click_ms is None:
            start_click_ms = (end - start_due) * 1000.0
        tail_over = app.job_ended_s is not None and t >= app.job_ended_s + args.tail_ms / 1000.0
        if tail_over or (close_at is not None and t >= close_at):
            app.close()
            break
        if t >= args.max_seconds:
            app.close()
            raise ChapterError(
                f"the session went on for --max-seconds {args.max_seconds} without the job ending"
            )
        tick = max(tick + 1, int((time.perf_counter() - t0) / period) + 1)
    return probes, latencies, start_click_ms


def quantile(values, q):
    """Nearest rank, as the Rust ``stats::quantile``."""
    if not values:
        return None
    s = sorted(values)
    rank = math.ceil(q * len(s))
    return s[min(max(rank, 1), len(s)) - 1]


def _r1(v):
    return None if v is None else round(v * 10) / 10


def frame_fields(starts, job):
    all_ = [(b - a) * 1000.0 for a, b in zip(starts, starts[1:])]
    if job is None:
        during = all_
    else:
        lo, hi = job
        during = [(b - a) * 1000.0 for a, b in zip(starts, starts[1:]) if b > lo and a < hi]
    return {
        "frames": len(starts),
        "frames_during_job": len(during),
        "frame_p50_ms": _r1(quantile(during, 0.5)),
        "frame_p99_ms": _r1(quantile(during, 0.99)),
        "frame_max_ms": _r1(quantile(during, 1.0)),
        "frames_over_16ms": sum(1 for v in during if v > FRAME_BUDGET_MS),
        "frames_over_100ms": sum(1 for v in during if v > FREEZE_MS),
        "first_frame_s": round(starts[0], 3) if starts else 0.0,
        "frame_intervals_ms": [_r1(v) for v in all_],
    }


def job_workers(args):
    if args.workers is not None:
        return args.workers
    from chapter.cli import cores

    return cores() if args.all_cores else max(1, cores() - 1)


def run(args) -> dict:
    images._pillow()
    model = args.model
    workers = 1 if model == "serial" else job_workers(args)
    fn = process_file_pure if args.engine == "pure" else images.process_file
    backend = BACKENDS[model](workers, args.start_method)
    try:
        items = len(images.list_inputs(args.inputs))
    except ChapterError:
        items = 0
    variant = VARIANTS[model] + ("+pure" if args.engine == "pure" else "")
    run_ = Run.start("gui", model, variant, workers, items)
    app = App(backend, args, fn)
    say("no window: running headless, on a 60 Hz frame clock (the Tk window is not built)")
    probes, latencies, start_click_ms = drive(app, args)
    span = None if app.job_started_s is None else (app.job_started_s, app.job_ended_s or float("inf"))
    run_.extras.update({"display": "headless"})
    run_.extras.update(frame_fields(app.frame_starts, span))
    run_.extras.update({
        "clicks_sent": probes,
        "clicks_seen": len(latencies),
        "click_p50_ms": _r1(quantile(latencies, 0.5)),
        "click_p99_ms": _r1(quantile(latencies, 0.99)),
        "click_max_ms": _r1(quantile(latencies, 1.0)),
        "start_click_ms": start_click_ms,
        "job_started_s": app.job_started_s,
        "job_ended_s": app.job_ended_s,
        "frame_hz": HZ,
        "counter": app.frames,
        "clicks": app.clicks,
        "engine": args.engine,
        "switch_interval_ms": sys.getswitchinterval() * 1000.0,
    })
    if app.state == "error":
        raise ChapterError(app.error)
    if app.state == "finished":
        digest, failed, secs = app.result
        run_.extra("job_s", secs)
        f = run_.extras
        say(f"frames during the job: p50 {f['frame_p50_ms']} ms, p99 {f['frame_p99_ms']} ms, max "
            f"{f['frame_max_ms']} ms, {f['frames_over_16ms']} over 16.7 ms, {f['frames_over_100ms']} over 100 ms")
        return run_.finish(digest, failed)
    run_.extra("cancelled", True).extra("items_done", app.done)
    say(f"closed mid-job: {app.done} of {len(app.outcomes)} images were done; the workers stopped")
    return run_.finish("", 0)
