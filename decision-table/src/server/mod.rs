//! `decision-table serve`: the local HTTP server the I/O-bound scenarios talk to.
//!
//! There is no internet here, and a benchmark against live sites would not be repeatable
//! anyway, so the `downloads` and `requests` scenarios of every crate fetch from this server on
//! 127.0.0.1. Everything it sends is made up on the fly from a seed, so any run can be checked
//! byte for byte, and nothing touches the disk:
//!
//! - `/`                 a small JSON document describing the server and its knobs;
//! - `/manifest`         the files: name, path, size and SHA-256 of each (JSON);
//! - `/files/{i}`        file `i` (0-based), `--size` bytes from `SplitMix64::for_item(seed, i)`;
//! - `/api/items/{i}`    a small JSON document for item `i` (any 64-bit `i`);
//! - `/images`, `/images/{i}` with `--images DIR`: the PNGs of that folder and their manifest,
//!   for the `pipeline` scenario (read once at start-up and served from memory: [`images`]).
//!
//! The knobs make it behave like a real server far away:
//!
//! - `--latency-ms`: the time to first byte of every file and item response;
//! - `--bandwidth`: bytes per second per response, paced by a timer (a connection carries one
//!   response at a time, so this is also the bandwidth per connection): a file takes
//!   `size / bandwidth` to arrive;
//! - `--fault-rate`: the share of file, item and image requests that go wrong, in one of three ways:
//!   HTTP 500; a body cut short after its full `Content-Length` was promised (the connection is
//!   closed, so the client sees fewer bytes than promised); or a stall of `--stall-ms` in the
//!   middle of the body, longer than any sensible client timeout. `--fault-kind` forces one kind.
//!
//! Which request goes wrong is decided by [`fault_for`], a pure function of the seed, the path
//! and how many times that path was asked for before (the server counts requests per path). So
//! a retried request gets a fresh, but still deterministic, draw: a client that retries can
//! succeed, and the same run against a fresh server goes wrong the same way. `/` and
//! `/manifest` are never delayed, throttled or broken: they describe the work, they are not it.
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --size 1048576 \
//!     --latency-ms 50 --bandwidth 10485760
//! ```
//!
//! The first line on stdout is `listening on http://127.0.0.1:PORT` (`--port 0` picks a free
//! port); Ctrl-C or SIGTERM stops it gracefully and prints what it served. Tests start it inside
//! their own process with [`start`].

mod content;
mod faults;
pub mod images;

pub use content::{FileStream, file_bytes, file_name, item, manifest};
pub use faults::{FaultKind, fault_for};
pub use images::images_manifest;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use content::about;
use http_body_util::channel::{Channel, Sender};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use scenarios::cli::{bounded, millis};
use scenarios::say;
use scenarios::wire::MAX_SIZE;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// The port `serve` listens on unless told otherwise, and the clients' default URL.
pub const DEFAULT_PORT: u16 = 8000;
/// The most files the server lists.
pub const MAX_FILES: usize = 100_000;
/// Connections the kernel queues for us before we accept them.
const BACKLOG: u32 = 1024;
/// How long a graceful shutdown waits for responses in flight before cutting them.
const GRACE: Duration = Duration::from_secs(5);
/// How long a body cut short waits for its first half to leave before the connection is closed.
const FLUSH_GRACE: Duration = Duration::from_millis(30);
/// The largest piece of a body written at once.
const CHUNK: usize = 64 * 1024;
/// How often a stalled response of `decision-table site` looks whether its client is gone.
const STALL_PROBE: Duration = Duration::from_millis(2);

fn file_count(s: &str) -> Result<usize, String> {
    bounded(s, 1, MAX_FILES as u64).map(|v| v as usize)
}

fn file_size(s: &str) -> Result<u64, String> {
    bounded(s, 0, MAX_SIZE)
}

pub(crate) fn bandwidth(s: &str) -> Result<u64, String> {
    bounded(s, 0, 1 << 40)
}

pub(crate) fn seed(s: &str) -> Result<u64, String> {
    bounded(s, 0, u64::MAX)
}

