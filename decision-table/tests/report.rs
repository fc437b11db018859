//! `decision-table report` on recorded harness results: a real hyperfine 1.15 export (`hf1`) and
//! the same numbers in hyperfine 2.0's layout (`hf2`: `schema_version`, `metadata`,
//! `command_name`), each beside the `--json` summaries of the four models; and `rust-full`, the
//! inputs of the committed `docs/results/` (a full run of every Rust scenario), whose report is
//! checked word for word against `fixtures/expected/`.
//!
//! When the report changes on purpose, regenerate the expected files with
//! `UPDATE_EXPECTED=1 cargo test -p decision-table --test report` and review their diff.

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

/// Compare `actual` with the expected file `fixtures/expected/<name>`, or rewrite that file
/// when `UPDATE_EXPECTED` is set.
fn assert_expected(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/expected")
        .join(name);
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "{name} differs from {} from line {}:\n  got:      {:?}\n  expected: {:?}\n\
             (UPDATE_EXPECTED=1 rewrites it if the change is meant)",
            path.display(),
            first + 1,
            actual.lines().nth(first),
            expected.lines().nth(first),
        );
    }
}

#[test]
fn a_full_rust_run_gives_the_recorded_report_and_verdicts() {
    let dir = fixture("rust-full");
    let out = run(EXE, &["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert_expected("rust-full.REPORT.md", &report);
    let verdicts = std::fs::read_to_string(dir.join("verdicts.json")).unwrap();
    assert_expected("rust-full.verdicts.json", &verdicts);
    for scenario in [
        "cakes",
        "workers",
        "queue",
        "matrix",
        "images",
        "downloads",
        "requests",
        "chat",
    ] {
        let svg = dir.join(format!("charts/{scenario}.svg"));
        assert!(svg.exists(), "no chart {}", svg.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verdicts_json_written_before_the_python_side_still_prints() {
    // docs/results/verdicts.json as the report wrote it before verdicts were an enum and before
    // Python joined: `decision-table` must print it, not fall back to "no verdicts yet".
    let dir = fixture("old-verdicts");
    let out = run(EXE, &["table", "--results", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "| Mathematical computation | multiprocessing | multiprocessing-rayon | differs |"
        ),
        "{}",
        out.stdout
    );
    assert_expected("old-verdicts.table.txt", &out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}
