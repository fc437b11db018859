"""The chat server, the chapter's "chat server -> asyncio" row, speaking the workspace's
protocol (:mod:`chapter.chat`) so that ``decision-table chat-load`` measures it like the Rust
servers.

    python -m chapter chat-server --model asyncio [--addr 127.0.0.1:7878] [--queue 256] [--json]
    decision-table chat-load --addr 127.0.0.1:7878 --model python-asyncio --clients 200 --senders 10 --messages 10

``--model asyncio`` (the default): ``asyncio.start_server``; every connection is one coroutine
that reads its lines and one task that writes to it, a few KiB each, all on one thread. The
writer gathers what is queued into one ``write``, and waits for ``drain()`` at most 10 s: a
client that reads nothing is cut off rather than left to grow the server's buffers. Ctrl-C and
SIGTERM are handled by the loop (``add_signal_handler``), installed before the address is
announced so that a signal sent right after it finds them.

``--model threading``: a thread that reads and a thread that writes per client (Python's
``socketserver.ThreadingTCPServer`` shape), with 256 KiB stacks. The main thread accepts with
a timeout so it sees a stop signal within a quarter of a second (Python runs signal handlers on
the main thread only, between bytecodes, so a thread blocked in ``accept`` forever would never
see one). A client's write stall is the socket's ``SO_SNDTIMEO``: the one socket is read by
one thread and written by the other, so a Python-level timeout, which applies to both
directions, would also cut the reader.

Both use the same :class:`chapter.chat.Hub` of bounded queues, so a client that falls
``--queue`` messages behind is told and disconnected in both. A reader that finds some queue
half full lets the writers run before it relays its next line (asyncio: one turn of the loop;
threads: up to 10 ms for the queues to drain): without that, a burst of lines from one sender
(already buffered, so read without ever waiting) would fill every other queue before a single
writer ran, and cut off clients that read perfectly well.
"""

import asyncio
import signal
import socket
import struct
import threading
import time

from chapter import chat
from chapter.chat import Hub, Stats
from chapter.console import say
from chapter.contract import ChapterError, Run


def run(args) -> dict:
    host, port = args.addr
    if args.model == "asyncio":
        run_ = Run.start("chat", "asyncio", "tasks", 0, 0)
        stats = Stats()
        chat.raise_fd_limit()
        asyncio.run(_serve_async(host, port, args.queue, stats))
        return stats.finish(run_)
    if args.model == "threading":
        run_ = Run.start("chat", "threading", "threads", 0, 0)
        stats = Stats()
        chat.raise_fd_limit()
        _serve_threads(host, port, args.queue, stats)
        return stats.finish(run_)
    raise ChapterError(f"chat-server runs with --model asyncio or threading, not {args.model}")


# ---------------------------------------------------------------------------------------------
# asyncio.


async def _serve_async(host, port, capacity, stats):
    loop = asyncio.get_running_loop()
    hub = Hub(capacity, stats)
    stop = asyncio.Event()
    got = []

    def on_signal(name):
        got.append(name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)

    async def handle(reader, writer):
        await _connection(reader, writer, hub, stats)

    try:
        server = await asyncio.start_server(handle, host, port, limit=chat.MAX_LINE, backlog=1024)
    except OSError as e:
        raise ChapterError(f"cannot listen on {chat.show_addr(host, port)}: {e.strerror}") from None
    bound = server.sockets[0].getsockname()
    chat.announce("asyncio", bound[0], bound[1])
    await stop.wait()
    say(f"{got[0]}: closing")
    server.close()  # stop accepting; the connections go on until told
    hub.close_all(chat.SHUTDOWN)
    deadline = time.monotonic() + chat.LINGER_S + 2
    while stats.current > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if stats.current > 0:
        say("some clients did not close in time; leaving anyway")


async def _connection(reader, writer, hub, stats):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = hub.next_id()
    wake = asyncio.Event()
    peer = hub.join(client_id, wake.set)
    stats.joined()
    reader_done = asyncio.Event()
    writing = asyncio.get_running_loop().create_task(_write_loop(peer, writer, wake, reader_done, hub, stats))
    try:
        await _read_loop(reader, client_id, hub, stats)
    finally:
        reader_done.set()
        hub.leave(client_id)
        await writing
        stats.left()


async def _read_loop(reader, client_id, hub, stats):
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return  # the end, with or without half a line (which is dropped)
        except asyncio.LimitOverrunError:
            kind, error = "too_long", chat.TOO_LONG
        except (ConnectionError, OSError):
            return
        else:
            kind, error = chat.classify(line)
            if kind == "text":
                if hub.relay(client_id, error):
                    # Some client's queue is half full. ``readuntil`` returns buffered lines
                    # without giving the loop a turn, so a burst from one sender would fill
                    # every other queue before a single writer ran, and cut off clients that
                    # read perfectly well: let the writers run first.
                    await asyncio.sleep(0)
                continue
        # A bad line: the error is this client's last line; what it still sends is dropped
        # until it goes (or its writer closes the connection after the linger).
        if hub.cut_off(client_id, error):
            stats.add("bad_lines")
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        return


