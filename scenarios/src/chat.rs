//! The chat protocol, written once for the four `chat-server`s and the load client.
//!
//! The chapter's decision table sends a chat server to asyncio: it spends its life waiting on
//! sockets, for thousands of connections. Every crate has a `chat-server` subcommand speaking
//! this protocol, so `decision-table chat-load` can measure them all the same way:
//!
//! - TCP, one UTF-8 message per line (`\n`, an optional `\r` before it is dropped), at most
//!   [`MAX_LINE`] bytes per line.
//! - A client that connects first gets [`welcome`] (`* welcome, you are #7`). The server puts
//!   it on the list of clients *before* sending it, so a client that has read its welcome
//!   receives every message relayed after that.
//! - Each line a client sends is relayed to every *other* connected client, prefixed with the
//!   sender's id: `#7: hello` ([`relay_line`]). Lines from the server start with `* `.
//! - An overlong line or one that is not UTF-8 gets its sender an error line and a disconnect
//!   ([`TOO_LONG`], [`NOT_UTF8`]); nothing is relayed and no other client is affected. A client
//!   that vanishes mid-line loses that partial line, and nothing else happens.
//! - A client that falls [`ChatServerArgs::queue`] messages behind is cut off with
//!   [`too_slow`] (threading, multiprocessing) or told how many it missed with [`missed`]
//!   (asyncio); one that accepts no data for [`WRITE_STALL`] is disconnected.
//! - Ctrl-C or SIGTERM: the server stops accepting, sends every client [`SHUTDOWN`], gives them
//!   [`LINGER`] to read it, and exits 0.
//!
//! Try it by hand: `cargo run -p asyncio -- chat-server` in one terminal, `nc 127.0.0.1 7878`
//! in two others.

use crate::{Run, Summary, say};
use anyhow::{Context, Result};
use clap::Args;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest line a client may send, in bytes, not counting the `\n`.
pub const MAX_LINE: usize = 8 * 1024;
/// Where servers listen and the load client connects unless told otherwise: this machine only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";
/// A client that takes no data at all for this long is disconnected, so a reader that never
/// reads cannot hold a server thread, process or task forever.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// After its last line (an error, the shutdown notice) a client gets this long to read it and
/// close before the server closes the reading side too. Closing a socket that still has unread
/// input makes the kernel send a reset, which can destroy the error line before the client
/// reads it; reading and discarding for a moment first avoids that.
pub const LINGER: Duration = Duration::from_secs(2);
/// Servers read through buffers this big: chat lines are short, and a bigger buffer per
/// connection adds up at 10,000 connections. Longer lines still work, they take more reads.
pub const READ_BUFFER: usize = 2048;
/// A writer gathers queued lines into one write of at most about this many bytes, so a burst
/// of messages costs one system call instead of one per line.
pub const COALESCE: usize = 32 * 1024;

/// The line sent to a client that sent more than [`MAX_LINE`] bytes without a newline.
pub const TOO_LONG: &str = "* error: line longer than 8192 bytes; disconnecting\n";
/// The line sent to a client whose line is not valid UTF-8.
pub const NOT_UTF8: &str = "* error: line is not valid UTF-8; disconnecting\n";
/// The line every client gets when the server stops.
pub const SHUTDOWN: &str = "* server shutting down; goodbye\n";

/// `* welcome, you are #7`: the first line of every connection.
pub fn welcome(id: u64) -> String {
    format!("* welcome, you are #{id}\n")
}

/// The line a client gets when it is cut off for falling `queue` messages behind.
pub fn too_slow(queue: usize) -> String {
    format!("* error: you fell more than {queue} messages behind; disconnecting\n")
}

/// The line a client gets when it fell behind and `n` messages were skipped for it.
pub fn missed(n: u64) -> String {
    format!("* you fell behind and missed {n} messages\n")
}

/// The line a client gets when the server cannot serve it (no thread or process left).
pub fn full(reason: &str) -> String {
    format!("* error: server is full ({reason}); disconnecting\n")
}

/// `#7: hello\n`, the line every other client receives when client 7 sends `hello`.
pub fn relay_line(from: u64, text: &str) -> Vec<u8> {
    format!("#{from}: {text}\n").into_bytes()
}

