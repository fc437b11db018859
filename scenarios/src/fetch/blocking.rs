//! One file, one item: the blocking client (reqwest's blocking API), for serial, threading and
//! multiprocessing. `nonblocking.rs` beside this file is the same code for asyncio; `diff` the
//! two to see what `async` changes: `.await` after every wait, and nothing else of substance.
//!
//! How reqwest's blocking client works matters for reading the figures: it runs a small tokio
//! runtime on one thread of its own, which drives every socket, and each calling thread parks
//! until its answer comes. So the threading model's K threads are K OS threads parked on
//! network waits, as with Python's `requests` (their cost, a stack and a kernel task each, is
//! real), but the bytes move on that one runtime thread rather than on the K threads.

use super::checks::{
    MAX_DOCUMENT, MAX_ITEM, check_status, network, parse_about, parse_item, parse_manifest,
    too_large, unreachable,
};
use super::part::{Part, settle};
use super::retry::Breaker;
use super::{DownloadsArgs, Failure, Fetched, HttpArgs, RequestsArgs};
use crate::job::Job;
use crate::wire::{About, FileEntry, Manifest};
use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;

/// A blocking HTTP client, shareable by any number of threads (`&Fetcher` is all they need).
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::blocking::Client,
    http: HttpArgs,
    /// Shared by every clone: once the server has gone, the remaining items fail fast.
    breaker: Arc<Breaker>,
}

impl Fetcher {
    /// A client that keeps up to `workers` idle connections to the server, so `workers`
    /// threads each reuse a connection instead of opening one per request.
    pub fn new(http: &HttpArgs, workers: usize) -> Result<Fetcher> {
        let client = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(workers)
            .timeout(http.timeout())
            // Every retry is ours, counted and reported; the environment's proxies do not apply
            // to a server on loopback.
            .retry(reqwest::retry::never())
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Fetcher {
            client,
            http: http.clone(),
            breaker: Arc::default(),
        })
    }

    fn get(&self, path: &str) -> reqwest::Result<reqwest::blocking::Response> {
        let url = format!("{}{path}", self.http.url);
        self.client.get(url).timeout(self.http.timeout()).send()
    }

    /// One attempt at a small document that must be there: the first contact with the server.
    fn document(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.http.url);
        let mut response = self
            .get(path)
            .and_then(|r| r.error_for_status())
            .map_err(|e| unreachable(&url, &e))?;
        match read_capped(&mut response, MAX_DOCUMENT) {
            Ok(body) => Ok(body),
            Err(None) => anyhow::bail!("{}", too_large(&url, MAX_DOCUMENT)),
            Err(Some(e)) => anyhow::bail!("{url}: the body broke off: {e}"),
        }
    }

    /// `/`: what the server is and its knobs. Fails fast and clearly if nothing is listening.
    pub fn about(&self) -> Result<About> {
        let body = self.document("/")?;
        parse_about(&self.http.url, &body)
    }

    /// `/manifest`: the files to download. Fails fast and clearly if nothing is listening.
    pub fn manifest(&self) -> Result<Manifest> {
        let body = self.document("/manifest")?;
        parse_manifest(&format!("{}/manifest", self.http.url), &body)
    }

    /// Download one file into `out`, retrying as the flags say.
    pub fn download(&self, entry: &FileEntry, out: &Path) -> Fetched<String> {
        let outcome = self.retrying(|| self.download_once(entry, out));
        settle(entry, out, &outcome);
        outcome
    }

    fn download_once(&self, entry: &FileEntry, out: &Path) -> Result<String, Failure> {
        let mut response = self
            .get(&entry.path)
            .map_err(|e| network(&e, self.http.timeout_ms))?;
        check_status(response.status())?;
        let promised = response.content_length();
        let mut part = Part::create(entry, out)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = response
                .read(&mut buf)
                .map_err(|e| read_error(&e, self.http.timeout_ms))?;
            if n == 0 {
                break;
            }
            part.write(&buf[..n])?;
        }
        part.finish(promised)
    }

    /// Fetch item `id` and return its `value`, retrying as the flags say.
    pub fn item(&self, id: u64) -> Fetched<u64> {
        self.retrying(|| self.item_once(id))
    }

    fn item_once(&self, id: u64) -> Result<u64, Failure> {
        let response = self
            .get(&format!("/api/items/{id}"))
            .map_err(|e| network(&e, self.http.timeout_ms))?;
        check_status(response.status())?;
        let mut response = response;
        let body = read_capped(&mut response, MAX_ITEM).map_err(|e| match e {
            None => Failure::Final(too_large(&format!("/api/items/{id}"), MAX_ITEM)),
            Some(e) => read_error(&e, self.http.timeout_ms),
        })?;
        parse_item(id, &body)
    }

    /// Run `attempt` until it succeeds, fails for good, or runs out of retries, sleeping the
    /// backoff between attempts.
    fn retrying<T>(&self, mut attempt: impl FnMut() -> Result<T, Failure>) -> Fetched<T> {
        if let Some(why) = self.breaker.tripped() {
            return Fetched::failed(why);
        }
        let retry = self.http.retry();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt() {
                Ok(value) => {
                    self.breaker.record(Ok(()));
                    return Fetched {
                        attempts,
                        result: Ok(value),
                    };
                }
                Err(failure) => match retry.next(attempts, &failure) {
                    Some(wait) => std::thread::sleep(wait),
                    None => {
                        self.breaker.record(Err(&failure));
                        return Fetched {
                            attempts,
                            result: Err(failure.message()),
                        };
                    }
                },
            }
        }
    }
}

