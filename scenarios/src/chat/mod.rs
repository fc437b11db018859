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
//!   [`too_slow`], in every model ([`Registry`] keeps the queues); one that accepts no data for
//!   [`WRITE_STALL`] is disconnected.
//! - A client the server cannot take (no thread, process or file descriptor left) is told so
//!   with [`full`] and disconnected; the server says why once and counts the rest.
//! - Ctrl-C or SIGTERM: the server stops accepting, sends every client [`SHUTDOWN`], gives them
//!   [`LINGER`] to read it, and exits 0.
//!
//! The rest of the module is what the servers share besides the protocol: how they listen and
//! stop ([`Acceptor`] for the blocking ones, [`AsyncAcceptor`] for asyncio), the list of
//! clients with their outgoing queues ([`Registry`]) and what they count ([`Counters`]).
//!
//! Try it by hand: `cargo run -p asyncio -- chat-server` in one terminal, `nc 127.0.0.1 7878`
//! in two others.

mod acceptor;
mod async_acceptor;
mod counters;
pub mod registry;

pub use acceptor::{Acceptor, close_with, on_stop_signal, refuse, turn_away, wake_acceptor};
pub use async_acceptor::AsyncAcceptor;
pub use counters::Counters;
pub use registry::Registry;

use crate::say;
use clap::Args;
use std::io::{self, BufRead, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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

/// The line a client gets when the server cannot serve it (no thread, process or file
/// descriptor left).
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
    /// How many messages a client may fall behind before it is cut off
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
/// and read the real address from it. A warning follows if the address is not this machine's
/// own (see [`exposure`]); after the address, so that the first line stays the address.
pub fn announce(model: &str, addr: SocketAddr) {
    say!("chat server ({model}) listening on {addr}");
    if let Some(warning) = exposure(addr.ip()) {
        say!("{warning}");
    }
}

/// The warning for a server that other machines may reach: the protocol has no password and
/// no encryption, so anyone who can connect reads every message and may send as many as they
/// like. Loopback, the default, is the intended use; a teaching server should not open a port
/// to the network without saying so. None for a loopback address.
pub fn exposure(ip: IpAddr) -> Option<String> {
    if ip.is_loopback() {
        return None;
    }
    let reach = if ip.is_unspecified() {
        format!("on every network interface ({ip})")
    } else {
        format!("on {ip}")
    };
    Some(format!(
        "warning: accepting connections {reach}, so other machines can reach this server; \
         there is no password and no encryption: anyone who connects reads every message. \
         It is meant for this machine only (--addr 127.0.0.1:PORT, the default)"
    ))
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
    fn only_loopback_goes_without_a_warning() {
        for quiet in ["127.0.0.1", "127.1.2.3", "::1"] {
            assert_eq!(exposure(quiet.parse().unwrap()), None, "{quiet}");
        }
        let every = exposure("0.0.0.0".parse().unwrap()).expect("a warning");
        assert!(every.contains("every network interface"), "{every}");
        assert!(
            every.contains("127.0.0.1"),
            "says what to use instead: {every}"
        );
        assert!(exposure("::".parse().unwrap()).is_some());
        let one = exposure("192.168.1.5".parse().unwrap()).expect("a warning");
        assert!(one.contains("on 192.168.1.5"), "{one}");
    }
}