async def _write_loop(peer, writer, wake, reader_done, hub, stats):
    try:
        while True:
            if not peer.out:
                if peer.closed:
                    break
                wake.clear()
                if peer.out or peer.closed:
                    continue
                await wake.wait()
                continue
            buf, messages = hub.gather(peer)
            writer.write(buf)
            try:
                await asyncio.wait_for(writer.drain(), chat.WRITE_STALL_S)
            except asyncio.TimeoutError:
                if hub.leave(peer.id):
                    stats.add("kicked")  # took nothing for 10 s
                return
            except (ConnectionError, OSError):
                hub.leave(peer.id)
                return
            stats.add("deliveries", messages)
    finally:
        await _close_async(writer, reader_done)


async def _close_async(writer, reader_done):
    """Stop sending, give the client a moment to read the last line and close (its reader
    discards what it still sends) before closing: closing a socket with unread input makes the
    kernel send a reset, which can destroy the last line before the client reads it."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        pass
    try:
        await asyncio.wait_for(reader_done.wait(), chat.LINGER_S)
    except asyncio.TimeoutError:
        pass
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), chat.LINGER_S)
    except (asyncio.TimeoutError, OSError, ConnectionError):
        pass


# ---------------------------------------------------------------------------------------------
# Threads.

_STACK = 256 * 1024


def _serve_threads(host, port, capacity, stats):
    hub = Hub(capacity, stats)
    stop = []

    def on_signal(signum, _frame):
        stop.append(signal.Signals(signum).name)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as e:
            raise ChapterError(f"cannot listen on {chat.show_addr(host, port)}: {e.strerror}") from None
        listener.listen(1024)
        listener.settimeout(0.25)
        bound = listener.getsockname()
        chat.announce("threading", bound[0], bound[1])
        threading.stack_size(_STACK)
        threads = []
        while not stop:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError as e:
                say(f"cannot accept a connection: {e.strerror}")
                time.sleep(0.1)
                continue
            conn.settimeout(None)
            t = threading.Thread(target=_connection_thread, args=(conn, hub, stats), daemon=True)
            try:
                t.start()
            except RuntimeError as e:
                stats.turned_away(f"cannot start a thread: {e}")
                _refuse(conn, chat.full(f"cannot start a thread: {e}"))
                continue
            threads.append(t)
            threads = [t for t in threads if t.is_alive()]
        say(f"{stop[0]}: closing")
    finally:
        listener.close()
        for s, h in old.items():
            signal.signal(s, h)
    hub.close_all(chat.SHUTDOWN)
    deadline = time.monotonic() + chat.LINGER_S + 2
    while stats.current > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if stats.current > 0:
        say("some clients did not close in time; leaving anyway")


def _refuse(conn, line):
    try:
        conn.settimeout(0.1)
        conn.sendall(line)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.close()


def _connection_thread(conn, hub, stats):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # SO_SNDTIMEO: a send that cannot progress for WRITE_STALL fails with EAGAIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(chat.WRITE_STALL_S), 0))
    client_id = hub.next_id()
    cond = threading.Condition()

    def wake():
        with cond:
            cond.notify()

    peer = hub.join(client_id, wake)
    reader_done = threading.Event()
    writer = threading.Thread(target=_write_thread, args=(conn, peer, cond, reader_done, hub, stats), daemon=True)
    try:
        writer.start()
    except RuntimeError as e:
        hub.leave(client_id)
        stats.turned_away(f"cannot start a thread: {e}")
        _refuse(conn, chat.full(f"cannot start a thread: {e}"))
        return
    stats.joined()
    f = conn.makefile("rb", buffering=chat.READ_BUFFER)
    try:
        while True:
            try:
                line = f.readline(chat.MAX_LINE + 1)
            except OSError:
                break
            kind, value = chat.classify(line)
            if kind == "text":
                if hub.relay(client_id, value):
                    # The same for threads, where giving way is not enough: a reader holding
                    # the GIL relays a burst within one 5 ms time slice, and on a busy machine
                    # the writers' threads may not even be on a core. So the reader waits, up
                    # to 10 ms, for the queues to drain below half: back-pressure on a sender
                    # that outpaces its readers. A client that does not read at all still
                    # fills its queue and is cut off; until then every line waits those 10 ms.
                    for _ in range(20):
                        time.sleep(0.0005)
                        if not hub.crowded():
                            break
                continue
            if kind in ("too_long", "not_utf8"):
                if hub.cut_off(client_id, value):
                    stats.add("bad_lines")
                try:
                    while f.read1(65536):
                        pass
                except OSError:
                    pass
            break
    finally:
        reader_done.set()
        hub.leave(client_id)
        writer.join()
        f.close()
        conn.close()
        stats.left()


def _write_thread(conn, peer, cond, reader_done, hub, stats):
    try:
        while True:
            with cond:
                while not peer.out and not peer.closed:
                    cond.wait()
            if not peer.out and peer.closed:
                break
            buf, messages = hub.gather(peer)
            try:
                conn.sendall(buf)
            except (BlockingIOError, socket.timeout):
                if hub.leave(peer.id):
                    stats.add("kicked")
                break
            except OSError:
                hub.leave(peer.id)
                break
            stats.add("deliveries", messages)
    finally:
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        reader_done.wait(chat.LINGER_S)
        try:
            conn.shutdown(socket.SHUT_RD)
        except OSError:
            pass