pub(crate) fn port(s: &str) -> Result<u16, String> {
    bounded(s, 0, u16::MAX as u64).map(|v| v as u16)
}

pub(crate) fn stall_ms(s: &str) -> Result<u64, String> {
    let v = millis(s)?;
    if v == 0 {
        return Err("a stall must last at least 1 ms".into());
    }
    Ok(v)
}

/// A share between 0 and 1.
pub fn rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number (use 0 to 1, e.g. 0.1)"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{v} is out of range: use 0 to 1 (e.g. 0.1 for 10%)"
        ));
    }
    Ok(v)
}

/// `decision-table serve`: what to serve and how badly.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 to listen on (0 picks a free one; the first line printed says which)
    #[arg(long, default_value_t = DEFAULT_PORT, value_parser = port, allow_negative_numbers = true)]
    pub port: u16,
    /// How many files /manifest lists
    #[arg(long, default_value_t = 64, value_parser = file_count, allow_negative_numbers = true)]
    pub files: usize,
    /// The size of every file, in bytes
    #[arg(long, default_value_t = 1 << 20, value_parser = file_size, allow_negative_numbers = true)]
    pub size: u64,
    /// The seed every byte, item and fault is made from
    #[arg(long, default_value_t = 42, value_parser = seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Time to first byte of every file and item response, in milliseconds
    #[arg(long, default_value_t = 0, value_parser = millis, allow_negative_numbers = true)]
    pub latency_ms: u64,
    /// Bytes per second per response (so per connection); 0 means as fast as loopback goes
    #[arg(long, default_value_t = 0, value_parser = bandwidth, allow_negative_numbers = true)]
    pub bandwidth: u64,
    /// The share of file and item requests that go wrong (0 to 1), chosen from the seed
    #[arg(long, default_value_t = 0.0, value_parser = rate, allow_negative_numbers = true)]
    pub fault_rate: f64,
    /// Make every fault this kind (default: each fault picks one of the three from the seed)
    #[arg(long, value_enum)]
    pub fault_kind: Option<FaultKind>,
    /// How long a stalled response stays silent, in milliseconds
    #[arg(long, default_value_t = 60_000, value_parser = stall_ms, allow_negative_numbers = true)]
    pub stall_ms: u64,
    /// Also serve the .png files of this folder at /images (what `gen images` wrote), with the
    /// same latency, bandwidth and faults
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            files: 64,
            size: 1 << 20,
            seed: 42,
            latency_ms: 0,
            bandwidth: 0,
            fault_rate: 0.0,
            fault_kind: None,
            stall_ms: 60_000,
            images: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server.

/// What the server has done so far.
#[derive(Debug, Default)]
pub struct Served {
    pub requests: AtomicU64,
    pub status_500: AtomicU64,
    pub short: AtomicU64,
    pub stall: AtomicU64,
    pub body_bytes: AtomicU64,
}

