//! One URL fetched and parsed: the blocking client (reqwest's blocking API), for serial,
//! threading and multiprocessing. `nonblocking.rs` beside this file is the same for asyncio.
//!
//! - The per-host limit is a counter per host behind one mutex, with a condition variable to
//!   wait on ([`HostLimiter`]): a thread takes its host's slot before it sends a request and
//!   gives it back when the body has been read, so however many threads there are, no host has
//!   more than C requests from this process in flight. A wait is bounded by the request it waits
//!   for: every holder gives its slot back within one attempt's timeout.
//! - A URL keeps its slot through its retries, backoff included: a request that timed out may
//!   still be running on the server for a moment (it cannot know at once that we hung up), and
//!   a polite client does not hand that moment to another request to the same host.
//! - Parsing runs after the slot is given back, on the same thread: the host can serve someone
//!   else while this thread parses.
//! - Redirects are not followed by the client (`Policy::none`): a redirect is a result of the
//!   crawl, its target a URL like any other (see `bfs.rs`), fetched once whoever points at it.

use super::{CrawlArgs, Fetched, MAX_PAGE, MAX_ROBOTS, RobotsTxt, Step, Tries, USER_AGENT, Visit};
use super::{ms_since, page, parse_page, redirect};
use crate::fetch::Failure;
use crate::fetch::blocking::{read_capped, read_error};
use crate::fetch::checks::{network, too_large};
use crate::job::Job;
use anyhow::{Context, Result, anyhow};
use reqwest::Url;
use reqwest::header::LOCATION;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// At most C requests in flight per host, for any number of threads.
#[derive(Debug)]
pub struct HostLimiter {
    per_host: usize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

/// One host's slot, held while a request is in flight.
pub struct HostPermit<'a> {
    limiter: &'a HostLimiter,
    host: String,
}

impl HostLimiter {
    pub fn new(per_host: usize) -> HostLimiter {
        HostLimiter {
            per_host,
            busy: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    /// Wait until `host` has a free slot, and take it.
    pub fn acquire(&self, host: &str) -> HostPermit<'_> {
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let mut busy = self
            .freed
            .wait_while(busy, |b| b.get(host).copied().unwrap_or(0) >= self.per_host)
            .unwrap_or_else(|e| e.into_inner());
        *busy.entry(host.to_string()).or_insert(0) += 1;
        HostPermit {
            limiter: self,
            host: host.to_string(),
        }
    }
}

impl Drop for HostPermit<'_> {
    fn drop(&mut self) {
        let mut busy = self.limiter.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(&self.host) {
            *n -= 1;
        }
        drop(busy);
        // Every waiter for this host rechecks; waiters for other hosts go back to sleep.
        self.limiter.freed.notify_all();
    }
}

/// What one attempt got.
enum Answer {
    Body(Vec<u8>),
    Redirect(u16, Option<String>),
    Missing(u16),
    Throttled,
}

/// A blocking crawler client, shareable by any number of threads.
#[derive(Debug)]
pub struct Crawler {
    client: reqwest::blocking::Client,
    args: CrawlArgs,
    limiter: HostLimiter,
}

