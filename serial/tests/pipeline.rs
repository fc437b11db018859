//! The serial binary's `pipeline` against a real `serve --images` started in this test process
//! on 127.0.0.1:0 (`testkit::pipeline::PipelineBench` starts it and runs the binary; every
//! check is here): the digest is the `images` scenario's reference on the served files, every
//! output is the kernel's, every fault kind is survived by retrying, an image out of retries is
//! named and leaves nothing behind, Ctrl-C leaves only whole outputs, downloads and processing
//! take turns, and a server without images is a clear error.
//!
//! `cargo test -p serial --test pipeline`

use decision_table::server::{FaultKind, ServeArgs};
use std::time::Duration;
use testkit::io::{failed_files, retries, small};
use testkit::pipeline::{
    PipelineBench, against_no_images, ctrl_c, image_name, names_in, wait_exit, wait_for_an_output,
};
use testkit::run::{assert_refusal, assert_refused};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn every_image_is_processed_and_the_digest_is_the_images_reference() {
    let bench = PipelineBench::start(5, 64, 48, small(1, 0));
    let ran = bench.run(EXE, &[]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(
        (s.scenario.as_str(), s.variant.as_str()),
        ("pipeline", "serial")
    );
    assert_eq!((s.items, s.failed, s.workers), (5, 0, 1));
    assert_eq!(s.digest, bench.reference());
    assert_eq!(bench.outputs(), bench.expected_outputs());
    assert_eq!(
        ran.files.len(),
        5,
        "no temporary file left: {:?}",
        ran.files
    );
    assert_eq!(retries(&s), 0);
}

#[test]
fn downloads_and_processing_take_turns() {
    // 300 ms to the first byte of each image: one at a time, four take at least 1.2 s.
    let knobs = ServeArgs {
        latency_ms: 300,
        ..small(1, 0)
    };
    let bench = PipelineBench::start(4, 32, 24, knobs);
    let ran = bench.run(EXE, &["--workers", "4"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.digest, bench.reference());
    assert!(s.wall_s >= 1.2, "{} s: downloads overlapped", s.wall_s);
}

#[test]
fn every_fault_kind_is_survived_by_retrying() {
    const RETRIES: u32 = 4;
    for kind in FaultKind::ALL {
        let knobs = ServeArgs {
            fault_rate: 0.5,
            fault_kind: Some(kind),
            ..small(1, 0)
        };
        let bench = PipelineBench::with_faults(5, knobs, RETRIES, |p| {
            p.failed.is_empty() && p.retries >= 2
        });
        let ran = bench.run(EXE, &[]);
        assert!(
            ran.output.status.success(),
            "{kind:?}: {}",
            ran.output.stderr
        );
        let s = ran.summary();
        assert_eq!(s.digest, bench.reference(), "{kind:?}");
        assert_eq!(retries(&s), bench.plan.retries, "{kind:?}: retries");
        assert_eq!(
            bench.server.served().faults(kind),
            bench.plan.retries,
            "{kind:?}"
        );
        assert_eq!(bench.outputs(), bench.expected_outputs(), "{kind:?}");
    }
}

#[test]
fn an_image_out_of_retries_is_named_and_nothing_of_it_is_left() {
    let knobs = ServeArgs {
        fault_rate: 0.6,
        ..small(1, 0)
    };
    let bench = PipelineBench::with_faults(6, knobs, 1, |p| (1..=3).contains(&p.failed.len()));
    let failed: Vec<String> = bench.plan.failed.iter().map(|&i| image_name(i)).collect();
    // An earlier run's output of an image that is going to fail must not survive the run.
    std::fs::create_dir_all(&bench.out).unwrap();
    std::fs::write(bench.out.join(&failed[0]), b"stale").unwrap();
    let ran = bench.run(EXE, &["--keep-going"]);
    let stderr = &ran.output.stderr;
    assert_eq!(ran.output.status.code(), Some(1), "{stderr}");
    let s = ran.summary();
    assert_eq!(s.failed, failed.len());
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
    let bench = PipelineBench::start(3, 32, 24, knobs);
    let ran = bench.run(EXE, &["--retries", "1", "--backoff-ms", "1"]);
    assert_refusal(
        &ran.output,
        &[
            "img-000.png",
            "download failed after 2 attempt(s)",
            "HTTP 500",
        ],
    );
    assert!(bench.outputs().is_empty(), "{:?}", ran.files);
}

#[test]
fn ctrl_c_mid_run_leaves_only_whole_outputs() {
    let knobs = ServeArgs {
        latency_ms: 150,
        ..small(1, 0)
    };
    let bench = PipelineBench::start(10, 48, 32, knobs);
    let mut child = bench.spawn(EXE, &[]);
    wait_for_an_output(&bench, &mut child, Duration::from_secs(30));
    ctrl_c(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(!status.success(), "{status}");
    let (got, want) = (bench.outputs(), bench.expected_outputs());
    assert!(got.len() < 10, "the run was not interrupted mid-way");
    for (name, sha) in &got {
        assert_eq!(Some(sha), want.get(name), "{name} is not a whole output");
    }
}

#[test]
fn a_server_without_images_or_no_server_is_a_clear_error() {
    let ran = against_no_images(EXE);
    assert_refusal(&ran.without_images, &["/images", "--images DIR"]);
    assert_refusal(&ran.dead, &[&ran.dead_url, "cannot connect"]);
}

#[test]
fn bad_flags_are_refused_by_name() {
    for (flag, value) in [
        ("--cpu-workers", "0"),
        ("--workers", "0"),
        ("--sigma", "-1"),
        ("--retries", "11"),
    ] {
        assert_refused(EXE, &["pipeline", flag, value], flag);
    }
}
