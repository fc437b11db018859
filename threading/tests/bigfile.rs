//! `bigfile` on a pool of threads over a memory map: the digest equals the reference (computed
//! in the test kit, independently of the library) for several chunk sizes and thread counts,
//! with and without the emulated GIL, warm or `--cold`; every kind of bad line is refused
//! naming its line number, byte offset and reason, and `--keep-going` counts it.
//!
//! `cargo test -p threading --test bigfile`

use testkit::bigfile::{bad_big_runs, big_inputs};
use testkit::run::{assert_refusal, parse_summary, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

#[test]
fn every_chunk_size_and_thread_count_matches_the_reference() {
    let inputs = big_inputs(30_000, 200);
    let f = inputs.file.to_str().unwrap();
    for (chunk, workers) in [("300", "3"), ("4K", "2"), ("64K", "1"), ("16M", "2")] {
        let args = ["bigfile", f, "--chunk-bytes", chunk, "--workers", workers];
        let (s, _) = run_json(EXE, &args);
        assert_eq!(s.digest, inputs.digest, "{args:?}");
        assert_eq!(s.workers.to_string(), workers);
        assert_eq!(
            (s.variant.as_str(), &s.extra["reader"]),
            ("threads", &"mmap".into())
        );
        assert_eq!(s.extra["rows"], inputs.rows);
    }
    let (gil, _) = run_json(EXE, &["bigfile", f, "--chunk-bytes", "4K", "--gil"]);
    assert_eq!(
        (gil.digest.as_str(), gil.variant.as_str()),
        (inputs.digest.as_str(), "threads+gil")
    );
    let (cold, _) = run_json(EXE, &["bigfile", f, "--cold"]);
    assert_eq!(cold.digest, inputs.digest);
}

#[test]
fn bad_lines_are_named_and_keep_going_counts_them() {
    let bad = bad_big_runs(EXE, &["--workers", "3"]);
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
