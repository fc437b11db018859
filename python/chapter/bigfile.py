"""The chapter's "processing large files" row, the One Billion Row Challenge's workload, in every
model through :func:`chapter.pool.map_in_order`: min / mean / max per station of a file of
``station;temperature`` lines, the Python twin of the Rust ``scenarios::bigfile``.

    decision-table gen bigfile --rows 1000000 --seed 42 --out data/bigfile.txt   # input (Rust tool)
    python -m chapter bigfile data/bigfile.txt --model multiprocessing [--workers N]
        [--chunk-bytes 16M] [--keep-going] [--cold] [--json]

The same rules and the same ranges as Rust, so the same digest:

- :func:`plan` cuts the file at line ends into ranges of about ``--chunk-bytes``: each range
  ends just after the first ``\\n`` at or after its nominal end. Each range is one item.
- A range becomes a partial aggregate: per station ``[min, max, sum, count]`` in integer
  tenths (Python's ``int`` is exact, as Rust's ``i64`` sums are). How it is read is the model's
  part: ``os.pread`` block after block (serial; each multiprocessing worker reads its own
  range), or slices of one ``mmap`` of the file (threading, asyncio's executor threads).
- The partial aggregates are merged in range order; the answer is one line per station in
  byte order of the names, ``name=min/mean/max``; the digest is SHA-256 of the printed answer.
  The mean is rounded half away from zero in integers, ``(2|sum| + count) // (2 count)`` with
  the sum's sign, exactly as Rust computes it.
- A line is valid if it is ``station;temperature``: the station (before the first ``;``) 1 to
  100 bytes of UTF-8, the temperature ``-?D{1,2}.D``. The rules are checked in Rust's order
  (:func:`diagnose`); the hot loop accepts a line only if its station is a known (checked) key
  and its temperature one of the 2,200 valid texts (:data:`TENTHS`, a dict: one lookup
  instead of a regular expression), and sends every other line to :func:`diagnose`.
- Bad input fails naming the file, the line number, the byte offset and the line; with
  ``--keep-going`` malformed lines are skipped and counted (``failed``, exit status 1). A
  range whose worker died has no result, and the run fails rather than print an answer
  without it.

What it shows: pure-Python parsing is CPU-bound and holds the GIL, so threads (and asyncio's
executor threads) are no faster than one; processes each parse their ranges with their own
interpreter, the chapter's advice, and send back only a few hundred stations' figures.
"""

import json
import mmap
import os
import stat
import threading

from chapter import pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import sha256_hex

MAX_STATION = 100
MAX_TEMPERATURE = 5
MAX_LINE = MAX_STATION + 1 + MAX_TEMPERATURE
MAX_STATIONS = 10_000
MAX_RANGES = 100_000
PIECE = 1 << 20

NO_SEMICOLON = "no ';' between a station and a temperature"
STATION_TOO_LONG = "the station name is longer than 100 bytes"
EMPTY_STATION = "the station name is empty"
STATION_NOT_UTF8 = "the station name is not UTF-8"
BAD_TEMPERATURE = "the temperature is not -?D{1,2}.D (one or two digits, a point, one digit)"
NO_FINAL_NEWLINE = "the file does not end in a newline (its last line may be cut short)"
TOO_MANY = (
    f"more than {MAX_STATIONS} distinct stations (the challenge's limit, which bounds the "
    f"memory a file can make this program use)"
)


def _temperatures():
    """Every valid temperature text and its tenths: ``d.d`` and ``dd.d``, with or without ``-``."""
    table = {}
    for v in range(1000):
        a, b, c = v // 100, v // 10 % 10, v % 10
        texts = [f"{a}{b}.{c}"] + ([f"{b}.{c}"] if a == 0 else [])
        for t in texts:
            table[t.encode()] = v
            table[b"-" + t.encode()] = -v
    return table


#: The temperature texts a line may end with, mapped to their tenths.
TENTHS = _temperatures()


