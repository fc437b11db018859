//! The client side of the I/O-bound scenarios, `downloads` and `requests`, written once.
//!
//! The four crates differ only in how many requests they keep in flight and on what (one
//! thread, K threads, K processes, K tasks). Everything else is here: the flags, the retry
//! policy, what "one file downloaded" means (temporary name, length and SHA-256 checks, rename),
//! what "one item fetched" means, the digest and the closing lines. The per-item work exists
//! twice, as a blocking client ([`blocking`], reqwest's blocking API, for serial, threading and
//! multiprocessing) and an async one ([`nonblocking`], for asyncio), each with the two jobs the
//! executors map over (`Download`, `FetchItem`); the two files are written line for line alike,
//! so `diff` shows the `.await`s and little else.
//!
//! The rest is cut by what it does: [`retry`] (the policy, and what one item's attempts came
//! to), [`checks`] (statuses, errors, the documents the server sends), [`part`] (one file on its
//! way to the disk) and [`finish`] (the ideal time, the digest, the closing lines).
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
pub mod checks;
pub mod finish;
pub mod nonblocking;
pub mod part;
pub mod retry;

pub use finish::{finish_downloads, finish_requests};
pub use part::prepare_out;
pub use retry::{Failure, Fetched, Retry};

use crate::cli::{bounded, millis, workers};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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

pub(crate) fn retries(s: &str) -> Result<u32, String> {
    bounded(s, 0, MAX_RETRIES as u64).map(|v| v as u32)
}

pub(crate) fn timeout_ms(s: &str) -> Result<u64, String> {
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

    /// The longest one file or item can take: every attempt timing out, and every wait
    /// between them, plus ten seconds.
    pub fn deadline(&self) -> Duration {
        let retry = self.retry();
        let waits: Duration = (1..=retry.retries).map(|r| retry.delay(r)).sum();
        self.timeout() * (retry.retries + 1) + waits + Duration::from_secs(10)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
