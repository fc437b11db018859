//! The `pipeline` scenario, written once: the chapter's rule for mixed workloads ("a process
//! pool and a thread pool") as a real job.
//!
//! - Inputs: the PNGs of `decision-table gen images`, served by `decision-table serve --images
//!   DIR` with its latency, bandwidth and fault knobs. `/images` lists them (name, path, size,
//!   SHA-256: the [`Manifest`] of `downloads`), `/images/{i}` sends one.
//! - Per image, two stages: [`FetchImage`] downloads it into memory (checked against the
//!   manifest's size and SHA-256, retried as `downloads` retries: [`download`]), then
//!   [`ProcessArrived`] runs the images kernel on the bytes (`scenarios::images::transform`:
//!   decode, blur, halve, gray, encode) and writes the result into `--out` atomically.
//! - Each crate's executor has a `map_pipeline(run, items, download, compute)` that runs the
//!   two stages in its own way: one after the other (serial), one pool of threads for both
//!   (threading), download threads feeding a pool of worker processes (multiprocessing), tasks
//!   that download on the event loop and hand the CPU work to blocking threads, or, on purpose,
//!   compute on the loop itself (asyncio).
//! - The digest is the `images` scenario's: each output's SHA-256 in input order, `failed` for
//!   an image that failed ([`finish`]), so it equals `images::reference_digest` of the served
//!   files, and an `images` run over the same folder.
//!
//! What a run reports beside the contract's fields (see `docs/pipeline.md`):
//! `download_late_max_ms` / `download_late_mean_ms` (how much longer each download's last
//! attempt took than the server's schedule for it, latency + size / bandwidth: what a stalled
//! event loop costs the downloads), `ideal_io_s` (the I/O alone, from the server's knobs),
//! `retries`, `failed_files`, `bytes` (of the inputs), `download_workers`, `cpu_workers`,
//! `os_threads` and `processes`; and a run that downloads everything before processing
//! anything (`threading pipeline --apart`) adds `io_s` and `cpu_s`, the two parts measured alone,
//! and `ideal_s`, the larger of the two: the lower bound of any pipeline on this machine.

pub mod download;
pub mod nonblocking;

pub use download::FetchImage;

use crate::cli::{bounded, cores, workers};
use crate::digest::{Digest, Sha};
use crate::fetch::HttpArgs;
use crate::gil;
use crate::images;
use crate::job::Job;
use crate::outcome::{self, OnError, Outcome};
use crate::usage::Threads;
use crate::wire::Manifest;
use crate::{Run, Summary, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the server's route is called, and the name of the scenario.
pub const ROUTE: &str = "/images";

fn sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.1..=50.0).contains(&v) {
        return Err(format!("{v} is out of range: use 0.1 to 50 pixels"));
    }
    Ok(v)
}

fn cpu_workers(s: &str) -> Result<usize, String> {
    // More CPU workers than this is a mistake on any machine this runs on, and every one of
    // them may hold a decoded 1080p picture (about 25 MiB) at once.
    bounded(s, 1, 256).map(|v| v as usize)
}

/// `pipeline`: download the server's images and process each one as soon as it arrives.
#[derive(Args, Clone, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    /// Directory for the processed images, under their own names (created if missing)
    #[arg(long, default_value = "data/pipeline-out")]
    pub out: PathBuf,
    /// How many downloads are in flight at once: threads or tasks (serial runs one)
    #[arg(long, default_value_t = 8, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How many images are processed at once where a separate pool computes (multiprocessing's
    /// processes, asyncio's blocking threads); default: one per core
    #[arg(long, default_value_t = cores(), value_parser = cpu_workers, allow_negative_numbers = true)]
    pub cpu_workers: usize,
    /// Standard deviation of the Gaussian blur, in pixels
    #[arg(long, default_value_t = 2.0, value_parser = sigma, allow_negative_numbers = true)]
    pub sigma: f32,
    /// After a failed image, process the others anyway and count the failures (exit status 1)
    #[arg(long)]
    pub keep_going: bool,
}

