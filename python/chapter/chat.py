"""The workspace's chat protocol (the Rust ``chat`` module), and the list of connected clients
that both Python servers share.

- TCP, one UTF-8 message per line (``\\n``; an ``\\r`` before it is dropped), at most
  :data:`MAX_LINE` bytes per line.
- A client that connects first gets ``* welcome, you are #7``. The server puts it on the list
  *before* that line goes out, so a client that has read its welcome receives every message
  relayed after it.
- Each line a client sends goes to every *other* client as ``#7: hello``. Lines from the
  server start with ``* ``.
- An overlong line or one that is not UTF-8 earns its sender an error line and a disconnect;
  nothing is relayed and nobody else is affected. A partial line at disconnect is dropped.
- Every client has a bounded outgoing queue of ``--queue`` lines (:class:`Hub`): relaying only
  ever *tries* to queue, so a client that stops reading cannot stall the others. One whose
  queue is full has fallen ``--queue`` messages behind: it is told so and disconnected. One that
  takes no data at all for :data:`WRITE_STALL` is disconnected too.
- SIGINT or SIGTERM: stop accepting, queue the shutdown notice behind what every client is
  still due, give them :data:`LINGER` to read it, exit 0.
- The first human line is ``chat server (MODEL) listening on ADDR`` (stderr with ``--json``):
  the harness and ``decision-table chat-load`` read the address from it.
"""

import collections
import ipaddress
import resource
import threading

from chapter.console import say
from chapter.digest import Digest

MAX_LINE = 8 * 1024
DEFAULT_ADDR = "127.0.0.1:7878"
WRITE_STALL_S = 10.0
LINGER_S = 2.0
READ_BUFFER = 2048
COALESCE = 32 * 1024

TOO_LONG = b"* error: line longer than 8192 bytes; disconnecting\n"
NOT_UTF8 = b"* error: line is not valid UTF-8; disconnecting\n"
SHUTDOWN = b"* server shutting down; goodbye\n"


def welcome(client_id: int) -> bytes:
    return f"* welcome, you are #{client_id}\n".encode()


def too_slow(queue: int) -> bytes:
    return f"* error: you fell more than {queue} messages behind; disconnecting\n".encode()


def full(reason: str) -> bytes:
    return f"* error: server is full ({reason}); disconnecting\n".encode()


def relay_line(sender: int, text: str) -> bytes:
    return f"#{sender}: {text}\n".encode()


def is_message(line: bytes) -> bool:
    return line[:1] == b"#"


def classify(line: bytes):
    """What a read of at most ``MAX_LINE + 1`` bytes up to ``\\n`` holds: ("text", str),
    ("too_long"|"not_utf8", error line), ("end", None) or ("end_mid_line", None)."""
    if not line:
        return "end", None
    if line.endswith(b"\n"):
        body = line[:-1]
        if body.endswith(b"\r"):
            body = body[:-1]
        try:
            return "text", body.decode("utf-8")
        except UnicodeDecodeError:
            return "not_utf8", NOT_UTF8
    if len(line) > MAX_LINE:
        return "too_long", TOO_LONG
    return "end_mid_line", None


def socket_addr(s: str):
    """``127.0.0.1:7878``, ``[::1]:7878``, ``127.0.0.1:0``: an IP address and a port."""
    t = s.strip()
    msg = f"'{s}' is not an address with a port, such as 127.0.0.1:7878 (or 127.0.0.1:0 for any free port)"
    host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(msg)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        family_ok = ":" in host
    else:
        family_ok = ":" not in host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(msg) from None
    if not family_ok:
        raise ValueError(msg)
    return str(ip), int(port)


def show_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announce(model: str, host: str, port: int) -> None:
    say(f"chat server ({model}) listening on {show_addr(host, port)}")


