//! `train` on worker processes, for real, on a small data set written in-process: the digest
//! must equal the single-threaded reference for every `--workers`; a worker that dies or stops
//! mid-run has its shards recomputed by a new one (the same bits: never a silently different
//! model), or, with no respawns left, fails the run naming it; a bad data set found by a worker
//! is refused naming the file; no worker outlives the run.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::procs::{assert_all_gone, pids, wait_for_children};
use testkit::run::{assert_refusal, parse_summary, run, run_json};
use testkit::train::{bad_train_inputs, small_set};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn every_worker_count_trains_the_reference_bits() {
    let set = small_set(&[]);
    for workers in ["1", "2", "3"] {
        let (s, _) = run_json(EXE, &set.command(&["--workers", workers]));
        assert_eq!(s.digest, set.digest, "--workers {workers}");
        assert_eq!(s.variant, "processes");
        assert_eq!(s.extra["accuracy"].as_f64(), Some(set.accuracy));
        let workers: usize = workers.parse().unwrap();
        assert_eq!(pids(&s).len(), workers);
        assert_eq!(s.extra["replaced"], 0);
        // The weights go out and the gradients come back, every step.
        assert!(s.extra["pipe_bytes_sent"].as_u64() > Some(45 * 4 * 1200));
        assert!(s.extra["pipe_bytes_received"].as_u64() > Some(45 * 4 * 1200));
        assert_all_gone(&pids(&s), Duration::from_secs(5));
    }
}

#[test]
fn a_worker_that_dies_mid_run_has_its_shards_recomputed() {
    let set = small_set(&[]);
    // Items 0 and 1 load the data; item 5 is the second step's half of the second worker.
    for how in ["kill", "exit", "panic"] {
        let (s, out) = run_json(
            EXE,
            &set.command(&["--workers", "2", "--die-on-task", "5", "--die-how", how]),
        );
        assert_eq!(s.digest, set.digest, "--die-how {how}: a different model");
        assert_eq!(s.extra["replaced"], 1, "{}", out.stderr);
        assert_eq!(pids(&s).len(), 3, "a new worker took its place");
        assert!(
            out.stderr.contains("computes its shards again"),
            "{}",
            out.stderr
        );
        assert_all_gone(&pids(&s), Duration::from_secs(5));
    }
    let (_, out) = run_json(EXE, &set.command(&["--workers", "2", "--die-on-task", "5"]));
    assert!(
        out.stderr.contains("was killed by signal 9 (SIGKILL)"),
        "the death is not named: {}",
        out.stderr
    );
}

#[test]
fn with_no_respawns_left_a_death_fails_the_run_naming_the_worker() {
    let set = small_set(&["--epochs", "200"]);
    let mut child = Command::new(EXE)
        .args(set.command(&[
            "--workers",
            "2",
            "--respawns",
            "0",
            "--die-on-task",
            "5",
            "--json",
        ]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let workers = wait_for_children(&mut child, 2, Duration::from_secs(30));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no summary for a run that failed");
    assert!(
        stderr.contains(&format!(
            "worker process {} was killed by signal 9",
            workers[1]
        )) && stderr.contains("no respawns left"),
        "{stderr}"
    );
    assert_all_gone(&workers, Duration::from_secs(5));
}

#[test]
fn a_worker_killed_from_outside_mid_epoch_changes_nothing() {
    let set = small_set(&["--epochs", "200"]);
    let mut child = Command::new(EXE)
        .args(set.command(&["--workers", "2", "--json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let workers = wait_for_children(&mut child, 2, Duration::from_secs(30));
    // Training has started by now (loading the small set takes milliseconds).
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(workers[0] as i32), Signal::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let s = parse_summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        s.extra["replaced"], 1,
        "the kill came too late to test anything: {stderr}"
    );
    assert_eq!(s.digest, set.digest);
    // Killed while it computed ("was killed"), or while the parent wrote its next step to it
    // ("is not reading its tasks: it was killed"): named either way.
    let named = stderr.lines().any(|l| {
        l.contains(&format!("worker process {}", workers[0])) && l.contains("killed by signal 9")
    });
    assert!(named, "{stderr}");
    assert_all_gone(&pids(&s), Duration::from_secs(5));
}

#[test]
fn a_stopped_worker_is_killed_at_its_deadline_and_its_shards_recomputed() {
    let set = small_set(&["--epochs", "200"]);
    let mut child = Command::new(EXE)
        .args(set.command(&["--workers", "2", "--task-timeout", "2", "--json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let workers = wait_for_children(&mut child, 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(workers[1] as i32), Signal::SIGSTOP).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let s = parse_summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(s.digest, set.digest);
    assert_eq!(s.extra["replaced"], 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "worker process {} made no reply within its deadline of 2.0 s",
            workers[1]
        )),
        "{stderr}"
    );
    assert_all_gone(&workers, Duration::from_secs(5));
}

#[test]
fn a_bad_data_set_is_refused_by_name_wherever_it_is_found() {
    let bad = bad_train_inputs(EXE, &["--workers", "2"]);
    // Found by the parent, which reads the headers before any worker starts.
    assert_refusal(
        &bad.missing,
        &["train-images-idx3-ubyte.gz", "dataset-fashion-mnist"],
    );
    assert_refusal(
        &bad.wrong_magic,
        &["train-images-idx3-ubyte.gz", "wrong magic"],
    );
    // Found by a worker as it reads the data, and reported by the parent with the file's name.
    assert_refusal(
        &bad.truncated_gzip,
        &["worker process", "t10k-images-idx3-ubyte.gz", "truncated"],
    );
    assert_refusal(&bad.truncated_raw, &["t10k-labels-idx1-ubyte", "truncated"]);
    assert_refusal(
        &bad.corrupt_gzip,
        &["train-images-idx3-ubyte.gz", "corrupt"],
    );
    assert_refusal(&bad.bad_label, &["train-labels-idx1-ubyte.gz", "label 10"]);
    let out = run(EXE, &["train", "--respawns", "-1"]);
    assert_refusal(&out, &["--respawns"]);
}
