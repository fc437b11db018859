//! `decision-table site`: a local web site to crawl, spread over several hosts.
//!
//! The `crawl` scenario needs what a real crawl meets, without the internet: thousands of pages
//! of realistic size and markup, links between hosts, broken links, redirects, a `robots.txt`
//! that forbids something, hosts that are slow, throttled, faulty and that refuse to be hammered.
//! This tool serves exactly that, every byte made up on the fly from a seed ([`pages`]), so a
//! crawl can be checked, and repeated, exactly:
//!
//! - `--hosts H` hosts, each on its own loopback address, 127.0.0.2, 127.0.0.3, ... (all of
//!   127.0.0.0/8 is on `lo` on Linux, nothing to set up), on the same port;
//! - `--pages N` pages over them (page `i` on host `i % H`), 20 to 50 KB each;
//! - on every host: `/` (its first page), `/page/{i}.html`, `/old/{i}` (301 to page `i`),
//!   `/go/{k}` (302 into `/private/`), `/discontinued/{k}` (410), anything else 404, and
//!   `/robots.txt`, which disallows `/private/` and `/cart`;
//! - `/_site`: this host's counters as JSON (not a page: never delayed, limited or counted).
//!
//! The knobs are `decision-table serve`'s, and so is the code behind them (`crate::server`):
//! `--latency-ms` before every answer, `--bandwidth` per response, and `--fault-rate` (HTTP 500,
//! a body cut short, a stall) on pages, drawn per path and attempt from the seed, so a retry
//! gets a fresh draw and a fresh site goes wrong the same way for every client. `robots.txt` is
//! never broken: it describes the site, it is not the work.
//!
//! Politeness is measured, not assumed: each host serves at most `--per-host C` requests at a
//! time, and answers any request beyond that at once with HTTP 429, counted as a politeness
//! violation. A request counts from the moment its head is read until just before the last
//! piece of its body leaves, so a client that keeps at most C requests in flight per host (and
//! waits for each body to end before the next) can never be counted over C, however its
//! connections are pooled; idle keep-alive connections do not count. Requests into the paths
//! `robots.txt` disallows are answered (a site cannot stop them) and counted as robots
//! violations. A correct crawler gets zero of both.
//!
//! ```text
//! cargo run --release -p decision-table -- site --pages 3000 --hosts 4 --per-host 4 --latency-ms 10
//! ```
//!
//! The first line on stdout is `listening on http://127.0.0.2:PORT/` (the start page; `--port 0`,
//! the default, picks a free port), the second lists every host. Ctrl-C or SIGTERM stops it and
//! prints what each host served. Tests start it in their own process with [`start`].

pub mod pages;

use crate::server::{self, Body, Content, FaultKind, ServeArgs, Served, State, Token};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use pages::{Layout, ROBOTS_TXT};
use scenarios::cli::{bounded, millis};
use scenarios::say;
use serde::Serialize;
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// The most hosts: 127.0.0.2 to 127.0.0.51.
pub const MAX_HOSTS: usize = 50;
/// The most pages.
pub const MAX_PAGES: usize = 100_000;
/// How many times a free port is looked for that every host's address has free.
const PORT_TRIES: usize = 20;

fn pages_count(s: &str) -> Result<usize, String> {
    bounded(s, 1, MAX_PAGES as u64).map(|v| v as usize)
}

fn hosts_count(s: &str) -> Result<usize, String> {
    bounded(s, 1, MAX_HOSTS as u64).map(|v| v as usize)
}

fn per_host(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000).map(|v| v as usize)
}

/// `decision-table site`: what to serve, on how many hosts, and how badly.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct SiteArgs {
    /// The port every host listens on (0 picks one that is free on all of them)
    #[arg(long, default_value_t = 0, value_parser = server::port, allow_negative_numbers = true)]
    pub port: u16,
    /// How many pages the site has, over all hosts
    #[arg(long, default_value_t = 3000, value_parser = pages_count, allow_negative_numbers = true)]
    pub pages: usize,
    /// How many hosts serve them: 127.0.0.2, 127.0.0.3, ... (1 to 50)
    #[arg(long, default_value_t = 4, value_parser = hosts_count, allow_negative_numbers = true)]
    pub hosts: usize,
    /// Requests each host serves at once; any beyond that get HTTP 429 (a politeness violation)
    #[arg(long, default_value_t = 4, value_parser = per_host, allow_negative_numbers = true)]
    pub per_host: usize,
    /// The seed every page, link and fault is made from
    #[arg(long, default_value_t = 42, value_parser = server::seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Time to first byte of every answer, in milliseconds
    #[arg(long, default_value_t = 0, value_parser = millis, allow_negative_numbers = true)]
    pub latency_ms: u64,
    /// Bytes per second per response (so per connection); 0 means as fast as loopback goes
    #[arg(long, default_value_t = 0, value_parser = server::bandwidth, allow_negative_numbers = true)]
    pub bandwidth: u64,
    /// The share of page requests that go wrong (0 to 1), chosen from the seed
    #[arg(long, default_value_t = 0.0, value_parser = server::rate, allow_negative_numbers = true)]
    pub fault_rate: f64,
    /// Make every fault this kind (default: each fault picks one of the three from the seed)
    #[arg(long, value_enum)]
    pub fault_kind: Option<FaultKind>,
    /// How long a stalled response stays silent, in milliseconds
    #[arg(long, default_value_t = 60_000, value_parser = server::stall_ms, allow_negative_numbers = true)]
    pub stall_ms: u64,
}