def raise_fd_limit() -> int:
    """Every connection is a file descriptor: raise the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(soft, hard)


class Stats:
    """What a server counted; the same fields as every Rust server, so summaries compare."""

    FIELDS = ("served", "current", "peak", "lines_in", "deliveries", "kicked", "missed", "bad_lines", "rejected")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        for f in self.FIELDS:
            setattr(self, f, 0)

    def add(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def joined(self) -> None:
        with self._lock:
            self.served += 1
            self.current += 1
            self.peak = max(self.peak, self.current)

    def left(self) -> None:
        self.add("current", -1)

    def turned_away(self, why: str) -> None:
        with self._lock:
            self.rejected += 1
            first = self.rejected == 1
        if first:
            say(f"turning clients away: {why}")

    def finish(self, run_) -> dict:
        say(
            f"served {self.served} clients (at most {self.peak} at once), relayed {self.lines_in} messages as "
            f"{self.deliveries} deliveries; {self.kicked} cut off for falling behind, {self.bad_lines} "
            f"disconnected for bad lines, {self.rejected} turned away"
        )
        run_.extra("clients_served", self.served).extra("peak_clients", self.peak)
        run_.extra("lines_in", self.lines_in).extra("deliveries", self.deliveries)
        run_.extra("kicked", self.kicked).extra("missed", self.missed)
        run_.extra("bad_lines", self.bad_lines).extra("rejected", self.rejected)
        d = Digest()
        d.update_u64(self.served).update_u64(self.lines_in)
        s = run_.finish(d.finish(), 0)
        s["workers"], s["items"] = self.peak, self.lines_in
        return s


class Peer:
    """One client's outgoing queue. ``wake`` tells its writer there is something to do (an
    ``asyncio.Event.set`` or a ``Condition.notify``); ``closed`` means no line will follow
    what is queued."""

    __slots__ = ("id", "out", "closed", "wake")

    def __init__(self, client_id: int, wake) -> None:
        self.id = client_id
        self.out = collections.deque()
        self.closed = False
        self.wake = wake


class Hub:
    """The connected clients and their bounded queues (the Rust ``chat_hub::Registry``). Its
    lock is held for list updates only, never across a socket operation, so the threaded
    server's readers relay at once; the asyncio server has one thread and never contends."""

    def __init__(self, capacity: int, stats: Stats) -> None:
        self.capacity, self.stats = capacity, stats
        self.peers = {}
        self._next = 1
        self._lock = threading.Lock()

    def next_id(self) -> int:
        with self._lock:
            n, self._next = self._next, self._next + 1
            return n

    def join(self, client_id: int, wake) -> Peer:
        """Put a client on the list with its welcome first in its queue: from now on it gets
        every message."""
        peer = Peer(client_id, wake)
        peer.out.append(welcome(client_id))
        with self._lock:
            self.peers[client_id] = peer
        return peer

    def relay(self, sender: int, text: str) -> bool:
        """Queue ``text`` from ``sender`` for every other client. Returns True when some queue
        is half full or more: the caller should then give the writers a chance to run before
        it relays the next line (see :func:`chapter.chat_server`)."""
        line = relay_line(sender, text)
        behind, woken, crowded = [], [], False
        half = max(1, self.capacity // 2)
        with self._lock:
            if sender not in self.peers:
                return False  # it was cut off and is being closed: nothing is relayed
            self.stats.add("lines_in")
            for cid, peer in self.peers.items():
                if cid == sender:
                    continue
                if len(peer.out) >= self.capacity:
                    behind.append(cid)
                else:
                    peer.out.append(line)
                    woken.append(peer)
                    crowded |= len(peer.out) >= half
        for peer in woken:
            peer.wake()
        last = too_slow(self.capacity)
        for cid in behind:
            if self.cut_off(cid, last):
                self.stats.add("kicked")
        return crowded

    def crowded(self) -> bool:
        """Is some queue half full or more?"""
        half = max(1, self.capacity // 2)
        with self._lock:
            return any(len(p.out) >= half for p in self.peers.values())

    def cut_off(self, client_id: int, last: bytes) -> bool:
        """Take a client off the list, drop what is queued for it and queue ``last`` as its
        final line. False if it was not on the list."""
        with self._lock:
            peer = self.peers.pop(client_id, None)
            if peer is None:
                return False
            peer.out.clear()
            peer.out.append(last)
            peer.closed = True
        peer.wake()
        return True

    def leave(self, client_id: int) -> bool:
        """Take a client off the list quietly (it left): its writer sends what is queued,
        then stops."""
        with self._lock:
            peer = self.peers.pop(client_id, None)
            if peer is not None:
                peer.closed = True
        if peer is not None:
            peer.wake()
        return peer is not None

    def close_all(self, last: bytes) -> None:
        """Everybody off the list with ``last`` queued after what they are due (a full queue
        loses what is queued instead, as when its client is cut off)."""
        with self._lock:
            peers = list(self.peers.values())
            self.peers.clear()
            for peer in peers:
                if len(peer.out) >= self.capacity:
                    peer.out.clear()
                peer.out.append(last)
                peer.closed = True
        for peer in peers:
            peer.wake()

    def gather(self, peer: Peer):
        """Take what is queued for ``peer``, up to about :data:`COALESCE` bytes, for one write;
        returns (bytes, relayed messages among them)."""
        buf, messages = bytearray(), 0
        with self._lock:
            while peer.out and len(buf) < COALESCE:
                line = peer.out.popleft()
                messages += is_message(line)
                buf += line
        return bytes(buf), messages
