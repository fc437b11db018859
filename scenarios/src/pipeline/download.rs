//! The download stage: one image from `/images/{i}` into memory, with the blocking client
//! (reqwest's blocking API) for serial, threading and multiprocessing. `nonblocking.rs` beside
//! this file is the same code for asyncio; `diff` the two to see what `async` changes.
//!
//! The bytes stay in memory, since the compute stage wants them there: a pipeline that wrote
//! each image to disk and read it back would only add I/O. What keeps a download honest is
//! `downloads`' rule, applied to a buffer instead of a temporary file ([`Body`]): never more
//! bytes than the manifest lists, then exactly that length, the promised `Content-Length` and
//! the manifest's SHA-256, or the attempt failed and is retried (the retry policy, statuses and
//! error texts are `scenarios::fetch`'s, so both scenarios fail alike). A file that runs out of
//! retries fails its item with an error naming it; nothing of it reaches `--out`.

use super::{Arrived, ROUTE, Timing};
use crate::digest::hex;
use crate::fetch::checks::{
    MAX_DOCUMENT, check_status, network, parse_manifest, root_cause, too_large, unreachable,
};
use crate::fetch::retry::Breaker;
use crate::fetch::{Failure, HttpArgs};
use crate::images::MAX_INPUT_BYTES;
use crate::job::Job;
use crate::wire::{FileEntry, Manifest};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::sync::OnceLock;
use std::time::Instant;

/// One image arriving: the bytes so far and their hash.
pub struct Body<'a> {
    entry: &'a FileEntry,
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl<'a> Body<'a> {
    pub fn new(entry: &'a FileEntry) -> Body<'a> {
        Body {
            entry,
            // The manifest says how much is coming, and was checked to be at most
            // MAX_INPUT_BYTES: one allocation up front.
            bytes: Vec::with_capacity(entry.size as usize),
            hasher: Sha256::new(),
        }
    }

    /// Append a piece; more than the manifest lists is a failed attempt.
    pub fn write(&mut self, piece: &[u8]) -> Result<(), Failure> {
        if (self.bytes.len() + piece.len()) as u64 > self.entry.size {
            return Err(Failure::Retry(format!(
                "more than the {} bytes the manifest lists",
                self.entry.size
            )));
        }
        self.hasher.update(piece);
        self.bytes.extend_from_slice(piece);
        Ok(())
    }

    /// Check the length and the checksum; `promised` is the response's `Content-Length`.
    pub fn finish(self, promised: Option<u64>) -> Result<Vec<u8>, Failure> {
        let (received, size) = (self.bytes.len() as u64, self.entry.size);
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
        let sha = hex(&self.hasher.finalize());
        if sha != self.entry.sha256 {
            return Err(Failure::Retry(format!(
                "SHA-256 {} where the manifest lists {}",
                &sha[..16],
                &self.entry.sha256[..16]
            )));
        }
        Ok(self.bytes)
    }
}

/// Parse and check `/images`: `downloads`' checks (safe names, no duplicates, real checksums),
/// and no image larger than the images kernel reads, since every one is held in memory.
pub fn parse_images(url: &str, body: &[u8]) -> Result<Manifest> {
    let manifest = parse_manifest(url, body)?;
    if manifest.files.is_empty() {
        bail!("{url} lists no images: start the server with `decision-table serve --images DIR`");
    }
    for f in &manifest.files {
        if f.size > MAX_INPUT_BYTES {
            bail!(
                "the manifest at {url} says {:?} has {} bytes, over the {} MiB this pipeline \
                 holds in memory",
                f.name,
                f.size,
                MAX_INPUT_BYTES >> 20
            );
        }
    }
    Ok(manifest)
}

/// What a 404 on `/images` means: the server runs, but serves no images.
pub fn no_images(url: &str) -> anyhow::Error {
    anyhow!(
        "{url}{ROUTE} answered HTTP 404: this server has no images; start it with \
         `decision-table serve --images DIR` (make DIR with `decision-table gen images`)"
    )
}

/// The error of an image that ran out of retries, naming it.
pub fn gave_up(entry: &FileEntry, attempts: u32, failure: Failure) -> anyhow::Error {
    anyhow!(
        "{}: download failed after {attempts} attempt(s): {}",
        entry.name,
        failure.message()
    )
}

/// A blocking client and its breaker, made on first use in each process that runs the job.
#[derive(Debug)]
struct Client {
    http: reqwest::blocking::Client,
    breaker: Breaker,
}

/// The download stage for serial, threading and multiprocessing: one image of `/images` into
/// memory, checked, retried as the flags say. One client for every thread of the process
/// (it is shared by reference), keeping one idle connection per download in flight.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchImage {
    http: HttpArgs,
    connections: usize,
    #[serde(skip)]
    client: OnceLock<Result<Client, String>>,
}

impl FetchImage {
    pub fn new(args: &super::PipelineArgs) -> FetchImage {
        FetchImage {
            http: args.http.clone(),
            connections: args.workers,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&Client> {
        let made = self.client.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .pool_max_idle_per_host(self.connections)
                .timeout(self.http.timeout())
                // Every retry is ours, counted and reported; no proxy for a server on loopback.
                .retry(reqwest::retry::never())
                .no_proxy()
                .build()
                .map(|http| Client {
                    http,
                    breaker: Breaker::default(),
                })
                .map_err(|e| format!("cannot build the HTTP client: {e:#}"))
        });
        made.as_ref().map_err(|e| anyhow!("{e}"))
    }