impl Default for SiteArgs {
    fn default() -> Self {
        Self {
            port: 0,
            pages: 3000,
            hosts: 4,
            per_host: 4,
            seed: 42,
            latency_ms: 0,
            bandwidth: 0,
            fault_rate: 0.0,
            fault_kind: None,
            stall_ms: 60_000,
        }
    }
}

impl SiteArgs {
    pub fn layout(&self) -> Layout {
        Layout {
            pages: self.pages,
            hosts: self.hosts,
            seed: self.seed,
        }
    }

    /// The knobs of `serve` that the site shares, for the server code it reuses.
    fn serve_args(&self, port: u16) -> ServeArgs {
        ServeArgs {
            port,
            files: 1,
            size: 0,
            seed: self.seed,
            latency_ms: self.latency_ms,
            bandwidth: self.bandwidth,
            fault_rate: self.fault_rate,
            fault_kind: self.fault_kind,
            stall_ms: self.stall_ms,
            images: None,
        }
    }
}

/// The address of host `h`.
pub fn host_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + h as u8)
}

/// What one host has done so far (also its `/_site` document).
#[derive(Debug, Default, Serialize)]
pub struct HostStats {
    pub host: String,
    /// Every request but `/_site`.
    pub requests: AtomicU64,
    /// Pages served whole or in part (faults included).
    pub pages: AtomicU64,
    /// Requests in flight now, and the most there ever were.
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    /// Requests answered 429 because C were already in flight.
    pub politeness_violations: AtomicU64,
    /// Requests into a path robots.txt disallows.
    pub robots_violations: AtomicU64,
    pub robots_txt: AtomicU64,
    pub redirects: AtomicU64,
    pub missing: AtomicU64,
    /// The counters of the `serve` code behind the host: the faults it injected.
    #[serde(skip)]
    pub served: Arc<Served>,
}

impl HostStats {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn politeness(&self) -> u64 {
        Self::get(&self.politeness_violations)
    }

    pub fn robots(&self) -> u64 {
        Self::get(&self.robots_violations)
    }

    pub fn max_in_flight(&self) -> u64 {
        Self::get(&self.max_in_flight)
    }

    /// Faults injected into pages, of every kind.
    pub fn faults(&self) -> u64 {
        FaultKind::ALL.iter().map(|&k| self.served.faults(k)).sum()
    }

    /// The `/_site` document.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("counters serialise");
        v["faults"] = self.faults().into();
        v
    }

    /// "127.0.0.2: 812 requests (750 pages), at most 4 in flight, 0 politeness violations (429),
    /// 0 robots.txt violations, 3 faults".
    pub fn line(&self) -> String {
        format!(
            "{}: {} requests ({} pages), at most {} in flight, {} politeness violations (429), \
             {} robots.txt violations, {} faults",
            self.host,
            Self::get(&self.requests),
            Self::get(&self.pages),
            self.max_in_flight(),
            self.politeness(),
            self.robots(),
            self.faults(),
        )
    }
}

/// One host of the site.
struct Host {
    index: usize,
    layout: Layout,
    per_host: u64,
    /// Every host's origin, `http://127.0.0.2:PORT`: pages link across hosts.
    bases: Arc<Vec<String>>,
    /// Every page, rendered the first time it is asked for and kept (3,000 pages of 35 KB are
    /// about 100 MiB): the site shares the machine with the crawlers being measured, and should
    /// spend its CPU on serving, not on making the same page again for every run.
    rendered: Arc<Vec<OnceLock<Bytes>>>,
    stats: Arc<HostStats>,
    /// The server state of `serve`: latency, bandwidth, faults, the attempts per path.
    server: Arc<State>,
}

