//! `decision-table gen bigfile`: a One-Billion-Row-style file, deterministic from a seed.
//!
//! ```text
//! decision-table gen bigfile --rows 100000000 --stations 413 --seed 42 --out data/bigfile.txt
//! ```
//!
//! - The stations are made up here ([`station_names`]): two or three syllables and now and then
//!   a suffix ("Tholmark", "Vessøby Falls"), some with non-ASCII letters so that the byte order
//!   of UTF-8 names is exercised; each has its own mean temperature.
//! - Row `i` belongs to block `i / 65536`, and block `b` is drawn from its own generator
//!   (`SplitMix64::for_item(seed, b)`): the file's bytes depend only on the seed, the rows and
//!   the stations, never on how many threads wrote it.
//! - The blocks are drawn on every core (worker `k` draws blocks `k`, `k + W`, ...) and written
//!   in order by this thread, each worker at most two blocks ahead, so memory stays at a few
//!   MiB whatever the size; buffers go back to their worker to be refilled.
//! - The file is written under a temporary name beside `--out` and renamed when complete;
//!   Ctrl-C or SIGTERM stops the workers and removes the temporary file, so a partial file
//!   never appears anywhere.
//! - A progress bar on stderr while it runs, only on a terminal.

use crate::cli::bounded;
use crate::console;
use crate::rng::SplitMix64;
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Rows per independently seeded block.
pub const ROWS_PER_BLOCK: u64 = 1 << 16;
/// Kept apart from the other inputs' streams for the same seed.
const SALT: u64 = 0xB16F_11E5;

fn rows(s: &str) -> Result<u64, String> {
    bounded(s, 1, 10_000_000_000)
}

fn stations(s: &str) -> Result<usize, String> {
    bounded(s, 1, super::parse::MAX_STATIONS as u64).map(|v| v as usize)
}

/// `gen bigfile`.
#[derive(Args, Debug, Clone)]
pub struct GenBigfileArgs {
    /// How many `station;temperature` lines
    #[arg(long, default_value_t = 1_000_000, value_parser = rows, allow_negative_numbers = true)]
    pub rows: u64,
    /// How many distinct stations (at most 10,000, the challenge's limit)
    #[arg(long, default_value_t = 413, value_parser = stations, allow_negative_numbers = true)]
    pub stations: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The file to write (its folder is created if missing)
    #[arg(long, default_value = "data/bigfile.txt")]
    pub out: PathBuf,
}

/// A station: its name with the `;` after it, and its mean in tenths.
struct Station {
    prefix: Vec<u8>,
    mean: i32,
}

const FIRST: [&str; 24] = [
    "b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st",
    "t", "th", "v", "w", "z", "ø",
];
const VOWEL: [&str; 16] = [
    "a", "e", "i", "o", "u", "ae", "ei", "ou", "y", "ä", "ö", "ü", "é", "å", "ia", "io",
];
const CODA: [&str; 16] = [
    "", "", "", "", "", "", "n", "r", "l", "s", "th", "rk", "nd", "m", "st", "x",
];
const SUFFIX: [&str; 16] = [
    "burg", "ville", " Falls", " Bay", "by", "stad", "ford", "holm", "-on-Sea", " Springs", "grad",
    "wick", "ton", "heim", "pur", "abad",
];

