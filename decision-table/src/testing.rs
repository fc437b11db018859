//! Helpers for integration tests that run the real binaries: a time limit on every run (a test
//! must fail, not hang), and the JSON summary parsed back into a [`Summary`].

use crate::Summary;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished run printed, and how long it took from spawn to exit.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Run `exe args...`, killing it (and failing the test) if it takes longer than `limit`.
pub fn run_with_limit(exe: &str, args: &[&str], limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{exe} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Output {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
        elapsed,
    }
}

/// Run with a two-minute limit.
pub fn run(exe: &str, args: &[&str]) -> Output {
    run_with_limit(exe, args, Duration::from_secs(120))
}

/// Run with `--json` appended, require success, and parse the one JSON line stdout must hold.
pub fn run_json(exe: &str, args: &[&str]) -> (Summary, Output) {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let out = run(exe, &all);
    assert!(
        out.status.success(),
        "{exe} {all:?} failed with {}:\n{}",
        out.status,
        out.stderr
    );
    (parse_summary(&out.stdout), out)
}

/// Parse stdout that must be exactly one JSON object on one line.
pub fn parse_summary(stdout: &str) -> Summary {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must hold exactly one line, got:\n{stdout}"
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not a summary ({e}): {}", lines[0]))
}

/// Assert that a run was refused as bad input: a non-zero exit, an error line that mentions
/// `mentions`, and no panic.
pub fn assert_refused(exe: &str, args: &[&str], mentions: &str) {
    let out = run(exe, args);
    assert!(
        !out.status.success(),
        "{exe} {args:?} should have failed but succeeded:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("error"),
        "{exe} {args:?}: no error message in stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(mentions),
        "{exe} {args:?}: the error does not mention {mentions:?}:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("panicked"),
        "{exe} {args:?} panicked:\n{}",
        out.stderr
    );
}

/// The bad inputs every crate must refuse the same way: zero workers, negative and absurd
/// durations, junk numbers, an unknown subcommand.
pub fn assert_refuses_bad_input(exe: &str) {
    assert_refused(exe, &["workers", "--workers", "0"], "--workers");
    assert_refused(exe, &["workers", "--workers", "-3"], "--workers");
    assert_refused(exe, &["workers", "--sleep-ms", "-5"], "negative");
    assert_refused(exe, &["workers", "--sleep-ms", "99999999"], "10 minutes");
    assert_refused(exe, &["cakes", "--bake-ms", "-1"], "--bake-ms");
    assert_refused(exe, &["cakes", "--cakes", "lots"], "--cakes");
    assert_refused(exe, &["queue", "--capacity", "0"], "--capacity");
    assert_refused(exe, &["no-such-thing"], "no-such-thing");
}

/// `--help` lists every subcommand named.
pub fn assert_help_lists(exe: &str, subcommands: &[&str]) {
    let out = run(exe, &["--help"]);
    assert!(out.status.success());
    for s in subcommands {
        assert!(
            out.stdout.contains(s),
            "--help does not list {s}:\n{}",
            out.stdout
        );
    }
    for s in subcommands {
        let out = run(exe, &[s, "--help"]);
        assert!(out.status.success(), "{s} --help failed");
    }
}

/// The digest a correct queue run of `items` items must report.
pub fn queue_digest(items: usize) -> String {
    let all: Vec<(u64, u64)> = (0..items as u64)
        .map(|i| (i, crate::chapter::queue_value(i)))
        .collect();
    crate::chapter::verify_queue(items, &all).expect("a complete queue verifies")
}