impl Served {
    fn count(&self, kind: FaultKind) {
        let counter = match kind {
            FaultKind::Status500 => &self.status_500,
            FaultKind::Short => &self.short,
            FaultKind::Stall => &self.stall,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// How many faults of `kind` were served.
    pub fn faults(&self, kind: FaultKind) -> u64 {
        match kind {
            FaultKind::Status500 => &self.status_500,
            FaultKind::Short => &self.short,
            FaultKind::Stall => &self.stall,
        }
        .load(Ordering::Relaxed)
    }

    /// "served 1064 requests (12.3 MiB of bodies); faults: 3 HTTP 500, 2 body cut short, 1 stall".
    pub fn line(&self) -> String {
        let faults: Vec<String> = FaultKind::ALL
            .iter()
            .map(|&k| format!("{} {}", self.faults(k), k.name()))
            .collect();
        format!(
            "served {} requests ({:.1} MiB of bodies); faults: {}",
            self.requests.load(Ordering::Relaxed),
            self.body_bytes.load(Ordering::Relaxed) as f64 / (1 << 20) as f64,
            faults.join(", ")
        )
    }
}

/// One server's state; `decision-table site` runs one per host (see `crate::site`).
pub(crate) struct State {
    pub(crate) args: ServeArgs,
    about_json: Bytes,
    manifest_json: Bytes,
    /// Requests seen per faultable path: the `attempt` of [`fault_for`].
    attempts: Mutex<HashMap<String, u64>>,
    pub(crate) served: Arc<Served>,
    /// `--images`: read at start-up.
    pub(crate) images: Option<images::ImageSet>,
    /// Becomes true when the server shuts down: every sleep (latency, pacing, stall) ends then.
    closing: watch::Receiver<bool>,
}

impl State {
    pub(crate) fn next_attempt(&self, path: &str) -> u64 {
        // A std mutex: held for a map update, never across an await.
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(path.to_string()).or_insert(0);
        let attempt = *n;
        *n += 1;
        attempt
    }

    /// Sleep until `deadline`; false if the server started shutting down first.
    pub(crate) async fn sleep_until(&self, deadline: Instant) -> bool {
        let mut closing = self.closing.clone();
        if *closing.borrow() {
            return false;
        }
        // tokio's timer ticks every millisecond: even a sleep that is already due waits for the
        // next tick, which would add a millisecond to every request of a server without latency.
        if deadline <= Instant::now() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => true,
            _ = closing.wait_for(|c| *c) => false,
        }
    }
}

enum Route {
    About,
    Manifest,
    File(u64),
    Item(u64),
    Images,
    Image(usize),
    NotFound,
}

/// `images`: how many images `--images` serves (0 without it).
fn route(path: &str, files: usize, images: usize) -> Route {
    let index = |rest: &str| rest.parse::<u64>().ok();
    match path {
        "/" => Route::About,
        "/manifest" => Route::Manifest,
        "/images" => Route::Images,
        _ => {
            if let Some(i) = path.strip_prefix("/files/").and_then(index) {
                if (i as usize) < files {
                    return Route::File(i);
                }
            } else if let Some(i) = path.strip_prefix("/api/items/").and_then(index) {
                return Route::Item(i);
            } else if let Some(i) = path.strip_prefix("/images/").and_then(index)
                && (i as usize) < images
            {
                return Route::Image(i as usize);
            }
            Route::NotFound
        }
    }
}

/// What a response body is made of.
pub(crate) enum Content {
    Fixed(Bytes),
    File(FileStream),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Fixed(b) => b.len() as u64,
            Content::File(f) => f.remaining(),
        }
    }

    fn take(&mut self, n: usize) -> Bytes {
        match self {
            Content::Fixed(b) => b.split_to(n.min(b.len())),
            Content::File(f) => Bytes::from(f.take(n)),
        }
    }
}

pub(crate) type Body = Channel<Bytes, std::io::Error>;

/// Something a response holds while it is being served and lets go of just before its last
/// piece leaves (the site's count of requests in flight per host), so that a client that has
/// seen the whole body can never find the request still counted.
pub(crate) type Token = Box<dyn Send>;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    state.served.requests.fetch_add(1, Ordering::Relaxed);
    if req.method() != Method::GET {
        return Ok(fixed(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here\n",
        ));
    }
    let path = req.uri().path();
    let images = state.images.as_ref();
    let count = images.map_or(0, |set| set.bytes.len());
    let (content, ctype) = match route(path, state.args.files, count) {
        Route::About => return Ok(json(state.about_json.clone())),
        Route::Manifest => return Ok(json(state.manifest_json.clone())),
        Route::NotFound => return Ok(fixed(StatusCode::NOT_FOUND, "no such path\n")),
        // Like /manifest, the list of images is never delayed, throttled or broken.
        Route::Images => match images {
            Some(set) => return Ok(json(set.manifest_json.clone())),
            None => {
                return Ok(fixed(
                    StatusCode::NOT_FOUND,
                    "no images here: start the server with --images DIR\n",
                ));
            }
        },
        Route::File(i) => (
            Content::File(FileStream::new(state.args.seed, i, state.args.size)),
            "application/octet-stream",
        ),
        Route::Item(i) => (
            Content::Fixed(Bytes::from(
                serde_json::to_vec(&item(state.args.seed, i)).expect("an item serialises"),
            )),
            "application/json",
        ),
        Route::Image(i) => (
            Content::Fixed(images.expect("routed only when served").bytes[i].clone()),
            "image/png",
        ),
    };
    Ok(deliver(state, path, content, ctype, None).await)
}

