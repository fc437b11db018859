//! The `crawl` scenario, written once: a breadth-first crawl of `decision-table site` to depth
//! D, each URL fetched once, `robots.txt` obeyed, at most C requests in flight per host, every
//! page parsed with html5ever (the `scraper` crate) and its products extracted.
//!
//! The four crates differ only in what keeps requests in flight while the crawl goes on; the
//! rest is here:
//!
//! - [`page`]: what a page yields (its title, its products, its links resolved and kept to the
//!   site), the one piece of CPU work of a crawl;
//! - [`bfs`]: the crawl itself, level by level, with robots.txt and the sharding of a level
//!   into work items; it calls back into the crate's pool once per level;
//! - [`blocking`] (serial, threading, multiprocessing) and [`nonblocking`] (asyncio): one URL
//!   fetched, retried and parsed, with the per-host limit, as a `Job` and an `AsyncJob`;
//! - [`finish`]: the figures (pages per second, p95 fetch latency, the share of page time spent
//!   parsing, politeness violations), the digest and the closing lines.
//!
//! What a model is made of here, and which of it a Python reader's library decides (the
//! chapter's "depends on the library"):
//!
//! | model | requests in flight | parsing runs | in Python it is decided by |
//! | --- | --- | --- | --- |
//! | serial | one | on the one thread | nothing: any client |
//! | threading | K threads, C per host (a shared limiter) | on the fetching threads, in parallel (`--gil`: one at a time, as in CPython) | a blocking client (`requests`), the GIL for parsing |
//! | multiprocessing | one per process; a level is cut into at most C shards per host, so no host ever sees more than C processes: politeness by construction | in each process | `multiprocessing`, whatever the client |
//! | asyncio | K tasks, C per host (a semaphore each) | off the loop (`spawn_blocking`) or, `--variant blocking`, on it: every fetch waits | an async client (`aiohttp`, `httpx`); Scrapy is this model, on Twisted, and parses on its loop |
//!
//! A reader with `requests` can only have threads (or processes); one with `aiohttp` or Scrapy
//! has an event loop, and then where the parsing runs matters, which the blocking variant shows.

pub mod bfs;
pub mod blocking;
pub mod finish;
pub mod nonblocking;
pub mod page;

pub use bfs::{Crawled, Sharding, crawl};
pub use finish::finish;

use crate::cli::{bounded, workers};
use crate::fetch::{HttpArgs, Retry};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where a crawl starts unless told otherwise: `decision-table site`'s default first host.
pub const DEFAULT_START: &str = "http://127.0.0.2:8100/";
/// The deepest crawl `--depth` accepts.
pub const MAX_DEPTH: usize = 50;
/// The most a client reads into memory for one page (the site's are 20 to 50 KB).
pub const MAX_PAGE: u64 = 4 << 20;
/// The most a client reads for one `robots.txt`: RFC 9309 asks crawlers to read at least
/// 500 KiB of it.
pub const MAX_ROBOTS: u64 = 512 << 10;
/// The name the crawler gives itself in `robots.txt` matching and in `User-Agent`.
pub const USER_AGENT: &str = "decision-table-crawler";

fn depth(s: &str) -> Result<usize, String> {
    bounded(s, 0, MAX_DEPTH as u64).map(|v| v as usize)
}

fn per_host(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000).map(|v| v as usize)
}

fn max_pages(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000_000).map(|v| v as usize)
}

/// `--url`: a plain `http://` address on loopback, where the site is.
pub fn start_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| format!("'{s}' is not a URL ({e}); use e.g. {DEFAULT_START}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "'{s}': only plain http:// is crawled here (the site runs on loopback, without TLS)"
        ));
    }
    page::normalise(url).ok_or_else(|| {
        format!(
            "'{s}' is not on loopback: this crawler only visits 127.0.0.0/8, where \
                 `decision-table site` runs (there is no other network here)"
        )
    })
}

/// `crawl`: what to crawl, how deep, and how politely.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrawlArgs {
    /// The start page (start a site with `decision-table site`)
    #[arg(long, default_value = DEFAULT_START, value_parser = start_url)]
    pub url: String,
    /// Follow links this many hops from the start page (the shortest link distance)
    #[arg(long, default_value_t = 3, value_parser = depth, allow_negative_numbers = true)]
    pub depth: usize,
    /// At most this many requests in flight to any one host (the site answers 429 beyond its own limit)
    #[arg(long, default_value_t = 4, value_parser = per_host, allow_negative_numbers = true)]
    pub per_host: usize,
    /// How many requests are in flight at once over all hosts: threads, processes or tasks (serial runs one)
    #[arg(long, default_value_t = 16, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// Stop adding URLs once this many are known (a bound on any crawl)
    #[arg(long, default_value_t = 100_000, value_parser = max_pages, allow_negative_numbers = true)]
    pub max_pages: usize,
    /// How many times a failed request is tried again, with exponential backoff (0 to 10)
    #[arg(long, default_value_t = 3, value_parser = crate::fetch::retries, allow_negative_numbers = true)]
    pub retries: u32,
    /// Give up on one attempt after this many milliseconds, from connecting to the last byte
    #[arg(long, default_value_t = 10_000, value_parser = crate::fetch::timeout_ms, allow_negative_numbers = true)]
    pub timeout_ms: u64,
    /// Wait before the first retry, in milliseconds; each further retry waits twice as long (2 s at most)
    #[arg(long, default_value_t = 50, value_parser = crate::cli::millis, allow_negative_numbers = true)]
    pub backoff_ms: u64,
}