impl PipelineArgs {
    /// `--keep-going`, as the executors take it.
    pub fn on_error(&self) -> OnError {
        OnError::keep_going(self.keep_going)
    }
}

/// How one download went: what the summary's lateness is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Attempts it took (1 without a retry).
    pub attempts: u32,
    /// Seconds the successful attempt took, from sending the request to its last byte.
    pub took_s: f64,
}

/// One image that has arrived: what the download stage hands the compute stage (across a pipe,
/// for the multiprocessing model: the bytes are what a process pool has to move).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arrived {
    /// The manifest's name for it, which its output keeps.
    pub name: String,
    pub png: Vec<u8>,
    pub timing: Timing,
}

/// One image done: its output's SHA-256, and how its download went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Processed {
    pub sha: Sha,
    pub timing: Timing,
}

/// The compute stage, the job every model runs on an arrived image: the images kernel on its
/// bytes ([`images::transform`], holding the emulated GIL like every CPU-bound job), then the
/// result written into `out` under the image's name (temporary file, then rename).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcessArrived {
    pub out: PathBuf,
    pub sigma: f32,
}

impl ProcessArrived {
    pub fn new(args: &PipelineArgs) -> ProcessArrived {
        ProcessArrived {
            out: args.out.clone(),
            sigma: args.sigma,
        }
    }
}

impl Job for ProcessArrived {
    const NAME: &'static str = "pipeline-image";
    type Item = Arrived;
    type Output = Processed;

    fn run(&self, image: Arrived) -> Result<Processed> {
        let name = Path::new(&image.name);
        let result = gil::hold(|| images::transform(name, &image.png, self.sigma))?;
        let sha = images::save(&self.out, name, &result)?;
        Ok(Processed {
            sha,
            timing: image.timing,
        })
    }

    /// As long as the `images` job gets: the kernel and the decoder's limits are the same.
    fn deadline(&self, _image: &Arrived) -> Duration {
        Duration::from_secs(120)
    }
}

/// Create `--out`. (The inputs are on the server, so no input can be overwritten.)
pub fn prepare_out(out: &Path) -> Result<()> {
    crate::fetch::prepare_out(out)
}

/// The lower bound of a pipeline, measured: the two parts each timed alone, one after the
/// other, in the same run. `io_s` is the time every download took with the executor's
/// download concurrency; `cpu_s` the time processing every arrived image took with its CPU
/// concurrency. No pipeline can finish before the slower of the two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Apart {
    pub io_s: f64,
    pub cpu_s: f64,
}

impl Apart {
    pub fn bound_s(&self) -> f64 {
        self.io_s.max(self.cpu_s)
    }

    /// Note both parts and the bound in the summary (`ideal_s`: the report shows it).
    pub fn note(&self, run: &mut Run) {
        say!(
            "apart: downloads alone {:.3} s, processing alone {:.3} s: no pipeline can beat {:.3} s",
            self.io_s,
            self.cpu_s,
            self.bound_s()
        );
        run.extra("io_s", round3(self.io_s))
            .extra("cpu_s", round3(self.cpu_s))
            .extra("ideal_s", round3(self.bound_s()));
    }
}

/// Outcomes with the index of their item.
pub type Indexed<T> = Vec<(usize, Outcome<T>)>;

