//! The `bigfile` scenario, written once: the chapter's "processing large files" row, as the
//! workload known as the One Billion Row Challenge.
//!
//! ```text
//! decision-table gen bigfile --rows 100000000 --stations 413 --seed 42 --out data/bigfile.txt
//! serial bigfile data/bigfile.txt [--cold] [--keep-going] [--chunk-bytes 16M]
//! threading bigfile data/bigfile.txt --workers 2
//! ```
//!
//! - Input: lines of `station;temperature` (`Hamburg;12.0`), one decimal digit, made by
//!   [`generate`]. The answer: min / mean / max per station, in station order, one per line
//!   (`Hamburg=-3.4/12.1/31.0`), printed on stdout (stderr under `--json`).
//! - [`plan`] splits the file at line boundaries into byte ranges of about `--chunk-bytes`
//!   (the same ranges in every model); each range is one item of the crate's pool, and the
//!   [`Aggregate`] job turns a range into a [`Partial`] aggregate: per station min, max, sum
//!   and count in integer tenths ([`parse`]: the line rules and the hot loop; [`read`]: the
//!   readers). How a range is read is the model's part: one buffered reader (serial, and each
//!   multiprocessing child for its own range), a memory map shared by threads (threading, and
//!   asyncio's `spawn_blocking`), or `tokio::fs` ([`TokioFs`], asyncio's naive variant).
//! - [`summarise`] merges the partial aggregates in range order, prints the answer, and takes
//!   the digest over the printed answer, byte for byte: integer sums make every model, and the
//!   Python twin, agree to the last digit. The mean is rounded half away from zero
//!   ([`parse::Stats::mean_tenths`]).
//! - Bad input: a missing file, a directory, an empty file, a malformed line (no `;`, a
//!   station over 100 bytes or not UTF-8 or empty, a temperature that is not `-?D{1,2}.D`,
//!   a last line without its newline) stops the run with an error naming the file, the line
//!   number and byte offset, and the line; `--keep-going` skips malformed lines and counts
//!   them (`failed` in the summary, exit status 1). A range whose worker died has no result:
//!   the run fails naming it rather than print an answer that silently lacks those rows.
//! - `--cold` drops the file's pages from the page cache first ([`cache`]), so the run reads
//!   from the disk: the I/O-bound half of the story.

pub mod cache;
pub mod generate;
pub mod parse;
pub mod read;

pub use generate::GenBigfileArgs;

