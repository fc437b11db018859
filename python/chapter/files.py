"""Files that appear whole or not at all, and inputs that are read without surprises.

Writing (:class:`AtomicFile`, :func:`write_atomically`): the bytes go to a temporary file in the
destination directory, created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under an unpredictable
name (``.NAME.<random>.part``), and only a complete file is renamed over the final name with
``os.replace``. So:

- a reader, or a crash, never sees half a file under the final name, and a failed write
  leaves nothing behind (the temporary file is removed);
- a symlink planted at the temporary name cannot redirect the write (``O_EXCL`` refuses any
  existing name, links included, and the name cannot be guessed anyway), and one planted at
  the final name is replaced by the file, never followed (``rename`` replaces the link itself);
- the directory is opened once and every name is resolved relative to that descriptor
  (``dir_fd``), so swapping the directory for a link half-way does not move the files.

The temporary name starts with the final name so that a run can clean up what a killed worker
left behind (:func:`remove_leftovers`).

Reading (:func:`read_input`): inputs are opened with ``O_NONBLOCK`` and checked to be regular
files before reading, so a FIFO or a device named as an input is refused at once instead of
blocking forever or reading without end; the size is capped.
"""

import errno
import os
import secrets
import stat

from chapter.contract import ChapterError

_MODE = 0o644


def _tmp_name(final_name: str) -> str:
    return f".{final_name}.{secrets.token_hex(8)}.part"


class AtomicFile:
    """A file being written under a temporary name in ``directory``; :meth:`commit` gives it
    ``name``, :meth:`abort` (or a failed commit) removes it."""

    def __init__(self, directory: str, name: str) -> None:
        if not name or "/" in name or name in (".", ".."):
            raise ChapterError(f"{name!r} is not a plain file name")
        self.directory, self.name = directory, name
        self.dest = os.path.join(directory, name)
        try:
            self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise ChapterError(f"cannot open the directory {directory}: {e.strerror}") from None
        self._fd = None
        for _ in range(8):
            self.tmp = _tmp_name(name)
            try:
                self._fd = os.open(
                    self.tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    _MODE,
                    dir_fd=self._dir_fd,
                )
                break
            except FileExistsError:
                continue
            except OSError as e:
                os.close(self._dir_fd)
                raise ChapterError(
                    f"cannot create a temporary file beside {self.dest}: {e.strerror}"
                ) from None
        if self._fd is None:
            os.close(self._dir_fd)
            raise ChapterError(f"cannot find a free temporary name beside {self.dest}")

    def write(self, data) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            raise ChapterError(f"cannot write {self.dest}: {e.strerror}") from None

    def commit(self) -> None:
        try:
            os.close(self._fd)
            self._fd = None
            os.replace(self.tmp, self.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except OSError as e:
            self.abort()
            raise ChapterError(f"cannot move the finished file to {self.dest}: {e.strerror}") from None
        self._close_dir()

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._dir_fd is not None:
            try:
                os.unlink(self.tmp, dir_fd=self._dir_fd)
            except OSError:
                pass
            self._close_dir()

    def _close_dir(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def __del__(self) -> None:
        # A download abandoned half-way (an exception we did not see) still cleans up.
        try:
            self.abort()
        except Exception:
            pass


def write_atomically(path: str, data: bytes) -> None:
    directory, name = os.path.split(path)
    f = AtomicFile(directory or ".", name)
    try:
        f.write(data)
    except BaseException:
        f.abort()
        raise
    f.commit()


def remove_leftovers(directory: str, name: str, also_final: bool) -> None:
    """Remove the temporary files of ``name`` a killed worker left behind, and with
    ``also_final`` the file of that name itself (an old copy from an earlier run of a file that
    failed this time). ``unlink`` removes a link, never what it points to."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        prefix = f".{name}."
        for entry in os.listdir(dir_fd):
            if entry.startswith(prefix) and entry.endswith(".part"):
                try:
                    os.unlink(entry, dir_fd=dir_fd)
                except OSError:
                    pass
        if also_final:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass
    finally:
        os.close(dir_fd)


def read_input(path: str, limit: int, hint: str = "") -> bytes:
    """Read a whole regular file of at most ``limit`` bytes, or fail naming it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        extra = hint if e.errno == errno.ENOENT else ""
        raise ChapterError(f"cannot read {path}: {e.strerror}{extra}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ChapterError(f"cannot read {path}: not a regular file")
        if st.st_size > limit:
            raise ChapterError(f"cannot read {path}: {st.st_size} bytes, over the {limit}-byte limit")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ChapterError(f"cannot read {path}: more than the {limit}-byte limit")
        return b"".join(chunks)
    except OSError as e:
        raise ChapterError(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)