def chunk_bytes(s: str) -> int:
    """``--chunk-bytes``: a number of bytes with an optional K, M or G, 64 bytes to 1G."""
    t = s.strip()
    shift = {"K": 10, "M": 20, "G": 30}.get(t[-1:].upper(), 0)
    digits = t[:-1] if shift else t
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"'{s}' is not a size: use a number of bytes with K, M or G, like 16M")
    n = int(digits) << shift
    if not 64 <= n <= 1 << 30:
        raise ValueError(f"{s} is out of range: use 64 bytes to 1G")
    return n


def mean_tenths(total: int, count: int) -> int:
    q = (2 * abs(total) + count) // (2 * count)
    return -q if total < 0 else q


def format_tenths(t: int) -> str:
    return f"{'-' if t < 0 else ''}{abs(t) // 10}.{abs(t) % 10}"


def diagnose(head: bytes, length: int):
    """The rule book (Rust's ``parse::diagnose``, same order): ``((station, tenths), None)`` or
    ``(None, why)``. ``head`` is the line or its first ``MAX_LINE + 1`` bytes; ``length`` its
    whole length without the newline."""
    p = head[: MAX_STATION + 1].find(b";")
    if p < 0:
        return None, STATION_TOO_LONG if length > MAX_STATION else NO_SEMICOLON
    station = head[:p]
    if not station:
        return None, EMPTY_STATION
    try:
        station.decode("utf-8")
    except UnicodeDecodeError:
        return None, STATION_NOT_UTF8
    if length > MAX_LINE:
        return None, BAD_TEMPERATURE
    t = TENTHS.get(head[p + 1 : length])
    if t is None:
        return None, BAD_TEMPERATURE
    return (station, t), None


def quoted(head: bytes, length: int) -> str:
    text = json.dumps(head.decode("utf-8", "replace"), ensure_ascii=False)
    return f"{text}... ({length} bytes)" if length > len(head) else text


class BadLine(ChapterError):
    def __init__(self, path, offset, head, length, why):
        self.offset, self.head, self.length, self.why = offset, head[: MAX_LINE + 1], length, why
        super().__init__(f"{path}: byte {offset}: {why}: {quoted(self.head, length)}")


class Scanner:
    """Splits what it is fed into lines and adds them to its table (Rust's ``read::Scanner``)."""

    def __init__(self, path, start, keep_going):
        self.path, self.pos, self.keep_going = path, start, keep_going
        self.table = {}
        self.rows = self.malformed = 0
        self.first_bad = None
        self.pending = None  # (offset, head, length) of a line not ended yet

    def _bad(self, offset, head, length, why):
        if not self.keep_going:
            raise BadLine(self.path, offset, head, length, why)
        self.malformed += 1
        if self.first_bad is None:
            self.first_bad = (offset, head[: MAX_LINE + 1], length, why)

    def _checked(self, offset, head, length):
        ok, why = diagnose(head, length)
        if why is not None:
            self._bad(offset, head, length, why)
            return
        station, t = ok
        s = self.table.get(station)
        if s is None:
            if len(self.table) >= MAX_STATIONS:
                raise ChapterError(f"{self.path}: byte {offset}: {TOO_MANY}")
            self.table[station] = [t, t, t, 1]
        else:
            s[0] = min(s[0], t)
            s[1] = max(s[1], t)
            s[2] += t
            s[3] += 1
        self.rows += 1

    def feed(self, data: bytes) -> None:
        base = self.pos
        self.pos += len(data)
        if self.pending is not None:
            offset, head, length = self.pending
            nl = data.find(b"\n")
            room = max(0, MAX_LINE + 1 - len(head))
            if nl < 0:
                self.pending = (offset, head + data[:room], length + len(data))
                return
            self.pending = None
            self._checked(offset, head + data[: min(nl, room)], length + nl)
            data = data[nl + 1 :]
            base += nl + 1
        lines = data.split(b"\n")
        tail = lines.pop()
        get, tenths = self.table.get, TENTHS.get
        slow = []
        # The hot loop: a known station and a valid temperature text, or the rule book later.
        for i, line in enumerate(lines):
            station, _, temp = line.partition(b";")
            s = get(station)
            t = tenths(temp)
            if s is not None and t is not None:
                if t < s[0]:
                    s[0] = t
                if t > s[1]:
                    s[1] = t
                s[2] += t
                s[3] += 1
            else:
                slow.append(i)
        self.rows += len(lines) - len(slow)
        # Offsets only for the lines that need one, summed once from the start of the piece.
        offset, done = base, 0
        for i in slow:
            offset += sum(len(line) + 1 for line in lines[done:i])
            done = i
            self._checked(offset, lines[i], len(lines[i]))
        if tail:
            self.pending = (base + len(data) - len(tail), tail[: MAX_LINE + 1], len(tail))

    def finish(self, at_end_of_file):
        if self.pending is not None:
            offset, head, length = self.pending
            if not at_end_of_file:
                raise ChapterError(
                    f"{self.path}: the range ends in the middle of the line at byte {offset}: "
                    f"the file changed while it was read"
                )
            self._bad(offset, head, length, NO_FINAL_NEWLINE)
        return self.table, self.rows, self.malformed, self.first_bad