use crate::cli::{cores, workers};
use crate::digest::sha256_hex;
use crate::job::{AsyncJob, Job};
use crate::outcome::{OnError, Outcome};
use crate::{Run, Summary, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use memmap2::Mmap;
use parse::{BadLine, MAX_STATIONS, Stats, format_tenths};
use read::Scanned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The scenario's name in every summary.
pub const SCENARIO: &str = "bigfile";
/// At most this many ranges: a tiny `--chunk-bytes` on a huge file is refused, not queued.
pub const MAX_RANGES: u64 = 100_000;

/// `--chunk-bytes`: a size with an optional K, M or G (powers of 1024), 64 bytes to 1 GiB.
pub fn chunk_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => {
            return Err(format!(
                "'{s}': use a number of bytes with K, M or G, like 16M"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size: use a number of bytes with K, M or G"))?;
    let bytes = n.checked_shl(shift).filter(|b| b >> shift == n);
    match bytes {
        Some(b) if (64..=1 << 30).contains(&b) => Ok(b),
        _ => Err(format!("{s} is out of range: use 64 bytes to 1G")),
    }
}

/// `bigfile`: min / mean / max per station of a `station;temperature` file.
#[derive(Args, Debug, Clone)]
pub struct BigfileArgs {
    /// The file to read (make one with `decision-table gen bigfile`)
    #[arg(default_value = "data/bigfile.txt")]
    pub input: PathBuf,
    /// How many workers read ranges at once (default: one per core; serial has one)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// About how many bytes per range (each range ends at a line's end): 64 to 1G, K/M/G allowed
    #[arg(long, default_value = "16M", value_parser = chunk_bytes, allow_negative_numbers = true)]
    pub chunk_bytes: u64,
    /// Skip malformed lines and count them (exit status 1) instead of stopping at the first
    #[arg(long)]
    pub keep_going: bool,
    /// Drop the file's pages from the page cache first (posix_fadvise DONTNEED): read from disk
    #[arg(long)]
    pub cold: bool,
}

impl BigfileArgs {
    /// What a failed range does to the rest: a malformed line stops the run unless we keep
    /// going, and then the ranges themselves never fail for one.
    pub fn on_error(&self) -> OnError {
        OnError::keep_going(self.keep_going)
    }
}

/// A byte range of the file: `start..end`, whole lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// The file, checked, and cut into ranges.
#[derive(Clone, Debug)]
pub struct Plan {
    pub path: PathBuf,
    pub len: u64,
    pub ranges: Vec<Range>,
    pub chunk_bytes: u64,
    pub keep_going: bool,
    pub cold: bool,
}

/// Check the input (a regular file, not empty), drop its pages with `--cold`, and cut it at
/// line boundaries into ranges of about `--chunk-bytes`: each range ends just after the first
/// `\n` at or after its nominal end, so every line lies in exactly one range. The ranges depend
/// only on the file and `--chunk-bytes`, not on the model or the workers.
pub fn plan(args: &BigfileArgs) -> Result<Plan> {
    let path = &args.input;
    let len = crate::files::regular_file(path)
        .map_err(|e| anyhow::anyhow!("{e:#} (make one with `decision-table gen bigfile`)"))?;
    if len == 0 {
        bail!(
            "{} is empty: there is no row to aggregate (make a file with `decision-table gen \
             bigfile`)",
            path.display()
        );
    }
    let count = len.div_ceil(args.chunk_bytes);
    if count > MAX_RANGES {
        bail!(
            "--chunk-bytes {} would cut {} ({len} bytes) into {count} ranges, more than \
             {MAX_RANGES}: use larger chunks",
            args.chunk_bytes,
            path.display()
        );
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut ranges = Vec::with_capacity(count as usize);
    let mut start = 0;
    while start < len {
        let nominal = start + args.chunk_bytes;
        let end = if nominal >= len {
            len
        } else {
            next_line_start(&file, path, nominal - 1, len)?
        };
        ranges.push(Range { start, end });
        start = end;
    }
    // After the boundaries were read: their pages go too.
    if args.cold {
        cache::drop_cache(path)?;
    }
    Ok(Plan {
        path: path.clone(),
        len,
        ranges,
        chunk_bytes: args.chunk_bytes,
        keep_going: args.keep_going,
        cold: args.cold,
    })
}

/// The offset just after the first `\n` at or after `from` (or `len` if there is none).
fn next_line_start(file: &File, path: &Path, from: u64, len: u64) -> Result<u64> {
    let mut buf = [0u8; 4096];
    let mut pos = from;
    while pos < len {
        let want = buf.len().min((len - pos) as usize);
        file.read_exact_at(&mut buf[..want], pos)
            .with_context(|| format!("cannot read {} at byte {pos}", path.display()))?;
        if let Some(i) = memchr::memchr(b'\n', &buf[..want]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += want as u64;
    }
    Ok(len)
}

/// What one range added up to: what crosses a process pipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// The stations of the range in byte order, with their figures.
    pub stations: Vec<(Vec<u8>, Stats)>,
    pub rows: u64,
    /// Malformed lines skipped (`--keep-going`), and the first of them.
    pub malformed: u64,
    pub first_bad: Option<BadLine>,
}

impl From<Scanned> for Partial {
    fn from(s: Scanned) -> Partial {
        Partial {
            stations: s.table.into_sorted(),
            rows: s.rows,
            malformed: s.malformed,
            first_bad: s.first_bad,
        }
    }
}

/// How the [`Aggregate`] job reads its ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reader {
    /// `pread` into a buffer of its own, block after block.
    Read,
    /// A slice of one memory map of the whole file, shared by every thread.
    Mmap,
}

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::Read => "read",
            Reader::Mmap => "mmap",
        }
    }
}

/// The file as this process holds it, opened (or mapped) on first use.
enum Opened {
    File(File),
    Map(Mmap),
}

/// The job every model maps over the ranges: aggregate one range.
#[derive(Serialize, Deserialize)]
pub struct Aggregate {
    path: PathBuf,
    len: u64,
    reader: Reader,
    keep_going: bool,
    /// Per process: a worker process opens its own (the way it "reads it itself").
    #[serde(skip)]
    opened: OnceLock<Result<Opened, String>>,
}