/// Serve `content` at `path` the way every faultable response is served: the path's next
/// fault drawn, the latency waited out, then HTTP 500 or the body at the configured bandwidth,
/// cut short or stalled as the fault says. `token` is let go just before the last piece.
pub(crate) async fn deliver(
    state: Arc<State>,
    path: &str,
    content: Content,
    ctype: &'static str,
    token: Option<Token>,
) -> Response<Body> {
    let attempt = state.next_attempt(path);
    let a = &state.args;
    let fault = fault_for(a.seed, path, attempt, a.fault_rate, a.fault_kind);
    let start = Instant::now();
    if !state
        .sleep_until(start + Duration::from_millis(a.latency_ms))
        .await
    {
        return fixed(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    if let Some(kind) = fault {
        state.served.count(kind);
    }
    if fault == Some(FaultKind::Status500) {
        return fixed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected fault: HTTP 500\n",
        );
    }
    stream(state, content, ctype, fault, token)
}

pub(crate) fn response(status: StatusCode, ctype: &str, len: u64, body: Body) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, ctype)
        .header(CONTENT_LENGTH, len)
        .body(body)
        .expect("a valid response")
}

/// A small body sent at once, never throttled or broken.
pub(crate) fn fixed(status: StatusCode, text: &'static str) -> Response<Body> {
    let (mut tx, body) = Channel::new(1);
    let bytes = Bytes::from_static(text.as_bytes());
    let len = bytes.len() as u64;
    let _ = tx.try_send(hyper::body::Frame::data(bytes));
    response(status, "text/plain", len, body)
}

fn json(bytes: Bytes) -> Response<Body> {
    let (mut tx, body) = Channel::new(1);
    let len = bytes.len() as u64;
    let _ = tx.try_send(hyper::body::Frame::data(bytes));
    response(StatusCode::OK, "application/json", len, body)
}

/// Promise the whole length, then let a writer task send the body at the configured bandwidth,
/// breaking it as `fault` says.
fn stream(
    state: Arc<State>,
    content: Content,
    ctype: &str,
    fault: Option<FaultKind>,
    token: Option<Token>,
) -> Response<Body> {
    let len = content.len();
    let (tx, body) = Channel::new(2);
    let mut res = response(StatusCode::OK, ctype, len, body);
    if fault == Some(FaultKind::Short) {
        // Tell the client up front that this connection will not be reused; hyper closes it
        // anyway when the body fails, this just makes the intent visible on the wire.
        res.headers_mut()
            .insert(CONNECTION, "close".parse().expect("a valid header"));
    }
    tokio::spawn(write_body(state, tx, content, fault, token));
    res
}