    fn get(&self, client: &Client, path: &str) -> reqwest::Result<reqwest::blocking::Response> {
        client.http.get(format!("{}{path}", self.http.url)).send()
    }

    /// `/images`: the images to fetch. Fails fast and clearly if nothing listens there.
    pub fn manifest(&self) -> Result<Manifest> {
        let client = self.client()?;
        let url = format!("{}{ROUTE}", self.http.url);
        let response = self.get(client, ROUTE).map_err(|e| unreachable(&url, &e))?;
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
        (&mut response)
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("{url}: the body broke off"))?;
        if body.len() as u64 > MAX_DOCUMENT {
            bail!("{}", too_large(&url, MAX_DOCUMENT));
        }
        parse_images(&url, &body)
    }

    fn once(&self, client: &Client, entry: &FileEntry) -> Result<Vec<u8>, Failure> {
        let timeout_ms = self.http.timeout_ms;
        let mut response = self
            .get(client, &entry.path)
            .map_err(|e| network(&e, timeout_ms))?;
        check_status(response.status())?;
        let promised = response.content_length();
        let mut body = Body::new(entry);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = response
                .read(&mut buf)
                .map_err(|e| read_error(&e, timeout_ms))?;
            if n == 0 {
                break;
            }
            body.write(&buf[..n])?;
        }
        body.finish(promised)
    }
}

impl Job for FetchImage {
    const NAME: &'static str = "pipeline-download";
    type Item = FileEntry;
    type Output = Arrived;

    /// Download one image, retrying as the flags say; an error names the image.
    fn run(&self, entry: FileEntry) -> Result<Arrived> {
        let client = self.client()?;
        if let Some(why) = client.breaker.tripped() {
            bail!("{}: {why}", entry.name);
        }
        let retry = self.http.retry();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            match self.once(client, &entry) {
                Ok(png) => {
                    client.breaker.record(Ok(()));
                    let took_s = started.elapsed().as_secs_f64();
                    return Ok(Arrived {
                        name: entry.name,
                        png,
                        timing: Timing { attempts, took_s },
                    });
                }
                Err(failure) => match retry.next(attempts, &failure) {
                    Some(wait) => std::thread::sleep(wait),
                    None => {
                        client.breaker.record(Err(&failure));
                        return Err(gave_up(&entry, attempts, failure));
                    }
                },
            }
        }
    }

    fn deadline(&self, _entry: &FileEntry) -> std::time::Duration {
        self.http.deadline()
    }
}

/// Reading a blocking body gives `io::Error`s that wrap reqwest's.
fn read_error(e: &std::io::Error, timeout_ms: u64) -> Failure {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
    {
        Some(inner) => network(inner, timeout_ms),
        None if e.kind() == std::io::ErrorKind::TimedOut => {
            Failure::Retry(format!("timed out after {timeout_ms} ms"))
        }
        None => Failure::Retry(format!("the body broke off: {}", root_cause(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_hex;

    fn entry(content: &[u8]) -> FileEntry {
        FileEntry {
            name: "img-000.png".into(),
            path: "/images/0".into(),
            size: content.len() as u64,
            sha256: sha256_hex(content),
        }
    }

    #[test]
    fn a_body_is_the_manifests_bytes_or_a_failed_attempt() {
        let content: Vec<u8> = (0..100).collect();
        let e = entry(&content);
        let mut b = Body::new(&e);
        b.write(&content[..40]).unwrap();
        b.write(&content[40..]).unwrap();
        assert_eq!(b.finish(Some(100)).unwrap(), content);
        let mut short = Body::new(&e);
        short.write(&content[..50]).unwrap();
        assert!(
            matches!(short.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("short body"))
        );
        let mut corrupt = Body::new(&e);
        let mut bad = content.clone();
        bad[7] ^= 1;
        corrupt.write(&bad).unwrap();
        assert!(matches!(corrupt.finish(None), Err(Failure::Retry(m)) if m.contains("SHA-256")));
        let mut long = Body::new(&e);
        long.write(&content).unwrap();
        assert!(matches!(long.write(b"x"), Err(Failure::Retry(m)) if m.contains("more than")));
    }

    #[test]
    fn an_image_too_large_to_hold_is_refused_before_anything_is_fetched() {
        let mut m = Manifest {
            about: crate::wire::About {
                server: "s".into(),
                files: 1,
                size: 3,
                latency_ms: 0,
                bandwidth: 0,
                fault_rate: 0.0,
            },
            files: vec![entry(b"abc")],
        };
        let body = serde_json::to_vec(&m).unwrap();
        assert_eq!(parse_images("u", &body).unwrap(), m);
        m.files[0].size = MAX_INPUT_BYTES + 1;
        let e = parse_images("u", &serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("img-000.png") && e.to_string().contains("MiB"),
            "{e}"
        );
        m.files.clear();
        let e = parse_images("u", &serde_json::to_vec(&m).unwrap()).unwrap_err();
        assert!(e.to_string().contains("--images DIR"), "{e}");
    }
}