impl Aggregate {
    pub fn new(plan: &Plan, reader: Reader) -> Aggregate {
        Aggregate {
            path: plan.path.clone(),
            len: plan.len,
            reader,
            keep_going: plan.keep_going,
            opened: OnceLock::new(),
        }
    }

    fn opened(&self) -> Result<&Opened> {
        let made = self
            .opened
            .get_or_init(|| self.open().map_err(|e| format!("{e:#}")));
        made.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn open(&self) -> Result<Opened> {
        let path = &self.path;
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if len != self.len {
            bail!(
                "{} is {len} bytes now, {} when the run began: it changed",
                path.display(),
                self.len
            );
        }
        cache::sequential(&file);
        Ok(match self.reader {
            Reader::Read => Opened::File(file),
            Reader::Mmap => Opened::Map(
                map(&file).with_context(|| format!("cannot map {} into memory", path.display()))?,
            ),
        })
    }
}

/// Map a whole file read-only.
///
/// `unsafe` because the map aliases the file: if another process truncates the file while it
/// is mapped, touching the lost pages kills us with SIGBUS, and if one writes to it, the bytes
/// change under our `&[u8]`. Nothing safe gives what the threading model is here to show (the
/// page cache's own pages as the buffer, shared by every thread, no copy): `read` copies, and
/// reading the whole file into memory would cost its size in RAM. We map only a regular file
/// whose size we just checked, for the length of one run; a file changed meanwhile can make
/// this run fail or miscount, as it would any reader of a file being rewritten.
#[allow(unsafe_code)]
fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: see above: a read-only map of a regular file, which we never write.
    unsafe { Mmap::map(file) }
}

impl Job for Aggregate {
    const NAME: &'static str = "bigfile";
    type Item = Range;
    type Output = Partial;

    fn run(&self, range: Range) -> Result<Partial> {
        let at_end = range.end == self.len;
        let keep_going = self.keep_going;
        let span = (range.start, range.end);
        let scanned = match self.opened()? {
            Opened::File(file) => read::read_range(&self.path, file, span, at_end, keep_going),
            Opened::Map(map) => read::map_range(map, span, at_end, keep_going),
        };
        scanned
            .map(Partial::from)
            .map_err(|e| e.context(self.path.display().to_string()))
    }

    /// A minute, plus a second per MB of the range (a slow disk reads faster than that).
    fn deadline(&self, range: &Range) -> Duration {
        Duration::from_secs(60) + Duration::from_micros(range.end - range.start)
    }
}

/// How asyncio reads the ranges (its `--variant` for `bigfile`; the other models have one way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AsyncRead {
    /// Whole ranges on tokio's blocking threads, from a memory map (the right way)
    #[value(name = "spawn_blocking", alias = "spawn-blocking")]
    SpawnBlocking,
    /// tokio::fs reads of 8 KiB, each on a blocking thread, parsed on the event loop (the naive way)
    #[value(name = "tokio-fs")]
    TokioFs,
}

impl AsyncRead {
    /// The variant's name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            AsyncRead::SpawnBlocking => "spawn_blocking",
            AsyncRead::TokioFs => "tokio-fs",
        }
    }

    /// How the bytes are read (the summary's `reader`).
    pub fn reader(self) -> &'static str {
        match self {
            AsyncRead::SpawnBlocking => Reader::Mmap.name(),
            AsyncRead::TokioFs => "tokio-fs",
        }
    }
}

/// asyncio's `--variant` for `bigfile`.
#[derive(Args, Debug, Clone, Copy)]
pub struct AsyncReadArgs {
    /// How ranges are read: whole, on blocking threads; or through tokio::fs
    #[arg(long, value_enum, default_value_t = AsyncRead::SpawnBlocking)]
    pub variant: AsyncRead,
}

/// asyncio's naive job: the same range read through `tokio::fs`, parsed on the event loop.
pub struct TokioFs {
    path: PathBuf,
    len: u64,
    keep_going: bool,
}

impl TokioFs {
    pub fn new(plan: &Plan) -> TokioFs {
        TokioFs {
            path: plan.path.clone(),
            len: plan.len,
            keep_going: plan.keep_going,
        }
    }
}

impl AsyncJob for TokioFs {
    type Item = Range;
    type Output = Partial;

    async fn run(&self, range: Range) -> Result<Partial> {
        let span = (range.start, range.end);
        let at_end = range.end == self.len;
        read::tokio_fs_range(&self.path, span, at_end, self.keep_going)
            .await
            .map(Partial::from)
            .map_err(|e| e.context(self.path.display().to_string()))
    }
}

