"""The I/O-bound scenarios against ``decision-table serve``: every model prints the digest the
manifest (or the Rust binary) says it must, retries the faults the server injects as Rust does,
leaves nothing of a failed file behind, and never reads an unbounded response into memory."""

import hashlib
import json
import os
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import chapter, length_prefixed_digest, run_json, rust_json, summary

MODELS = ["serial", "threading", "multiprocessing", "asyncio"]


def _manifest(url):
    with urllib.request.urlopen(url + "/manifest", timeout=10) as r:
        return json.load(r)


@pytest.mark.parametrize("model", MODELS)
def test_downloads_verify_every_file_and_print_the_manifests_digest(serve, tmp_path, model):
    url = serve("--files", 6, "--size", 20000, "--seed", 3)
    manifest = _manifest(url)
    want = length_prefixed_digest(f["sha256"].encode() for f in manifest["files"])
    out = tmp_path / "dl"
    s = run_json("downloads", "--url", url, "--out", out, "--workers", 3, "--model", model)
    assert s["digest"] == want and s["failed"] == 0 and s["failed_files"] == [] and s["retries"] == 0
    assert s["bytes"] == 6 * 20000
    assert sorted(os.listdir(out)) == [f["name"] for f in manifest["files"]], "a temporary file was left"
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]


@pytest.mark.parametrize("model", MODELS)
def test_requests_print_the_rust_digest_and_sum(serve, bin_dir, model):
    url = serve("--seed", 8)
    want = rust_json(bin_dir, "serial", "requests", "--url", url, "--count", 40)
    s = run_json("requests", "--url", url, "--count", 40, "--workers", 8, "--model", model)
    assert (s["digest"], s["sum"], s["failed_items"]) == (want["digest"], want["sum"], [])


FAULTY = ("--files", 8, "--size", 10000, "--fault-rate", 0.35, "--stall-ms", 2000, "--seed", 21)
RETRY = ("--timeout-ms", 400, "--retries", 5, "--backoff-ms", 5)


def test_faults_are_retried_as_rust_retries_them(serve, bin_dir, tmp_path):
    # Which request goes wrong depends on the seed, the path and how often it was asked for,
    # so on a fresh server every client meets the same faults, whatever its concurrency.
    want = rust_json(bin_dir, "serial", "downloads", "--url", serve(*FAULTY), "--out", tmp_path / "rust", *RETRY)
    assert want["retries"] > 0 and want["failed"] == 0
    for model in ("threading", "asyncio"):
        s = run_json("downloads", "--url", serve(*FAULTY), "--out", tmp_path / model, "--workers", 4, "--model", model, *RETRY)
        assert (s["digest"], s["retries"], s["failed"]) == (want["digest"], want["retries"], 0), model


@pytest.mark.parametrize("model", ["serial", "asyncio", "multiprocessing"])
def test_a_file_out_of_retries_is_named_and_nothing_of_it_is_left(serve, tmp_path, model):
    url = serve("--files", 3, "--size", 1000, "--fault-rate", 1, "--fault-kind", "short")
    out = tmp_path / "dl"
    out.mkdir()
    (out / "file-00001.bin").write_bytes(b"an old copy from an earlier run")
    (out / ".file-00002.bin.0123456789abcdef.part").write_bytes(b"what a killed worker left")
    proc = chapter("downloads", "--url", url, "--out", out, "--retries", 1, "--backoff-ms", 1, "--model", model, "--json")
    assert proc.returncode == 1
    s = summary(proc)
    assert s["failed"] == 3 and s["retries"] == 3
    assert s["failed_files"] == ["file-00000.bin", "file-00001.bin", "file-00002.bin"]
    assert "FAILED file-00001.bin after 2 attempt(s): short body" in proc.stderr or "body broke off" in proc.stderr
    assert os.listdir(out) == []
    # The digest counts each failed file as "failed".
    assert s["digest"] == length_prefixed_digest([b"failed"] * 3)


def test_requests_that_fail_are_listed(serve):
    url = serve("--fault-rate", 1, "--fault-kind", "500")
    proc = chapter("requests", "--url", url, "--count", 5, "--retries", 0, "--model", "threading", "--json")
    assert proc.returncode == 1
    s = summary(proc)
    assert s["failed_items"] == [0, 1, 2, 3, 4] and s["sum"] == 0
    assert "HTTP 500 Internal Server Error" in proc.stderr


def test_an_absent_server_is_a_clear_error():
    proc = chapter("downloads", "--url", "http://127.0.0.1:9", "--out", "/tmp/never-made", "--model", "asyncio")
    assert proc.returncode == 1
    assert "cannot connect to http://127.0.0.1:9/manifest" in proc.stderr and "decision-table serve" in proc.stderr
    assert not os.path.exists("/tmp/never-made")


class _Hostile(BaseHTTPRequestHandler):
    """A server that sends what a client must not swallow whole."""

    mode = "declared"
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def _send(self, body, length=True):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        about = {"server": "hostile", "files": 1, "size": 4, "latency_ms": 0, "bandwidth": 0, "fault_rate": 0.0}
        try:
            if self.path == "/":
                self._send(json.dumps(about).encode())
            elif self.path == "/manifest" and self.mode == "declared":
                self.send_response(200)
                self.send_header("Content-Length", str(40 << 20))
                self.end_headers()
            elif self.path == "/manifest" and self.mode == "streamed":
                self.send_response(200)
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b" " * (1 << 20))
            elif self.path == "/manifest" and self.mode == "evil":
                entry = {"name": "../../etc/passwd", "path": "/files/0", "size": 4, "sha256": "0" * 64}
                self._send(json.dumps({"about": about, "files": [entry]}).encode())
            elif self.path.startswith("/api/items/"):
                self._send(b'{"id": 0, "value": 1, "pad": "' + b"x" * (100 << 10) + b'"}', length=self.mode != "streamed")
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def hostile():
    servers = []

    def start(mode):
        handler = type("H", (_Hostile,), {"mode": mode})
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("model", ["serial", "asyncio"])
@pytest.mark.parametrize("mode", ["declared", "streamed"])
def test_an_oversized_manifest_is_refused_naming_the_url_and_the_limit(hostile, tmp_path, model, mode):
    url = hostile(mode)
    proc = chapter("downloads", "--url", url, "--out", tmp_path / "dl", "--model", model, timeout=30)
    assert proc.returncode == 1
    assert f"{url}/manifest: the response is larger than the {32 << 20}-byte limit" in proc.stderr, proc.stderr


@pytest.mark.parametrize("model", ["threading", "asyncio"])
@pytest.mark.parametrize("mode", ["declared", "streamed"])
def test_an_oversized_item_is_a_failed_item_naming_the_limit(hostile, model, mode):
    proc = chapter("requests", "--url", hostile(mode), "--count", 2, "--model", model, "--json", timeout=30)
    assert proc.returncode == 1
    assert summary(proc)["failed_items"] == [0, 1]
    assert "/api/items/0: the response is larger than the 65536-byte limit" in proc.stderr, proc.stderr


def test_a_manifest_naming_a_path_outside_the_output_is_refused(hostile, tmp_path):
    proc = chapter("downloads", "--url", hostile("evil"), "--out", tmp_path / "dl")
    assert proc.returncode == 1 and "'../../etc/passwd'" in proc.stderr and "only letters" in proc.stderr
