//! The download stage for asyncio: one image of `/images` into memory with the async client
//! (reqwest on tokio). `download.rs` beside this file is the same code with the blocking
//! client; the differences are the `.await`s and the async sleep between attempts, which lets
//! the other tasks run.
//!
//! While a task waits for bytes the event loop runs the others, so K downloads are in flight on
//! one thread. That holds only while nothing else occupies the loop: an image processed on the
//! loop itself (`asyncio pipeline --variant blocking`) leaves every download in flight unread
//! until it is done, which the summary's `download_late_*_ms` shows.

use super::download::{Body, gave_up, no_images, parse_images};
use super::{Arrived, PipelineArgs, ROUTE, Timing};
use crate::fetch::checks::{MAX_DOCUMENT, check_status, network, too_large, unreachable};
use crate::fetch::retry::Breaker;
use crate::fetch::{Failure, HttpArgs};
use crate::job::AsyncJob;
use crate::wire::{FileEntry, Manifest};
use anyhow::{Context, Result, bail};
use std::time::Instant;

/// The download stage as tasks: one client (and its pool of K connections) for every task.
#[derive(Debug)]
pub struct FetchImage {
    http: HttpArgs,
    client: reqwest::Client,
    breaker: Breaker,
}

impl FetchImage {
    pub fn new(args: &PipelineArgs) -> Result<FetchImage> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.workers)
            .timeout(args.http.timeout())
            // Every retry is ours, counted and reported; no proxy for a server on loopback.
            .retry(reqwest::retry::never())
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(FetchImage {
            http: args.http.clone(),
            client,
            breaker: Breaker::default(),
        })
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path}", self.http.url))
            .send()
            .await
    }

    /// `/images`: the images to fetch. Fails fast and clearly if nothing listens there.
    pub async fn manifest(&self) -> Result<Manifest> {
        let url = format!("{}{ROUTE}", self.http.url);
        let response = self.get(ROUTE).await.map_err(|e| unreachable(&url, &e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(no_images(&self.http.url));
        }
        let mut response = response
            .error_for_status()
            .map_err(|e| unreachable(&url, &e))?;
        if response.content_length().is_some_and(|n| n > MAX_DOCUMENT) {
            bail!("{}", too_large(&url, MAX_DOCUMENT));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&url, &e))? {
            if (body.len() + chunk.len()) as u64 > MAX_DOCUMENT {
                bail!("{}", too_large(&url, MAX_DOCUMENT));
            }
            body.extend_from_slice(&chunk);
        }
        parse_images(&url, &body)
    }

    async fn once(&self, entry: &FileEntry) -> Result<Vec<u8>, Failure> {
        let timeout_ms = self.http.timeout_ms;
        let mut response = self
            .get(&entry.path)
            .await
            .map_err(|e| network(&e, timeout_ms))?;
        check_status(response.status())?;
        let promised = response.content_length();
        let mut body = Body::new(entry);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network(&e, timeout_ms))?
        {
            body.write(&chunk)?;
        }
        body.finish(promised)
    }
}

impl AsyncJob for FetchImage {
    type Item = FileEntry;
    type Output = Arrived;

    /// Download one image, retrying as the flags say; an error names the image.
    async fn run(&self, entry: FileEntry) -> Result<Arrived> {
        if let Some(why) = self.breaker.tripped() {
            bail!("{}: {why}", entry.name);
        }
        let retry = self.http.retry();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            match self.once(&entry).await {
                Ok(png) => {
                    self.breaker.record(Ok(()));
                    let took_s = started.elapsed().as_secs_f64();
                    return Ok(Arrived {
                        name: entry.name,
                        png,
                        timing: Timing { attempts, took_s },
                    });
                }
                Err(failure) => match retry.next(attempts, &failure) {
                    // An async sleep: the other tasks run meanwhile.
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => {
                        self.breaker.record(Err(&failure));
                        return Err(gave_up(&entry, attempts, failure));
                    }
                },
            }
        }
    }
}