/// Where a malformed line is, as a person wants it: file, line number, byte offset, the line.
fn describe(path: &Path, bad: &BadLine) -> String {
    let line = match read::lines_before(path, bad.offset) {
        Ok(n) => format!("line {}", n + 1),
        Err(_) => "a line".into(),
    };
    format!(
        "{}: {line} (byte {}): {}: {}",
        path.display(),
        bad.offset,
        bad.why,
        bad.quoted()
    )
}

/// The error of a range whose job failed: for a malformed line, read the range again here to
/// find it (the worker's message names its byte offset; the line number needs the lines of
/// every range before it, which only this process can count).
fn range_error(plan: &Plan, range: Range, message: &str) -> String {
    let Ok(file) = File::open(&plan.path) else {
        return message.to_string();
    };
    let span = (range.start, range.end);
    match read::read_range(&plan.path, &file, span, range.end == plan.len, false) {
        Err(e) => match e.downcast_ref::<BadLine>() {
            Some(bad) => describe(&plan.path, bad),
            None => message.to_string(),
        },
        Ok(_) => message.to_string(),
    }
}

/// The answer: one line per station in byte order of the names, `name=min/mean/max`.
pub fn render(stations: &BTreeMap<Vec<u8>, Stats>) -> String {
    let mut out = String::new();
    for (name, s) in stations {
        // Only names that passed the UTF-8 check become keys.
        out.push_str(&String::from_utf8_lossy(name));
        out.push('=');
        out.push_str(&format_tenths(s.min as i64));
        out.push('/');
        out.push_str(&format_tenths(s.mean_tenths()));
        out.push('/');
        out.push_str(&format_tenths(s.max as i64));
        out.push('\n');
    }
    out
}

