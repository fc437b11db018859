//! Inputs for `bigfile`: a small generated file and the digest every model must print for it,
//! from a reference written here independently of the library (plain splitting, a float
//! mean, a `BTreeMap`); and every kind of bad file, run against a binary so that each crate's
//! tests can check how it was refused.

use crate::run::{Output, run};
use scenarios::bigfile::GenBigfileArgs;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// A generated file in a temporary directory, and the digest of its answer.
#[derive(Debug)]
pub struct BigInputs {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub rows: u64,
    pub digest: String,
}

/// `rows` rows over `stations` stations, made in-process with the library's generator.
pub fn big_inputs(rows: u64, stations: usize) -> BigInputs {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("big.txt");
    let args = GenBigfileArgs {
        rows,
        stations,
        seed: 42,
        out: file.clone(),
    };
    scenarios::bigfile::generate::generate(&args, 2, &AtomicBool::new(false)).expect("generate");
    let digest = reference_digest(&file);
    BigInputs {
        dir,
        file,
        rows,
        digest,
    }
}

/// The answer to a well-formed file, computed the obvious way.
pub fn reference_answer(text: &[u8]) -> String {
    let text = std::str::from_utf8(text).expect("test files are UTF-8");
    let mut all: BTreeMap<&str, (i64, i64, i64, i64)> = BTreeMap::new();
    for line in text.lines() {
        let (station, t) = line.split_once(';').expect("a well-formed line");
        let tenths: i64 = t.replace('.', "").parse().expect("a temperature");
        let e = all.entry(station).or_insert((i64::MAX, i64::MIN, 0, 0));
        *e = (e.0.min(tenths), e.1.max(tenths), e.2 + tenths, e.3 + 1);
    }
    let show = |t: i64| {
        format!(
            "{}{}.{}",
            if t < 0 { "-" } else { "" },
            t.abs() / 10,
            t.abs() % 10
        )
    };
    let mut out = String::new();
    for (station, (min, max, sum, count)) in all {
        // f64's round() is half away from zero: the rule the library implements in integers.
        let mean = (sum as f64 / count as f64).round() as i64;
        out.push_str(&format!(
            "{station}={}/{}/{}\n",
            show(min),
            show(mean),
            show(max)
        ));
    }
    out
}

/// SHA-256 of [`reference_answer`] of the file: what every model must print.
pub fn reference_digest(path: &Path) -> String {
    scenarios::digest::sha256_hex(reference_answer(&fs::read(path).expect("read")).as_bytes())
}

/// One kind of bad line, in a file of good lines either side of it.
#[derive(Debug)]
pub struct BadCase {
    pub name: &'static str,
    pub file: PathBuf,
    /// Where the bad line is: its line number (from 1) and byte offset.
    pub line: u64,
    pub offset: u64,
    /// A phrase of the reason the error must give.
    pub why: &'static str,
    /// The digest of the good lines alone, what `--keep-going` must print.
    pub kept_digest: String,
    pub good_rows: u64,
}

/// How a binary took one bad file: without and with `--keep-going`.
#[derive(Debug)]
pub struct BadRun {
    pub case: BadCase,
    pub stopped: Output,
    pub kept: Output,
}

/// Every bad run, and the refusals of files that are not files of rows.
#[derive(Debug)]
pub struct BadBigRuns {
    pub dir: tempfile::TempDir,
    pub lines: Vec<BadRun>,
    pub empty: Output,
    pub directory: Output,
    pub missing: Output,
}

fn good_lines(from: usize, n: usize) -> String {
    let names = ["Oslo", "Lima", "Zürich", "Ålesund", "Hamburg", "St. John's"];
    (from..from + n)
        .map(|i| {
            format!(
                "{};{}.{}\n",
                names[i % names.len()],
                (i % 37) as i64 - 9,
                i % 10
            )
        })
        .collect()
}

/// Write every kind of bad file and run `exe bigfile FILE ARGS` on each, with chunks small
/// enough that the bad line is deep in a later range.
pub fn bad_big_runs(exe: &str, args: &[&str]) -> BadBigRuns {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = good_lines(0, 60);
    let after = good_lines(60, 40);
    let long = format!("{};1.0", "x".repeat(101));
    let kinds: [(&str, &[u8], &str); 7] = [
        ("no-semicolon", b"Hamburg12.0", "no ';'"),
        ("station-too-long", long.as_bytes(), "longer than 100 bytes"),
        ("empty-station", b";1.0", "station name is empty"),
        ("not-utf8", b"Ham\xffburg;1.0", "not UTF-8"),
        ("two-decimals", b"Hamburg;12.34", "temperature is not"),
        ("three-digits", b"Hamburg;123.4", "temperature is not"),
        (
            "no-final-newline",
            b"Hamburg;1.0",
            "does not end in a newline",
        ),
    ];
    let mut lines = Vec::new();
    for (name, bad, why) in kinds {
        let file = dir.path().join(format!("{name}.txt"));
        let mut bytes = before.clone().into_bytes();
        let (good, tail) = if name == "no-final-newline" {
            let all = format!("{before}{after}");
            bytes = all.clone().into_bytes();
            bytes.extend_from_slice(bad);
            (all, String::new())
        } else {
            bytes.extend_from_slice(bad);
            bytes.push(b'\n');
            bytes.extend_from_slice(after.as_bytes());
            (format!("{before}{after}"), after.clone())
        };
        fs::write(&file, &bytes).expect("write");
        let offset = (bytes.len() - tail.len() - bad.len() - usize::from(!tail.is_empty())) as u64;
        let line = bytes[..offset as usize]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        let case = BadCase {
            name,
            file: file.clone(),
            line,
            offset,
            why,
            kept_digest: scenarios::digest::sha256_hex(
                reference_answer(good.as_bytes()).as_bytes(),
            ),
            good_rows: good.lines().count() as u64,
        };
        let f = file.to_string_lossy().into_owned();
        let mut all = vec!["bigfile", f.as_str(), "--chunk-bytes", "256"];
        all.extend_from_slice(args);
        let stopped = run(exe, &all);
        all.extend(["--keep-going", "--json"]);
        let kept = run(exe, &all);
        lines.push(BadRun {
            case,
            stopped,
            kept,
        });
    }
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, b"").expect("write");
    let attempt = |p: &Path| {
        let p = p.to_string_lossy().into_owned();
        run(exe, &[&["bigfile", p.as_str()][..], args].concat())
    };
    BadBigRuns {
        empty: attempt(&empty),
        directory: attempt(dir.path()),
        missing: attempt(&dir.path().join("nowhere.txt")),
        lines,
        dir,
    }
}
