"""The output contract, as the Rust binaries print it: a few human lines, then one summary.
With ``--json`` the summary is exactly one JSON object on one line on stdout:

    {"scenario":"cakes","model":"threading","variant":"threads","workers":2,"items":2,
     "wall_s":1.001,"user_s":0.0,"sys_s":0.001,"max_rss_kib":9304,"digest":"...","failed":0,
     "language":"python"}

The fields come in Rust's order, then the scenario's extras, then ``"language": "python"``.
``wall_s`` runs from :meth:`Run.start` (after the arguments are parsed) to :meth:`Run.finish`;
``user_s``/``sys_s`` and ``max_rss_kib`` are described in :mod:`chapter.usage`.

Exit status: 0 on success, 1 when items failed (the summary still prints) or the run failed
(``error: ...`` on stderr), 2 on bad usage (argparse's own status).
"""

import json
import time

from chapter import usage
from chapter.console import json_mode, say


class ChapterError(Exception):
    """A failure that ends the run with ``error: <message>`` and exit status 1. The message
    names the input that caused it."""


class Run:
    def __init__(self, scenario, model, variant, workers, items):
        self.scenario, self.model, self.variant = scenario, model, variant
        self.workers, self.items = workers, items
        self.extras = {}
        self._shared_kib = 0
        self._cpu0 = usage.cpu_seconds()
        self._sampler = usage.start_sampler()
        self._t0 = time.perf_counter()

    @classmethod
    def start(cls, scenario, model, variant, workers, items) -> "Run":
        return cls(scenario, model, variant, workers, items)

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0

    def extra(self, key, value) -> "Run":
        self.extras[key] = value
        return self

    def shared_memory_kib(self, kib: int) -> "Run":
        """Memory the run's processes share without mapping it (a memory file they write with
        ``pwrite``, :mod:`chapter.matrix_shared`): in no process's RSS or PSS, so it is added to
        ``max_rss_kib`` here and reported as ``shared_kib``, as Rust's
        ``Run::shared_memory_kib`` does."""
        self._shared_kib += kib
        return self

    @property
    def sampler(self):
        return self._sampler

    def finish(self, digest: str, failed: int) -> dict:
        """Stop the clock, read resource use, build the summary (a dict in contract order).
        Child processes must have been reaped before this is called."""
        wall = self.elapsed_s()
        self._sampler.stop()
        user, sys_ = usage.cpu_seconds()
        s = self._sampler
        max_rss = usage.own_peak_rss_kib()
        if s.watched_children:
            max_rss += s.children_pss_peak
        max_rss += self._shared_kib
        summary = {
            "scenario": self.scenario,
            "model": self.model,
            "variant": self.variant,
            "workers": self.workers,
            "items": self.items,
            "wall_s": round(wall, 6),
            "user_s": round(max(user - self._cpu0[0], 0.0), 6),
            "sys_s": round(max(sys_ - self._cpu0[1], 0.0), 6),
            "max_rss_kib": max_rss,
            "digest": digest,
            "failed": failed,
        }
        summary.update(self.extras)
        if s.watched_children:
            summary["children_pss_kib"] = s.children_pss_peak
            summary["children_rss_kib"] = s.children_rss_peak
        if self._shared_kib:
            summary["shared_kib"] = self._shared_kib
        summary["language"] = "python"
        return summary


def human(s: dict) -> str:
    w, n = s["workers"], s["items"]
    line = (
        f"{s['scenario']} / {s['model']} ({s['variant']}, {w} worker{'' if w == 1 else 's'}): "
        f"{n} item{'' if n == 1 else 's'} in {s['wall_s']:.3f} s | CPU {s['user_s']:.3f} s user "
        f"+ {s['sys_s']:.3f} s sys | peak {s['max_rss_kib'] / 1024:.1f} MiB | digest "
        f"{s['digest'][:16]}"
    )
    if s.get("failed"):
        line += f" | {s['failed']} FAILED"
    return line


def print_summary(s: dict) -> None:
    if json_mode():
        print(json.dumps(s, separators=(",", ":")), flush=True)
    else:
        print(human(s), flush=True)


def exit_status(s: dict) -> int:
    """Print the summary and choose the exit status, as Rust's ``contract::exit`` does."""
    print_summary(s)
    if s.get("failed", 0) > 0:
        import sys

        sys.stderr.write(f"error: {s['failed']} item(s) failed\n")
        return 1
    return 0


__all__ = ["ChapterError", "Run", "human", "print_summary", "exit_status", "say"]