impl Default for CrawlArgs {
    fn default() -> Self {
        Self {
            url: DEFAULT_START.into(),
            depth: 3,
            per_host: 4,
            workers: 16,
            max_pages: 100_000,
            retries: 3,
            timeout_ms: 10_000,
            backoff_ms: 50,
        }
    }
}

impl CrawlArgs {
    /// The retry and timeout settings in the form the `fetch` clients use.
    pub fn http(&self) -> HttpArgs {
        HttpArgs {
            url: self.url.clone(),
            retries: self.retries,
            timeout_ms: self.timeout_ms,
            backoff_ms: self.backoff_ms,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn retry(&self) -> Retry {
        self.http().retry()
    }
}

/// One product, as extracted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub cents: u64,
}

/// What visiting one URL came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Visit {
    /// A page, parsed: its title, its products, its links on the site (absolute, without
    /// fragments, in page order) and how many links left the site.
    Page {
        title: String,
        items: Vec<Item>,
        links: Vec<String>,
        off_site: u32,
    },
    /// A redirect: the status and where it points (absolute; `None` if it points off the site
    /// or says nowhere).
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// An answer that will not change: 404, 410, ...
    Missing { status: u16 },
    /// No answer after every retry: why the last attempt failed.
    Failed { why: String },
}

/// One URL visited: what came of it, and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fetched {
    pub url: String,
    pub visit: Visit,
    pub attempts: u32,
    /// HTTP 429 answers met on the way: the crawler was over the host's limit.
    pub throttled: u32,
    /// The last attempt, from sending the request to the last byte of the body.
    pub fetch_ms: f64,
    /// Parsing the page.
    pub parse_ms: f64,
    pub bytes: u64,
}

impl Fetched {
    /// A URL that never got an answer (its worker died, its batch never ran).
    pub fn failed(url: String, why: impl Into<String>) -> Fetched {
        Fetched {
            url,
            visit: Visit::Failed { why: why.into() },
            attempts: 0,
            throttled: 0,
            fetch_ms: 0.0,
            parse_ms: 0.0,
            bytes: 0,
        }
    }
}

/// What `robots.txt` said, as RFC 9309 reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RobotsTxt {
    /// A 2xx answer: the rules.
    Rules(String),
    /// A 4xx (or a redirect, not followed here): no rules, everything allowed.
    Missing(u16),
    /// No answer, or a 5xx, after every retry: everything disallowed on that host.
    Unreachable(String),
}

// ---------------------------------------------------------------------------------------------
// What both clients share: what a status says to do, the attempts of one URL, what a body and a
// redirect come to.

use crate::fetch::{Failure, checks};
use reqwest::{StatusCode, Url};
use std::time::Instant;

/// What one answer's status says to do next.
pub(crate) enum Step {
    /// 2xx: read the body.
    Read,
    /// 3xx: a redirect to `Location` (if it said one).
    Redirect(u16),
    /// A 4xx that will not change.
    Missing(u16),
    /// 429: over the host's limit; wait and try again.
    Throttled,
    /// 5xx, 408: try again.
    Again(Failure),
}

pub(crate) fn step(status: StatusCode) -> Step {
    if status.is_redirection() {
        Step::Redirect(status.as_u16())
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Step::Throttled
    } else {
        match checks::check_status(status) {
            Ok(()) => Step::Read,
            Err(Failure::Final(_)) => Step::Missing(status.as_u16()),
            Err(again) => Step::Again(again),
        }
    }
}

/// The attempts at one URL so far.
pub(crate) struct Tries {
    retry: Retry,
    pub attempts: u32,
    pub throttled: u32,
}

impl Tries {
    pub fn new(args: &CrawlArgs) -> Tries {
        Tries {
            retry: args.retry(),
            attempts: 0,
            throttled: 0,
        }
    }

    /// Attempt number `attempts` failed: how long to wait before the next, or `None` to give up.
    pub fn after(&mut self, failure: &Failure) -> Option<Duration> {
        self.retry.next(self.attempts, failure)
    }

    /// 429 on attempt number `attempts`: counted, and retried like a server error.
    pub fn throttled(&mut self) -> (Failure, Option<Duration>) {
        self.throttled += 1;
        let failure = Failure::Retry("HTTP 429 Too Many Requests".into());
        let wait = self.after(&failure);
        (failure, wait)
    }

    pub fn done(
        self,
        url: &str,
        visit: Visit,
        fetch_ms: f64,
        parse_ms: f64,
        bytes: u64,
    ) -> Fetched {
        Fetched {
            url: url.to_string(),
            visit,
            attempts: self.attempts,
            throttled: self.throttled,
            fetch_ms,
            parse_ms,
            bytes,
        }
    }
}

/// A page's body, parsed: the visit and how long parsing took, in milliseconds.
pub fn parse_page(base: &Url, body: &[u8]) -> (Visit, f64) {
    let html = String::from_utf8_lossy(body);
    let (x, parse_ms) = page::extract_timed(&html, base);
    let visit = Visit::Page {
        title: x.title,
        items: x.items,
        links: x.links,
        off_site: x.off_site,
    };
    (visit, parse_ms)
}

/// A redirect, its `Location` resolved against the URL that answered it.
pub(crate) fn redirect(base: &Url, status: u16, location: Option<&str>) -> Visit {
    Visit::Redirect {
        status,
        location: location.and_then(|l| page::resolve(base, l)),
    }
}

/// Milliseconds since `t`.
pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
