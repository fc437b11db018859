"""What the chapter's own examples share in every model: the shared clock of the timeline
lines, the names of the cakes, the workers' lines, the work a queue item stands for, and the
check that a queue delivered every item exactly once. The digests are byte for byte those of
the Rust ``chapter`` module (``cakes_digest``, ``workers_digest``, ``verify_queue``).
"""

import time

from chapter.console import say
from chapter.contract import ChapterError
from chapter.digest import Digest, of_all
from chapter.rng import mix

CAKES = ("chocolate", "carrot", "lemon", "orange", "coconut", "strawberry", "banana", "vanilla")


class Clock:
    """A start time that survives the trip to a child process (wall-clock nanoseconds), so
    every line of one run is stamped from the same start."""

    def __init__(self, t0_ns=None) -> None:
        self.t0_ns = time.time_ns() if t0_ns is None else t0_ns

    def secs(self) -> float:
        return (time.time_ns() - self.t0_ns) / 1e9

    def stamp(self) -> str:
        return f"[+{self.secs():.3f} s]"


def cake_name(i: int) -> str:
    return CAKES[i] if i < len(CAKES) else f"number {i + 1}"


def cake_started(name, clock, who):
    say(f"{clock.stamp()} Baking the {name} cake... ({who})")


def cake_done(name, clock, who):
    say(f"{clock.stamp()} The {name} cake is done! ({who})")


def bake_cake(name, bake_ms, clock, who):
    """Bake by blocking the calling thread: the chapter's ``sleep(1)`` stand-in for work."""
    cake_started(name, clock, who)
    time.sleep(bake_ms / 1000)
    cake_done(name, clock, who)


def worker_started(i, clock, who):
    say(f"{clock.stamp()} Worker {i + 1} started ({who})")


def worker_finished(i, clock, who):
    say(f"{clock.stamp()} Worker {i + 1} finished ({who})")


def run_worker(i, sleep_ms, clock, who):
    worker_started(i, clock, who)
    time.sleep(sleep_ms / 1000)
    worker_finished(i, clock, who)


def cakes_digest(count: int) -> str:
    return of_all(cake_name(i) for i in range(count))


def workers_digest(count: int, sleep_ms: int) -> str:
    return of_all(f"worker {i + 1} slept {sleep_ms} ms" for i in range(count))


def queue_value(i: int) -> int:
    """What consuming item ``i`` produces: cheap, and checkable by anyone."""
    return mix(i ^ 0xC0FF_EE00)


def verify_queue(items: int, consumed) -> str:
    """Check that every item ``0..items`` was consumed exactly once with the right value
    (``consumed`` is (item, value) pairs in any order) and return the digest of the values in
    item order."""
    seen = [0] * items
    wrong = out_of_range = 0
    count = 0
    for i, v in consumed:
        count += 1
        if not 0 <= i < items:
            out_of_range += 1
            continue
        seen[i] += 1
        if v != queue_value(i):
            wrong += 1
    missing = sum(1 for n in seen if n == 0)
    duplicated = sum(1 for n in seen if n > 1)
    if missing + duplicated + wrong + out_of_range:
        raise ChapterError(
            f"queue check failed: {missing} item(s) never consumed, {duplicated} consumed more "
            f"than once, {wrong} with a wrong value, {out_of_range} unknown (of {items} "
            f"produced, {count} consumed)"
        )
    d = Digest()
    for i in range(items):
        d.update_u64(queue_value(i))
    return d.finish()
