"""The chat servers speak the workspace's protocol: ``decision-table chat-load`` passes against
them with nothing lost, bad lines get their error, a client that falls behind is told and cut
off, and SIGINT/SIGTERM close the server cleanly with its summary."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import PYTHON_DIR, chapter

from chapter import chat


class ChatServer:
    def __init__(self, model, *extra):
        env = {k: v for k, v in os.environ.items() if k != "CHAPTER_JSON"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chapter", "chat-server", "--model", model, "--addr", "127.0.0.1:0", "--json", *extra],
            cwd=PYTHON_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        line = self.proc.stderr.readline()
        m = re.search(r"listening on ([0-9.]+):(\d+)", line)
        assert m, f"no announcement: {line!r}"
        self.addr = (m.group(1), int(m.group(2)))

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self):
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def server():
    started = []

    def start(model="asyncio", *extra):
        s = ChatServer(model, *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def _load(bin_dir, addr, model, clients):
    proc = subprocess.run(
        [str(bin_dir / "decision-table"), "chat-load", "--addr", f"{addr[0]}:{addr[1]}", "--model", model,
         "--clients", str(clients), "--senders", "10", "--messages", "10", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("model, clients", [("asyncio", 200), ("threading", 60)])
def test_chat_load_passes_with_nothing_lost(server, bin_dir, model, clients):
    s = server(model)
    rc, load, err = _load(bin_dir, s.addr, f"python-{model}", clients)
    assert rc == 0, err
    assert load["lost"] == 0 and load["duplicated"] == 0 and load["unexpected"] == 0
    assert load["delivered"] == load["expected"] == 10 * 10 * (clients - 1)
    rc, out, err = s.stop()
    assert rc == 0, err
    summary = json.loads(out)
    assert (summary["clients_served"], summary["lines_in"], summary["deliveries"]) == (clients, 100, 100 * (clients - 1))
    assert summary["language"] == "python" and "SIGINT: closing" in err


def _connect(addr, rcvbuf=None):
    c = socket.socket()
    if rcvbuf:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.settimeout(10)
    c.connect(addr)
    f = c.makefile("rb")
    welcome = f.readline()
    assert welcome.startswith(b"* welcome, you are #"), welcome
    return c, f, int(welcome.strip().rsplit(b"#", 1)[1])


def _close(sock, f):
    f.close()  # the file holds the socket open too
    sock.close()


@pytest.mark.parametrize("model", ["asyncio", "threading"])
def test_relay_errors_and_shutdown_notice(server, model):
    s = server(model)
    a, fa, ida = _connect(s.addr)
    b, fb, idb = _connect(s.addr)
    a.sendall("olá\r\n".encode())
    assert fb.readline() == f"#{ida}: olá\n".encode()
    # An overlong line and a line that is not UTF-8: an error, a disconnect, nothing relayed.
    c, fc, _ = _connect(s.addr)
    c.sendall(b"x" * (chat.MAX_LINE + 1) + b"\n")
    assert fc.readline() == chat.TOO_LONG and fc.readline() == b""
    d, fd, _ = _connect(s.addr)
    d.sendall(b"\xff\xfe\n")
    assert fd.readline() == chat.NOT_UTF8 and fd.readline() == b""
    # Exactly MAX_LINE bytes is still a line.
    b.sendall(b"y" * chat.MAX_LINE + b"\n")
    assert fa.readline() == f"#{idb}: ".encode() + b"y" * chat.MAX_LINE + b"\n"
    _close(c, fc)
    _close(d, fd)
    s.proc.send_signal(signal.SIGTERM)
    assert fa.readline() == chat.SHUTDOWN and fb.readline() == chat.SHUTDOWN
    _close(a, fa)
    _close(b, fb)  # the server waits for its clients to close, up to a linger
    rc, out, err = s.wait()
    assert rc == 0 and "SIGTERM: closing" in err
    summary = json.loads(out)
    assert summary["bad_lines"] == 2 and summary["lines_in"] == 2


@pytest.mark.parametrize("model", ["asyncio", "threading"])
def test_a_client_that_falls_behind_is_told_and_cut_off(server, model):
    s = server(model, "--queue", "4")
    slow, fslow, _ = _connect(s.addr, rcvbuf=4096)  # reads nothing for now
    talker, ftalker, _ = _connect(s.addr)
    line = b"z" * 8000 + b"\n"
    # More than the kernel's buffers and the server's can hold for a client that does not read.
    deadline = time.monotonic() + 30
    sent = 0
    talker.settimeout(1)
    while sent < 3000 and time.monotonic() < deadline:
        try:
            talker.sendall(line)
        except (socket.timeout, BrokenPipeError, ConnectionResetError):
            break
        sent += 1
    got = b""
    while True:
        line_in = fslow.readline()
        if not line_in:
            break
        got = line_in
    assert got == chat.too_slow(4), got[:80]
    _close(slow, fslow)
    _close(talker, ftalker)
    rc, out, _ = s.stop()
    assert rc == 0 and json.loads(out)["kicked"] == 1


def test_the_address_must_be_free(server):
    s = server()
    proc = chapter("chat-server", "--addr", f"{s.addr[0]}:{s.addr[1]}")
    assert proc.returncode == 1 and "cannot listen on" in proc.stderr


@pytest.mark.parametrize("model", ["asyncio", "threading"])
def test_a_burst_from_one_sender_does_not_cut_off_a_client_that_reads(server, model):
    s = server(model, "--queue", "16")
    reader, freader, _ = _connect(s.addr)
    talker, ftalker, tid = _connect(s.addr)
    talker.sendall(b"burst\n" * 2000)  # arrives in a few reads, far more lines than the queue holds
    for _ in range(2000):
        assert freader.readline() == f"#{tid}: burst\n".encode()
    _close(reader, freader)
    _close(talker, ftalker)
    rc, out, _ = s.stop()
    assert rc == 0 and json.loads(out)["kicked"] == 0
