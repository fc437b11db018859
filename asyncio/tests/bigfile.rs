//! `bigfile` as tasks, both ways: whole ranges on `spawn_blocking`, and the naive `tokio::fs`
//! reads parsed on the event loop. Both print the reference digest (computed in the test kit,
//! independently of the library) for several chunk sizes and task counts; both refuse every
//! kind of bad line naming its line number, byte offset and reason, and count it with
//! `--keep-going`.
//!
//! `cargo test -p asyncio --test bigfile`

use testkit::bigfile::{bad_big_runs, big_inputs};
use testkit::run::{assert_refusal, parse_summary, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn both_variants_match_the_reference() {
    let inputs = big_inputs(30_000, 200);
    let f = inputs.file.to_str().unwrap();
    for (variant, reader) in [("spawn_blocking", "mmap"), ("tokio-fs", "tokio-fs")] {
        for (chunk, workers) in [("300", "3"), ("4K", "2"), ("16M", "2")] {
            let args = [
                "bigfile",
                f,
                "--variant",
                variant,
                "--chunk-bytes",
                chunk,
                "--workers",
                workers,
            ];
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.digest, "{args:?}");
            assert_eq!(
                (s.variant.as_str(), &s.extra["reader"]),
                (variant, &reader.into())
            );
            assert_eq!(s.extra["rows"], inputs.rows);
        }
    }
}

#[test]
fn bad_lines_are_named_and_keep_going_counts_them_in_both_variants() {
    for variant in ["spawn_blocking", "tokio-fs"] {
        let bad = bad_big_runs(EXE, &["--variant", variant, "--workers", "3"]);
        for r in &bad.lines {
            let c = &r.case;
            let at = format!("line {} (byte {})", c.line, c.offset);
            assert_refusal(&r.stopped, &[c.file.to_str().unwrap(), &at, c.why]);
            assert_eq!(
                r.kept.status.code(),
                Some(1),
                "{variant} {}: {}",
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
            assert_eq!(s.digest, c.kept_digest, "{variant} {}", c.name);
        }
        assert_refusal(&bad.empty, &["empty.txt", "is empty"]);
        assert_refusal(&bad.directory, &["a directory"]);
        assert_refusal(&bad.missing, &["nowhere.txt"]);
    }
}