/// A line as a client receives it.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `* welcome, you are #7`
    Welcome(u64),
    /// `#7: hello`: a message relayed from client 7.
    Relay { from: u64, text: &'a str },
    /// Any other `* ...` line from the server (errors, the shutdown notice).
    Notice(&'a str),
    /// Not something this protocol sends.
    Unknown(&'a str),
}

/// Read a line a server sent (without its `\n`).
pub fn parse_incoming(line: &str) -> Incoming<'_> {
    if let Some(rest) = line.strip_prefix('#')
        && let Some((id, text)) = rest.split_once(": ")
        && let Ok(from) = id.parse()
    {
        return Incoming::Relay { from, text };
    }
    if let Some(notice) = line.strip_prefix("* ") {
        if let Some(id) = notice.strip_prefix("welcome, you are #")
            && let Ok(id) = id.parse()
        {
            return Incoming::Welcome(id);
        }
        return Incoming::Notice(notice);
    }
    Incoming::Unknown(line)
}

/// One line read from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete, valid line, without its `\n` (or `\r\n`).
    Text(String),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// A complete line that is not UTF-8.
    NotUtf8,
    /// The client closed the connection between lines.
    End,
    /// The client closed the connection in the middle of a line (the part is dropped).
    EndMidLine,
}

impl Line {
    /// The error line a bad line earns its sender, if it is bad.
    pub fn error(&self) -> Option<&'static str> {
        match self {
            Line::TooLong => Some(TOO_LONG),
            Line::NotUtf8 => Some(NOT_UTF8),
            _ => None,
        }
    }
}

/// Classify what a read of at most `MAX_LINE + 1` bytes up to `\n` left in `buf`. Reading
/// through such a limit means an endless line costs at most 8 KiB of memory, never more.
pub fn classify(buf: &mut Vec<u8>) -> Line {
    if buf.is_empty() {
        return Line::End;
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return match String::from_utf8(std::mem::take(buf)) {
            Ok(text) => Line::Text(text),
            Err(_) => Line::NotUtf8,
        };
    }
    if buf.len() > MAX_LINE {
        Line::TooLong
    } else {
        Line::EndMidLine
    }
}

/// Read one line from a blocking reader (threads, processes, the serial server).
pub fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    reader.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    Ok(classify(buf))
}

/// Read one line from an async reader (the asyncio server).
pub async fn read_line_async<R>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<Line>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    buf.clear();
    reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)
        .await?;
    Ok(classify(buf))
}

/// Is this relayed line (from a server's queue) a message, rather than a notice? Writers count
/// the messages they deliver.
pub fn is_message(line: &[u8]) -> bool {
    line.first() == Some(&b'#')
}

fn queue_capacity(s: &str) -> Result<usize, String> {
    crate::cli::bounded(s, 1, 1_000_000).map(|v| v as usize)
}

/// An address to listen on or connect to: `127.0.0.1:7878`, `[::1]:7878`, `127.0.0.1:0`.
pub fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("'{s}' is not an address with a port, such as 127.0.0.1:7878 (or 127.0.0.1:0 for any free port)")
    })
}

/// `chat-server`: the flags every model's server takes.
#[derive(Args, Debug, Clone)]
pub struct ChatServerArgs {
    /// Address to listen on: this machine only unless you say otherwise (port 0 picks a free one)
    #[arg(long, default_value = DEFAULT_ADDR, value_parser = socket_addr)]
    pub addr: SocketAddr,
    /// How many messages a client may fall behind before it is cut off (or, in asyncio, told what it missed)
    #[arg(long, default_value_t = 256, value_parser = queue_capacity, allow_negative_numbers = true)]
    pub queue: usize,
}

impl Default for ChatServerArgs {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.parse().expect("a valid default"),
            queue: 256,
        }
    }
}

/// `listening on 127.0.0.1:41234`: a server's first human line. Tests start servers on port 0
/// and read the real address from it.
pub fn announce(model: &str, addr: SocketAddr) {
    say!("chat server ({model}) listening on {addr}");
}

/// The address in a server's first human line.
pub fn parse_announcement(line: &str) -> Option<SocketAddr> {
    line.rsplit_once("listening on ")
        .and_then(|(_, a)| a.trim().parse().ok())
}

/// Raise this process's open-file limit as far as the hard limit allows, and return it. Every
/// connection is a file descriptor; the usual soft limit of 1024 would stop a server (or the
/// load client) long before the model does.
pub fn raise_fd_limit() -> io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard.max(soft))
}

/// What a server counted; every model fills the same fields so their summaries compare.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clients welcomed.
    pub served: AtomicU64,
    /// Clients connected right now, and the most at once.
    pub current: AtomicU64,
    pub peak: AtomicU64,
    /// Valid lines received from clients.
    pub lines_in: AtomicU64,
    /// Relayed messages written to clients.
    pub deliveries: AtomicU64,
    /// Clients cut off for falling behind or stalling.
    pub kicked: AtomicU64,
    /// Messages skipped for clients that fell behind (asyncio).
    pub missed: AtomicU64,
    /// Clients disconnected for an overlong or non-UTF-8 line.
    pub bad_lines: AtomicU64,
    /// Clients turned away because no thread or process could be started for them.
    pub rejected: AtomicU64,
}