impl Crawler {
    pub fn new(args: &CrawlArgs) -> Result<Crawler> {
        let client = reqwest::blocking::Client::builder()
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
            limiter: HostLimiter::new(args.per_host),
        })
    }

    /// One attempt at `url`, reading at most `cap` bytes of body.
    fn attempt(&self, url: &str, cap: u64) -> (Result<Answer, Failure>, f64) {
        let timeout_ms = self.args.timeout_ms;
        let t = Instant::now();
        let answer = (|| {
            let mut response = self
                .client
                .get(url)
                .send()
                .map_err(|e| network(&e, timeout_ms))?;
            let step = super::step(response.status());
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if !matches!(step, Step::Read) {
                // Read the short body anyway, so the connection can carry the next request.
                let _ = read_capped(&mut response, 64 << 10);
            }
            match step {
                Step::Read => match read_capped(&mut response, cap) {
                    Ok(body) => Ok(Answer::Body(body)),
                    Err(None) => Err(Failure::Final(too_large(url, cap))),
                    Err(Some(e)) => Err(read_error(&e, timeout_ms)),
                },
                Step::Redirect(status) => Ok(Answer::Redirect(status, location)),
                Step::Missing(status) => Ok(Answer::Missing(status)),
                Step::Throttled => Ok(Answer::Throttled),
                Step::Again(failure) => Err(failure),
            }
        })();
        (answer, ms_since(t))
    }

    /// Try `url` until it answers, fails for good, or runs out of retries, holding a slot of
    /// its host throughout.
    fn attempts(&self, url: &str, cap: u64) -> (Tries, Result<Answer, Failure>, f64) {
        let _slot = self.limiter.acquire(&page::origin(url));
        let mut tries = Tries::new(&self.args);
        loop {
            tries.attempts += 1;
            let (answer, ms) = self.attempt(url, cap);
            let (failure, wait) = match answer {
                Ok(Answer::Throttled) => tries.throttled(),
                Ok(answer) => return (tries, Ok(answer), ms),
                Err(failure) => {
                    let wait = tries.after(&failure);
                    (failure, wait)
                }
            };
            match wait {
                Some(wait) => std::thread::sleep(wait),
                None => return (tries, Err(failure), ms),
            }
        }
    }

    /// Fetch `url` and parse it if it is a page.
    pub fn visit(&self, url: &str) -> Fetched {
        let Ok(base) = Url::parse(url) else {
            return Fetched::failed(url.to_string(), "not a URL");
        };
        let (tries, answer, fetch_ms) = self.attempts(url, MAX_PAGE);
        match answer {
            Ok(Answer::Body(body)) => {
                let (visit, parse_ms) = parse_page(&base, &body);
                tries.done(url, visit, fetch_ms, parse_ms, body.len() as u64)
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
    pub fn robots(&self, origin: &str) -> RobotsTxt {
        let (_, answer, _) = self.attempts(&format!("{origin}/robots.txt"), MAX_ROBOTS);
        match answer {
            Ok(Answer::Body(body)) => RobotsTxt::Rules(String::from_utf8_lossy(&body).into_owned()),
            Ok(Answer::Redirect(status, _) | Answer::Missing(status)) => RobotsTxt::Missing(status),
            Ok(Answer::Throttled) => unreachable!("a 429 is retried"),
            Err(failure) => RobotsTxt::Unreachable(failure.message()),
        }
    }
}

/// The job of the `crawl` scenario: fetch and parse every URL of one work item (one URL, or one
/// host's shard of a level for processes), in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchPages {
    args: CrawlArgs,
    /// One client per process, made on first use; every level's copy of the job shares it, so
    /// connections are reused from level to level. Never sent to a worker process.
    #[serde(skip)]
    crawler: Arc<OnceLock<Result<Crawler, String>>>,
}

impl Clone for FetchPages {
    fn clone(&self) -> Self {
        FetchPages {
            args: self.args.clone(),
            crawler: Arc::clone(&self.crawler),
        }
    }
}

impl FetchPages {
    pub fn new(args: &CrawlArgs) -> FetchPages {
        FetchPages {
            args: args.clone(),
            crawler: Arc::default(),
        }
    }

    fn crawler(&self) -> Result<&Crawler> {
        let made = self
            .crawler
            .get_or_init(|| Crawler::new(&self.args).map_err(|e| format!("{e:#}")));
        made.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// One host's robots.txt.
    pub fn robots(&self, origin: &str) -> Result<RobotsTxt> {
        Ok(self.crawler()?.robots(origin))
    }
}

impl Job for FetchPages {
    const NAME: &'static str = "crawl-pages";
    type Item = Vec<String>;
    type Output = Vec<Fetched>;

    fn run(&self, urls: Vec<String>) -> Result<Vec<Fetched>> {
        let crawler = self.crawler()?;
        Ok(urls.iter().map(|u| crawler.visit(u)).collect())
    }

    fn deadline(&self, urls: &Vec<String>) -> Duration {
        self.args.http().deadline() * urls.len().max(1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_limiter_keeps_each_host_to_its_slots() {
        let limiter = HostLimiter::new(2);
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..8 {
                let (limiter, now, most) = (&limiter, &now, &most);
                s.spawn(move || {
                    for _ in 0..20 {
                        let host = if t % 2 == 0 { "a" } else { "b" };
                        let _slot = limiter.acquire(host);
                        if host == "a" {
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_micros(200));
                            now.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "host a had exactly its 2 slots busy at most"
        );
    }
}
