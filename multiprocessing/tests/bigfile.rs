//! `bigfile` on worker processes that each read their own ranges: the digest equals the
//! reference (computed in the test kit, independently of the library) for several chunk sizes
//! and process counts, warm or `--cold`; every kind of bad line is refused naming its line
//! number, byte offset and reason, and `--keep-going` counts it. A worker killed on a range
//! makes the run fail naming that range (never an answer without its rows), and Ctrl-C in the
//! middle leaves no worker behind.
//!
//! `cargo test -p multiprocessing --test bigfile`

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::bigfile::{bad_big_runs, big_inputs};
use testkit::procs::{alive, assert_all_gone, pids, wait_for_children};
use testkit::run::{assert_refusal, parse_summary, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn every_chunk_size_and_process_count_matches_the_reference() {
    let inputs = big_inputs(30_000, 200);
    let f = inputs.file.to_str().unwrap();
    for (chunk, workers) in [("1K", "3"), ("16K", "2"), ("16M", "2"), ("64K", "1")] {
        let args = ["bigfile", f, "--chunk-bytes", chunk, "--workers", workers];
        let (s, _) = run_json(EXE, &args);
        assert_eq!(s.digest, inputs.digest, "{args:?}");
        assert_eq!(
            (s.variant.as_str(), &s.extra["reader"]),
            ("processes", &"read".into())
        );
        let kids = pids(&s);
        assert!(!kids.is_empty() && !kids.contains(&std::process::id()));
        assert!(kids.iter().all(|&p| !alive(p)), "a worker outlived the run");
    }
    let (cold, _) = run_json(EXE, &["bigfile", f, "--cold"]);
    assert_eq!(cold.digest, inputs.digest);
}

#[test]
fn bad_lines_are_named_and_keep_going_counts_them() {
    let bad = bad_big_runs(EXE, &["--workers", "2"]);
    for r in &bad.lines {
        let c = &r.case;
        let at = format!("line {} (byte {})", c.line, c.offset);
        assert_refusal(&r.stopped, &[c.file.to_str().unwrap(), &at, c.why]);
        assert_eq!(
            r.kept.status.code(),
            Some(1),
            "{}: {}",
            c.name,
            r.kept.stderr
        );
        let s = parse_summary(&r.kept.stdout);
        assert_eq!(
            (s.failed, s.extra["rows"].as_u64()),
            (1, Some(c.good_rows)),
            "{}",
            c.name
        );
        assert_eq!(s.digest, c.kept_digest, "{}", c.name);
    }
    assert_refusal(&bad.empty, &["empty.txt", "is empty"]);
    assert_refusal(&bad.directory, &["a directory"]);
    assert_refusal(&bad.missing, &["nowhere.txt"]);
}

#[test]
fn a_killed_worker_fails_the_run_naming_its_range() {
    let inputs = big_inputs(30_000, 200);
    let f = inputs.file.to_str().unwrap();
    for how in ["kill", "panic", "exit"] {
        for keep_going in [false, true] {
            let mut args = vec!["bigfile", f, "--chunk-bytes", "16K", "--workers", "2"];
            args.extend(["--die-on-task", "2", "--die-how", how, "--json"]);
            if keep_going {
                args.push("--keep-going");
            }
            let out = run(EXE, &args);
            // Not assert_refusal: a worker told to panic says so on the shared stderr.
            assert_eq!(out.status.code(), Some(1), "{how}: {}", out.stderr);
            for says in [
                "error: ",
                "range 2 (bytes ",
                "no answer",
                "while running task 2",
            ] {
                assert!(
                    out.stderr.contains(says),
                    "{how}: no {says:?} in {}",
                    out.stderr
                );
            }
            assert!(
                out.stdout.is_empty(),
                "{how}: an answer was printed: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn ctrl_c_in_the_middle_leaves_no_orphans() {
    // Long enough in a debug build to be interrupted: 2 million rows in 64 KiB ranges.
    let inputs = big_inputs(2_000_000, 413);
    let mut child = Command::new(EXE)
        .args([
            "bigfile",
            inputs.file.to_str().unwrap(),
            "--chunk-bytes",
            "64K",
            "--workers",
            "2",
        ])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let kids = wait_for_children(&mut child, 2, Duration::from_secs(20));
    // Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("killpg");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert_all_gone(&kids, Duration::from_secs(5));
}
