//! The client side of the I/O-bound scenarios, `downloads` and `requests`, written once.
//!
//! The four crates differ only in how many requests they keep in flight and on what (one
//! thread, K threads, K processes, K tasks). Everything else is here: the flags, the retry
//! policy, what "one file downloaded" means (temporary name, length and SHA-256 checks, rename),
//! what "one item fetched" means, the digest and the closing lines. The per-item work exists
//! twice, as a blocking client ([`blocking::Fetcher`], reqwest's blocking API, for serial,
//! threading and multiprocessing) and an async one ([`nonblocking::Fetcher`], for asyncio);
//! the two files are written line for line alike, so `diff` shows the `.await`s and little else.
//!
//! How a download is kept honest:
//! - the body goes to `.NAME.part` in the output directory, hashed as it arrives;
//! - fewer bytes than `Content-Length` promised, a size other than the manifest's or a SHA-256
//!   other than the manifest's is a failed attempt (and retried), never a file;
//! - only a verified file is renamed to its final name (rename is atomic: a reader never sees
//!   half a file under that name); a failed attempt removes its temporary file;
//! - a file that runs out of retries is reported by name, counts in `failed` (exit status 1),
//!   and any file of that name left from an earlier run is removed, so after a run the
//!   directory holds exactly the files this run verified.
//!
//! Retries: every attempt has a timeout from connecting to the last byte (`--timeout-ms`), so a
//! stalled server costs one timeout, never a hang. HTTP 5xx, broken or short bodies, timeouts,
//! refused connections and checksum mismatches are retried up to `--retries` times, waiting
//! `--backoff-ms`, then twice that, and so on up to 2 s (no jitter: runs stay reproducible;
//! a client of a shared public server would add some). Other 4xx answers are not retried.

pub mod blocking;
pub mod nonblocking;

use crate::cli::{bounded, millis, workers};
use crate::digest::{Digest, hex};
use crate::wire::{About, FileEntry, Item, MAX_SIZE, Manifest};
use crate::{Run, Summary, console, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Where the clients look for the server unless told otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000";
/// The most retries `--retries` accepts.
pub const MAX_RETRIES: u32 = 10;
/// The longest wait between two attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// `--url`: a plain `http://` address, kept without its trailing slash.
pub fn base_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| format!("'{s}' is not a URL ({e}); use e.g. {DEFAULT_URL}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "'{s}': only plain http:// is spoken here (the server runs on loopback, without TLS)"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{s}' names no host; use e.g. {DEFAULT_URL}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{s}': give the server's root, without ?query or #fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn retries(s: &str) -> Result<u32, String> {
    bounded(s, 0, MAX_RETRIES as u64).map(|v| v as u32)
}

fn timeout_ms(s: &str) -> Result<u64, String> {
    let v = millis(s)?;
    if v == 0 {
        return Err("a timeout of 0 ms would fail every request; use at least 1".into());
    }
    Ok(v)
}

fn count(s: &str) -> Result<usize, String> {
    bounded(s, 1, 1_000_000).map(|v| v as usize)
}

/// How to talk to the server: the flags `downloads` and `requests` share.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpArgs {
    /// The server to fetch from (start one with `decision-table serve`)
    #[arg(long, default_value = DEFAULT_URL, value_parser = base_url)]
    pub url: String,
    /// How many times a failed request is tried again, with exponential backoff (0 to 10)
    #[arg(long, default_value_t = 3, value_parser = retries, allow_negative_numbers = true)]
    pub retries: u32,
    /// Give up on one attempt after this many milliseconds, from connecting to the last byte
    #[arg(long, default_value_t = 10_000, value_parser = timeout_ms, allow_negative_numbers = true)]
    pub timeout_ms: u64,
    /// Wait before the first retry, in milliseconds; each further retry waits twice as long (2 s at most)
    #[arg(long, default_value_t = 50, value_parser = millis, allow_negative_numbers = true)]
    pub backoff_ms: u64,
}

