//! One file, one item: the async client (reqwest on tokio), for asyncio. `blocking.rs` beside
//! this file is the same code for the other three models; `diff` the two to see what `async`
//! changes: `.await` after every wait, and nothing else of substance.
//!
//! The file is written with `std::fs` from the event loop, on purpose: writing 64 KiB to the
//! page cache of a local file takes microseconds and never waits on the network, while
//! `tokio::fs` would hand every write to a blocking thread pool and back. The final rename is
//! the exception, and goes to `spawn_blocking`: replacing a file of an earlier run makes ext4
//! write the new data out first, which took tens of milliseconds here, and the whole event loop,
//! every download included, would wait for it (measured: 1.23 s into an empty folder, 1.32 s
//! over an earlier run's files, until the rename left the loop).

use super::checks::{
    MAX_DOCUMENT, MAX_ITEM, check_status, network, parse_about, parse_item, parse_manifest,
    too_large, unreachable,
};
use super::part::{Part, settle};
use super::retry::Breaker;
use super::{DownloadsArgs, Failure, Fetched, HttpArgs, RequestsArgs};
use crate::job::AsyncJob;
use crate::wire::{About, FileEntry, Manifest};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An async HTTP client; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    http: HttpArgs,
    /// Shared by every clone: once the server has gone, the remaining items fail fast.
    breaker: Arc<Breaker>,
}

impl Fetcher {
    /// A client that keeps up to `workers` idle connections to the server, so `workers`
    /// tasks each reuse a connection instead of opening one per request.
    pub fn new(http: &HttpArgs, workers: usize) -> Result<Fetcher> {
        let client = reqwest::Client::builder()
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

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        let url = format!("{}{path}", self.http.url);
        self.client
            .get(url)
            .timeout(self.http.timeout())
            .send()
            .await
    }

    /// One attempt at a small document that must be there: the first contact with the server.
    async fn document(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.http.url);
        let mut response = self
            .get(path)
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unreachable(&url, &e))?;
        match read_capped(&mut response, MAX_DOCUMENT).await {
            Ok(body) => Ok(body),
            Err(None) => anyhow::bail!("{}", too_large(&url, MAX_DOCUMENT)),
            Err(Some(e)) => Err(unreachable(&url, &e)),
        }
    }

    /// `/`: what the server is and its knobs. Fails fast and clearly if nothing is listening.
    pub async fn about(&self) -> Result<About> {
        let body = self.document("/").await?;
        parse_about(&self.http.url, &body)
    }

    /// `/manifest`: the files to download. Fails fast and clearly if nothing is listening.
    pub async fn manifest(&self) -> Result<Manifest> {
        let body = self.document("/manifest").await?;
        parse_manifest(&format!("{}/manifest", self.http.url), &body)
    }

    /// Download one file into `out`, retrying as the flags say.
    pub async fn download(&self, entry: &FileEntry, out: &Path) -> Fetched<String> {
        let outcome = self.retrying(|| self.download_once(entry, out)).await;
        settle(entry, out, &outcome);
        outcome
    }

    async fn download_once(&self, entry: &FileEntry, out: &Path) -> Result<String, Failure> {
        let mut response = self
            .get(&entry.path)
            .await
            .map_err(|e| network(&e, self.http.timeout_ms))?;
        check_status(response.status())?;
        let promised = response.content_length();
        let mut part = Part::create(entry, out)?;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| network(&e, self.http.timeout_ms))?;
            let Some(chunk) = chunk else {
                break;
            };
            part.write(&chunk)?;
        }
        let verified = part.verify(promised)?;
        tokio::task::spawn_blocking(move || verified.commit())
            .await
            .map_err(|e| Failure::Final(format!("the rename did not run: {e}")))?
    }

    /// Fetch item `id` and return its `value`, retrying as the flags say.
    pub async fn item(&self, id: u64) -> Fetched<u64> {
        self.retrying(|| self.item_once(id)).await
    }

    async fn item_once(&self, id: u64) -> Result<u64, Failure> {
        let response = self
            .get(&format!("/api/items/{id}"))
            .await
            .map_err(|e| network(&e, self.http.timeout_ms))?;
        check_status(response.status())?;
        let mut response = response;
        let body = read_capped(&mut response, MAX_ITEM)
            .await
            .map_err(|e| match e {
                None => Failure::Final(too_large(&format!("/api/items/{id}"), MAX_ITEM)),
                Some(e) => network(&e, self.http.timeout_ms),
            })?;
        parse_item(id, &body)
    }

    /// Run `attempt` until it succeeds, fails for good, or runs out of retries, sleeping the
    /// backoff between attempts (an async sleep: the other tasks run meanwhile).
    async fn retrying<T, F>(&self, mut attempt: impl FnMut() -> F) -> Fetched<T>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        if let Some(why) = self.breaker.tripped() {
            return Fetched::failed(why);
        }
        let retry = self.http.retry();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt().await {
                Ok(value) => {
                    self.breaker.record(Ok(()));
                    return Fetched {
                        attempts,
                        result: Ok(value),
                    };
                }
                Err(failure) => match retry.next(attempts, &failure) {
                    Some(wait) => tokio::time::sleep(wait).await,
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

/// Read a whole body, but never more than `limit` bytes of it: `Err(None)` if it is longer
/// (said by its `Content-Length`, or found as the pieces arrive).
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, Option<reqwest::Error>> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The job of the `downloads` scenario, for the event loop: fetch one file of the manifest
/// into `out`, checked, retried as the flags say. One client (and its pool of connections) for
/// every task.
#[derive(Debug)]
pub struct Download {
    fetcher: Fetcher,
    out: PathBuf,
}

impl Download {
    pub fn new(args: &DownloadsArgs) -> Result<Download> {
        Ok(Download {
            fetcher: Fetcher::new(&args.http, args.workers)?,
            out: args.out.clone(),
        })
    }

    /// `/manifest`: the files to download.
    pub async fn manifest(&self) -> Result<Manifest> {
        self.fetcher.manifest().await
    }
}

impl AsyncJob for Download {
    type Item = FileEntry;
    type Output = Fetched<String>;

    async fn run(&self, entry: FileEntry) -> Result<Fetched<String>> {
        Ok(self.fetcher.download(&entry, &self.out).await)
    }
}

/// The job of the `requests` scenario, for the event loop: GET one item, return its `value`.
#[derive(Debug)]
pub struct FetchItem {
    fetcher: Fetcher,
}

impl FetchItem {
    pub fn new(args: &RequestsArgs) -> Result<FetchItem> {
        Ok(FetchItem {
            fetcher: Fetcher::new(&args.http, args.workers)?,
        })
    }

    /// `/`: what the server is and its knobs.
    pub async fn about(&self) -> Result<About> {
        self.fetcher.about().await
    }
}

impl AsyncJob for FetchItem {
    type Item = u64;
    type Output = Fetched<u64>;

    async fn run(&self, id: u64) -> Result<Fetched<u64>> {
        Ok(self.fetcher.item(id).await)
    }
}
