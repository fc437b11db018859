//! Faults of the worker processes that are not deaths: a worker that is stopped (alive, but
//! making no progress) is killed at its item's deadline and replaced, and the run goes on; a
//! chapter example whose child is killed names the child and the signal; asking for more
//! processes than the machine can hold is refused before any starts.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::cpu::cpu_inputs;
use testkit::procs::{alive, wait_for_children};
use testkit::run::{assert_refused, parse_summary};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

/// Start `EXE args --json`, wait for its two workers, stop one with SIGSTOP, and wait for the
/// run to end: (exit code, summary line, stderr, the stopped pid, how long it took).
fn stop_a_worker(args: &[&str]) -> (Option<i32>, String, String, u32, Duration) {
    let started = Instant::now();
    let mut child = Command::new(EXE)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let workers = wait_for_children(&mut child, 2, Duration::from_secs(20));
    // Stopped between its fork and its exec, a child would hold its parent's spawning thread in
    // the kernel (posix_spawn waits for the exec): stop one that already runs as a worker.
    wait_until_a_worker(workers[0]);
    kill(Pid::from_raw(workers[0] as i32), Signal::SIGSTOP).expect("SIGSTOP");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        workers[0],
        started.elapsed(),
    )
}

/// Wait until `pid` has exec'd this binary's hidden `worker` subcommand.
fn wait_until_a_worker(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.ends_with(b"worker\0")) {
        assert!(
            Instant::now() < deadline,
            "process {pid} never became a worker"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_stopped_worker_is_killed_at_its_deadline_and_the_run_goes_on() {
    // Tasks of a fraction of a second in a debug build, with a deadline of three.
    let args = [
        "map",
        "--tasks",
        "8",
        "--rounds",
        "20000000",
        "--workers",
        "2",
        "--task-timeout",
        "3",
    ];
    let (code, stdout, stderr, stopped, took) = stop_a_worker(&args);
    assert_eq!(code, Some(1), "{stderr}");
    let s = parse_summary(&stdout);
    assert_eq!(s.failed, 1, "{stderr}");
    assert!(s.extra["replaced"].as_u64() >= Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "worker process {stopped} made no reply within its deadline of 3.0 s"
        )),
        "the failure does not name the worker and the deadline:\n{stderr}"
    );
    assert!(!alive(stopped), "the stopped worker was left behind");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_stopped_matrix_worker_fails_its_block_not_the_run() {
    let inputs = cpu_inputs(200, 1);
    let dir = inputs.matrix.to_str().unwrap();
    let args = [
        "matrix",
        dir,
        "--block-rows",
        "2",
        "--workers",
        "2",
        "--task-timeout",
        "3",
    ];
    let (code, stdout, stderr, stopped, _) = stop_a_worker(&args);
    assert_eq!(code, Some(1), "{stderr}");
    let s = parse_summary(&stdout);
    assert_eq!((s.items, s.failed), (100, 1), "{stderr}");
    assert_ne!(
        s.digest, inputs.matrix_digest,
        "a lost block must show in the digest"
    );
    assert!(stderr.contains("within its deadline of 3.0 s"), "{stderr}");
    assert!(!alive(stopped));
}

#[test]
fn a_killed_child_of_a_chapter_example_is_named_with_its_signal() {
    for args in [
        &["workers", "--workers", "2", "--sleep-ms", "5000"][..],
        &["cakes", "--cakes", "2", "--bake-ms", "5000"][..],
    ] {
        let mut child = Command::new(EXE)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let kids = wait_for_children(&mut child, 2, Duration::from_secs(20));
        kill(Pid::from_raw(kids[0] as i32), Signal::SIGKILL).expect("SIGKILL");
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains(&format!("worker process {}", kids[0]))
                && stderr.contains("killed by signal 9 (SIGKILL)"),
            "{args:?}: the error does not name the child and its signal:\n{stderr}"
        );
        assert!(
            kids.iter().all(|&p| !alive(p)),
            "{args:?}: a child outlived the run"
        );
    }
}

#[test]
fn more_processes_than_the_machine_holds_are_refused_before_any_starts() {
    assert_refused(EXE, &["workers", "--workers", "10000"], "--workers 10000");
    assert_refused(EXE, &["workers", "--workers", "10000"], "use at most");
    assert_refused(
        EXE,
        &[
            "map",
            "--workers",
            "10000",
            "--tasks",
            "10000",
            "--rounds",
            "1",
        ],
        "use at most",
    );
}