async fn write_body(
    state: Arc<State>,
    mut tx: Sender<Bytes, std::io::Error>,
    mut content: Content,
    fault: Option<FaultKind>,
    mut token: Option<Token>,
) {
    let total = content.len();
    let half = total / 2;
    let bandwidth = state.args.bandwidth;
    // Pieces of about 1/50 s of transfer at the configured bandwidth, so pacing is smooth, but
    // at most 64 KiB and at least 1 KiB.
    let chunk = if bandwidth == 0 {
        CHUNK
    } else {
        ((bandwidth / 50) as usize).clamp(1024, CHUNK)
    };
    let start = Instant::now();
    let mut sent = 0u64;
    while content.len() > 0 {
        let mut n = chunk.min(content.len() as usize);
        let breaks_at_half = matches!(fault, Some(FaultKind::Short | FaultKind::Stall));
        if breaks_at_half && sent < half {
            n = n.min((half - sent) as usize);
        }
        if breaks_at_half && sent == half {
            match fault {
                Some(FaultKind::Short) => {
                    // An error from the body makes hyper close the connection mid-body: the
                    // client was promised `total` bytes and gets `half`. But hyper drops what
                    // is still in its write buffer when a body fails, so first let it take the
                    // half off our channel and flush it to the socket.
                    let patience = Instant::now() + Duration::from_secs(1);
                    while tx.capacity() < tx.max_capacity() && Instant::now() < patience {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    if !state.sleep_until(Instant::now() + FLUSH_GRACE).await {
                        return;
                    }
                    tx.abort(std::io::Error::other("injected fault: body cut short"));
                    return;
                }
                _ => {
                    let until = Instant::now() + Duration::from_millis(state.args.stall_ms);
                    if token.is_some() {
                        // A site's request counts while its client waits: look every 2 ms
                        // whether the client has hung up (timed out), and let go if it has. An
                        // empty piece writes nothing; it only fails once the body is dropped.
                        while Instant::now() < until {
                            let next = (Instant::now() + STALL_PROBE).min(until);
                            if !state.sleep_until(next).await {
                                return;
                            }
                            if token.is_some()
                                && tx.try_send(hyper::body::Frame::data(Bytes::new())).is_err()
                            {
                                drop(token.take());
                            }
                        }
                    } else if !state.sleep_until(until).await {
                        return;
                    }
                }
            }
        }
        if bandwidth > 0 {
            // Each piece leaves when it would have finished arriving over a link of this
            // bandwidth: the last byte goes out at size / bandwidth, whatever the piece size.
            let due = Duration::from_secs_f64((sent + n as u64) as f64 / bandwidth as f64);
            if !state.sleep_until(start + due).await {
                return;
            }
        }
        let piece = content.take(n);
        if content.len() == 0 {
            // The last piece: let go before the client can see it.
            drop(token.take());
        }
        sent += piece.len() as u64;
        state
            .served
            .body_bytes
            .fetch_add(piece.len() as u64, Ordering::Relaxed);
        if tx.send_data(piece).await.is_err() {
            return; // The client went away.
        }
    }
}

/// Accept connections on `listener` and answer each request with `handler`, until `shutdown`;
/// then `close` cuts every sleep short and the responses in flight get [`GRACE`] to end.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    close: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of file descriptors, or a connection reset before we took it:
                        // wait a moment rather than spin, and keep serving.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service_fn(handler.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A client that hangs up mid-response is normal here (timeouts, faults).
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    // Cut every sleep short (a stall would otherwise hold the shutdown for a minute), then let
    // the responses in flight end, for a few seconds at most.
    let _ = close.send(true);
    let _ = tokio::time::timeout(GRACE, graceful.shutdown()).await;
}

/// Listen on 127.0.0.1:`port` with room for a thousand connections arriving at once: std's
/// `TcpListener::bind` queues 128, and a client opening 1000 connections together would see
/// the rest dropped and retried a second later. Must run inside the runtime that will serve.
fn bind(port: u16) -> Result<TcpListener> {
    bind_on(std::net::Ipv4Addr::LOCALHOST, port)
}

/// [`bind`] on another address (the site's hosts are 127.0.0.2, 127.0.0.3, ...).
pub(crate) fn bind_on(ip: std::net::Ipv4Addr, port: u16) -> Result<TcpListener> {
    let addr = std::net::SocketAddr::from((ip, port));
    let socket = tokio::net::TcpSocket::new_v4().context("cannot create a socket")?;
    let listener = socket
        .bind(addr)
        .and_then(|()| socket.listen(BACKLOG))
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(listener)
}

pub(crate) fn state(args: &ServeArgs) -> Result<(Arc<State>, watch::Sender<bool>)> {
    let (close, closing) = watch::channel(false);
    let images = match &args.images {
        Some(dir) => Some(images::load_dir(dir, args)?),
        None => None,
    };
    let state = State {
        args: args.clone(),
        about_json: Bytes::from(serde_json::to_vec(&about(args))?),
        manifest_json: Bytes::from(serde_json::to_vec(&manifest(args))?),
        attempts: Mutex::new(HashMap::new()),
        served: Arc::new(Served::default()),
        images,
        closing,
    };
    Ok((Arc::new(state), close))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    // A multi-thread runtime: the server shares the machine with the clients being measured,
    // and should not be the bottleneck of a thousand connections.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("http-server")
        .build()
        .context("cannot start the server's runtime")
}