impl Default for HttpArgs {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.into(),
            retries: 3,
            timeout_ms: 10_000,
            backoff_ms: 50,
        }
    }
}

impl HttpArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn retry(&self) -> Retry {
        Retry {
            retries: self.retries,
            base: Duration::from_millis(self.backoff_ms),
        }
    }
}

/// `downloads`: fetch the manifest, then every file it lists.
#[derive(Args, Clone, Debug)]
pub struct DownloadsArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    /// The directory the files are written to (created if missing)
    #[arg(long, default_value = "downloads")]
    pub out: PathBuf,
    /// How many downloads run at once: threads, processes or tasks (serial runs one)
    #[arg(long, default_value_t = 8, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
}

/// `requests`: GET `/api/items/0..N` and add up one field.
#[derive(Args, Clone, Debug)]
pub struct RequestsArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    /// How many items to fetch (/api/items/0 to N-1)
    #[arg(long, default_value_t = 1000, value_parser = count, allow_negative_numbers = true)]
    pub count: usize,
    /// How many requests are in flight at once: threads, processes or tasks (serial runs one)
    #[arg(long, default_value_t = 100, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
}

// ---------------------------------------------------------------------------------------------
// Retries.

/// Why one attempt failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// A server error, a broken body, a timeout, a checksum mismatch: worth another attempt.
    Retry(String),
    /// The answer will not change (404, a local disk error): stop now.
    Final(String),
}

impl Failure {
    pub fn message(self) -> String {
        match self {
            Failure::Retry(m) | Failure::Final(m) => m,
        }
    }
}

/// Bounded exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one, up to [`BACKOFF_CAP`].
    pub base: Duration,
}

impl Retry {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(BACKOFF_CAP)
    }

    /// After attempt number `attempt` (1 for the first) failed: how long to wait before the
    /// next one, or `None` to give up.
    pub fn next(&self, attempt: u32, failure: &Failure) -> Option<Duration> {
        match failure {
            Failure::Final(_) => None,
            Failure::Retry(_) if attempt > self.retries => None,
            Failure::Retry(_) => Some(self.delay(attempt)),
        }
    }
}

/// What became of one file or item: how many attempts it took, and the result or why it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome<T> {
    pub attempts: u32,
    pub result: Result<T, String>,
}

impl<T> Outcome<T> {
    /// A failure that happened outside the fetch (a worker died, a thread never started).
    pub fn failed(why: impl Into<String>) -> Self {
        Outcome {
            attempts: 0,
            result: Err(why.into()),
        }
    }
}

/// A downloaded file: its SHA-256 (hex), already checked against the manifest's.
pub type FileOutcome = Outcome<String>;
/// A fetched item: its `value`.
pub type ItemOutcome = Outcome<u64>;

// ---------------------------------------------------------------------------------------------
// The checks both clients share.

