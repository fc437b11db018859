"""The distributed model in Python: the images scenario's driver and the worker every host
runs, on Redis Streams with a consumer group, through redis-py. The same layout of keys as the
Rust crate (``distributed/src/broker.rs``), on its own queue (``python``), so the two read
alike; the job is Python's (Pillow), so a Rust worker never takes a Python task.

    redis-server --port 6390 --save '' --appendonly no &
    python -m chapter worker --broker redis://127.0.0.1:6390 --processes 2        # on each host
    python -m chapter images data/images-py --out /tmp/img-py --model distributed \\
        --broker redis://127.0.0.1:6390 [--remote --workers 2]

Why redis-py on the streams rather than RQ: RQ keeps its queues in Redis lists and hands a
worker a pickled function call; a task whose worker died is found by RQ's own heartbeat and
moved to a failed-job registry, not claimed by another worker, and a pickle from the network
runs whatever it says. Streams with a consumer group give what this model is about, in the
engine itself: a task stays pending until acknowledged, another worker claims it after a
timeout (``XAUTOCLAIM``), and Redis counts its deliveries; and the Rust and Python sides can
then be read side by side, command for command.

What travels: the PNG's bytes to the worker (``SET``), its result back (``HSETNX``, once per
task, by a Lua script that also announces it and acknowledges the task). What the driver bounds:
tasks and bytes in the engine at once, each task's deadline, how long it waits with no live
worker. A task delivered more than ``--max-attempts`` times (it killed every worker that took
it) is failed and named.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from chapter import images
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest, sha256
from chapter.files import read_input, write_atomically

GROUP = "workers"
RUN_TTL_S = 3600
ALIVE_MS = 3000
WINDOW_TASKS = 64
WINDOW_BYTES = 256 << 20
NO_WORKER_S = 10
#: A task of the images scenario: as the Rust job's two minutes.
TASK_DEADLINE_S = 120
PARENT_PID_ENV = "DISTRIBUTED_PARENT_PID"
EXIT_BROKER_GONE = 3

# The same script as broker.rs: store once, announce, acknowledge, drop the entry.
STORE = """
local stored = -1
if redis.call('EXISTS', KEYS[1]) == 1 then
  stored = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
  if stored == 1 then
    redis.call('XADD', KEYS[3], '*', 'task', ARGV[1])
  end
