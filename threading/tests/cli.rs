//! The threading binary, run for real: the chapter's waits and cakes overlap on threads, only
//! the racy counter loses updates (and the data race in its doc does not compile), the queue
//! delivers every item once, bad flags are refused by name, and `--help` lists every example.

use scenarios::chapter;
use testkit::run::{assert_refused, help, queue_digest, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

#[test]
fn four_workers_wait_at_the_same_time() {
    let (s, out) = run_json(EXE, &["workers", "--workers", "4", "--sleep-ms", "300"]);
    assert!(
        s.wall_s < 0.9,
        "four overlapping 300 ms waits took {} s",
        s.wall_s
    );
    assert!(s.wall_s >= 0.3);
    assert!(out.elapsed.as_secs_f64() < 1.2);
    assert_eq!(s.digest, chapter::workers_digest(4, 300));
}

#[test]
fn cakes_bake_together() {
    let (s, _) = run_json(EXE, &["cakes", "--bake-ms", "300"]);
    assert!(
        s.wall_s < 0.55,
        "two overlapping 300 ms cakes took {} s",
        s.wall_s
    );
    assert_eq!(s.digest, chapter::cakes_digest(2));
}

#[test]
fn default_is_the_five_workers() {
    let out = run(EXE, &["--help"]);
    assert!(out.stdout.contains("the default"));
    let out = run(EXE, &["workers", "--workers", "2", "--sleep-ms", "10"]);
    assert!(out.stdout.contains("Worker 2 finished"));
}

#[test]
fn only_the_racy_counter_loses_updates() {
    let (s, out) = run_json(EXE, &["race", "--workers", "4", "--increments", "1000000"]);
    let get = |k: &str| s.extra[k].as_u64().unwrap_or_else(|| panic!("{k} missing"));
    assert_eq!(get("expected"), 4_000_000);
    assert_eq!(get("fetch_add_counted"), 4_000_000);
    assert_eq!(get("mutex_counted"), 4_000_000);
    assert!(get("racy_lost") > 0, "no update was lost:\n{}", out.stderr);
    assert_eq!(get("racy_counted") + get("racy_lost"), 4_000_000);
}

/// The doc comment of race.rs claims the ```compile_fail block does not compile, with E0499.
/// Compile it with rustc and check the claim.
#[test]
fn the_data_race_in_the_doc_comment_does_not_compile() {
    let source = include_str!("../src/race.rs");
    let block: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.starts_with("//! ```compile_fail"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//!").strip_prefix(' ').unwrap_or(""))
        .collect();
    assert!(block.len() >= 3, "no compile_fail block found in race.rs");
    let program = format!("fn main() {{\n{}\n}}\n", block.join("\n"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("race.rs");
    std::fs::write(&file, &program).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--edition", "2024", "--emit", "metadata", "--out-dir"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .expect("rustc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the data race compiled:\n{program}");
    assert!(
        stderr.contains("E0499"),
        "refused, but not for the reason the doc gives:\n{stderr}"
    );
}

#[test]
fn queue_delivers_every_item_once() {
    let (s, out) = run_json(
        EXE,
        &[
            "queue",
            "--items",
            "20000",
            "--workers",
            "3",
            "--capacity",
            "5",
        ],
    );
    assert_eq!(s.digest, queue_digest(20000));
    assert_eq!(out.stderr.matches("consumer ").count(), 3);
}

#[test]
fn bad_input_is_refused() {
    assert_refused(EXE, &["workers", "--workers", "0"], "--workers");
    assert_refused(EXE, &["workers", "--workers", "-3"], "--workers");
    assert_refused(EXE, &["workers", "--sleep-ms", "-5"], "negative");
    assert_refused(EXE, &["workers", "--sleep-ms", "99999999"], "10 minutes");
    assert_refused(EXE, &["cakes", "--bake-ms", "-1"], "--bake-ms");
    assert_refused(EXE, &["cakes", "--cakes", "lots"], "--cakes");
    assert_refused(EXE, &["queue", "--capacity", "0"], "--capacity");
    assert_refused(EXE, &["no-such-thing"], "no-such-thing");
    assert_refused(EXE, &["race", "--increments", "0"], "--increments");
}

#[test]
fn help_lists_the_examples() {
    let help = help(
        EXE,
        &["cakes", "workers", "race", "queue", "matrix", "images"],
    );
    assert!(help.listing.status.success());
    for (sub, out) in &help.subcommands {
        let listing = &help.listing.stdout;
        assert!(
            listing.contains(sub),
            "--help does not list {sub}:\n{listing}"
        );
        assert!(out.status.success(), "{sub} --help failed");
    }
}
