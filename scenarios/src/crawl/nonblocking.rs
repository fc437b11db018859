//! One URL fetched and parsed: the async client (reqwest on tokio), for asyncio.
//! `blocking.rs` beside this file is the same for the other models; `diff` the two to see what
//! `async` changes: `.await` after every wait, a semaphore per host instead of a condition
//! variable, and one decision a thread never has to make: where the parsing runs.
//!
//! Parsing a page is CPU work (about a millisecond here; ten times that in pure Python). A task
//! that parses on the event loop holds the loop for that long: no other task reads its socket,
//! so every fetch in flight waits, and its measured latency grows. [`ParseOn::Pool`] (the
//! default, the right way) hands the parse to tokio's blocking threads (`spawn_blocking`, like
//! Python's `run_in_executor`) and the loop goes on; [`ParseOn::Loop`] (asyncio's
//! `--variant blocking`, the mistake, on purpose) parses inside the task. Scrapy parses on its
//! event loop, in the callbacks; so does an `aiohttp` crawler that calls BeautifulSoup in a
//! coroutine.

use super::{CrawlArgs, Fetched, MAX_PAGE, MAX_ROBOTS, RobotsTxt, Step, Tries, USER_AGENT, Visit};
use super::{ms_since, page, parse_page, redirect};
use crate::fetch::Failure;
use crate::fetch::checks::{network, too_large};
use crate::fetch::nonblocking::read_capped;
use crate::job::AsyncJob;
use anyhow::{Context, Result};
use reqwest::Url;
use reqwest::header::LOCATION;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

/// Where a page is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseOn {
    /// On tokio's blocking threads: the event loop stays free.
    Pool,
    /// On the event loop itself: every other task waits meanwhile.
    Loop,
}

impl ParseOn {
    /// On the loop if `on_loop`, else on the blocking threads.
    pub fn of(on_loop: bool) -> ParseOn {
        if on_loop {
            ParseOn::Loop
        } else {
            ParseOn::Pool
        }
    }
}

/// At most C requests in flight per host: a semaphore each, made when the host is first seen.
#[derive(Debug)]
struct HostLimiter {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimiter {
    fn semaphore(&self, host: &str) -> Arc<Semaphore> {
        // A std mutex: held for a map lookup, never across an await.
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            hosts
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host))),
        )
    }
}

enum Answer {
    Body(Vec<u8>),
    Redirect(u16, Option<String>),
    Missing(u16),
    Throttled,
}

/// An async crawler client; every task shares one (and its connection pool).
#[derive(Debug)]
pub struct Crawler {
    client: reqwest::Client,
    args: CrawlArgs,
    limiter: HostLimiter,
    parse_on: ParseOn,
}