impl Stats {
    /// A client was welcomed.
    pub fn joined(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// A welcomed client is completely gone (its threads, process or tasks have ended).
    pub fn left(&self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }

    /// A client was turned away: count it, and say why the first time (a full server turns
    /// away every newcomer; one line is enough, the summary has the count).
    pub fn turned_away(&self, why: &str) {
        if self.rejected.fetch_add(1, Ordering::Relaxed) == 0 {
            say!("turning clients away: {why}");
        }
    }

    pub fn count(field: &AtomicU64, n: u64) {
        field.fetch_add(n, Ordering::Relaxed);
    }

    fn get(field: &AtomicU64) -> u64 {
        field.load(Ordering::Relaxed)
    }

    /// Wait until every client is gone or `limit` has passed; true if all are gone.
    pub fn wait_until_empty(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Self::get(&self.current) > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The server's summary: `workers` is the most clients held at once, `items` the messages
    /// received; the digest covers both, so the same workload gives the same digest.
    pub fn finish(&self, mut run: Run) -> Summary {
        let g = Self::get;
        let served = g(&self.served);
        let lines_in = g(&self.lines_in);
        say!(
            "served {served} clients (at most {} at once), relayed {lines_in} messages as {} deliveries; \
             {} cut off for falling behind, {} disconnected for bad lines, {} turned away",
            g(&self.peak),
            g(&self.deliveries),
            g(&self.kicked),
            g(&self.bad_lines),
            g(&self.rejected),
        );
        run.extra("clients_served", served)
            .extra("peak_clients", g(&self.peak))
            .extra("lines_in", lines_in)
            .extra("deliveries", g(&self.deliveries))
            .extra("kicked", g(&self.kicked))
            .extra("missed", g(&self.missed))
            .extra("bad_lines", g(&self.bad_lines))
            .extra("rejected", g(&self.rejected));
        let mut d = crate::digest::Digest::new();
        d.update_u64(served).update_u64(lines_in);
        let mut s = run.finish(d.finish(), 0);
        s.workers = g(&self.peak) as usize;
        s.items = lines_in as usize;
        s
    }
}

/// The listening socket of a blocking server (serial, threading, multiprocessing), and whether
/// a stop signal has come.
pub struct Acceptor {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
}

impl Acceptor {
    /// How every blocking server starts: listen on `addr`, watch for Ctrl-C and SIGTERM, raise
    /// the open-file limit, say where it listens. On a signal the stop flag is set, then
    /// `on_stop` runs (on the signal thread; the serial server says goodbye to its client
    /// there), then a blocked [`Acceptor::serve`] wakes up and returns.
    ///
    /// Call it before starting any thread: see [`on_stop_signal`].
    pub fn listen(
        model: &str,
        addr: SocketAddr,
        on_stop: impl FnOnce() + Send + 'static,
    ) -> Result<Acceptor> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        on_stop_signal(move |signal| {
            say!("{signal}: closing");
            flag.store(true, Ordering::SeqCst);
            on_stop();
            wake_acceptor(bound);
        })?;
        raise_fd_limit().context("cannot raise the open-file limit")?;
        announce(model, bound);
        Ok(Acceptor { listener, stop })
    }

    /// Has a stop signal come?
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop flag, for code that runs while [`Acceptor::serve`] holds the acceptor.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Hand every new connection to `serve` until a stop signal, then stop listening. A failed
    /// accept (out of file descriptors, usually) is reported and retried after a pause, when
    /// some clients may have left.
    pub fn serve(self, mut serve: impl FnMut(TcpStream)) {
        for conn in self.listener.incoming() {
            if self.stopping() {
                break;
            }
            match conn {
                Ok(stream) => serve(stream),
                Err(e) => {
                    say!("cannot accept a connection: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Block SIGINT and SIGTERM in the calling thread, and in every thread it starts from now on,
/// and start a thread that waits for either and then calls `on_stop`. A blocking server can
/// then finish its shutdown in order (notify clients, exit 0) instead of dying mid-write.
///
/// Call it first thing, before starting any other thread. The blocked mask is inherited by
/// child processes too: a multiprocessing child ignores Ctrl-C and waits for its parent to
/// tell it to stop.
pub fn on_stop_signal(on_stop: impl FnOnce(&'static str) + Send + 'static) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().context("cannot block SIGINT/SIGTERM")?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                on_stop(sig.as_str());
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Wake an `accept` blocked on `addr` by connecting to it; the acceptor then sees its stop flag.
pub fn wake_acceptor(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}

/// Write a client's last line, then close: stop sending, and read and discard what it still
/// sends for at most [`LINGER`] (see there why) before closing for good. For the serial
/// server, whose one thread both reads and writes.
pub fn close_with(stream: &mut TcpStream, last: &str) {
    let _ = stream.set_write_timeout(Some(LINGER));
    let _ = stream.write_all(last.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stream.shutdown(Shutdown::Read);
}

/// Tell a client it cannot be served (the server is full), and close at once. No lingering:
/// this runs on the accepting thread, which must not wait on a newcomer, and a client that has
/// just connected has sent nothing yet for a reset to destroy.
pub fn refuse(mut stream: TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Line> {
        let mut r = io::BufReader::with_capacity(16, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut r, &mut buf).unwrap();
            let end = matches!(line, Line::End | Line::EndMidLine);
            out.push(line);
            if end || out.len() > 10 {
                return out;
            }
        }
    }

    #[test]
    fn reads_lines_and_drops_carriage_returns() {
        assert_eq!(
            lines(b"hello\nwith crlf\r\n\nol\xc3\xa1\n"),
            vec![
                Line::Text("hello".into()),
                Line::Text("with crlf".into()),
                Line::Text(String::new()),
                Line::Text("olá".into()),
                Line::End
            ]
        );
    }

    #[test]
    fn the_limit_is_exactly_max_line() {
        let mut ok = vec![b'a'; MAX_LINE];
        ok.push(b'\n');
        assert_eq!(lines(&ok)[0], Line::Text("a".repeat(MAX_LINE)));
        let mut long = vec![b'a'; MAX_LINE + 1];
        long.push(b'\n');
        assert_eq!(lines(&long)[0], Line::TooLong);
        // An endless line is refused after MAX_LINE + 1 bytes, not read to the end.
        let endless = vec![b'a'; 10 * MAX_LINE];
        assert_eq!(lines(&endless)[0], Line::TooLong);
    }

    #[test]
    fn invalid_utf8_and_partial_lines() {
        assert_eq!(lines(b"\xff\xfe\n")[0], Line::NotUtf8);
        assert_eq!(
            lines(b"whole\nhalf a li"),
            vec![Line::Text("whole".into()), Line::EndMidLine]
        );
        assert_eq!(Line::NotUtf8.error(), Some(NOT_UTF8));
        assert_eq!(Line::End.error(), None);
    }

    #[tokio::test]
    async fn async_reader_agrees() {
        let input: &[u8] = b"one\n\xff\nthree";
        let mut r = tokio::io::BufReader::new(input);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_async(&mut r, &mut buf).await.unwrap(),
            Line::Text("one".into())
        );
        assert_eq!(
            read_line_async(&mut r, &mut buf).await.unwrap(),
            Line::NotUtf8
        );
        assert_eq!(
            read_line_async(&mut r, &mut buf).await.unwrap(),
            Line::EndMidLine
        );
    }

    #[test]
    fn server_lines_parse_back() {
        let w = welcome(42);
        assert_eq!(parse_incoming(w.trim_end()), Incoming::Welcome(42));
        let r = String::from_utf8(relay_line(7, "hi: there")).unwrap();
        assert_eq!(
            parse_incoming(r.trim_end()),
            Incoming::Relay {
                from: 7,
                text: "hi: there"
            }
        );
        assert!(is_message(r.as_bytes()));
        assert!(!is_message(SHUTDOWN.as_bytes()));
        assert_eq!(
            parse_incoming(SHUTDOWN.trim_end()),
            Incoming::Notice("server shutting down; goodbye")
        );
        assert_eq!(parse_incoming("hello"), Incoming::Unknown("hello"));
        assert!(matches!(
            parse_incoming(too_slow(5).trim_end()),
            Incoming::Notice(n) if n.contains("5 messages behind")
        ));
    }

    #[test]
    fn announcement_round_trips() {
        let addr: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let line = format!("chat server (x) listening on {addr}");
        assert_eq!(parse_announcement(&line), Some(addr));
        assert_eq!(parse_announcement("nothing here"), None);
    }

    #[test]
    fn addresses_are_checked() {
        assert!(socket_addr("127.0.0.1:0").is_ok());
        assert!(socket_addr("[::1]:7878").is_ok());
        assert!(
            socket_addr("localhost")
                .unwrap_err()
                .contains("127.0.0.1:7878")
        );
        let default = ChatServerArgs::default();
        assert!(
            default.addr.ip().is_loopback(),
            "never all interfaces by default"
        );
    }

    #[test]
    fn stats_track_the_peak() {
        let s = Stats::default();
        s.joined();
        s.joined();
        s.left();
        s.joined();
        assert_eq!(Stats::get(&s.peak), 2);
        assert_eq!(Stats::get(&s.current), 2);
        assert_eq!(Stats::get(&s.served), 3);
    }
}
