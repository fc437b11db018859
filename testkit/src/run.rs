//! Running the real binaries: a time limit on every run (a test must fail, not hang), the JSON
//! summary parsed back into a [`Summary`], `--help` collected, and the one assertion every
//! crate's tests share, that a bad input is refused by name.

use scenarios::Summary;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished run printed, and how long it took from spawn to exit.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages: `exe ["arg", ...]`.
    pub command: String,
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
        command: format!("{exe} {args:?}"),
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
    assert_refusal(&run(exe, args), &[mentions]);
}

/// Assert that a finished run was a refusal: a non-zero exit, an error message in stderr that
/// mentions every one of `mentions`, and no panic.
pub fn assert_refusal(out: &Output, mentions: &[&str]) {
    let command = &out.command;
    assert!(
        !out.status.success(),
        "{command} should have failed but succeeded:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("error"),
        "{command}: no error message in stderr:\n{}",
        out.stderr
    );
    for m in mentions {
        assert!(
            out.stderr.contains(m),
            "{command}: the error does not mention {m:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("panicked"),
        "{command} panicked:\n{}",
        out.stderr
    );
}

/// What `exe --help` printed, and `exe <subcommand> --help` for each subcommand asked about.
#[derive(Debug)]
pub struct Help {
    pub listing: Output,
    pub subcommands: Vec<(String, Output)>,
}

/// Run `exe --help`, then `exe <s> --help` for each of `subcommands`.
pub fn help(exe: &str, subcommands: &[&str]) -> Help {
    Help {
        listing: run(exe, &["--help"]),
        subcommands: subcommands
            .iter()
            .map(|s| (s.to_string(), run(exe, &[s, "--help"])))
            .collect(),
    }
}

/// The digest a correct queue run of `items` items must report.
pub fn queue_digest(items: usize) -> String {
    let all: Vec<(u64, u64)> = (0..items as u64)
        .map(|i| (i, scenarios::chapter::queue_value(i)))
        .collect();
    scenarios::chapter::verify_queue(items, &all).expect("a complete queue verifies")
}