/// Is this status a success, worth a retry, or final?
pub fn check_status(status: reqwest::StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Err(Failure::Retry(format!("HTTP {status}")))
    } else {
        Err(Failure::Final(format!("HTTP {status}")))
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)", not "error sending
/// request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A network error as one readable line, and always worth a retry: the server may be back.
pub fn network(e: &reqwest::Error, timeout_ms: u64) -> Failure {
    let what = if e.is_timeout() {
        format!("timed out after {timeout_ms} ms")
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else if e.is_body() || e.is_decode() {
        format!("the body broke off: {}", root_cause(e))
    } else {
        format!("{e}: {}", root_cause(e))
    };
    Failure::Retry(what)
}

/// The error for a first request that failed: the server is not there, or not ours.
pub fn unreachable(url: &str, e: &reqwest::Error) -> anyhow::Error {
    if e.is_connect() {
        anyhow::anyhow!(
            "cannot connect to {url}: {}; is `decision-table serve` running there?",
            root_cause(e)
        )
    } else if e.is_timeout() {
        anyhow::anyhow!("{url} did not answer in time; is it a `decision-table serve`?")
    } else if let Some(status) = e.status() {
        anyhow::anyhow!("{url} answered HTTP {status}; is it a `decision-table serve`?")
    } else {
        anyhow::anyhow!("{url}: {e}: {}", root_cause(e))
    }
}

/// Parse and check `/`.
pub fn parse_about(url: &str, body: &[u8]) -> Result<About> {
    serde_json::from_slice(body)
        .with_context(|| format!("{url} did not describe itself as a `decision-table serve`"))
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parse and check `/manifest`. A name that could leave the output directory (`../x`, `/etc`),
/// a duplicate name, a bad checksum or an absurd size is refused before anything is fetched.
pub fn parse_manifest(url: &str, body: &[u8]) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(body).with_context(|| format!("{url} is not a valid manifest"))?;
    let mut names = HashSet::new();
    for f in &manifest.files {
        if !safe_name(&f.name) {
            bail!(
                "the manifest at {url} names a file {:?}: only letters, digits, '.', '_' and '-' \
                 are accepted, not starting with '.'",
                f.name
            );
        }
        if !names.insert(f.name.as_str()) {
            bail!("the manifest at {url} lists {:?} twice", f.name);
        }
        if !f.path.starts_with('/') {
            bail!(
                "the manifest at {url} gives {:?} a path {:?} not starting with '/'",
                f.name,
                f.path
            );
        }
        if f.size > MAX_SIZE {
            bail!(
                "the manifest at {url} says {:?} has {} bytes, over the 1 GiB limit",
                f.name,
                f.size
            );
        }
        if f.sha256.len() != 64 || !f.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            bail!(
                "the manifest at {url} gives {:?} a SHA-256 that is not 64 hex digits",
                f.name
            );
        }
    }
    Ok(manifest)
}

/// Parse one `/api/items/{id}` body.
pub fn parse_item(id: u64, body: &[u8]) -> Result<u64, Failure> {
    let item: Item = serde_json::from_slice(body)
        .map_err(|e| Failure::Retry(format!("not an item document: {e}")))?;
    if item.id != id {
        return Err(Failure::Final(format!(
            "asked for item {id}, got item {}",
            item.id
        )));
    }
    Ok(item.value)
}

/// Create the output directory if needed.
pub fn prepare_out(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    if !out.is_dir() {
        bail!("--out {} is not a directory", out.display());
    }
    Ok(())
}

/// A download in progress: a temporary file in the output directory and the hash so far. Dropped
/// before [`Part::finish`] succeeds, it removes the temporary file.
pub struct Part<'a> {
    entry: &'a FileEntry,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::fs::File>,
    hasher: Sha256,
    received: u64,
}

impl<'a> Part<'a> {
    pub fn create(entry: &'a FileEntry, out: &Path) -> Result<Self, Failure> {
        let tmp = out.join(format!(".{}.part", entry.name));
        let file = std::fs::File::create(&tmp)
            .map_err(|e| Failure::Final(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(Part {
            entry,
            dest: out.join(&entry.name),
            tmp,
            file: Some(file),
            hasher: Sha256::new(),
            received: 0,
        })
    }

    /// Append a piece of the body.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.received += bytes.len() as u64;
        if self.received > self.entry.size {
            return Err(Failure::Retry(format!(
                "more than the {} bytes the manifest lists",
                self.entry.size
            )));
        }
        self.hasher.update(bytes);
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(bytes)
            .map_err(|e| Failure::Final(format!("cannot write {}: {e}", self.tmp.display())))
    }

    /// Check the length and the checksum, then give the file its final name. `promised` is
    /// the response's `Content-Length`.
    pub fn finish(self, promised: Option<u64>) -> Result<String, Failure> {
        self.verify(promised)?.commit()
    }

    /// Check the length and the checksum and close the file: all that is left is to give it
    /// its name ([`Verified::commit`]).
    pub fn verify(mut self, promised: Option<u64>) -> Result<Verified, Failure> {
        let (received, size) = (self.received, self.entry.size);
        if let Some(promised) = promised
            && received != promised
        {
            return Err(Failure::Retry(format!(
                "short body: {received} of the {promised} bytes promised"
            )));
        }
        if received != size {
            return Err(Failure::Retry(format!(
                "{received} bytes where the manifest lists {size}"
            )));
        }
        let sha = hex(&std::mem::take(&mut self.hasher).finalize());
        if sha != self.entry.sha256 {
            return Err(Failure::Retry(format!(
                "SHA-256 {} where the manifest lists {}",
                &sha[..16],
                &self.entry.sha256[..16]
            )));
        }
        // Close before renaming; the rename is what makes the file exist under its name.
        drop(self.file.take());
        Ok(Verified {
            tmp: std::mem::take(&mut self.tmp),
            dest: std::mem::take(&mut self.dest),
            sha,
        })
    }
}

/// A complete, checked download under its temporary name.
pub struct Verified {
    tmp: PathBuf,
    dest: PathBuf,
    sha: String,
}

impl Verified {
    /// Rename the file to its final name; on failure, remove it.
    ///
    /// This can block for a while: when the rename replaces a file of an earlier run, ext4
    /// (`auto_da_alloc`) writes the new file's data out first, so that a crash cannot leave an
    /// empty file where a full one was. Async code runs it on a blocking thread.
    pub fn commit(self) -> Result<String, Failure> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            Failure::Final(format!("cannot rename to {}: {e}", self.dest.display()))
        })?;
        Ok(self.sha)
    }
}

