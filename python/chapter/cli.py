"""The command line: the Rust binaries' subcommands and flags (same names, meanings and, where
sensible, defaults), plus ``--model`` to choose the model in this one program.

    python -m chapter cakes|workers|queue|matrix|images|downloads|requests|chat-server|train ... --model M [--json]
    python -m chapter compare matrix FILE1 FILE2 | compare images DIR1 DIR2

Every limit exists to turn bad input into a clear message instead of a traceback, a hang or an
hour-long run: ``--workers 0``, ``--bake-ms -5`` and ``--sleep-ms 99999999`` are refused with the
flag's name in the message and exit status 2 (argparse's, as clap's). A run that fails prints
``error: ...`` naming the input and exits 1; an interrupted one (Ctrl-C, SIGTERM) kills and
reaps its worker processes first, then exits 130 or 143.
"""

import argparse
import os
import signal
import sys

from chapter import console
from chapter.contract import ChapterError, exit_status

MAX_MS = 600_000
MODELS = ("serial", "threading", "multiprocessing", "asyncio")


def _int(s):
    try:
        return int(s.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"'{s}' is not a whole number") from None


def bounded(lo, hi):
    def parse(s):
        v = _int(s)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is out of range: use {lo} to {hi}")
        return v

    return parse


def millis(s):
    try:
        v = int(s.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"'{s}' is not a whole number of milliseconds") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative (got {v} ms)")
    if v > MAX_MS:
        raise argparse.ArgumentTypeError(f"{v} ms is more than the {MAX_MS} ms (10 minutes) this accepts")
    return v


def timeout_ms(s):
    v = millis(s)
    if v == 0:
        raise argparse.ArgumentTypeError("a timeout of 0 ms would fail every request; use at least 1")
    return v


