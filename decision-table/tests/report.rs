//! `decision-table report` on recorded harness results: a real hyperfine 1.15 export (`hf1`) and
//! the same numbers in hyperfine 2.0's layout (`hf2`: `schema_version`, `metadata`,
//! `command_name`), each beside the `--json` summaries of the four models.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use testkit::run::run;

const EXE: &str = env!("CARGO_BIN_EXE_decision-table");

/// Copy a fixture folder to a fresh temporary folder (the report writes into it).
fn fixture(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    // Tests run in parallel in one process: every copy gets its own folder.
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, Ordering::Relaxed);
    let dst = std::env::temp_dir().join(format!("report-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&src, &dst);
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

fn check_report(name: &str) {
    let dir = fixture(name);
    let out = run(EXE, &["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{name}: {}", out.stderr);
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    // The header names the machine and the tools.
    assert!(
        report.contains("2 cores") && report.contains("hyperfine 1.15.0"),
        "{report}"
    );
    // One table row per model, with the speedup over serial and agreeing digests.
    for model in ["serial", "threading", "multiprocessing", "asyncio"] {
        assert!(
            report.contains(&format!("| {model} (")),
            "{name}: no row for {model}"
        );
    }
    assert!(
        report.contains("| 1.00x |"),
        "{name}: serial is not the 1.00x baseline"
    );
    assert_eq!(
        report.matches("✓").count(),
        4,
        "{name}: digests not all checked"
    );
    // The real command lines, not just the names.
    assert!(report.contains("`target/release/threading cakes --cakes 2 --bake-ms 300`"));
    // The chart exists and is an SVG with a bar per model.
    let svg = std::fs::read_to_string(dir.join("charts/cakes.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("multiprocessing"));
    assert!(report.contains("](charts/cakes.svg)"));
    // The chapter's table: rows nobody measures are listed as such, not hidden.
    assert!(report.contains("| Responsive GUI | threading | – | not covered |"));
    let verdicts = std::fs::read_to_string(dir.join("verdicts.json")).unwrap();
    assert!(verdicts.contains("Chat server"));
    // The default command prints the chapter's table with these verdicts.
    let out = run(EXE, &["table", "--results", dir.to_str().unwrap()]);
    assert!(out.stdout.contains("verdicts of the latest measured run"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_from_hyperfine_1_exports() {
    check_report("hf1");
}

#[test]
fn report_from_hyperfine_2_exports() {
    check_report("hf2");
}

#[test]
fn both_layouts_give_the_same_tables() {
    let (a, b) = (fixture("hf1"), fixture("hf2"));
    for d in [&a, &b] {
        assert!(run(EXE, &["report", d.to_str().unwrap()]).status.success());
    }
    let table = |d: &Path| {
        let r = std::fs::read_to_string(d.join("REPORT.md")).unwrap();
        r.lines()
            .filter(|l| l.starts_with("| serial (") || l.starts_with("| threading ("))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(table(&a), table(&b));
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn missing_or_broken_results_are_clear_errors() {
    let out = run(EXE, &["report", "/nonexistent/results"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("/nonexistent/results") && out.stderr.contains("compare.sh"));

    let dir = fixture("hf1");
    std::fs::write(dir.join("hyperfine/cakes.json"), "{\"results\": [{}]}").unwrap();
    let out = run(EXE, &["report", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("cakes.json"), "{}", out.stderr);
    assert!(
        !dir.join("REPORT.md").exists(),
        "a report was written from broken input"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_report_the_table_says_how_to_make_one() {
    let out = run(EXE, &["table", "--results", "/nonexistent/results"]);
    assert!(out.status.success());
    assert!(out.stdout.contains("Mathematical computation"));
    assert!(out.stdout.contains("scripts/compare.sh"));
}