end
redis.call('DEL', KEYS[4])
redis.call('XACK', KEYS[5], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[5], ARGV[4])
return stored
"""


class Keys:
    def __init__(self, queue):
        self.prefix = f"dt:{queue}"
        self.tasks = f"{self.prefix}:tasks"

    def alive(self, worker):
        return f"{self.prefix}:alive:{worker}"

    def run(self, run_id):
        base = f"{self.prefix}:run:{run_id}"
        return {
            "spec": base,
            "results": f"{base}:results",
            "done": f"{base}:done",
            "stats": f"{base}:stats",
            "input": lambda t: f"{base}:in:{t}",
        }


def _redis():
    try:
        import redis
    except ImportError:
        raise ChapterError("the distributed model needs redis-py (pip install -r python/requirements.txt)") from None
    return redis


def connect(url, io_timeout=30.0):
    redis = _redis()
    try:
        r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=io_timeout)
        r.ping()
    except (redis.ConnectionError, redis.TimeoutError, ValueError) as e:
        raise ChapterError(
            f"cannot reach the broker at {url} ({e}): start one with "
            f"`redis-server --port PORT --save '' --appendonly no`"
        ) from None
    return r


def ensure_group(r, keys):
    redis = _redis()
    try:
        r.xgroup_create(keys.tasks, GROUP, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def alive_workers(r, keys):
    return sum(1 for _ in r.scan_iter(match=keys.alive("*"), count=1000))


# ---------------------------------------------------------------------------------------------
# The driver


def run(args) -> dict:
    """``python -m chapter images ... --model distributed``."""
    inputs = images.list_inputs(args.inputs)
    images.prepare_out(args.out, inputs)
    images._pillow()
    keys = Keys(args.queue)
    r = connect(args.broker)
    ensure_group(r, keys)
    local = None if args.remote else _start_local_workers(args)
    try:
        run_ = Run.start("images", "distributed", "streams", args.workers, len(inputs))
        _wait_for_workers(r, keys, args)
        run_id = f"{os.getpid()}-{time.time_ns()}"
        rk = keys.run(run_id)
        try:
            outcomes, m = _drive(r, keys, rk, run_id, inputs, args)
        except _redis().RedisError as e:
            raise ChapterError(
                f"the broker at {args.broker} failed mid-run ({e}): a broker restarted with "
                f"persistence off has lost the queue and every result not yet collected"
            ) from None
        finally:
            _close(r, rk, len(inputs))
    finally:
        if local is not None:
            local.kill()
            local.wait()
    d, failed, first_error = Digest(), 0, None
    for o in outcomes:
        if isinstance(o, bytes):
            d.update(o)
        else:
            failed += 1
            d.update(b"failed")
            first_error = first_error or o
    if failed and not args.keep_going:
        raise ChapterError(first_error)
    say(f"{len(inputs) - failed} of {len(inputs)} images processed, {failed} failed")
    n = max(m["results"], 1)
    run_.extra("hosts", len(m["hosts"])).extra("processes", len(m["workers"]))
    run_.extra("bytes_to_workers", m["to"]).extra("bytes_from_workers", m["from"])
    run_.extra("bytes_per_task", (m["to"] + m["from"]) // n)
    run_.extra("compute_ms_per_task", round(m["compute_s"] / n * 1e3, 3))
    run_.extra("wire_ms_per_task", round((m["fetch_s"] + m["store_s"]) / n * 1e3, 3))
    run_.extra("driver_ms_per_task", round(m["driver_s"] / n * 1e3, 3))
    run_.extra("redelivered", m["redelivered"]).extra("duplicates", m["duplicates"])
    return run_.finish(d.finish(), failed)


def _start_local_workers(args):
    return subprocess.Popen(
        [sys.executable, "-m", "chapter", "worker", "--broker", args.broker, "--queue", args.queue,
         "--processes", str(args.workers), "--host", "local"],
        stdout=subprocess.DEVNULL,
        env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
    )


def _wait_for_workers(r, keys, args):
    deadline = time.monotonic() + args.wait_workers_s
    while True:
        alive = alive_workers(r, keys)
        if alive >= args.workers:
            return
        if time.monotonic() >= deadline:
            raise ChapterError(
                f"only {alive} of the {args.workers} workers asked for are alive on queue '{args.queue}' "
                f"after {args.wait_workers_s} s: start them with `python -m chapter worker --broker "
                f"{args.broker}` on each host, or drop --remote to start them here"
            )
        time.sleep(0.05)


def _drive(r, keys, rk, run_id, inputs, args):
    settings = json.dumps({"sigma": args.sigma}).encode()
    p = r.pipeline(transaction=True)
    p.hset(rk["spec"], mapping={"job": "py-image", "settings": settings, "max_attempts": args.max_attempts})
    p.expire(rk["spec"], RUN_TTL_S)
    p.execute()
    n = len(inputs)
    outcomes = [None] * n
    m = {"results": 0, "to": 0, "from": 0, "fetch_s": 0.0, "compute_s": 0.0, "store_s": 0.0,
         "driver_s": 0.0, "redelivered": 0, "duplicates": 0, "workers": set(), "hosts": set()}
    flying, flying_bytes, settled, nxt = {}, 0, 0, 0
    last_notice, last_alive, last_check = "0-0", time.monotonic(), time.monotonic()
    stopped = False

    def settle(i, outcome):
        nonlocal settled, stopped
        outcomes[i] = outcome
        settled += 1
        if not isinstance(outcome, bytes):
            say(f"failed: {outcome}")
            stopped = stopped or not args.keep_going

    while settled < n:
        while nxt < n and len(flying) < WINDOW_TASKS and flying_bytes < WINDOW_BYTES:
            i, path = nxt, inputs[nxt]
            nxt += 1
            if stopped:
                settle(i, "never run: an earlier failure stopped the run")
                continue
            t0 = time.perf_counter()
            try:
                png = read_input(path, images.MAX_INPUT_BYTES, images._HINT)
            except ChapterError as e:
                settle(i, str(e))
                continue
            p = r.pipeline(transaction=False)
            p.set(rk["input"](i), png, ex=RUN_TTL_S)
            p.xadd(keys.tasks, {"run": run_id, "task": i, "item": path,
                                **({"poison": 1} if args.poison_task == i else {})})
            p.execute()
            m["to"] += len(png)
            flying[i] = (path, time.monotonic(), len(png))
            flying_bytes += len(png)
            m["driver_s"] += time.perf_counter() - t0
        if settled == n:
            break
        reply = r.xread({rk["done"]: last_notice}, count=64, block=500) or []
        for _stream, entries in reply:
            for entry_id, fields in entries:
                last_notice = entry_id
                task = int(fields[b"task"])
                if task not in flying:
                    m["duplicates"] += 1
                    continue
                path, _since, size = flying.pop(task)
                flying_bytes -= size
                t0 = time.perf_counter()
                raw = r.hget(rk["results"], task)
                r.hdel(rk["results"], task)
                settle(task, _collect(raw, path, args.out, m))
                m["driver_s"] += time.perf_counter() - t0
        if time.monotonic() - last_check >= 1.0:
            last_check = time.monotonic()
            if alive_workers(r, keys) > 0:
                last_alive = last_check
            elif last_check - last_alive >= NO_WORKER_S:
                raise ChapterError(
                    f"no worker has been alive on queue '{args.queue}' for {NO_WORKER_S} s, with "
                    f"{settled} of {n} results in: start one with `python -m chapter worker --broker {args.broker}`"
                )
            limit = (TASK_DEADLINE_S + args.claim_after_ms / 1000) * args.max_attempts
            for task in [t for t, (_, since, _) in flying.items() if time.monotonic() - since > limit]:
                path, _since, size = flying.pop(task)
                flying_bytes -= size
                settle(task, f"{path}: no worker returned a result within {limit:.0f} s")
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        stores, store_s = r.hmget(rk["stats"], "stores", "store_s")
        if int(stores or 0) >= m["results"]:
            break
        time.sleep(0.01)
    m["store_s"] = float(store_s or 0.0)
    return outcomes, m


def _collect(raw, path, out, m):
    """A task's outcome from its stored result: the output's SHA-256, or why it failed."""
    if raw is None:
        return f"{path}: its result was announced but is not in the broker"
    header, _, body = raw.partition(b"\n")
    meta = json.loads(header)
    m["results"] += 1
    m["fetch_s"] += meta["fetch_s"]
    m["compute_s"] += meta["compute_s"]
    m["redelivered"] += meta["attempt"] > 1
    m["workers"].add(meta["worker"])
    m["hosts"].add(meta["host"])
    if meta.get("error"):
        return meta["error"]
    m["from"] += len(body)
    write_atomically(os.path.join(out, os.path.basename(path)), body)
    return sha256(body)


def _close(r, rk, tasks):
    names = [rk["spec"], rk["results"], rk["done"], rk["stats"]] + [rk["input"](t) for t in range(tasks)]
    try:
        for i in range(0, len(names), 1000):
            r.delete(*names[i:i + 1000])
    except _redis().RedisError:
        pass


# ---------------------------------------------------------------------------------------------
# The worker


def worker_main(args) -> int:
    """``python -m chapter worker``: keep ``--processes`` worker processes alive."""
    _tie_to_parent()
    if args.child:
        return _serve(args)
    connect(args.broker)
    host = args.host or socket.gethostname()

    def spawn():
        return subprocess.Popen(
            [sys.executable, "-m", "chapter", "worker", "--child", "--broker", args.broker,
             "--queue", args.queue, "--host", host, "--claim-after-ms", str(args.claim_after_ms)],
            env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
        )

    kids = [spawn() for _ in range(args.processes)]
    say(f"{host}: {args.processes} worker process(es) on queue '{args.queue}' at {args.broker}")
    replaced = 0
    try:
        while True:
            time.sleep(0.1)
            for i, kid in enumerate(kids):
                code = kid.poll()
                if code is None:
                    continue
                if code == EXIT_BROKER_GONE:
                    raise ChapterError(f"{host}: the broker at {args.broker} has been unreachable; stopping")
                if replaced >= args.max_restarts:
                    raise ChapterError(f"{host}: {replaced} worker processes died and were replaced; giving up")
                replaced += 1
                say(f"{host}: worker process {kid.pid} died (status {code}); starting another")
                kids[i] = spawn()
    finally:
        for kid in kids:
            kid.kill()
            kid.wait()


def _tie_to_parent():
    """Die with the process that started us (PR_SET_PDEATHSIG), as the Rust workers do."""
    expected = os.environ.get(PARENT_PID_ENV)
    if expected is None:
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if str(os.getppid()) != expected:
        raise ChapterError(f"the process that started this worker ({expected}) is gone")


def _serve(args) -> int:
    redis = _redis()
    keys = Keys(args.queue)
    name = f"{args.host}-{os.getpid()}"
    r = _connect_patiently(args)
    store = r.register_script(STORE)
    runs = {}
    current = {"entry": None}
    _heartbeat(args.broker, keys, name, current)
    last_claim = 0.0
    while True:
        try:
            task = None
            if time.monotonic() - last_claim >= args.claim_after_ms / 4000:
                last_claim = time.monotonic()
                _next, claimed, *_ = r.xautoclaim(keys.tasks, GROUP, name, args.claim_after_ms, "0-0", count=1)
                if claimed:
                    entry_id, fields = claimed[0]
                    info = r.xpending_range(keys.tasks, GROUP, entry_id, entry_id, 1)
                    task = (entry_id, fields, info[0]["times_delivered"] if info else 2)
            if task is None:
                reply = r.xreadgroup(GROUP, name, {keys.tasks: ">"}, count=1, block=1000)
                if not reply:
                    continue
                entry_id, fields = reply[0][1][0]
                task = (entry_id, fields, 1)
            _do_task(r, store, keys, name, args.host, runs, current, *task)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            say(f"{name}: lost the broker ({e}); reconnecting")
            runs.clear()
            r = _connect_patiently(args)
            store = r.register_script(STORE)
        except redis.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            ensure_group(r, keys)


def _connect_patiently(args):
    deadline = time.monotonic() + args.broker_wait_s
    while True:
        try:
            r = connect(args.broker)
            ensure_group(r, Keys(args.queue))
            return r
        except ChapterError:
            if time.monotonic() >= deadline:
                sys.stderr.write(f"worker {os.getpid()}: the broker at {args.broker} stayed unreachable\n")
                sys.exit(EXIT_BROKER_GONE)
            time.sleep(0.25)


def _heartbeat(url, keys, name, current):
    import threading

    def beat():
        while True:
            try:
                r = connect(url, io_timeout=5)
                while True:
                    p = r.pipeline(transaction=False)
                    p.set(keys.alive(name), name, px=ALIVE_MS)
                    if current["entry"] is not None:
                        p.xclaim(keys.tasks, GROUP, name, 0, [current["entry"]], justid=True)
                    p.execute()
                    time.sleep(0.5)
            except Exception:
                time.sleep(0.5)

    threading.Thread(target=beat, daemon=True).start()


def _do_task(r, store, keys, name, host, runs, current, entry_id, fields, attempt):
    run_id = fields.get(b"run", b"").decode()
    task = int(fields.get(b"task", b"0"))
    path = fields.get(b"item", b"").decode()
    rk = keys.run(run_id)
    if run_id not in runs:
        if len(runs) >= 16:
            runs.clear()
        spec = r.hgetall(rk["spec"])
        runs[run_id] = None if not spec else (
            json.loads(spec[b"settings"]), int(spec.get(b"max_attempts", b"3")), spec.get(b"job", b"").decode())
    state = runs[run_id]
    meta = {"worker": name, "host": host, "attempt": attempt, "fetch_s": 0.0, "compute_s": 0.0}

    def finish(body=b""):
        t0 = time.perf_counter()
        keys_ = [rk["spec"], rk["results"], rk["done"], rk["input"](task), keys.tasks]
        stored = store(keys=keys_, args=[task, json.dumps(meta).encode() + b"\n" + body, GROUP, entry_id])
        current["entry"] = None
        if stored == 1:
            p = r.pipeline(transaction=False)
            p.hincrbyfloat(rk["stats"], "store_s", time.perf_counter() - t0)
            p.hincrby(rk["stats"], "stores", 1)
            p.expire(rk["stats"], RUN_TTL_S)
            p.execute()

    if state is None:
        # The driver is gone: nobody wants this task.
        p = r.pipeline(transaction=False)
        p.xack(keys.tasks, GROUP, entry_id)
        p.xdel(keys.tasks, entry_id)
        p.execute()
        return
    settings, max_attempts, job = state
    if job != "py-image":
        meta["error"] = f"this worker knows no job called '{job}'"
        return finish()
    if attempt > max_attempts:
        meta["error"] = (f"{path} (task {task}) was given up after {max_attempts} attempts: each worker "
                         f"that took it died before storing a result")
        say(f"{name}: {meta['error']}")
        return finish()
    current["entry"] = entry_id
    t0 = time.perf_counter()
    png = r.get(rk["input"](task))
    meta["fetch_s"] = time.perf_counter() - t0
    if png is None:
        # Another worker stored its result (and deleted the input).
        current["entry"] = None
        r.xack(keys.tasks, GROUP, entry_id)
        r.xdel(keys.tasks, entry_id)
        return
    if b"poison" in fields:
        os.kill(os.getpid(), signal.SIGKILL)  # the test fault: this task kills whoever takes it
    t0 = time.perf_counter()
    try:
        body = images.transform(path, png, settings["sigma"])
    except ChapterError as e:
        meta["error"] = str(e)
        body = b""
    meta["compute_s"] = time.perf_counter() - t0
    finish(body)
