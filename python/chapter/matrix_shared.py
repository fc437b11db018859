"""C in memory the matrix run's process and its worker processes share: the twin of the Rust
side's ``scenarios/src/matrix/shared.rs``. Used by ``python -m chapter matrix`` when the blocks
run in other processes (``--model multiprocessing``, ``--model asyncio --variant
process_executor``); try it with ``--save-c`` to see C read back from it.

The parent makes a memory file (``os.memfd_create``) sized for C before it starts any worker.
Each worker opens its own handle on it through ``/proc/<parent pid>/fd/<n>`` and writes its
block's rows at their offset (``os.pwrite``), instead of pickling them back through its pipe
for the parent to unpickle while both cores compute: at n = 2048, 32 MiB copied twice less, and
about 60 ms less system time per run (docs/cpu-bound.md has the figures).

Why not ``multiprocessing.shared_memory``: in CPython 3.11 every process that attaches a block
registers it with a resource tracker, which unlinks it or warns of a leak when it thinks the
block abandoned (bpo-39959; ``track=False`` came in 3.13), and a named block outlives a killed
run in ``/dev/shm``. A memory file has no name: it is gone when the last descriptor on it
closes, however the run ends. Why the parent's ``/proc`` path rather than an inherited
descriptor: it works for every start method (a ``--start-method spawn`` worker inherits only
its pipes). No process maps the file, so its pages are in no one's RSS or PSS: the run adds its
size to ``max_rss_kib`` and reports it as ``shared_kib``, as Rust does.
"""

import os

#: Bytes per ``pread`` when the parent reads C back: 4 MiB.
_READ_CHUNK = 4 << 20

# A worker process's handles, opened on its first block and kept: (pid, fd) -> its descriptor.
_OPENED = {}


class SharedC:
    """Where a worker process puts its rows of C; it is what a task carries (pickled small)."""

    def __init__(self, pid: int, fd: int, rows: int, cols: int):
        self.pid, self.fd, self.rows, self.cols = pid, fd, rows, cols

    @classmethod
    def create(cls, rows: int, cols: int) -> "SharedC":
        """In the parent: the zero-filled file for a ``rows`` x ``cols`` C. :meth:`close` it
        once the workers are done (and C is read back, if wanted)."""
        fd = os.memfd_create("matrix-c")
        try:
            os.ftruncate(fd, rows * cols * 8)
        except OSError:
            os.close(fd)
            raise
        return cls(os.getpid(), fd, rows, cols)

    def kib(self) -> int:
        return -(-self.rows * self.cols * 8 // 1024)

    def _handle(self) -> int:
        key = (self.pid, self.fd)
        h = _OPENED.get(key)
        if h is None:
            h = _OPENED[key] = os.open(f"/proc/{self.pid}/fd/{self.fd}", os.O_WRONLY | os.O_CLOEXEC)
        return h

    def put(self, start: int, rows: int, data) -> None:
        """In a worker: write rows ``start..start+rows`` of C, ``data`` being their f64
        little-endian bytes (anything with the buffer protocol: a numpy array is not copied)."""
        view = memoryview(data).cast("B")
        if start < 0 or start + rows > self.rows or len(view) != rows * self.cols * 8:
            raise ValueError(
                f"rows {start}..{start + rows} ({len(view)} bytes) do not fit the shared C of "
                f"{self.rows} x {self.cols}"
            )
        h, at = self._handle(), start * self.cols * 8
        while view:  # pwrite may write less than asked; a memory file rarely does
            n = os.pwrite(h, view, at)
            view, at = view[n:], at + n

    def read_back(self) -> bytes:
        """In the parent: all of C, as the workers wrote it (rows of a failed block are zeros)."""
        size, out = self.rows * self.cols * 8, bytearray()
        while len(out) < size:
            chunk = os.pread(self.fd, min(_READ_CHUNK, size - len(out)), len(out))
            if not chunk:
                raise OSError(f"the shared C ended at byte {len(out)} of {size}")
            out += chunk
        return bytes(out)

    def close(self) -> None:
        os.close(self.fd)
