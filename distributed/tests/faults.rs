//! The faults a distributed run meets, each against a throw-away Redis and real worker
//! processes: a worker killed with SIGKILL mid-task, a host torn down mid-run (network
//! namespaces: run as root; elsewhere the test says it was skipped and why), the broker
//! restarted mid-run, and a poisoned task that kills every worker that takes it. In every case
//! nothing is silently lost or duplicated: the digest is the reference's, or the run fails
//! naming what it lost.
//!
//! `cargo test -p distributed --test faults` (needs `redis-server`; the host test needs root)

use std::time::{Duration, Instant};
use testkit::broker::Broker;
use testkit::cpu::{TEST_SIGMA, cpu_inputs, partial_files};
use testkit::hosts::Hosts;
use testkit::run::{parse_summary, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_distributed");

/// `images` over `inputs` against the broker's remote workers, with `extra` flags.
fn images_args(
    dir: &std::path::Path,
    out: &std::path::Path,
    url: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "images",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--sigma", TEST_SIGMA, "--broker", url, "--remote"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_worker_killed_with_sigkill_mid_task_loses_nothing() {
    let broker = Broker::start();
    let _host = broker.worker(
        EXE,
        &["--processes", "2", "--host", "a", "--claim-after-ms", "500"],
    );
    let inputs = cpu_inputs(8, 5);
    let out = inputs.dir.path().join("out");
    // Task 2 kills (SIGKILL) the first worker process that takes it, after fetching its input.
    let args = images_args(
        &inputs.images,
        &out,
        &broker.url(),
        &["--workers", "2", "--kill-once-task", "2"],
    );
    let (s, ran) = run_json(EXE, &strs(&args));
    assert_eq!(s.digest, inputs.images_digest, "{}", ran.stderr);
    assert_eq!(
        (s.failed, s.extra["redelivered"].as_u64()),
        (0, Some(1)),
        "{s:?}"
    );
    assert_eq!(s.extra["duplicates"], 0);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);
}

#[test]
fn a_poisoned_task_is_failed_and_named_after_max_attempts() {
    let broker = Broker::start();
    let _host = broker.worker(
        EXE,
        &["--processes", "2", "--host", "a", "--claim-after-ms", "300"],
    );
    let inputs = cpu_inputs(8, 4);
    let out = inputs.dir.path().join("out");
    let extra = [
        "--workers",
        "2",
        "--keep-going",
        "--max-attempts",
        "2",
        "--poison-task",
        "1",
    ];
    let args = images_args(&inputs.images, &out, &broker.url(), &extra);
    let mut with_json = strs(&args);
    with_json.push("--json");
    let ran = run(EXE, &with_json);
    assert!(!ran.status.success());
    let s = parse_summary(&ran.stdout);
    assert_eq!((s.items, s.failed), (4, 1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("img-001.png") && ran.stderr.contains("given up after 2 attempts"),
        "{}",
        ran.stderr
    );
    // The three others were processed; the poisoned one left no file, whole or partial.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    assert!(partial_files(&out).is_empty());
}

#[test]
fn a_broker_restarted_mid_run_fails_clearly_and_the_workers_carry_on() {
    let mut broker = Broker::start();
    // A slow host: 400 ms per task, so the run is still going when the broker goes.
    let _host = broker.worker(
        EXE,
        &["--processes", "1", "--host", "a", "--slow-ms", "400"],
    );
    let inputs = cpu_inputs(8, 5);
    let out = inputs.dir.path().join("out");
    let args = images_args(&inputs.images, &out, &broker.url(), &["--workers", "1"]);
    let driver = {
        let args = args.clone();
        std::thread::spawn(move || run(EXE, &strs(&args)))
    };
    std::thread::sleep(Duration::from_millis(900));
    broker.restart(Duration::from_millis(200));
    let ran = driver.join().unwrap();
    assert!(!ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("the broker failed mid-run")
            && ran.stderr.contains("of 5 items settled"),
        "{}",
        ran.stderr
    );
    assert!(partial_files(&out).is_empty());
    // The worker reconnected to the new broker and made its group again: the next run works.
    let (s, _) = run_json(EXE, &strs(&args));
    assert_eq!(
        (s.digest.as_str(), s.failed),
        (inputs.images_digest.as_str(), 0)
    );
}

#[test]
fn a_host_torn_down_mid_run_has_its_tasks_claimed_by_another() {
    let hosts = match Hosts::make(1) {
        Ok(h) => h,
        Err(why) => {
            eprintln!("skipped: network namespaces cannot be made here: {why}");
            return;
        }
    };
    let broker = Broker::start_on(&[&hosts.bridge]);
    let url_there = broker.url_on(&hosts.bridge);
    let worker = [
        "--processes",
        "1",
        "--claim-after-ms",
        "500",
        "--slow-ms",
        "300",
    ];
    let _far = hosts.spawn(
        1,
        EXE,
        &[
            &["worker", "--broker", &url_there, "--host", "far"][..],
            &worker,
        ]
        .concat(),
    );
    let _near = broker.worker(EXE, &[&["--host", "near"][..], &worker].concat());
    let inputs = cpu_inputs(8, 6);
    let out = inputs.dir.path().join("out");
    let args = images_args(
        &inputs.images,
        &out,
        &broker.url(),
        &["--workers", "2", "--json"],
    );
    let driver = std::thread::spawn(move || run(EXE, &strs(&args)));
    // Wait until the far host holds a task, then take the host away.
    let started = Instant::now();
    while !broker
        .pending_by_consumer("rust")
        .iter()
        .any(|(c, n)| c.starts_with("far-") && *n > 0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the far host never took a task"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    hosts.cut(1);
    let ran = driver.join().unwrap();
    assert!(ran.status.success(), "{}", ran.stderr);
    let s = parse_summary(&ran.stdout);
    assert_eq!(s.digest, inputs.images_digest);
    assert!(s.extra["redelivered"].as_u64().unwrap() >= 1, "{s:?}");
    assert_eq!(s.extra["duplicates"], 0);
}
