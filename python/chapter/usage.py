"""CPU time and peak memory of a run, child processes included: the twin of the Rust ``usage``
module, with one difference in how children's memory is counted.

- CPU: ``getrusage(RUSAGE_SELF)`` plus ``getrusage(RUSAGE_CHILDREN)``. The kernel adds a child
  to ``RUSAGE_CHILDREN`` when it is waited for, so every model reaps its workers (pools shut
  down and joined) before it reports. A reading at the start is subtracted, as in Rust.
- Memory: this process's own peak (``VmHWM``), plus, for a run with child processes, the peak
  over the run of their *summed PSS*. A forked worker shares most of its pages with the parent
  and its siblings (the interpreter, the libraries, everything the parent had touched before
  the fork); RSS counts every shared page once per process, PSS splits it between them, so the
  sum of RSS overstates what a pool costs and the sum of PSS does not. Both peaks are reported
  (``children_pss_kib``, ``children_rss_kib``) so the difference is there to see.
- The children are read from ``/proc/PID/smaps_rollup`` by a sampler thread every 20 ms while
  they live (a child's memory is gone once it exits, so it cannot be read at the end). The
  same thread samples the number of threads of this process and of each child, for the
  ``os_threads`` figure of the I/O scenarios.

Finding the children: this kernel has no ``/proc/PID/task/TID/children``, so the sampler scans
``/proc/*/stat`` for processes whose parent is us (or a descendant of ours). A scan costs about
a millisecond, so it runs every 50 ms, and only in runs that said they start processes
(:func:`expect_children`); the known children are read every 20 ms. A child that lives less
than that may be missed: the figures are for runs that last seconds.
"""

import os
import resource
import threading
import time

SAMPLE_EVERY_S = 0.020
RESCAN_EVERY_S = 0.050


def _status_field_kib(path: str, field: str):
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def own_peak_rss_kib() -> int:
    return _status_field_kib("/proc/self/status", b"VmHWM:") or 0


def own_rss_kib() -> int:
    return _status_field_kib("/proc/self/status", b"VmRSS:") or 0


def threads_of(pid="self"):
    return _status_field_kib(f"/proc/{pid}/status", b"Threads:")


def cpu_seconds():
    """(user, sys) of this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def descendants(root: int) -> set:
    """Every live process below ``root``, found by their parent pids in /proc."""
    parent_of = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return set()
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        rest = stat[stat.rfind(b")") + 2 :].split()
        if len(rest) > 1:
            parent_of[int(name)] = int(rest[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parent_of.items() if ppid in frontier} - found
        found |= frontier
    return found


def _rollup_kib(pid: int):
    """(PSS, RSS) of a live process in KiB, or None once it is gone."""
    pss = rss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith(b"Rss:"):
                    rss = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    if pss is None or rss is None:
        return None
    return pss, rss


class Sampler:
    """The thread behind the memory and thread figures of one run."""

    def __init__(self) -> None:
        self.children_pss_peak = 0
        self.children_rss_peak = 0
        self.own_threads_peak = 0
        self.child_threads_peak = {}
        self._watch_children = False
        self._known = set()
        self._last_scan = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="usage-sampler", daemon=True)
        self._thread.start()

    def expect_children(self) -> None:
        with self._lock:
            self._watch_children = True
            self._last_scan = 0.0

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            threads = threads_of()
            if threads is not None:
                # Not counting the sampler itself, as the Rust sampler does not.
                self.own_threads_peak = max(self.own_threads_peak, threads - 1)
            if not self._watch_children:
                return
            now = time.monotonic()
            if now - self._last_scan >= RESCAN_EVERY_S:
                self._known = descendants(os.getpid())
                self._last_scan = now
            pss_sum = rss_sum = 0
            for pid in list(self._known):
                got = _rollup_kib(pid)
                if got is None:
                    self._known.discard(pid)
                    continue
                pss_sum += got[0]
                rss_sum += got[1]
                t = threads_of(pid)
                if t:
                    self.child_threads_peak[pid] = max(self.child_threads_peak.get(pid, 0), t)
            self.children_pss_peak = max(self.children_pss_peak, pss_sum)
            self.children_rss_peak = max(self.children_rss_peak, rss_sum)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sample()

    @property
    def watched_children(self) -> bool:
        return self._watch_children

    def os_threads(self) -> int:
        return self.own_threads_peak + sum(self.child_threads_peak.values())

    def processes(self) -> int:
        return 1 + len(self.child_threads_peak)


_current = None


def start_sampler() -> Sampler:
    global _current
    _current = Sampler()
    return _current


def current_sampler():
    return _current


def expect_children() -> None:
    """Say that this run starts child processes: the sampler starts looking for them."""
    if _current is not None:
        _current.expect_children()