/// A request counted in flight on its host until this is dropped.
struct InFlight(Arc<HostStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn with_header(
    mut res: Response<Body>,
    name: hyper::header::HeaderName,
    value: &str,
) -> Response<Body> {
    if let Ok(v) = value.parse() {
        res.headers_mut().insert(name, v);
    }
    res
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    server::fixed(status, body)
}

impl Host {
    /// Wait out the latency; false if the site is shutting down.
    async fn latency(&self) -> bool {
        let until =
            tokio::time::Instant::now() + Duration::from_millis(self.server.args.latency_ms);
        self.server.sleep_until(until).await
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let path = req.uri().path().to_string();
        if path == "/_site" {
            let body = serde_json::to_vec(&self.stats.json()).expect("counters serialise");
            let res = server::response(
                StatusCode::OK,
                "application/json",
                body.len() as u64,
                one_piece(body),
            );
            return Ok(res);
        }
        let stats = &self.stats;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let token = InFlight(Arc::clone(stats));
        if now > self.per_host {
            stats.politeness_violations.fetch_add(1, Ordering::Relaxed);
            let res = text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests at once from you: slow down\n",
            );
            return Ok(with_header(res, RETRY_AFTER, "1"));
        }
        stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
        if req.method() != Method::GET {
            return Ok(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET is served here\n",
            ));
        }
        let query = req.uri().query().is_some();
        if path == "/robots.txt" {
            stats.robots_txt.fetch_add(1, Ordering::Relaxed);
            if !self.latency().await {
                return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
            }
            return Ok(text(StatusCode::OK, ROBOTS_TXT));
        }
        if path.starts_with("/private/") || path.starts_with("/cart") {
            stats.robots_violations.fetch_add(1, Ordering::Relaxed);
            if !self.latency().await {
                return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
            }
            return Ok(text(
                StatusCode::OK,
                "robots.txt asked you not to come here\n",
            ));
        }
        if !query && let Some(i) = self.layout.page_at(self.index, &path) {
            stats.pages.fetch_add(1, Ordering::Relaxed);
            let html = self.rendered[i]
                .get_or_init(|| Bytes::from(pages::render(&self.layout, i, &self.bases)))
                .clone();
            let token: Token = Box::new(token);
            let res = server::deliver(
                Arc::clone(&self.server),
                &path,
                Content::Fixed(html),
                "text/html; charset=utf-8",
                Some(token),
            )
            .await;
            return Ok(res);
        }
        if !self.latency().await {
            return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
        }
        if let Some(j) = self.layout.moved(self.index, &path) {
            stats.redirects.fetch_add(1, Ordering::Relaxed);
            let res = text(StatusCode::MOVED_PERMANENTLY, "moved\n");
            return Ok(with_header(res, LOCATION, &self.layout.path_of(j)));
        }
        if let Some(k) = path
            .strip_prefix("/go/")
            .and_then(|k| k.parse::<u64>().ok())
        {
            stats.redirects.fetch_add(1, Ordering::Relaxed);
            let res = text(StatusCode::FOUND, "this way\n");
            return Ok(with_header(
                res,
                LOCATION,
                &format!("/private/area-{k}.html"),
            ));
        }
        stats.missing.fetch_add(1, Ordering::Relaxed);
        if path.starts_with("/discontinued/") {
            return Ok(text(StatusCode::GONE, "discontinued\n"));
        }
        let res = text(StatusCode::NOT_FOUND, "no such page\n");
        Ok(with_header(res, CONTENT_TYPE, "text/plain; charset=utf-8"))
    }
}

fn one_piece(body: Vec<u8>) -> Body {
    let (mut tx, body_out) = http_body_util::channel::Channel::new(1);
    let _ = tx.try_send(hyper::body::Frame::data(Bytes::from(body)));
    body_out
}

/// Listen on every host's address at one port: `args.port`, or, for 0, a port that the first
/// host's kernel picked and every other address has free too.
fn bind_all(args: &SiteArgs) -> Result<Vec<TcpListener>> {
    let mut last = None;
    for _ in 0..PORT_TRIES {
        let first = server::bind_on(host_ip(0), args.port)?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first];
        let rest: Result<Vec<_>> = (1..args.hosts)
            .map(|h| server::bind_on(host_ip(h), port))
            .collect();
        match rest {
            Ok(more) => {
                listeners.extend(more);
                return Ok(listeners);
            }
            Err(e) if args.port == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("tried at least once")).context("no port was free on every host's address")
}