impl Drop for Part<'_> {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// After a file's last attempt: a file that failed must not be left under its final name, not
/// even an old copy from an earlier run, nor as a temporary file (a worker process killed
/// mid-download never got to remove its own).
pub fn settle(entry: &FileEntry, out: &Path, outcome: &FileOutcome) {
    if outcome.result.is_err() {
        let _ = std::fs::remove_file(out.join(&entry.name));
        let _ = std::fs::remove_file(out.join(format!(".{}.part", entry.name)));
    }
}

// ---------------------------------------------------------------------------------------------
// Progress and resources.

static PEAK_THREADS: AtomicU64 = AtomicU64::new(0);
/// How often the sampler reads the thread count: often enough to catch a peak that lasts a few
/// milliseconds, rarely enough (a read costs tens of microseconds) not to weigh on the run.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// The number of threads this process has now (`Threads:` in /proc/self/status).
pub fn threads_now() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Record the thread count now, so the run can report its peak.
pub fn note_threads() {
    if let Some(n) = threads_now() {
        PEAK_THREADS.fetch_max(n, Ordering::Relaxed);
    }
}

/// The most threads this process had at any sample.
pub fn peak_threads() -> u64 {
    note_threads();
    PEAK_THREADS.load(Ordering::Relaxed)
}

/// A thread that reads the thread count every [`SAMPLE_EVERY`] while a run goes on, and does
/// not count itself. Sampling from the work itself would miss peaks: a process pool's parent
/// is busy starting threads and processes exactly while it has the most of them.
struct Sampler {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Sampler {
    fn start() -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("thread-count".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    if let Some(n) = threads_now() {
                        PEAK_THREADS.fetch_max(n.saturating_sub(1), Ordering::Relaxed);
                    }
                    if stopped.recv_timeout(SAMPLE_EVERY) != Err(mpsc::RecvTimeoutError::Timeout) {
                        break;
                    }
                }
            })
            // Without a sampler the peak is only read at the start and the end: a lower figure,
            // never a failed run.
            .ok();
        Sampler {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(thread),
        }
    }

    fn stop(&self) {
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A run's progress: a bar (only when stdout is a terminal, never with `--json`), and the
/// thread-count sampler behind the `os_threads` figure, from `new` to `finish`.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    sampler: Arc<Sampler>,
}

impl Progress {
    pub fn new(total: usize, what: &str) -> Self {
        let bar = if console::json() || !std::io::stdout().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} {elapsed_precise}")
                    .expect("a valid template"),
            );
            bar.set_message(what.to_string());
            bar
        };
        note_threads();
        Progress {
            bar,
            sampler: Arc::new(Sampler::start()),
        }
    }

    /// One more item done.
    pub fn done(&self) {
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.sampler.stop();
        self.bar.finish_and_clear();
    }
}

