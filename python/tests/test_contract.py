"""The output contract, the command line's refusals, and the shared pieces (digest, generator,
resource accounting) checked against the Rust side's reference values."""

import json

import pytest
from conftest import chapter, inproc, length_prefixed_digest, run_json, summary

from chapter import digest, rng

CONTRACT = ["scenario", "model", "variant", "workers", "items", "wall_s", "user_s", "sys_s", "max_rss_kib", "digest", "failed"]


def test_json_summary_is_one_line_in_contract_order_and_human_lines_go_to_stderr():
    proc = chapter("cakes", "--model", "threading", "--bake-ms", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    s = summary(proc)
    assert list(s)[: len(CONTRACT)] == CONTRACT
    assert s["language"] == "python" and list(s)[-1] == "language"
    assert (s["scenario"], s["model"], s["variant"], s["workers"], s["items"]) == ("cakes", "threading", "threads", 2, 2)
    assert "Baking the chocolate cake" in proc.stderr


def test_without_json_the_human_lines_and_closing_line_are_on_stdout():
    proc = chapter("workers", "--workers", "2", "--sleep-ms", "1")
    assert proc.returncode == 0
    assert "Worker 2 finished" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("workers / serial (serial, 1 worker): 2 items in ")
    with pytest.raises(json.JSONDecodeError):
        json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "args, says",
    [
        (["cakes", "--bake-ms", "-5"], "--bake-ms: a duration cannot be negative"),
        (["workers", "--sleep-ms", "600001"], "10 minutes"),
        (["workers", "--workers", "0"], "--workers: 0 is out of range: use 1 to 10000"),
        (["queue", "--capacity", "x"], "'x' is not a whole number"),
        (["images", "--sigma", "0"], "--sigma: 0 is out of range"),
        (["cakes", "--model", "gevent"], "invalid choice: 'gevent'"),
        (["requests", "--url", "127.0.0.1:8000"], "--url"),
        (["downloads", "--timeout-ms", "0"], "would fail every request"),
        (["chat-server", "--addr", "localhost"], "is not an address with a port"),
        (["matrix", "--model", "threading", "--variant", "pool_map"], "does not go with --model threading"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_usage_is_refused_naming_the_flag_with_status_2(args, says, capsys):
    from chapter import cli

    with pytest.raises(SystemExit) as e:
        cli.main(args)
    out, err = capsys.readouterr()
    assert e.value.code == 2 and says in err and out == ""


def test_bad_usage_exits_2_from_the_command_line_too():
    proc = chapter("workers", "--workers", "-1")
    assert proc.returncode == 2 and "--workers: -1 is out of range" in proc.stderr and proc.stdout == ""


def test_digest_is_the_rust_digest_byte_for_byte():
    assert digest.of_all(["ab", "c"]) != digest.of_all(["a", "bc"])
    assert digest.of_all(["ab", "c"]) == length_prefixed_digest([b"ab", b"c"])
    assert digest.sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_splitmix64_reference_sequence():
    # The reference values of SplitMix64 seeded with 1234567 (the Rust rng test's).
    r = rng.SplitMix64(1234567)
    assert [r.next_u64(), r.next_u64()] == [6457827717110365317, 3203168211198807973]
    assert rng.SplitMix64.for_item(1, 5).next_u64() == rng.SplitMix64.for_item(1, 5).next_u64()
    assert rng.SplitMix64.for_item(1, 0).next_u64() != rng.SplitMix64.for_item(1, 1).next_u64()


def test_child_processes_are_counted_in_cpu_and_memory(matrix_128):
    serial = inproc("matrix", matrix_128, "--model", "serial", "--block-rows", "8")
    s = run_json("matrix", matrix_128, "--model", "multiprocessing", "--workers", "2", "--block-rows", "8")
    # The same multiplications, so about the same CPU time, but in the workers only: if their
    # CPU time were not counted, user_s would be the parent's few hundredths of a second.
    assert s["user_s"] >= 0.7 * serial["user_s"], (serial["user_s"], s["user_s"])
    assert s["children_pss_kib"] > 0, "the sampler saw no child process"
    # Forked workers share pages with the parent and each other: summed RSS overstates.
    assert s["children_pss_kib"] < s["children_rss_kib"], s
    assert s["max_rss_kib"] >= s["children_pss_kib"]
    assert len(s["pids"]) == 2 and s["parent_pid"] not in s["pids"]


def test_single_process_runs_report_no_children_figures():
    s = inproc("queue", "--model", "threading", "--items", "100")
    assert "children_pss_kib" not in s and s["max_rss_kib"] > 1000