# ---------------------------------------------------------------------------------------------
# The readers, and the job every model maps over the ranges.

_maps = {}
_maps_lock = threading.Lock()


def _map_of(path, length):
    """One read-only map of the file per process, shared by its threads."""
    with _maps_lock:
        m = _maps.get(path)
        if m is None:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size != length:
                    raise ChapterError(f"{path} changed size since the run began")
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            _maps[path] = m
        return m


def aggregate_range(path, length, reader, keep_going, span):
    """One item: the partial aggregate of ``span = (start, end)``."""
    start, end = span
    scanner = Scanner(path, start, keep_going)
    if reader == "mmap":
        m = _map_of(path, length)
        for pos in range(start, end, PIECE):
            scanner.feed(m[pos : min(end, pos + PIECE)])
    else:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            pos = start
            while pos < end:
                data = os.pread(fd, min(PIECE, end - pos), pos)
                if not data:
                    raise ChapterError(f"{path} ended at byte {pos}, before {end}: it got shorter")
                scanner.feed(data)
                pos += len(data)
        finally:
            os.close(fd)
    return scanner.finish(end == length)


def drop_cache(path):
    """Write out the file's dirty pages and drop its pages from the page cache (no root)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def plan(path, chunk):
    """Check the input and cut it into ranges at line ends (Rust's ``bigfile::plan``)."""
    hint = " (make one with `decision-table gen bigfile`)"
    try:
        st = os.stat(path)
    except OSError as e:
        raise ChapterError(f"cannot read {path}: {e.strerror}{hint}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ChapterError(f"{path} is a directory: refusing to read it{hint}")
    if not stat.S_ISREG(st.st_mode):
        raise ChapterError(f"{path} is not a regular file (a FIFO, a socket or a device): refusing to read it")
    length = st.st_size
    if length == 0:
        raise ChapterError(f"{path} is empty: there is no row to aggregate{hint}")
    count = -(-length // chunk)
    if count > MAX_RANGES:
        raise ChapterError(
            f"--chunk-bytes {chunk} would cut {path} ({length} bytes) into {count} ranges, more "
            f"than {MAX_RANGES}: use larger chunks"
        )
    ranges, start = [], 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while start < length:
            end = start + chunk
            if end >= length:
                end = length
            else:
                pos = end - 1
                while True:
                    block = os.pread(fd, 4096, pos)
                    if not block:
                        end = length
                        break
                    nl = block.find(b"\n")
                    if nl >= 0:
                        end = pos + nl + 1
                        break
                    pos += len(block)
            ranges.append((start, end))
            start = end
    finally:
        os.close(fd)
    return length, ranges


def lines_before(path, offset):
    n, pos = 0, 0
    with open(path, "rb") as f:
        while pos < offset:
            block = f.read(min(PIECE, offset - pos))
            if not block:
                break
            n += block.count(b"\n")
            pos += len(block)
    return n


def describe(path, offset, head, length, why):
    return f"{path}: line {lines_before(path, offset) + 1} (byte {offset}): {why}: {quoted(head, length)}"


def render(total):
    return "".join(
        f"{name.decode()}={format_tenths(s[0])}/{format_tenths(mean_tenths(s[2], s[3]))}/{format_tenths(s[1])}\n"
        for name, s in sorted(total.items())
    )


def run(args) -> dict:
    import functools

    path = args.input
    length, ranges = plan(path, args.chunk_bytes)
    if args.cold:
        drop_cache(path)
    model = args.model
    variant = args.variant or pool.DEFAULT_VARIANT[model]
    threads_share_a_map = model == "threading" or variant in ("run_in_executor", "blocking")
    reader = "mmap" if threads_share_a_map else "read"
    workers = 1 if model == "serial" else args.workers
    run_ = Run.start("bigfile", model, variant, workers, len(ranges))
    job = functools.partial(aggregate_range, path, length, reader, args.keep_going)
    mapped = pool.map_in_order(
        ranges,
        args.workers,
        job,
        model,
        keep_going=args.keep_going,
        variant=variant,
        die_on_task=args.die_on_task,
        stall_timeout_s=args.stall_timeout_s,
        start_method=args.start_method,
    )
    if mapped.stopped_by is not None:
        i, message = mapped.stopped_by
        try:
            aggregate_range(path, length, "read", False, ranges[i])
        except BadLine as bad:
            message = describe(path, bad.offset, bad.head, bad.length, bad.why)
        except ChapterError:
            pass
        raise ChapterError(message)
    missing = [
        f"range {i} (bytes {a}..{b}): {o.error if o is not None else 'never run'}"
        for i, (o, (a, b)) in enumerate(zip(mapped.outcomes, ranges))
        if o is None or not o.ok
    ]
    if missing:
        raise ChapterError(
            f"{path}: {len(missing)} of {len(ranges)} ranges have no result, so there is no answer "
            f"(one without them would be silently wrong): {'; '.join(missing)}"
        )
    total, rows, malformed, first_bad = {}, 0, 0, None
    for o in mapped.outcomes:
        table, r, m, bad = o.value
        for name, s in table.items():
            t = total.get(name)
            if t is None:
                total[name] = s
            else:
                t[0] = min(t[0], s[0])
                t[1] = max(t[1], s[1])
                t[2] += s[2]
                t[3] += s[3]
        if len(total) > MAX_STATIONS:
            raise ChapterError(f"{path}: {TOO_MANY}")
        rows += r
        malformed += m
        first_bad = first_bad or bad
    answer = render(total)
    if answer:
        say(answer.rstrip("\n"))
    if first_bad is not None:
        say(f"{malformed} malformed line(s) skipped; the first: {describe(path, *first_bad)}")
    seconds = run_.elapsed_s()
    gb_per_s = length / max(seconds, 1e-9) / 1e9
    cache = "cold" if args.cold else "warm"
    say(
        f"{rows} rows, {len(total)} stations, {length / 1e6:.1f} MB in {seconds:.3f} s: "
        f"{gb_per_s:.2f} GB/s ({cache} cache, {reader})"
    )
    if model == "multiprocessing" or variant == "process_executor":
        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    run_.extras.update(mapped.extras)
    run_.extra("bytes", length).extra("rows", rows).extra("stations", len(total))
    run_.extra("malformed", malformed).extra("chunk_bytes", args.chunk_bytes).extra("reader", reader)
    run_.extra("cache", cache).extra("gb_per_s", round(gb_per_s, 6))
    return run_.finish(sha256_hex(answer.encode()), malformed)