/// Threads and processes a run used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threads {
    /// Peak OS threads, summed over the processes.
    pub os_threads: u64,
    pub processes: usize,
}

impl Threads {
    /// This process alone.
    pub fn this_process() -> Self {
        Threads {
            os_threads: peak_threads(),
            processes: 1,
        }
    }
}

/// What a worker process sends back for one file or item: the outcome, and who it was and how
/// many threads it had, so the parent can add up the pool's threads.
#[derive(Serialize, Deserialize)]
pub struct ChildReport<T> {
    pub pid: u32,
    pub peak_threads: u64,
    pub outcome: Outcome<T>,
}

impl<T: Serialize> ChildReport<T> {
    pub fn encode(outcome: Outcome<T>) -> Result<Vec<u8>> {
        let report = ChildReport {
            pid: std::process::id(),
            peak_threads: peak_threads(),
            outcome,
        };
        Ok(serde_json::to_vec(&report)?)
    }
}

/// The parent's side of [`ChildReport`]s.
#[derive(Default)]
pub struct ChildTally {
    peaks: HashMap<u32, u64>,
}

impl ChildTally {
    /// One pool result: a report, or why the worker could not give one (it died).
    pub fn decode<T: DeserializeOwned>(&mut self, result: Result<Vec<u8>, String>) -> Outcome<T> {
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(e) => return Outcome::failed(e),
        };
        match serde_json::from_slice::<ChildReport<T>>(&bytes) {
            Ok(report) => {
                let peak = self.peaks.entry(report.pid).or_insert(0);
                *peak = (*peak).max(report.peak_threads);
                report.outcome
            }
            Err(e) => Outcome::failed(format!("a worker's report is unreadable: {e}")),
        }
    }

    /// This process plus every worker that reported.
    pub fn threads(&self) -> Threads {
        Threads {
            os_threads: peak_threads() + self.peaks.values().sum::<u64>(),
            processes: 1 + self.peaks.len(),
        }
    }
}

/// Put `(index, outcome)` pairs that arrived in any order back in input order; an index that
/// never arrived is a failure, not a hole.
pub fn in_order<T>(
    n: usize,
    pairs: impl IntoIterator<Item = (usize, Outcome<T>)>,
) -> Vec<Outcome<T>> {
    let mut slots: Vec<Option<Outcome<T>>> = (0..n).map(|_| None).collect();
    for (i, outcome) in pairs {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(outcome);
        }
    }
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Outcome::failed("never ran (its worker stopped)")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Closing a run.

/// Rounds of `workers` at a time needed for `n` items.
fn rounds(n: usize, workers: usize) -> f64 {
    n.div_ceil(workers.max(1)) as f64
}

/// The best a run could do: `ceil(n / workers)` rounds of (latency + size / bandwidth).
pub fn ideal_download_s(about: &About, n: usize, size: u64, workers: usize) -> f64 {
    let transfer = if about.bandwidth == 0 {
        0.0
    } else {
        size as f64 / about.bandwidth as f64
    };
    rounds(n, workers) * (about.latency_ms as f64 / 1000.0 + transfer)
}