/// `n` distinct made-up place names, deterministic from `seed`.
pub fn station_names(seed: u64, n: usize) -> Vec<String> {
    let mut rng = SplitMix64::for_item(seed ^ SALT, u64::MAX);
    let mut seen = HashSet::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    while names.len() < n {
        let mut name = String::new();
        // Two syllables, now and then three: names of about eight bytes, as in the challenge's
        // list (ours come out at about nine), so 100 million rows make about 1.5 GB.
        for _ in 0..2 + u64::from(rng.below(4) == 0) {
            name.push_str(FIRST[rng.below(FIRST.len() as u64) as usize]);
            name.push_str(VOWEL[rng.below(VOWEL.len() as u64) as usize]);
            name.push_str(CODA[rng.below(CODA.len() as u64) as usize]);
        }
        if rng.below(8) == 0 {
            name.push_str(SUFFIX[rng.below(SUFFIX.len() as u64) as usize]);
        }
        let mut chars = name.chars();
        let first = chars.next().expect("a syllable is never empty");
        let name: String = first.to_uppercase().chain(chars).collect();
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    names
}

fn stations_for(seed: u64, n: usize) -> Vec<Station> {
    let mut rng = SplitMix64::for_item(seed ^ SALT, u64::MAX - 1);
    station_names(seed, n)
        .into_iter()
        .map(|name| {
            let mut prefix = name.into_bytes();
            prefix.push(b';');
            // Means from -15.0 to 28.0 degrees.
            Station {
                prefix,
                mean: rng.below(431) as i32 - 150,
            }
        })
        .collect()
}

/// Every temperature from -99.9 to 99.9 as its line ending (`"-3.5\n"`), by tenths + 999.
fn temperature_texts() -> Vec<Vec<u8>> {
    (-999..=999)
        .map(|t: i64| format!("{}\n", super::parse::format_tenths(t)).into_bytes())
        .collect()
}

/// The rows of block `b` (`count` of them), appended to `out`.
fn draw_block(
    seed: u64,
    b: u64,
    count: u64,
    stations: &[Station],
    texts: &[Vec<u8>],
    out: &mut Vec<u8>,
) {
    let mut rng = SplitMix64::for_item(seed ^ SALT, b);
    let n = stations.len() as u64;
    for _ in 0..count {
        let r = rng.next_u64();
        // The high half picks the station (multiply-shift: unbiased enough, no division); the
        // low bits make a triangular spread of +-15.0 degrees around its mean.
        let station = &stations[(((r >> 32) * n) >> 32) as usize];
        let noise = ((r & 0xFFF) + ((r >> 12) & 0xFFF)) as i32 - 4095;
        let t = (station.mean + noise * 150 / 4095).clamp(-999, 999);
        out.extend_from_slice(&station.prefix);
        out.extend_from_slice(&texts[(t + 999) as usize]);
    }
}

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct Generated {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Write the file on `threads` threads; give up (removing the temporary file) once `stop` is
/// set.
pub fn generate(args: &GenBigfileArgs, threads: usize, stop: &AtomicBool) -> Result<Generated> {
    let started = Instant::now();
    let out = &args.out;
    let dir = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if out.is_dir() {
        bail!(
            "--out {} is a directory: name the file to write",
            out.display()
        );
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file beside {}", out.display()))?;
    let stations = stations_for(args.seed, args.stations);
    let texts = temperature_texts();
    let blocks = args.rows.div_ceil(ROWS_PER_BLOCK);
    let threads = threads.clamp(1, 64).min(blocks as usize);
    let bar = progress(args.rows);
    let mut bytes = 0u64;
    let written: Result<()> = std::thread::scope(|s| {
        let mut full = Vec::new();
        let mut empty = Vec::new();
        for k in 0..threads {
            // Two blocks ahead at most: bounded memory, and the writer rarely waits.
            let (full_tx, full_rx) = crossbeam_channel::bounded::<Vec<u8>>(2);
            let (empty_tx, empty_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
            let (stations, texts, seed, rows) = (&stations, &texts, args.seed, args.rows);
            s.spawn(move || {
                let mut b = k as u64;
                while b < blocks && !stop.load(Ordering::Relaxed) {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    let count = ROWS_PER_BLOCK.min(rows - b * ROWS_PER_BLOCK);
                    draw_block(seed, b, count, stations, texts, &mut buf);
                    if full_tx.send(buf).is_err() {
                        return; // the writer gave up
                    }
                    b += threads as u64;
                }
            });
            full.push(full_rx);
            empty.push(empty_tx);
        }
        for b in 0..blocks {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted: {} was not written", out.display());
            }
            let k = (b % threads as u64) as usize;
            let Ok(buf) = full[k].recv() else {
                if stop.load(Ordering::Relaxed) {
                    bail!("interrupted: {} was not written", out.display());
                }
                bail!("a generating thread stopped early");
            };
            tmp.write_all(&buf)
                .with_context(|| format!("cannot write {}", tmp.path().display()))?;
            bytes += buf.len() as u64;
            bar.inc(ROWS_PER_BLOCK.min(args.rows - b * ROWS_PER_BLOCK));
            let _ = empty[k].send(buf);
        }
        Ok(())
        // Leaving the scope drops the receivers: a worker still blocked in `send` returns.
    });
    bar.finish_and_clear();
    written?;
    tmp.as_file()
        .flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    tmp.persist(out)
        .with_context(|| format!("cannot move the finished file to {}", out.display()))?;
    Ok(Generated {
        path: out.clone(),
        rows: args.rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn progress(rows: u64) -> ProgressBar {
    if console::json() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rows);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} rows {per_sec} {eta}")
            .expect("a valid template"),
    );
    bar
}

/// The command: [`generate`] on every core, stopped cleanly by Ctrl-C or SIGTERM.
pub fn run(args: &GenBigfileArgs) -> Result<Generated> {
    static STOP: AtomicBool = AtomicBool::new(false);
    // Block the signals here (the generating threads inherit the mask) and wait for them on a
    // thread of their own, so that an interrupted run removes its temporary file instead of
    // dying with a gigabyte of it left behind.
    crate::chat::on_stop_signal(|_| STOP.store(true, Ordering::Relaxed))?;
    generate(args, crate::cli::cores(), &STOP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen_bytes(rows: u64, stations: usize, threads: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let args = GenBigfileArgs {
            rows,
            stations,
            seed: 42,
            out: dir.path().join("f.txt"),
        };
        generate(&args, threads, &AtomicBool::new(false)).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
        std::fs::read(&args.out).unwrap()
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_threads() {
        let rows = 3 * ROWS_PER_BLOCK + 17;
        let one = gen_bytes(rows, 50, 1);
        assert_eq!(one, gen_bytes(rows, 50, 2));
        assert_eq!(one, gen_bytes(rows, 50, 5));
        assert_eq!(one.iter().filter(|&&b| b == b'\n').count() as u64, rows);
        assert!(one.ends_with(b"\n"));
    }

    #[test]
    fn every_line_is_valid_and_every_station_distinct() {
        let text = gen_bytes(20_000, 300, 2);
        let mut seen = HashSet::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let (station, t) = super::super::parse::diagnose(line, line.len()).unwrap();
            assert!((-999..=999).contains(&t));
            seen.insert(station.to_vec());
        }
        assert!(seen.len() > 290, "{} stations used", seen.len());
        let names = station_names(42, 10_000);
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 10_000);
        assert!(names.iter().all(|n| n.len() <= 100 && !n.contains(';')));
        assert!(
            names.iter().any(|n| !n.is_ascii()),
            "some names are not ASCII"
        );
    }

    #[test]
    fn a_stop_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let args = GenBigfileArgs {
            rows: 10 * ROWS_PER_BLOCK,
            stations: 10,
            seed: 1,
            out: dir.path().join("f.txt"),
        };
        let e = generate(&args, 2, &AtomicBool::new(true)).unwrap_err();
        assert!(format!("{e:#}").contains("interrupted"), "{e:#}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
