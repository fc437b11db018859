//! The multiprocessing binary's `pipeline` (download threads feeding a pool of worker
//! processes) against a real `serve --images` started in this test process on 127.0.0.1:0
//! (`testkit::pipeline::PipelineBench` starts it and runs the binary; every check is here): the
//! digest is the `images` scenario's reference on the served files, the images are processed
//! in `--cpu-workers` processes while downloads overlap, a worker killed mid-image loses only
//! that image, faults are retried or named with nothing left behind, and Ctrl-C leaves no worker
//! and only whole outputs.
//!
//! `cargo test -p multiprocessing --test pipeline`

use decision_table::server::{FaultKind, ServeArgs};
use std::time::Duration;
use testkit::io::{failed_files, retries, small};
use testkit::pipeline::{
    PipelineBench, against_no_images, ctrl_c, image_name, names_in, wait_exit, wait_for_an_output,
};
use testkit::procs::{assert_all_gone, children_of, pids};
use testkit::run::{assert_refusal, assert_refused};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn every_image_is_processed_in_the_worker_processes() {
    let bench = PipelineBench::start(7, 64, 48, small(1, 0));
    for cpu_workers in ["1", "2"] {
        let ran = bench.run(EXE, &["--workers", "3", "--cpu-workers", cpu_workers]);
        assert!(ran.output.status.success(), "{}", ran.output.stderr);
        let s = ran.summary();
        assert_eq!(s.variant, "threads+processes");
        assert_eq!((s.items, s.failed, s.workers), (7, 0, 3));
        assert_eq!(s.digest, bench.reference(), "--cpu-workers {cpu_workers}");
        assert_eq!(bench.outputs(), bench.expected_outputs());
        assert_eq!(
            ran.files.len(),
            7,
            "no temporary file left: {:?}",
            ran.files
        );
        let workers = pids(&s);
        assert_eq!(workers.len().to_string(), cpu_workers, "{workers:?}");
        let parent = s.extra["parent_pid"].as_u64().unwrap() as u32;
        assert!(
            !workers.contains(&parent),
            "the parent computed: {workers:?}"
        );
    }
}

#[test]
fn downloads_overlap_on_the_threads() {
    // 400 ms to the first byte of each image: one at a time, six would take 2.4 s.
    let knobs = ServeArgs {
        latency_ms: 400,
        ..small(1, 0)
    };
    let bench = PipelineBench::start(6, 32, 24, knobs);
    let ran = bench.run(EXE, &["--workers", "6", "--cpu-workers", "2"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.digest, bench.reference());
    assert!(
        s.wall_s < 1.8,
        "{} s: the downloads did not overlap",
        s.wall_s
    );
}

#[test]
fn a_worker_killed_mid_image_loses_only_that_image() {
    let bench = PipelineBench::start(6, 48, 32, small(1, 0));
    let ran = bench.run(EXE, &["--cpu-workers", "2", "--die-on-task", "2"]);
    let stderr = &ran.output.stderr;
    assert_eq!(ran.output.status.code(), Some(1), "{stderr}");
    let s = ran.summary();
    assert_eq!((s.items, s.failed), (6, 1));
    assert_eq!(failed_files(&s), ["img-002.png"]);
    assert!(s.extra["replaced"].as_u64() >= Some(1), "{stderr}");
    assert!(
        stderr.contains("FAILED img-002.png: worker process") && stderr.contains("SIGKILL"),
        "{stderr}"
    );
    let mut want = bench.expected_outputs();
    want.remove("img-002.png");
    assert_eq!(bench.outputs(), want);
}

#[test]
fn faults_are_retried() {
    const RETRIES: u32 = 4;
    let knobs = ServeArgs {
        fault_rate: 0.5,
        ..small(1, 0)
    };
    let bench = PipelineBench::with_faults(6, knobs, RETRIES, |p| {
        p.failed.is_empty() && p.retries >= 3 && p.faults.iter().all(|(_, n)| *n > 0)
    });
    let ran = bench.run(EXE, &["--workers", "3"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.digest, bench.reference());
    assert_eq!(retries(&s), bench.plan.retries);
    assert_eq!(bench.outputs(), bench.expected_outputs());
}

#[test]
fn an_image_out_of_retries_is_named_and_nothing_of_it_is_left() {
    let knobs = ServeArgs {
        fault_rate: 0.6,
        ..small(1, 0)
    };
    let bench = PipelineBench::with_faults(6, knobs, 1, |p| (1..=3).contains(&p.failed.len()));
    let failed: Vec<String> = bench.plan.failed.iter().map(|&i| image_name(i)).collect();
    std::fs::create_dir_all(&bench.out).unwrap();
    std::fs::write(bench.out.join(&failed[0]), b"stale").unwrap();
    let ran = bench.run(EXE, &["--workers", "3", "--keep-going"]);
    let stderr = &ran.output.stderr;
    assert_eq!(ran.output.status.code(), Some(1), "{stderr}");
    let s = ran.summary();
    assert_eq!(failed_files(&s), failed);
    for name in &failed {
        assert!(
            stderr.contains(&format!("FAILED {name}")),
            "{name}:\n{stderr}"
        );
    }
    let mut want = bench.expected_outputs();
    want.retain(|name, _| !failed.contains(name));
    assert_eq!(bench.outputs(), want, "exactly the images that arrived");
    assert_eq!(names_in(&bench.out).len(), want.len(), "no temporary file");
}

#[test]
fn without_keep_going_the_first_failed_image_is_the_error() {
    let knobs = ServeArgs {
        fault_rate: 1.0,
        fault_kind: Some(FaultKind::Status500),
        ..small(1, 0)
    };
    let bench = PipelineBench::start(4, 32, 24, knobs);
    let ran = bench.run(EXE, &["--retries", "1", "--backoff-ms", "1"]);
    assert_refusal(
        &ran.output,
        &["img-000.png", "download failed after 2 attempt(s)"],
    );
    assert!(bench.outputs().is_empty(), "{:?}", ran.files);
}

#[test]
fn ctrl_c_mid_run_leaves_no_worker_and_only_whole_outputs() {
    let knobs = ServeArgs {
        latency_ms: 150,
        ..small(1, 0)
    };
    let bench = PipelineBench::start(12, 48, 32, knobs);
    let mut child = bench.spawn(EXE, &["--workers", "2", "--cpu-workers", "2"]);
    wait_for_an_output(&bench, &mut child, Duration::from_secs(30));
    let workers = children_of(child.id());
    assert!(
        !workers.is_empty(),
        "no worker process while images are processed"
    );
    ctrl_c(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(!status.success(), "{status}");
    assert_all_gone(&workers, Duration::from_secs(5));
    let (got, want) = (bench.outputs(), bench.expected_outputs());
    assert!(got.len() < 12, "the run was not interrupted mid-way");
    for (name, sha) in &got {
        assert_eq!(Some(sha), want.get(name), "{name} is not a whole output");
    }
}

#[test]
fn a_server_without_images_or_no_server_is_a_clear_error() {
    let ran = against_no_images(EXE);
    assert_refusal(&ran.without_images, &["/images", "--images DIR"]);
    assert_refusal(&ran.dead, &[&ran.dead_url, "cannot connect"]);
    assert_refused(EXE, &["pipeline", "--cpu-workers", "0"], "--cpu-workers");
    assert_refused(EXE, &["pipeline", "--task-timeout", "0"], "--task-timeout");
}
