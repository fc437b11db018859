"""The digest of a run: SHA-256 over its results, fed in input order, each result prefixed with
its length as a little-endian u64. Byte for byte the Rust ``digest::Digest``, so a Python run
and a Rust run that computed the same results print the same hex string.
"""

import hashlib
import struct


class Digest:
    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, data: bytes) -> "Digest":
        # The length prefix makes ["ab", "c"] and ["a", "bc"] differ.
        self._h.update(struct.pack("<Q", len(data)))
        self._h.update(data)
        return self

    def update_u64(self, value: int) -> "Digest":
        return self.update(struct.pack("<Q", value & 0xFFFF_FFFF_FFFF_FFFF))

    def finish(self) -> str:
        return self._h.hexdigest()


def of_all(results) -> str:
    """Digest of a list of results (bytes or str) in input order."""
    d = Digest()
    for r in results:
        d.update(r.encode() if isinstance(r, str) else bytes(r))
    return d.finish()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