/// A server running on a background thread of this process (for tests).
pub struct HttpServer {
    addr: SocketAddr,
    served: Arc<Served>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, what the clients take as `--url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn served(&self) -> &Served {
        &self.served
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

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Start a server on 127.0.0.1:`args.port` (0 for a free port) on a background thread with a
/// runtime of its own, so call it from plain (non-async) code such as a `#[test]`. It is ready
/// to accept connections when this returns.
pub fn start(args: &ServeArgs) -> Result<HttpServer> {
    let rt = runtime()?;
    let listener = rt.block_on(async { bind(args.port) })?;
    let addr = listener.local_addr()?;
    let (state, close) = state(args)?;
    let served = Arc::clone(&state.served);
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("http-server-main".into())
        .spawn(move || {
            let handler = move |req| handle(Arc::clone(&state), req);
            rt.block_on(serve(listener, handler, close, async {
                let _ = stopped.await;
            }));
            // Dropping the runtime ends whatever the grace period left running.
        })
        .context("cannot start the server thread")?;
    Ok(HttpServer {
        addr,
        served,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Wait for Ctrl-C or SIGTERM.
pub(crate) async fn signals() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// `decision-table serve`: serve until Ctrl-C or SIGTERM. The first stdout line is the address.
pub fn run(args: &ServeArgs) -> Result<()> {
    runtime()?.block_on(async move {
        // Watch for the signals before saying we are up: a caller that reads the first line and
        // sends SIGTERM at once must get a clean shutdown, not the default action.
        let stop = signals().await?;
        // Bind before hashing the files, so a taken port is reported at once.
        let listener = bind(args.port)?;
        let addr = listener.local_addr()?;
        let (state, close) = state(args)?;
        let served = Arc::clone(&state.served);
        say!("listening on http://{addr}");
        let a = &state.args;
        say!(
            "{} files of {} bytes (seed {}), latency {} ms, bandwidth {}, fault rate {}{}; Ctrl-C stops",
            a.files,
            a.size,
            a.seed,
            a.latency_ms,
            if a.bandwidth == 0 {
                "unlimited".to_string()
            } else {
                format!("{} bytes/s per response", a.bandwidth)
            },
            a.fault_rate,
            a.fault_kind
                .map(|k| format!(" (all {})", k.name()))
                .unwrap_or_default(),
        );
        if let (Some(set), Some(dir)) = (&state.images, &a.images) {
            say!(
                "{} images ({:.1} MiB) from {} at /images",
                set.bytes.len(),
                set.total as f64 / (1 << 20) as f64,
                dir.display()
            );
        }
        let handler = move |req| handle(Arc::clone(&state), req);
        serve(listener, handler, close, stop).await;
        say!("{}", served.line());
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/", 2, 0), Route::About));
        assert!(matches!(route("/manifest", 2, 0), Route::Manifest));
        assert!(matches!(route("/files/1", 2, 0), Route::File(1)));
        assert!(matches!(route("/files/2", 2, 0), Route::NotFound));
        assert!(matches!(route("/files/-1", 2, 0), Route::NotFound));
        assert!(matches!(
            route("/api/items/123456", 2, 0),
            Route::Item(123456)
        ));
        assert!(matches!(route("/api/items/x", 2, 0), Route::NotFound));
        assert!(matches!(route("/etc/passwd", 2, 0), Route::NotFound));
        assert!(matches!(route("/images", 2, 0), Route::Images));
        assert!(matches!(route("/images/0", 2, 0), Route::NotFound));
        assert!(matches!(route("/images/2", 2, 3), Route::Image(2)));
        assert!(matches!(route("/images/3", 2, 3), Route::NotFound));
    }

    #[test]
    fn knob_parsers_refuse_nonsense() {
        assert_eq!(rate("0.25"), Ok(0.25));
        assert!(rate("1.5").unwrap_err().contains("0 to 1"));
        assert!(rate("-0.1").is_err());
        assert!(rate("lots").is_err());
        assert!(stall_ms("0").is_err());
        assert!(port("70000").is_err());
        assert!(file_count("0").is_err());
        assert!(file_size(&(MAX_SIZE + 1).to_string()).is_err());
    }
}