impl Crawler {
    pub fn new(args: &CrawlArgs, parse_on: ParseOn) -> Result<Crawler> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Keep a connection for every request a host may have in flight.
            .pool_max_idle_per_host(args.per_host)
            .timeout(args.timeout())
            .redirect(reqwest::redirect::Policy::none())
            // Every retry is ours, counted and reported; proxies do not apply to loopback.
            .retry(reqwest::retry::never())
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Crawler {
            client,
            args: args.clone(),
            limiter: HostLimiter {
                per_host: args.per_host,
                hosts: Mutex::default(),
            },
            parse_on,
        })
    }

    /// One attempt at `url`, reading at most `cap` bytes of body.
    async fn attempt(&self, url: &str, cap: u64) -> (Result<Answer, Failure>, f64) {
        let timeout_ms = self.args.timeout_ms;
        let t = Instant::now();
        let answer = async {
            let mut response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| network(&e, timeout_ms))?;
            let step = super::step(response.status());
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if !matches!(step, Step::Read) {
                // Read the short body anyway, so the connection can carry the next request.
                let _ = read_capped(&mut response, 64 << 10).await;
            }
            match step {
                Step::Read => match read_capped(&mut response, cap).await {
                    Ok(body) => Ok(Answer::Body(body)),
                    Err(None) => Err(Failure::Final(too_large(url, cap))),
                    Err(Some(e)) => Err(network(&e, timeout_ms)),
                },
                Step::Redirect(status) => Ok(Answer::Redirect(status, location)),
                Step::Missing(status) => Ok(Answer::Missing(status)),
                Step::Throttled => Ok(Answer::Throttled),
                Step::Again(failure) => Err(failure),
            }
        }
        .await;
        (answer, ms_since(t))
    }

    /// Try `url` until it answers, fails for good, or runs out of retries (an async sleep
    /// between attempts: the other tasks run meanwhile).
    async fn attempts(&self, url: &str, cap: u64) -> (Tries, Result<Answer, Failure>, f64) {
        // A permit of the host's semaphore throughout, backoff included (see `blocking.rs`).
        // The semaphore is never closed, so acquiring can only wait.
        let host = self.limiter.semaphore(&page::origin(url));
        let _slot = host.acquire().await.expect("the semaphore is never closed");
        let mut tries = Tries::new(&self.args);
        loop {
            tries.attempts += 1;
            let (answer, ms) = self.attempt(url, cap).await;
            let (failure, wait) = match answer {
                Ok(Answer::Throttled) => tries.throttled(),
                Ok(answer) => return (tries, Ok(answer), ms),
                Err(failure) => {
                    let wait = tries.after(&failure);
                    (failure, wait)
                }
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return (tries, Err(failure), ms),
            }
        }
    }

    /// Fetch `url` and parse it if it is a page, where [`ParseOn`] says.
    pub async fn visit(&self, url: &str) -> Fetched {
        let Ok(base) = Url::parse(url) else {
            return Fetched::failed(url.to_string(), "not a URL");
        };
        let (tries, answer, fetch_ms) = self.attempts(url, MAX_PAGE).await;
        match answer {
            Ok(Answer::Body(body)) => {
                let bytes = body.len() as u64;
                let (visit, parse_ms) = match self.parse_on {
                    ParseOn::Pool => {
                        match tokio::task::spawn_blocking(move || parse_page(&base, &body)).await {
                            Ok(parsed) => parsed,
                            Err(e) => (
                                Visit::Failed {
                                    why: format!("the parse did not run: {e}"),
                                },
                                0.0,
                            ),
                        }
                    }
                    // Deliberately wrong: this blocks the event loop until the page is parsed.
                    ParseOn::Loop => parse_page(&base, &body),
                };
                tries.done(url, visit, fetch_ms, parse_ms, bytes)
            }
            Ok(Answer::Redirect(status, to)) => tries.done(
                url,
                redirect(&base, status, to.as_deref()),
                fetch_ms,
                0.0,
                0,
            ),
            Ok(Answer::Missing(status)) => {
                tries.done(url, Visit::Missing { status }, fetch_ms, 0.0, 0)
            }
            Ok(Answer::Throttled) => unreachable!("a 429 is retried"),
            Err(failure) => tries.done(
                url,
                Visit::Failed {
                    why: failure.message(),
                },
                fetch_ms,
                0.0,
                0,
            ),
        }
    }

    /// `origin/robots.txt`, read as RFC 9309 says.
    pub async fn robots(&self, origin: &str) -> RobotsTxt {
        let (_, answer, _) = self
            .attempts(&format!("{origin}/robots.txt"), MAX_ROBOTS)
            .await;
        match answer {
            Ok(Answer::Body(body)) => RobotsTxt::Rules(String::from_utf8_lossy(&body).into_owned()),
            Ok(Answer::Redirect(status, _) | Answer::Missing(status)) => RobotsTxt::Missing(status),
            Ok(Answer::Throttled) => unreachable!("a 429 is retried"),
            Err(failure) => RobotsTxt::Unreachable(failure.message()),
        }
    }
}

/// The job of the `crawl` scenario, for the event loop: fetch and parse every URL of one work
/// item, in order. Clones share one client.
#[derive(Clone, Debug)]
pub struct FetchPages {
    crawler: Arc<Crawler>,
}

impl FetchPages {
    pub fn new(args: &CrawlArgs, parse_on: ParseOn) -> Result<FetchPages> {
        Ok(FetchPages {
            crawler: Arc::new(Crawler::new(args, parse_on)?),
        })
    }

    /// One host's robots.txt.
    pub async fn robots(&self, origin: &str) -> RobotsTxt {
        self.crawler.robots(origin).await
    }
}

impl AsyncJob for FetchPages {
    type Item = Vec<String>;
    type Output = Vec<Fetched>;

    async fn run(&self, urls: Vec<String>) -> Result<Vec<Fetched>> {
        let mut out = Vec::with_capacity(urls.len());
        for u in &urls {
            out.push(self.crawler.visit(u).await);
        }
        Ok(out)
    }
}
