"""Jobs for the pool tests: module-level, so worker processes can unpickle them."""

import time

from chapter.contract import ChapterError


def slow_square(i):
    # Later items finish first, so completion order is the reverse of input order.
    time.sleep(0.002 * (20 - i))
    return i * i


def bad_on_odd(i):
    time.sleep(0.01)
    if i % 2:
        raise ChapterError(f"item {i} is bad")
    return i


def bug(i):
    return 1 // 0


async def async_square(i):
    import asyncio

    await asyncio.sleep(0.002 * (20 - i))
    return i * i


class NoRepr:
    """A result nobody should format: its repr fails the run that takes it."""

    def __repr__(self):
        raise AssertionError("a result's repr was taken")


def no_repr(i):
    return NoRepr()