/// One client per process, made by the first item the process runs and kept for the rest, so
/// every item reuses the connections. It is not sent to a worker process: each makes its own.
#[derive(Debug, Default)]
struct Client(OnceLock<Result<Fetcher, String>>);

impl Client {
    fn get(&self, http: &HttpArgs, connections: usize) -> Result<&Fetcher> {
        let made = self
            .0
            .get_or_init(|| Fetcher::new(http, connections).map_err(|e| format!("{e:#}")));
        made.as_ref().map_err(|e| anyhow!("{e}"))
    }
}

/// The job of the `downloads` scenario: fetch one file of the manifest into `out`, checked,
/// retried as the flags say. Whatever became of the file is its output ([`Fetched`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct Download {
    http: HttpArgs,
    out: PathBuf,
    /// Idle connections the client keeps: one per worker that shares it.
    connections: usize,
    #[serde(skip)]
    client: Client,
}

impl Download {
    pub fn new(args: &DownloadsArgs) -> Download {
        Download {
            http: args.http.clone(),
            out: args.out.clone(),
            connections: args.workers,
            client: Client::default(),
        }
    }

    /// `/manifest`: the files to download.
    pub fn manifest(&self) -> Result<Manifest> {
        self.client.get(&self.http, self.connections)?.manifest()
    }
}

impl Job for Download {
    const NAME: &'static str = "download";
    type Item = FileEntry;
    type Output = Fetched<String>;

    fn run(&self, entry: FileEntry) -> Result<Fetched<String>> {
        Ok(self
            .client
            .get(&self.http, self.connections)?
            .download(&entry, &self.out))
    }

    fn deadline(&self, _entry: &FileEntry) -> std::time::Duration {
        self.http.deadline()
    }
}

/// The job of the `requests` scenario: GET one item and return its `value`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchItem {
    http: HttpArgs,
    connections: usize,
    #[serde(skip)]
    client: Client,
}

impl FetchItem {
    pub fn new(args: &RequestsArgs) -> FetchItem {
        FetchItem {
            http: args.http.clone(),
            connections: args.workers,
            client: Client::default(),
        }
    }

    /// `/`: what the server is and its knobs.
    pub fn about(&self) -> Result<About> {
        self.client.get(&self.http, self.connections)?.about()
    }
}

impl Job for FetchItem {
    const NAME: &'static str = "request";
    type Item = u64;
    type Output = Fetched<u64>;

    fn run(&self, id: u64) -> Result<Fetched<u64>> {
        Ok(self.client.get(&self.http, self.connections)?.item(id))
    }

    fn deadline(&self, _id: &u64) -> std::time::Duration {
        self.http.deadline()
    }
}

/// Read a whole body, but never more than `limit` bytes of it: `Err(None)` if it is longer
/// (said by its `Content-Length`, or found by reading one byte past the limit).
pub(crate) fn read_capped(
    response: &mut reqwest::blocking::Response,
    limit: u64,
) -> Result<Vec<u8>, Option<std::io::Error>> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(None);
    }
    let mut body = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(Some)?;
    if body.len() as u64 > limit {
        return Err(None);
    }
    Ok(body)
}

/// Reading a blocking body gives `io::Error`s that wrap reqwest's.
pub(crate) fn read_error(e: &std::io::Error, timeout_ms: u64) -> Failure {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
    {
        Some(inner) => network(inner, timeout_ms),
        None if e.kind() == std::io::ErrorKind::TimedOut => {
            Failure::Retry(format!("timed out after {timeout_ms} ms"))
        }
        None => Failure::Retry(format!(
            "the body broke off: {}",
            super::checks::root_cause(e)
        )),
    }
}