/// The end of every model's run: merge the ranges' aggregates in range order, print the
/// answer, and build the summary (digest: SHA-256 of the printed answer).
pub fn summarise(
    mut run: Run,
    plan: &Plan,
    reader: &str,
    outcomes: Vec<Outcome<Partial>>,
) -> Result<Summary> {
    // A failed range: the earliest in the file (a malformed line, without --keep-going).
    if let Some((i, e)) = outcomes.iter().enumerate().find_map(|(i, o)| match o {
        Outcome::Failed(e) => Some((i, e)),
        _ => None,
    }) {
        bail!("{}", range_error(plan, plan.ranges[i], e));
    }
    // A range with no result (its worker died): no answer rather than a wrong one.
    let missing: Vec<String> = outcomes
        .iter()
        .zip(&plan.ranges)
        .enumerate()
        .filter_map(|(i, (o, r))| {
            o.why_not()
                .map(|why| format!("range {i} (bytes {}..{}): {why}", r.start, r.end))
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: {} of {} ranges have no result, so there is no answer (one without them would \
             be silently wrong): {}",
            plan.path.display(),
            missing.len(),
            plan.ranges.len(),
            missing.join("; ")
        );
    }
    let mut total: BTreeMap<Vec<u8>, Stats> = BTreeMap::new();
    let (mut rows, mut malformed, mut first_bad) = (0u64, 0u64, None);
    for outcome in outcomes {
        let Outcome::Done(part) = outcome else {
            unreachable!("failed and missing ranges returned above")
        };
        for (name, stats) in part.stations {
            total
                .entry(name)
                .and_modify(|s| s.merge(&stats))
                .or_insert(stats);
        }
        if total.len() > MAX_STATIONS {
            bail!("{}: {}", plan.path.display(), parse::TooManyStations);
        }
        rows += part.rows;
        malformed += part.malformed;
        first_bad = first_bad.or(part.first_bad);
    }
    let answer = render(&total);
    if !answer.is_empty() {
        say!("{}", answer.trim_end_matches('\n'));
    }
    if let Some(bad) = &first_bad {
        say!(
            "{malformed} malformed line(s) skipped; the first: {}",
            describe(&plan.path, bad)
        );
    }
    let seconds = run.elapsed_s();
    let gb_per_s = plan.len as f64 / seconds.max(1e-9) / 1e9;
    say!(
        "{} rows, {} stations, {:.1} MB in {seconds:.3} s: {gb_per_s:.2} GB/s ({} cache, {reader})",
        rows,
        total.len(),
        plan.len as f64 / 1e6,
        if plan.cold { "cold" } else { "warm" }
    );
    run.extra("bytes", plan.len)
        .extra("rows", rows)
        .extra("stations", total.len())
        .extra("malformed", malformed)
        .extra("chunk_bytes", plan.chunk_bytes)
        .extra("reader", reader)
        .extra("cache", if plan.cold { "cold" } else { "warm" })
        .extra("gb_per_s", (gb_per_s * 1e6).round() / 1e6);
    Ok(run.finish(sha256_hex(answer.as_bytes()), malformed as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    fn args(path: &Path, chunk: u64) -> BigfileArgs {
        BigfileArgs {
            input: path.to_path_buf(),
            workers: 1,
            chunk_bytes: chunk,
            keep_going: false,
            cold: false,
        }
    }

    #[test]
    fn chunk_sizes_read_like_people_write_them() {
        assert_eq!(chunk_bytes("16M"), Ok(16 << 20));
        assert_eq!(chunk_bytes("64k"), Ok(64 << 10));
        assert_eq!(chunk_bytes("4096"), Ok(4096));
        assert_eq!(chunk_bytes("1G"), Ok(1 << 30));
        for bad in [
            "0",
            "63",
            "2G",
            "-1",
            "lots",
            "16Q",
            "",
            "99999999999999999999G",
        ] {
            assert!(chunk_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_end_at_line_ends_and_cover_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let text = "Oslo;1.0\nLima;-2.5\nA;3.3\nBergen;10.0\nOslo;3.0\n";
        std::fs::write(&path, text).unwrap();
        for chunk in [64, 100] {
            let p = plan(&args(&path, chunk)).unwrap();
            assert_eq!(
                p.ranges,
                [Range {
                    start: 0,
                    end: text.len() as u64
                }]
            );
        }
        let mut a = args(&path, 64);
        a.chunk_bytes = 64;
        std::fs::write(&path, text.repeat(10)).unwrap();
        let p = plan(&a).unwrap();
        assert!(p.ranges.len() > 3);
        assert_eq!(p.ranges[0].start, 0);
        assert_eq!(p.ranges.last().unwrap().end, p.len);
        let bytes = std::fs::read(&path).unwrap();
        for w in p.ranges.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert_eq!(bytes[w[0].end as usize - 1], b'\n');
        }
    }

    #[test]
    fn empty_files_and_directories_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "").unwrap();
        let e = format!("{:#}", plan(&args(&empty, 64)).unwrap_err());
        assert!(e.contains("empty.txt") && e.contains("is empty"), "{e}");
        let e = format!("{:#}", plan(&args(dir.path(), 64)).unwrap_err());
        assert!(e.contains("a directory"), "{e}");
    }

    #[test]
    fn a_lost_range_means_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "Oslo;1.0\n".repeat(20)).unwrap();
        let p = plan(&args(&path, 64)).unwrap();
        let job = Aggregate::new(&p, Reader::Read);
        let mut outcomes: Vec<_> = p.ranges.iter().map(|r| Outcome::of(job.run(*r))).collect();
        outcomes[1] = Outcome::Lost("worker process 7 was killed by signal 9".into());
        let run = Run::start(SCENARIO, Label::new("m", "v", 1), p.ranges.len());
        let e = summarise(run, &p, "read", outcomes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("range 1 (bytes ") && e.contains("killed"), "{e}");
    }

    #[test]
    fn a_malformed_line_is_named_by_line_number_offset_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let mut text = "Oslo;1.0\n".repeat(30);
        text.push_str("Oslo;1.00\n");
        text.push_str(&"Oslo;1.0\n".repeat(30));
        std::fs::write(&path, &text).unwrap();
        let p = plan(&args(&path, 64)).unwrap();
        for reader in [Reader::Read, Reader::Mmap] {
            let job = Aggregate::new(&p, reader);
            let outcomes: Vec<_> = p.ranges.iter().map(|r| Outcome::of(job.run(*r))).collect();
            let run = Run::start(SCENARIO, Label::new("m", "v", 1), p.ranges.len());
            let e = summarise(run, &p, "x", outcomes).unwrap_err().to_string();
            assert!(
                e.contains("f.txt: line 31 (byte 270): the temperature is not")
                    && e.contains("\"Oslo;1.00\""),
                "{e}"
            );
        }
    }
}