/// A site running on a background thread of this process (for tests).
pub struct Site {
    bases: Vec<String>,
    stats: Vec<Arc<HostStats>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Site {
    /// Every host's origin, `http://127.0.0.2:PORT`.
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// Where a crawl starts: the first host's `/`.
    pub fn start_url(&self) -> String {
        format!("{}/", self.bases[0])
    }

    /// What each host has done so far.
    pub fn stats(&self) -> &[Arc<HostStats>] {
        &self.stats
    }

    /// Stop accepting, cut stalls, let responses in flight end, and wait for the thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Every host's origin, counters and serving loop.
struct Hosts {
    bases: Vec<String>,
    stats: Vec<Arc<HostStats>>,
    loops: Vec<HostLoop>,
}

/// Every host's serving loop, each stopping when `stop` turns true.
fn hosts(args: &SiteArgs, listeners: Vec<TcpListener>) -> Result<Hosts> {
    let port = listeners[0].local_addr()?.port();
    let bases: Arc<Vec<String>> = Arc::new(
        (0..args.hosts)
            .map(|h| format!("http://{}:{port}", host_ip(h)))
            .collect(),
    );
    let rendered: Arc<Vec<OnceLock<Bytes>>> =
        Arc::new((0..args.pages).map(|_| OnceLock::new()).collect());
    let mut all_stats = Vec::new();
    let mut loops = Vec::new();
    for (h, listener) in listeners.into_iter().enumerate() {
        let (state, close) = server::state(&args.serve_args(port))?;
        let stats = Arc::new(HostStats {
            host: host_ip(h).to_string(),
            served: Arc::clone(&state.served),
            ..HostStats::default()
        });
        all_stats.push(Arc::clone(&stats));
        let host = Arc::new(Host {
            index: h,
            layout: args.layout(),
            per_host: args.per_host as u64,
            bases: Arc::clone(&bases),
            rendered: Arc::clone(&rendered),
            stats,
            server: state,
        });
        loops.push(HostLoop {
            listener,
            host,
            close,
        });
    }
    Ok(Hosts {
        bases: bases.to_vec(),
        stats: all_stats,
        loops,
    })
}

struct HostLoop {
    listener: TcpListener,
    host: Arc<Host>,
    close: watch::Sender<bool>,
}

impl HostLoop {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let host = self.host;
        let handler = move |req| Arc::clone(&host).handle(req);
        server::serve(self.listener, handler, self.close, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    }
}

/// Serve every host until `stop` resolves.
async fn serve_all(loops: Vec<HostLoop>, stop: impl std::future::Future<Output = ()>) {
    let (tx, rx) = watch::channel(false);
    let tasks: Vec<_> = loops
        .into_iter()
        .map(|l| tokio::spawn(l.run(rx.clone())))
        .collect();
    stop.await;
    let _ = tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
}

/// Start a site on a background thread with a runtime of its own, so call it from plain
/// (non-async) code such as a `#[test]`. It is ready to accept connections when this returns.
pub fn start(args: &SiteArgs) -> Result<Site> {
    let rt = server::runtime()?;
    let listeners = rt.block_on(async { bind_all(args) })?;
    let Hosts {
        bases,
        stats,
        loops,
    } = hosts(args, listeners)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("site-main".into())
        .spawn(move || {
            rt.block_on(serve_all(loops, async {
                let _ = stopped.await;
            }));
        })
        .context("cannot start the site's thread")?;
    Ok(Site {
        bases,
        stats,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// `decision-table site`: serve until Ctrl-C or SIGTERM. The first stdout line is the start URL.
pub fn run(args: &SiteArgs) -> Result<()> {
    if args.hosts > args.pages {
        bail!(
            "--hosts {} is more than --pages {}: every host needs a page",
            args.hosts,
            args.pages
        );
    }
    server::runtime()?.block_on(async move {
        let stop = server::signals().await?;
        let listeners = bind_all(args)?;
        let Hosts {
            bases,
            stats,
            loops,
        } = hosts(args, listeners)?;
        say!("listening on {}/", bases[0]);
        say!("hosts: {}", bases.join(" "));
        say!(
            "{} pages (seed {}) on {} hosts, at most {} requests at once per host, latency {} ms, \
             bandwidth {}, fault rate {}{}; Ctrl-C stops",
            args.pages,
            args.seed,
            args.hosts,
            args.per_host,
            args.latency_ms,
            if args.bandwidth == 0 {
                "unlimited".to_string()
            } else {
                format!("{} bytes/s per response", args.bandwidth)
            },
            args.fault_rate,
            args.fault_kind
                .map(|k| format!(" (all {})", k.name()))
                .unwrap_or_default(),
        );
        serve_all(loops, stop).await;
        for s in &stats {
            say!("{}", s.line());
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_consecutive_loopback_addresses() {
        assert_eq!(host_ip(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(host_ip(MAX_HOSTS - 1), Ipv4Addr::new(127, 0, 0, 51));
    }

    #[test]
    fn knobs_are_bounded() {
        assert!(hosts_count("0").is_err());
        assert!(hosts_count("51").is_err());
        assert!(pages_count("0").is_err());
        assert!(per_host("0").is_err());
        assert_eq!(per_host("4"), Ok(4));
    }
}