def seconds(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a number of seconds") from None
    if not 0.1 <= v <= 3600:
        raise argparse.ArgumentTypeError(f"{v} is out of range: use 0.1 to 3600 seconds")
    return v


def sigma(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a number") from None
    if not 0.1 <= v <= 50.0:
        raise argparse.ArgumentTypeError(f"{v:g} is out of range: use 0.1 to 50 pixels")
    return v


def _wrap(fn):
    def parse(s):
        try:
            return fn(s)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


workers = bounded(1, 10_000)


def number_in(lo, hi):
    def parse(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not a number") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v:g} is out of range: use {lo:g} to {hi:g}")
        return v

    return parse


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _common(p, default_model="serial", models=MODELS):
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print exactly one JSON summary on stdout (human lines go to stderr)")
    p.add_argument("--model", choices=models, default=default_model,
                   help=f"which model runs the work (default: {default_model})")
    p.add_argument("--start-method", choices=("fork", "spawn"), default="fork",
                   help="how worker processes start with --model multiprocessing (default: fork, "
                        "CPython 3.11's default on Linux)")


def _pooled(p):
    p.add_argument("--stall-timeout-s", type=seconds, default=600.0,
                   help="give up when a pool has produced no result for this long (default: 600)")
    p.add_argument("--die-on-task", type=bounded(0, 10**9), default=None, help=argparse.SUPPRESS)


def _http(p, workers_default):
    from chapter.fetch import DEFAULT_URL, MAX_RETRIES, base_url

    p.add_argument("--url", type=_wrap(base_url), default=DEFAULT_URL,
                   help="the server to fetch from (start one with `decision-table serve`)")
    p.add_argument("--retries", type=bounded(0, MAX_RETRIES), default=3,
                   help="how many times a failed request is tried again, with exponential backoff (0 to 10)")
    p.add_argument("--timeout-ms", type=timeout_ms, default=10_000,
                   help="give up on one attempt after this many milliseconds, from connecting to the last byte")
    p.add_argument("--backoff-ms", type=millis, default=50,
                   help="wait before the first retry; each further retry waits twice as long (2 s at most)")
    p.add_argument("--workers", type=workers, default=workers_default,
                   help=f"how many requests are in flight at once (default: {workers_default}; serial runs one)")


def build_parser():
    from chapter.pool import VARIANTS

    top = argparse.ArgumentParser(prog="python -m chapter", description=__doc__.split("\n\n")[0])
    top.add_argument("--json", action="store_true", default=False, help="see each subcommand")
    sub = top.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("cakes", help="the chapter's two cakes: 2 s one after the other, about 1 s at once")
    _common(p)
    p.add_argument("--cakes", type=bounded(1, 64), default=2, help="how many cakes to bake")
    p.add_argument("--bake-ms", type=millis, default=1000, help="how long each cake bakes, in milliseconds")

    p = sub.add_parser("workers", help="the chapter's five workers that each wait 2 s")
    _common(p)
    p.add_argument("--workers", type=workers, default=5, help="how many workers to start")
    p.add_argument("--sleep-ms", type=millis, default=2000, help="how long each worker waits, in milliseconds")

    p = sub.add_parser("queue", help="a bounded producer/consumer queue; every item consumed exactly once")
    _common(p)
    p.add_argument("--items", type=bounded(1, 10_000_000), default=10_000, help="how many items the producer puts")
    p.add_argument("--workers", type=workers, default=2, help="how many consumers take items off the queue")
    p.add_argument("--capacity", type=bounded(1, 1_000_000), default=64,
                   help="how many items the queue holds before the producer has to wait")

    all_variants = sorted({v for vs in VARIANTS.values() for v in vs})
    p = sub.add_parser("matrix", help="CPU-bound math: C = A x B by blocks of rows")
    _common(p)
    _pooled(p)
    p.add_argument("input", nargs="?", default="data/matrix", help="directory holding a.mat and b.mat")
    p.add_argument("--workers", type=workers, default=cores(), help="how many workers compute blocks (default: cores)")
    p.add_argument("--block-rows", type=bounded(1, 16_384), default=256, help="rows of C per work item (256, as in Rust)")
    p.add_argument("--engine", choices=("pure", "numpy"), default="pure",
                   help="pure Python lists (the GIL plainly), or numpy/BLAS (releases the GIL)")
    p.add_argument("--variant", choices=all_variants, default=None,
                   help="multiprocessing: processes|pool_map; asyncio: run_in_executor|process_executor|blocking")
    p.add_argument("--blas-threads", type=bounded(0, 256), default=1,
                   help="BLAS threads per worker with --engine numpy (default 1; 0 leaves BLAS alone)")
    p.add_argument("--save-c", default=None, metavar="FILE", help="write C to FILE (DTMATRIX format)")

    p = sub.add_parser("images", help="CPU-bound images: blur, halve, gray PNGs with Pillow")
    _common(p)
    _pooled(p)
    p.add_argument("inputs", nargs="*", default=["data/images"], help="PNG files, or directories of them")
    p.add_argument("--out", default="data/images-out", help="directory for the outputs (created if missing)")
    p.add_argument("--workers", type=workers, default=cores(), help="how many workers (default: cores)")
    p.add_argument("--sigma", type=sigma, default=2.0, help="standard deviation of the Gaussian blur, in pixels")
    p.add_argument("--keep-going", action="store_true", help="after a bad input, process the others and count failures")
    p.add_argument("--variant", choices=all_variants, default=None,
                   help="multiprocessing: processes|pool_map; asyncio: run_in_executor|process_executor|blocking")

    p = sub.add_parser("downloads", help="download every file of the server's manifest")
    _common(p)
    _http(p, 8)
    p.add_argument("--out", default="downloads", help="the directory the files are written to")
    p.add_argument("--stall-timeout-s", type=seconds, default=600.0, help=argparse.SUPPRESS)

    p = sub.add_parser("requests", help="GET /api/items/0..N and add up a field")
    _common(p)
    _http(p, 100)
    p.add_argument("--count", type=bounded(1, 1_000_000), default=1000, help="how many items to fetch")
    p.add_argument("--stall-timeout-s", type=seconds, default=600.0, help=argparse.SUPPRESS)

    # The machine-learning training row (chapter/train.py): the Rust `train` flags, and the
    # worker processes' respawns.
    p = sub.add_parser("train", help="machine-learning training: SGD on Fashion-MNIST (numpy), data-parallel")
    _common(p)
    _pooled(p)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                   help="the folder holding Fashion-MNIST's four IDX files (Debian: dataset-fashion-mnist)")
    p.add_argument("--workers", type=workers, default=cores(), help="how many workers compute the shards (default: cores)")
    p.add_argument("--epochs", type=bounded(1, 1000), default=5, help="passes over the training set")
    p.add_argument("--batch", type=bounded(1, 65_536), default=128, help="samples per SGD step")
    p.add_argument("--shards", type=bounded(1, 1024), default=4,
                   help="pieces each batch is cut into, by position, whatever --workers is")
    p.add_argument("--hidden", type=bounded(0, 4096), default=128, help="units of the hidden layer; 0: softmax regression")
    p.add_argument("--lr", type=number_in(1e-6, 10.0), default=0.1,
                   help="the learning rate at the start; it falls linearly to 0 at the end")
    p.add_argument("--momentum", type=number_in(0.0, 0.999), default=0.9, help="momentum of the SGD steps")
    p.add_argument("--seed", type=bounded(0, 2**64 - 1), default=42, help="seed of the initial weights and the shuffles")
    p.add_argument("--train-limit", type=bounded(1, 10_000_000), default=None, help="train on the first N images only")
    p.add_argument("--test-limit", type=bounded(1, 10_000_000), default=None, help="evaluate on the first N test images only")
    p.add_argument("--target", type=number_in(0.0, 1.0), default=0.85, help="the test accuracy whose first crossing is timed")
    p.add_argument("--evals-per-epoch", type=bounded(1, 100), default=2, help="evaluations of the test set per epoch")
    p.add_argument("--respawns", type=bounded(0, 1000), default=3,
                   help="with --model multiprocessing: dead or stuck workers replaced before the run fails")
    p.add_argument("--blas-threads", type=bounded(0, 256), default=1,
                   help="BLAS threads per worker (default 1; 0 leaves BLAS alone)")

    from chapter.chat import DEFAULT_ADDR, socket_addr

    p = sub.add_parser("chat-server", help="a line-based chat server (the workspace's protocol)")
    _common(p, "asyncio", ("asyncio", "threading"))
    p.add_argument("--addr", type=_wrap(socket_addr), default=socket_addr(DEFAULT_ADDR),
                   help=f"address to listen on (default {DEFAULT_ADDR}; port 0 picks a free one)")
    p.add_argument("--queue", type=bounded(1, 1_000_000), default=256,
                   help="how many messages a client may fall behind before it is cut off")

    p = sub.add_parser("compare", help="how far two results are apart: matrix FILE1 FILE2 | images DIR1 DIR2")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object on stdout")
    p.add_argument("what", choices=("matrix", "images"))
    p.add_argument("first")
    p.add_argument("second")
    return top


def _check_variant(args):
    from chapter.pool import VARIANTS

    v = getattr(args, "variant", None)
    if v is not None and v not in VARIANTS[args.model]:
        return f"--variant {v} does not go with --model {args.model} (use one of: {', '.join(VARIANTS[args.model])})"
    return None


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt, so the run cleans up."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    bad = _check_variant(args)
    if bad:
        parser.error(bad)
    console.set_json(bool(args.json))
    if args.command != "chat-server":
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.command == "compare":
            from chapter import compare

            return compare.run(args)
        module = {
            "cakes": "cakes",
            "workers": "workers",
            "queue": "bounded_queue",
            "matrix": "matrix",
            "images": "images",
            "downloads": "downloads",
            "requests": "many_requests",
            "chat-server": "chat_server",
            "train": "train",
        }[args.command]
        summary = __import__(f"chapter.{module}", fromlist=["run"]).run(args)
        return exit_status(summary)
    except ChapterError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    except (KeyboardInterrupt, Terminated) as e:
        from chapter.pool import kill_children

        kill_children()
        sys.stderr.write("error: interrupted; worker processes stopped\n")
        sys.stderr.flush()
        sys.stdout.flush()
        # Not a normal exit: it would wait for threads still in the middle of an item.
        os._exit(143 if isinstance(e, Terminated) else 130)