/// The first stage's outcomes, split for a second stage that runs after all of them (a run
/// that does the two parts apart): the items that arrived with their indices, and the
/// outcomes of those that did not (a failed download stays its item's failure).
pub fn split<A, T>(stage: Vec<Outcome<A>>) -> (Vec<(usize, A)>, Indexed<T>) {
    let (mut arrived, mut failed) = (Vec::new(), Vec::new());
    for (i, o) in stage.into_iter().enumerate() {
        match o {
            Outcome::Done(a) => arrived.push((i, a)),
            Outcome::Failed(e) => failed.push((i, Outcome::Failed(e))),
            Outcome::Lost(e) => failed.push((i, Outcome::Lost(e))),
            Outcome::Skipped => failed.push((i, Outcome::Skipped)),
        }
    }
    (arrived, failed)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The I/O part alone, from the server's knobs: `ceil(n / workers)` rounds of (latency +
/// largest size / bandwidth). What `downloads` calls `ideal_s`.
pub fn ideal_io_s(manifest: &Manifest, workers: usize) -> f64 {
    let largest = manifest.files.iter().map(|f| f.size).max().unwrap_or(0);
    let n = manifest.files.len();
    crate::fetch::finish::ideal_download_s(&manifest.about, n, largest, workers)
}

/// How much longer than the server's schedule each download took, in milliseconds: its last
/// attempt's time minus latency + size / bandwidth. Near zero when the client reads as fast as
/// the server sends; a computation that holds the event loop makes every download in flight
/// wait for it.
pub fn lateness_ms(manifest: &Manifest, done: &[(usize, Timing)]) -> Vec<f64> {
    let about = &manifest.about;
    done.iter()
        .map(|&(i, t)| {
            let size = manifest.files[i].size as f64;
            let transfer = if about.bandwidth == 0 {
                0.0
            } else {
                size / about.bandwidth as f64
            };
            let schedule = about.latency_ms as f64 / 1000.0 + transfer;
            ((t.took_s - schedule) * 1000.0).max(0.0)
        })
        .collect()
}

/// The end of every model's pipeline run: every failed image by name (and nothing of it left
/// under its name in `--out`, not even an earlier run's output), the figures, and the digest of
/// the outputs in input order (the images scenario's). With `--keep-going` off, the first
/// failure is the run's error.
pub fn finish(
    mut run: Run,
    args: &PipelineArgs,
    manifest: &Manifest,
    outcomes: Vec<Outcome<Processed>>,
    threads: Threads,
) -> Result<Summary> {
    let n = outcomes.len();
    if n != manifest.files.len() {
        bail!(
            "the executor returned {n} outcomes for {} images",
            manifest.files.len()
        );
    }
    let mut failed_files = Vec::new();
    for (entry, o) in manifest.files.iter().zip(&outcomes) {
        if let Some(why) = o.why_not() {
            // Whatever an earlier run left under this name is not this run's output.
            let stale = args.out.join(&entry.name);
            match std::fs::remove_file(&stale) {
                Ok(()) => say!("removed {} (an earlier run's output)", stale.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => say!("cannot remove {}: {e}", stale.display()),
            }
            if !matches!(o, Outcome::Skipped) {
                // A failed download names its image already; a dead worker does not.
                let why = if why.starts_with(&format!("{}:", entry.name)) {
                    why.to_string()
                } else {
                    format!("{}: {why}", entry.name)
                };
                say!("FAILED {why}; nothing is left under that name");
            }
            failed_files.push(entry.name.clone());
        }
    }
    let timings: Vec<(usize, Timing)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Done(p) => Some((i, p.timing)),
            _ => None,
        })
        .collect();
    let late = lateness_ms(manifest, &timings);
    let late_max = late.iter().copied().fold(0.0, f64::max);
    let late_mean = if late.is_empty() {
        0.0
    } else {
        late.iter().sum::<f64>() / late.len() as f64
    };
    let retries: u64 = timings
        .iter()
        .map(|(_, t)| u64::from(t.attempts.saturating_sub(1)))
        .sum();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let download_workers = run.workers();
    let ideal_io = ideal_io_s(manifest, download_workers);
    say!(
        "{} of {n} images downloaded and processed ({:.1} MiB in) in {:.3} s; I/O alone would \
         take {ideal_io:.3} s; downloads ran at worst {late_max:.0} ms behind the server's \
         schedule (mean {late_mean:.0} ms); {retries} retries; {} OS threads in {} process(es)",
        timings.len(),
        bytes as f64 / (1 << 20) as f64,
        run.elapsed_s(),
        threads.os_threads,
        threads.processes,
    );
    run.extra("bytes", bytes)
        .extra("download_workers", download_workers)
        .extra("cpu_workers", args.cpu_workers)
        .extra("ideal_io_s", round3(ideal_io))
        .extra("download_late_max_ms", round3(late_max))
        .extra("download_late_mean_ms", round3(late_mean))
        .extra("retries", retries)
        .extra("os_threads", threads.os_threads)
        .extra("processes", threads.processes)
        .extra("failed_files", failed_files);
    let (results, failed) = outcome::conclude(args.on_error(), outcomes)
        .with_context(|| format!("the pipeline from {}{ROUTE}", args.http.url))?;
    let mut digest = Digest::new();
    for r in &results {
        match r {
            Some(p) => digest.update(&p.sha),
            None => digest.update(b"failed"),
        };
    }
    Ok(run.finish(digest.finish(), failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{About, FileEntry};

    fn manifest(latency_ms: u64, bandwidth: u64, sizes: &[u64]) -> Manifest {
        Manifest {
            about: About {
                server: "test".into(),
                files: sizes.len(),
                size: sizes.iter().copied().max().unwrap_or(0),
                latency_ms,
                bandwidth,
                fault_rate: 0.0,
            },
            files: sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| FileEntry {
                    name: format!("img-{i:03}.png"),
                    path: format!("/images/{i}"),
                    size,
                    sha256: "0".repeat(64),
                })
                .collect(),
        }
    }

    #[test]
    fn lateness_is_what_a_download_took_beyond_the_servers_schedule() {
        // 100 ms to first byte, then 1 MB at 1 MB/s: 1.1 s on schedule.
        let m = manifest(100, 1_000_000, &[1_000_000, 500_000]);
        let t = |took_s| Timing {
            attempts: 1,
            took_s,
        };
        let late = lateness_ms(&m, &[(0, t(1.35)), (1, t(0.5))]);
        assert!((late[0] - 250.0).abs() < 1e-6, "{late:?}");
        assert_eq!(late[1], 0.0, "early is not late: {late:?}");
        // 8 images, 3 at a time: 3 rounds of 0.1 s + 1 s.
        let m = manifest(100, 1_000_000, &[1_000_000; 8]);
        assert!((ideal_io_s(&m, 3) - 3.3).abs() < 1e-9);
    }

    #[test]
    fn a_stage_splits_into_what_arrived_and_what_failed() {
        let stage = vec![
            Outcome::Done('a'),
            Outcome::Failed("img-001.png: HTTP 500".into()),
            Outcome::Done('c'),
            Outcome::Skipped,
        ];
        let (arrived, failed) = split::<char, u32>(stage);
        assert_eq!(arrived, [(0, 'a'), (2, 'c')]);
        assert_eq!(
            failed,
            [
                (1, Outcome::Failed("img-001.png: HTTP 500".into())),
                (3, Outcome::Skipped)
            ]
        );
        let a = Apart {
            io_s: 1.5,
            cpu_s: 2.25,
        };
        assert_eq!(a.bound_s(), 2.25);
    }

    #[test]
    fn the_compute_stage_is_the_images_kernel_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = images::generate(&images::GenImagesArgs {
            count: 2,
            width: 40,
            height: 30,
            seed: 3,
            out: dir.path().join("in"),
        })
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let job = ProcessArrived {
            out: out.clone(),
            sigma: 1.5,
        };
        let mut digest = Digest::new();
        for input in &inputs {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            let png = std::fs::read(input).unwrap();
            let done = job
                .run(Arrived {
                    name: name.clone(),
                    png,
                    timing: Timing::default(),
                })
                .unwrap();
            digest.update(&done.sha);
            images::check_output(input, &out.join(&name)).unwrap();
        }
        assert_eq!(
            digest.finish(),
            images::reference_digest(&inputs, 1.5).unwrap()
        );
        let bad = job.run(Arrived {
            name: "junk.png".into(),
            png: b"not a picture".to_vec(),
            timing: Timing::default(),
        });
        let e = format!("{:#}", bad.unwrap_err());
        assert!(
            e.contains("junk.png") && e.contains("not a valid PNG"),
            "{e}"
        );
        // Two outputs, no temporary file, nothing for the bad image.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
    }
}
