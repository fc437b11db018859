//! `bigfile` with one buffered reader: the digest equals the reference (computed in the test
//! kit, independently of the library) on small generated files whatever the chunk size, warm or
//! `--cold`; every kind of bad line is refused naming the file, its line number, byte offset and
//! reason, and `--keep-going` skips it, counts it and answers for the rest; an empty file, a
//! directory and a missing file are refused by name.
//!
//! `cargo test -p serial --test bigfile`

use testkit::bigfile::{bad_big_runs, big_inputs};
use testkit::run::{assert_refusal, assert_refused, parse_summary, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn the_answer_matches_the_reference_whatever_the_chunks() {
    let inputs = big_inputs(30_000, 200);
    let f = inputs.file.to_str().unwrap();
    for chunk in ["300", "4K", "64K", "16M"] {
        let (s, _) = run_json(EXE, &["bigfile", f, "--chunk-bytes", chunk]);
        assert_eq!(s.digest, inputs.digest, "--chunk-bytes {chunk}");
        assert_eq!(
            (s.scenario.as_str(), s.workers, s.failed),
            ("bigfile", 1, 0)
        );
        assert_eq!(s.extra["rows"], inputs.rows);
        assert_eq!(s.extra["reader"], "read");
        assert!(s.extra["gb_per_s"].as_f64().unwrap() > 0.0);
    }
    let (cold, _) = run_json(EXE, &["bigfile", f, "--cold"]);
    assert_eq!(
        (cold.digest, &cold.extra["cache"]),
        (inputs.digest, &"cold".into())
    );
}

#[test]
fn bad_lines_are_named_and_keep_going_counts_them() {
    let bad = bad_big_runs(EXE, &[]);
    for r in &bad.lines {
        let c = &r.case;
        let name = c.file.file_name().unwrap().to_str().unwrap();
        let at = format!("line {} (byte {})", c.line, c.offset);
        assert_refusal(&r.stopped, &[name, &at, c.why]);
        assert_eq!(
            r.kept.status.code(),
            Some(1),
            "{}: {}",
            c.name,
            r.kept.stderr
        );
        let s = parse_summary(&r.kept.stdout);
        assert_eq!(
            (s.failed, s.extra["malformed"].as_u64()),
            (1, Some(1)),
            "{}",
            c.name
        );
        assert_eq!(s.extra["rows"].as_u64(), Some(c.good_rows), "{}", c.name);
        assert_eq!(
            s.digest, c.kept_digest,
            "{}: the good lines' answer",
            c.name
        );
        assert!(r.kept.stderr.contains(&at), "{}: {}", c.name, r.kept.stderr);
    }
    assert_refusal(&bad.empty, &["empty.txt", "is empty"]);
    assert_refusal(&bad.directory, &["a directory"]);
    assert_refusal(&bad.missing, &["nowhere.txt", "gen bigfile"]);
    assert_refused(EXE, &["bigfile", "--chunk-bytes", "10"], "--chunk-bytes");
}