/// The best a requests run could do: `ceil(n / workers)` latencies (the bodies are tiny).
pub fn ideal_requests_s(about: &About, n: usize, workers: usize) -> f64 {
    rounds(n, workers) * about.latency_ms as f64 / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The digest of a downloads run: every file's SHA-256 in manifest order (`failed` for a file
/// that failed), so any model that got every file right prints the same digest.
pub fn downloads_digest(outcomes: &[FileOutcome]) -> String {
    let mut d = Digest::new();
    for o in outcomes {
        match &o.result {
            Ok(sha) => d.update(sha.as_bytes()),
            Err(_) => d.update(b"failed"),
        };
    }
    d.finish()
}

/// The digest of a requests run: every item's value in id order (`failed` for an item that
/// failed), then their sum.
pub fn requests_digest(outcomes: &[ItemOutcome]) -> String {
    let mut d = Digest::new();
    let mut sum = 0u64;
    for o in outcomes {
        match &o.result {
            Ok(v) => {
                sum += v;
                d.update_u64(*v)
            }
            Err(_) => d.update(b"failed"),
        };
    }
    d.update_u64(sum);
    d.finish()
}

fn retries_used<T>(outcomes: &[Outcome<T>]) -> u64 {
    outcomes
        .iter()
        .map(|o| u64::from(o.attempts.saturating_sub(1)))
        .sum()
}

fn add_resources(run: &mut Run, ideal_s: f64, threads: Threads) {
    run.extra("ideal_s", round3(ideal_s))
        .extra("os_threads", threads.os_threads)
        .extra("processes", threads.processes);
}

/// The closing lines and summary of a downloads run: every failed file by name, and nothing
/// of it left in `out` (whoever ran it, and however it failed).
pub fn finish_downloads(
    mut run: Run,
    manifest: &Manifest,
    out: &Path,
    workers: usize,
    outcomes: &[FileOutcome],
    threads: Threads,
) -> Summary {
    let mut failed_files = Vec::new();
    let mut bytes = 0u64;
    for (entry, o) in manifest.files.iter().zip(outcomes) {
        settle(entry, out, o);
        match &o.result {
            Ok(_) => bytes += entry.size,
            Err(e) => {
                say!(
                    "FAILED {} after {} attempt(s): {e}; nothing is left under that name",
                    entry.name,
                    o.attempts
                );
                failed_files.push(entry.name.clone());
            }
        }
    }
    let n = manifest.files.len();
    let size = manifest.files.iter().map(|f| f.size).max().unwrap_or(0);
    let ideal = ideal_download_s(&manifest.about, n, size, workers);
    let retries = retries_used(outcomes);
    say!(
        "{} of {n} files downloaded and verified ({:.1} MiB) in {:.3} s (ideal {:.3} s), {retries} \
         retries, {} OS threads in {} process(es)",
        n - failed_files.len(),
        bytes as f64 / (1 << 20) as f64,
        run.elapsed_s(),
        ideal,
        threads.os_threads,
        threads.processes,
    );
    add_resources(&mut run, ideal, threads);
    let failed = failed_files.len();
    run.extra("bytes", bytes)
        .extra("retries", retries)
        .extra("failed_files", failed_files);
    run.finish(downloads_digest(outcomes), failed)
}

/// The closing lines and summary of a requests run.
pub fn finish_requests(
    mut run: Run,
    about: &About,
    workers: usize,
    outcomes: &[ItemOutcome],
    threads: Threads,
) -> Summary {
    let failed_items: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].result.is_err())
        .collect();
    for &i in failed_items.iter().take(10) {
        let o = &outcomes[i];
        let why = o.result.as_ref().err().map_or("", String::as_str);
        say!("FAILED item {i} after {} attempt(s): {why}", o.attempts);
    }
    if failed_items.len() > 10 {
        say!(
            "... and {} more failed items (all listed in --json)",
            failed_items.len() - 10
        );
    }
    let sum: u64 = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).sum();
    let ideal = ideal_requests_s(about, outcomes.len(), workers);
    let retries = retries_used(outcomes);
    say!(
        "{} of {} items fetched in {:.3} s (ideal {:.3} s), sum of values {sum}, {retries} retries, \
         {} OS threads in {} process(es)",
        outcomes.len() - failed_items.len(),
        outcomes.len(),
        run.elapsed_s(),
        ideal,
        threads.os_threads,
        threads.processes,
    );
    add_resources(&mut run, ideal, threads);
    let failed = failed_items.len();
    run.extra("sum", sum)
        .extra("retries", retries)
        .extra("failed_items", failed_items);
    run.finish(requests_digest(outcomes), failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::About;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let r = Retry {
            retries: 3,
            base: Duration::from_millis(50),
        };
        assert_eq!(r.delay(1), Duration::from_millis(50));
        assert_eq!(r.delay(2), Duration::from_millis(100));
        assert_eq!(r.delay(3), Duration::from_millis(200));
        assert_eq!(r.delay(10), BACKOFF_CAP);
        assert_eq!(r.delay(100), BACKOFF_CAP);
        let again = Failure::Retry("HTTP 500".into());
        assert_eq!(r.next(1, &again), Some(Duration::from_millis(50)));
        assert_eq!(r.next(3, &again), Some(Duration::from_millis(200)));
        assert_eq!(r.next(4, &again), None, "3 retries means 4 attempts");
        assert_eq!(r.next(1, &Failure::Final("HTTP 404".into())), None);
        let none = Retry { retries: 0, ..r };
        assert_eq!(none.next(1, &again), None);
    }

    #[test]
    fn statuses_are_classified() {
        use reqwest::StatusCode as S;
        assert!(check_status(S::OK).is_ok());
        assert!(matches!(
            check_status(S::INTERNAL_SERVER_ERROR),
            Err(Failure::Retry(_))
        ));
        assert!(matches!(
            check_status(S::SERVICE_UNAVAILABLE),
            Err(Failure::Retry(_))
        ));
        assert!(matches!(check_status(S::NOT_FOUND), Err(Failure::Final(_))));
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            base_url("http://127.0.0.1:8000/").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            base_url("http://localhost:1/x").unwrap(),
            "http://localhost:1/x"
        );
        assert!(
            base_url("https://127.0.0.1:8000")
                .unwrap_err()
                .contains("http://")
        );
        assert!(base_url("127.0.0.1:8000").is_err());
        assert!(base_url("not a url").unwrap_err().contains("not a URL"));
        assert!(base_url("http://127.0.0.1:8000/?x=1").is_err());
    }

    fn manifest_json(edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
        let files = (0..3)
            .map(|i| FileEntry {
                name: format!("file-{i}.bin"),
                path: format!("/files/{i}"),
                size: 10,
                sha256: crate::digest::sha256_hex(&[i as u8; 10]),
            })
            .collect();
        let about = About {
            server: "test".into(),
            files: 3,
            size: 10,
            latency_ms: 0,
            bandwidth: 0,
            fault_rate: 0.0,
        };
        let mut m = Manifest { about, files };
        edit(&mut m);
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn a_good_manifest_parses() {
        let m = parse_manifest("u", &manifest_json(|_| {})).unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.about.size, 10);
    }

    #[test]
    fn a_bad_manifest_is_refused_before_anything_is_fetched() {
        let err = |edit: fn(&mut Manifest)| {
            parse_manifest("http://x/manifest", &manifest_json(edit))
                .unwrap_err()
                .to_string()
        };
        assert!(err(|m| m.files[0].name = "../../etc/passwd".into()).contains("only letters"));
        assert!(err(|m| m.files[0].name = ".hidden".into()).contains("not starting with '.'"));
        assert!(err(|m| m.files[0].name = "".into()).contains("only letters"));
        assert!(err(|m| m.files[1].name = m.files[0].name.clone()).contains("twice"));
        assert!(err(|m| m.files[0].sha256 = "abc".into()).contains("64 hex"));
        assert!(err(|m| m.files[0].path = "files/0".into()).contains("'/'"));
        assert!(err(|m| m.files[0].size = MAX_SIZE + 1).contains("1 GiB"));
        let junk = parse_manifest("http://x/manifest", b"<html>").unwrap_err();
        assert!(format!("{junk:#}").contains("not a valid manifest"));
    }

    #[test]
    fn items_parse_and_are_checked() {
        let item = Item {
            id: 7,
            name: "item-7".into(),
            value: 321,
            tags: vec!["cake".into()],
        };
        let body = serde_json::to_vec(&item).unwrap();
        assert_eq!(parse_item(7, &body), Ok(321));
        assert!(matches!(parse_item(8, &body), Err(Failure::Final(_))));
        assert!(matches!(parse_item(7, &body[..5]), Err(Failure::Retry(_))));
    }

    #[test]
    fn a_part_is_renamed_only_when_verified() {
        let dir = std::env::temp_dir().join(format!("fetch-part-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let content: Vec<u8> = (0..100).collect();
        let entry = FileEntry {
            name: "f.bin".into(),
            path: "/files/0".into(),
            size: 100,
            sha256: crate::digest::sha256_hex(&content),
        };
        let tmp = dir.join(".f.bin.part");
        // Short: promised 100, got 50.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content[..50]).unwrap();
        assert!(tmp.exists());
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("short body")));
        assert!(!tmp.exists() && !dir.join("f.bin").exists());
        // Corrupt: right length, wrong bytes.
        let mut p = Part::create(&entry, &dir).unwrap();
        let mut bad = content.clone();
        bad[3] ^= 1;
        p.write(&bad).unwrap();
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("SHA-256")));
        assert!(!tmp.exists() && !dir.join("f.bin").exists());
        // Too long.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content).unwrap();
        assert!(p.write(b"x").is_err());
        drop(p);
        assert!(!tmp.exists());
        // Good.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content[..60]).unwrap();
        p.write(&content[60..]).unwrap();
        assert_eq!(p.finish(Some(100)).unwrap(), entry.sha256);
        assert_eq!(std::fs::read(dir.join("f.bin")).unwrap(), content);
        assert!(!tmp.exists());
        // A later failure removes the old copy, and what a killed worker left behind.
        std::fs::write(&tmp, b"half").unwrap();
        settle(&entry, &dir, &Outcome::failed("gave up"));
        assert!(!dir.join("f.bin").exists() && !tmp.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outcomes_go_back_in_order_and_gaps_fail() {
        let got = in_order(
            3,
            [
                (
                    2,
                    Outcome {
                        attempts: 1,
                        result: Ok(20u64),
                    },
                ),
                (
                    0,
                    Outcome {
                        attempts: 2,
                        result: Ok(0),
                    },
                ),
            ],
        );
        assert_eq!(got[0].result, Ok(0));
        assert!(got[1].result.is_err());
        assert_eq!(got[2].result, Ok(20));
    }

    #[test]
    fn digests_depend_on_results_not_on_attempts() {
        let a = vec![
            Outcome {
                attempts: 1,
                result: Ok(5u64),
            },
            Outcome {
                attempts: 1,
                result: Ok(7),
            },
        ];
        let b = vec![
            Outcome {
                attempts: 3,
                result: Ok(5u64),
            },
            Outcome {
                attempts: 1,
                result: Ok(7),
            },
        ];
        assert_eq!(requests_digest(&a), requests_digest(&b));
        let c = vec![
            Outcome {
                attempts: 1,
                result: Ok(7u64),
            },
            Outcome {
                attempts: 1,
                result: Ok(5),
            },
        ];
        assert_ne!(requests_digest(&a), requests_digest(&c));
        let d = vec![
            Outcome::failed("x"),
            Outcome {
                attempts: 1,
                result: Ok(7),
            },
        ];
        assert_ne!(requests_digest(&a), requests_digest(&d));
    }

    #[test]
    fn ideal_times() {
        let about = About {
            server: "s".into(),
            files: 64,
            size: 1 << 20,
            latency_ms: 50,
            bandwidth: 10 << 20,
            fault_rate: 0.0,
        };
        // 64 files, 8 at a time: 8 rounds of 50 ms + 100 ms.
        assert!((ideal_download_s(&about, 64, 1 << 20, 8) - 1.2).abs() < 1e-9);
        assert!((ideal_download_s(&about, 64, 1 << 20, 1) - 9.6).abs() < 1e-9);
        assert!((ideal_requests_s(&about, 1000, 1000) - 0.05).abs() < 1e-9);
        assert!((ideal_requests_s(&about, 1000, 100) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn threads_are_counted() {
        assert!(threads_now().unwrap() >= 1);
        assert!(peak_threads() >= 1);
    }
}
