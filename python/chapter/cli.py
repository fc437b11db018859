"""The command line: the Rust binaries' subcommands and flags (same names, meanings and, where
sensible, defaults), plus ``--model`` to choose the model in this one program.

    python -m chapter SCENARIO ... --model M [--json]      (python -m chapter --help lists them)
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
    _common(p, models=MODELS + ("distributed",))
    _distributed_driver(p)
    _pooled(p)
    p.add_argument("inputs", nargs="*", default=["data/images"], help="PNG files, or directories of them")
    p.add_argument("--out", default="data/images-out", help="directory for the outputs (created if missing)")
    p.add_argument("--workers", type=workers, default=cores(), help="how many workers (default: cores)")
    p.add_argument("--sigma", type=sigma, default=2.0, help="standard deviation of the Gaussian blur, in pixels")
    p.add_argument("--keep-going", action="store_true", help="after a bad input, process the others and count failures")
    p.add_argument("--variant", choices=all_variants, default=None,
                   help="multiprocessing: processes|pool_map; asyncio: run_in_executor|process_executor|blocking")

    from chapter.bigfile import chunk_bytes

    p = sub.add_parser("bigfile", help="large files: min/mean/max per station of a station;temperature file")
    _common(p)
    _pooled(p)
    p.add_argument("input", nargs="?", default="data/bigfile.txt",
                   help="the file to read (make one with `decision-table gen bigfile`)")
    p.add_argument("--workers", type=workers, default=cores(), help="how many workers read ranges (default: cores)")
    p.add_argument("--chunk-bytes", type=_wrap(chunk_bytes), default="16M",
                   help="about how many bytes per range, 64 to 1G, K/M/G allowed (default: 16M)")
    p.add_argument("--keep-going", action="store_true", help="skip malformed lines and count them (exit status 1)")
    p.add_argument("--cold", action="store_true",
                   help="drop the file's pages from the page cache first (posix_fadvise DONTNEED)")
    p.add_argument("--variant", choices=all_variants, default=None,
                   help="multiprocessing: processes|pool_map; asyncio: run_in_executor|process_executor|blocking")
    p = sub.add_parser("worker", help="distributed: the worker processes of one host, taking tasks from Redis")
    _broker(p)
    p.add_argument("--processes", type=workers, default=cores(), help="worker processes on this host (default: cores)")
    p.add_argument("--host", default=None, help="the host's name in the summaries (default: the host name)")
    p.add_argument("--claim-after-ms", type=claim_ms, default=3000,
                   help="claim a task whose worker has been silent this long")
    p.add_argument("--broker-wait-s", type=bounded(1, 600), default=30,
                   help="how long to keep trying to reach a broker that went away")
    p.add_argument("--max-restarts", type=bounded(0, 100_000), default=100,
                   help="how many dead worker processes this host replaces before it gives up")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

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

    p = sub.add_parser("pipeline", help="mixed I/O + CPU: download the server's images, process each as it arrives")
    _common(p)
    _http(p, 8)
    p.add_argument("--out", default="data/pipeline-out", help="directory for the processed images (created if missing)")
    p.add_argument("--cpu-workers", type=bounded(1, 256), default=cores(),
                   help="processes that compute (multiprocessing, asyncio's executor; default: cores)")
    p.add_argument("--sigma", type=sigma, default=2.0, help="standard deviation of the Gaussian blur, in pixels")
    p.add_argument("--keep-going", action="store_true", help="after a failed image, process the others and count failures")
    # Its own dest: the pipeline's variants are not the images scenario's (see chapter.pipeline).
    p.add_argument("--variant", dest="pipeline_variant", default=None,
                   choices=("threads+processes", "apart", "process_executor", "blocking"),
                   help="multiprocessing: threads+processes (default) | apart (the lower bound); "
                        "asyncio: process_executor (default) | blocking (CPU work on the loop)")
    _pooled(p)
    p = sub.add_parser("db", help="N small database transactions (PostgreSQL or SQLite); tables from `decision-table gen db`")
    _common(p)
    p.add_argument("--db", default=None, metavar="URL",
                   help="postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH (default: $DATABASE_URL, else sqlite:data/db.sqlite)")
    p.add_argument("--transactions", type=bounded(1, 1_000_000), default=2000, help="how many transactions (ids 0 to N-1)")
    p.add_argument("--workers", type=workers, default=8,
                   help="how many transactions are in flight at once, a connection each (serial runs one)")
    p.add_argument("--retries", type=bounded(0, 10), default=3,
                   help="how many times a transaction that failed for a passing reason is tried again")
    p.add_argument("--backoff-ms", type=millis, default=20, help="wait before the first retry; each further retry waits twice as long")
    p.add_argument("--resume", action="store_true",
                   help="do not reset the tables: transactions the ledger already holds count as already applied")
    p.add_argument("--variant", dest="db_variant", choices=("pool", "pipelined"), default="pool",
                   help="asyncio with PostgreSQL: one statement at a time, or each transaction pipelined")
    p.add_argument("--drop-connection-at", type=bounded(0, 10**9), default=None, help=argparse.SUPPRESS)
    p.add_argument("--stall-timeout-s", type=seconds, default=600.0, help=argparse.SUPPRESS)

    from chapter.crawl import DEFAULT_START, start_url
    from chapter.crawl_parse import PARSERS

    p = sub.add_parser("crawl", help="crawl the local site breadth-first: robots.txt, C per host, parse, extract")
    _common(p)
    p.add_argument("--url", type=_wrap(start_url), default=DEFAULT_START,
                   help="the start page (start a site with `decision-table site`)")
    p.add_argument("--depth", type=bounded(0, 50), default=3,
                   help="follow links this many hops from the start page (the shortest link distance)")
    p.add_argument("--per-host", type=bounded(1, 10_000), default=4,
                   help="at most this many requests in flight to any one host")
    p.add_argument("--workers", type=workers, default=16,
                   help="how many requests are in flight at once over all hosts (serial runs one)")
    p.add_argument("--max-pages", type=bounded(1, 10_000_000), default=100_000,
                   help="stop adding URLs once this many are known")
    from chapter.fetch import MAX_RETRIES

    p.add_argument("--retries", type=bounded(0, MAX_RETRIES), default=3,
                   help="how many times a failed request is tried again, with exponential backoff (0 to 10)")
    p.add_argument("--timeout-ms", type=timeout_ms, default=10_000,
                   help="give up on one attempt after this many milliseconds, from connecting to the last byte")
    p.add_argument("--backoff-ms", type=millis, default=50,
                   help="wait before the first retry; each further retry waits twice as long (2 s at most)")
    p.add_argument("--parser", choices=PARSERS, default="html.parser",
                   help="html.parser (the standard library), bs4 (BeautifulSoup on html.parser) or bs4-lxml")
    p.add_argument("--variant", choices=("run_in_executor", "blocking"), default=None,
                   help="asyncio: parse on a thread (run_in_executor, the default) or on the event loop (blocking)")
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

    p = sub.add_parser("gui", help="a 60 Hz frame loop beside the images job: does the interface keep drawing?")
    _common(p)
    p.add_argument("inputs", nargs="*", default=["data/gui-images"], help="PNG files, or directories of them")
    p.add_argument("--out", default="data/gui-out", help="directory for the outputs (created if missing)")
    p.add_argument("--workers", type=workers, default=None,
                   help="workers of the background job (default: cores - 1, at least 1)")
    p.add_argument("--all-cores", action="store_true", help="give the job every core (workers = cores)")
    p.add_argument("--sigma", type=sigma, default=2.0, help="standard deviation of the Gaussian blur, in pixels")
    p.add_argument("--engine", choices=("pillow", "pure"), default="pillow",
                   help="Pillow (releases the GIL) or a pure-Python blur (holds it: the GIL's effect)")
    p.add_argument("--headless", action="store_true", help="accepted for the Rust flags' sake: always headless")
    p.add_argument("--start-ms", type=millis, default=300, help="when the start button is clicked, in ms")
    p.add_argument("--click-every-ms", type=bounded(10, 10_000), default=100, help="click the probe every this many ms")
    p.add_argument("--tail-ms", type=millis, default=500, help="keep drawing this long after the job has ended")
    p.add_argument("--close-at-ms", type=millis, default=None, help="close the app at this time (mid-job: workers stop)")
    p.add_argument("--max-seconds", type=bounded(1, 3600), default=300, help="the longest a session may last")

    p = sub.add_parser("compare", help="how far two results are apart: matrix FILE1 FILE2 | images DIR1 DIR2")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object on stdout")
    p.add_argument("what", choices=("matrix", "images"))
    p.add_argument("first")
    p.add_argument("second")
    return top


def _broker(p):
    p.add_argument("--broker", default="redis://127.0.0.1:6379", metavar="URL",
                   help="distributed: the Redis server every host talks to")
    p.add_argument("--queue", type=queue_name, default="python", help="distributed: the queue (stream and group)")


def _distributed_driver(p):
    _broker(p)
    p.add_argument("--remote", action="store_true",
                   help="distributed: the workers run elsewhere; wait for --workers of them")
    p.add_argument("--max-attempts", type=bounded(1, 100), default=3,
                   help="distributed: deliveries of a task before it is failed")
    p.add_argument("--claim-after-ms", type=claim_ms, default=3000, help=argparse.SUPPRESS)
    p.add_argument("--wait-workers-s", type=bounded(1, 600), default=30,
                   help="distributed: how long to wait for the workers to be alive")
    p.add_argument("--poison-task", type=bounded(0, 10**9), default=None, help=argparse.SUPPRESS)


def claim_ms(s):
    v = millis(s)
    if v < 100:
        raise argparse.ArgumentTypeError(f"{v} ms is too short: a live worker renews its task every 500 ms")
    return v


def queue_name(s):
    if not (0 < len(s) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in s)):
        raise argparse.ArgumentTypeError(f"'{s}' is not a queue name: use 1 to 64 letters, digits, '-' or '_'")
    return s


def _check_variant(args):
    from chapter.pool import VARIANTS

    v = getattr(args, "variant", None)
    if v is not None and v not in VARIANTS.get(args.model, ()):
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
        if args.command == "worker":
            from chapter import distributed

            return distributed.worker_main(args)
        if args.command == "images" and args.model == "distributed":
            from chapter import distributed

            return exit_status(distributed.run(args))
        if args.command == "compare":
            from chapter import compare

            return compare.run(args)
        module = {
            "cakes": "cakes",
            "workers": "workers",
            "queue": "bounded_queue",
            "matrix": "matrix",
            "images": "images",
            "bigfile": "bigfile",
            "downloads": "downloads",
            "requests": "many_requests",
            "chat-server": "chat_server",
            "crawl": "crawl",
            "db": "db",
            "pipeline": "pipeline",
            "gui": "gui",
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
