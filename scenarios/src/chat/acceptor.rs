//! How a blocking chat server (serial, threading, multiprocessing) listens and stops, written
//! once: bind, install the signal handlers *before* announcing the address (a SIGTERM sent the
//! moment the address is printed must find them), raise the open-file limit, announce, then
//! hand every connection to the server until Ctrl-C or SIGTERM. [`super::AsyncAcceptor`] is the
//! same for asyncio.
//!
//! At the open-file limit `accept` fails, and the newcomer would sit unanswered in the kernel's
//! listen queue while the loop retried. The acceptor keeps one descriptor in [`Reserve`] for
//! that: it lets it go, accepts the newcomer with it, tells it the server is full, and takes the
//! reserve back.
//!
//! Nothing to run on its own: `cargo run -p threading -- chat-server`, then Ctrl-C.

use super::{Counters, announce, full, raise_fd_limit};
use crate::say;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The listening socket of a blocking server, and whether a stop signal has come.
pub struct Acceptor {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    reserve: Reserve,
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
        Ok(Acceptor {
            listener,
            stop,
            reserve: Reserve::new(),
        })
    }

    /// Has a stop signal come?
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop flag, for code that runs while [`Acceptor::serve`] holds the acceptor.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Hand every new connection to `serve` until a stop signal, then stop listening. Out of
    /// file descriptors, the newcomer is turned away with the reserve's (and counted in
    /// `counters`); any other failed accept is reported and retried after a pause.
    pub fn serve(mut self, counters: &Counters, mut serve: impl FnMut(TcpStream)) {
        loop {
            let accepted = self.listener.accept();
            if self.stopping() {
                break;
            }
            match accepted {
                // Accepted with the reserve's descriptor: there is no room for this one.
                Ok((stream, _)) if self.reserve.lent() => {
                    turn_away(&stream, counters, &out_of_files());
                    drop(stream);
                    self.reserve.refill();
                }
                Ok((stream, _)) => {
                    self.reserve.refill();
                    serve(stream);
                }
                // The next accept takes the newcomer with the descriptor this frees.
                Err(e) if is_out_of_files(&e) && self.reserve.lend() => {}
                Err(e) if is_out_of_files(&e) => {
                    self.reserve.no_reserve(&e);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    say!("cannot accept a connection: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// One file descriptor held open for nothing (`/dev/null`), so that at the open-file limit the
/// acceptor can still take a newcomer off the listen queue to tell it the server is full,
/// instead of leaving it waiting unanswered while `accept` fails again as fast as it is
/// called. Shared with [`super::AsyncAcceptor`].
pub(super) struct Reserve {
    file: Option<File>,
    /// Let go, for the next accept.
    lent: bool,
    /// Whether the server has said it could not take the reserve back.
    said_missing: bool,
}

impl Reserve {
    pub(super) fn new() -> Self {
        Self {
            file: File::open("/dev/null").ok(),
            lent: false,
            said_missing: false,
        }
    }

    /// Close the reserved descriptor so the next accept can use it; false if there is none.
    pub(super) fn lend(&mut self) -> bool {
        self.lent = self.file.take().is_some();
        self.lent
    }

    /// Is the reserve out (the connection just accepted used it)?
    pub(super) fn lent(&self) -> bool {
        self.lent
    }

    /// Hold a descriptor in reserve again: after a turned-away newcomer's is closed, or after
    /// an ordinary accept if the reserve could not be taken back before (another thread took
    /// the descriptor freed for it). Costs nothing when the reserve is held.
    pub(super) fn refill(&mut self) {
        self.lent = false;
        if self.file.is_none() {
            self.file = File::open("/dev/null").ok();
        }
    }

    /// Out of descriptors with none in reserve: newcomers wait in the listen queue until a
    /// client leaves. Say so once.
    pub(super) fn no_reserve(&mut self, e: &io::Error) {
        if !self.said_missing {
            self.said_missing = true;
            say!("cannot accept a connection ({e}), and no descriptor is left to say so");
        }
        self.refill();
    }
}

/// Did `accept` fail for want of a file descriptor (this process's limit, or the machine's)?
pub(super) fn is_out_of_files(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(e.raw_os_error(), Some(n) if n == Errno::EMFILE as i32 || n == Errno::ENFILE as i32)
}

/// Why a newcomer is turned away at the open-file limit.
pub(super) fn out_of_files() -> String {
    use nix::sys::resource::{Resource, getrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => format!("out of file descriptors: this process may open {soft}"),
        Err(_) => "out of file descriptors".into(),
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
/// sends for at most [`super::LINGER`] (see there why) before closing for good. For the serial
/// server, whose one thread both reads and writes.
pub fn close_with(stream: &TcpStream, last: &str) {
    let mut stream = stream;
    let linger = super::LINGER;
    let _ = stream.set_write_timeout(Some(linger));
    let _ = stream.write_all(last.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(linger));
    let deadline = Instant::now() + linger;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stream.shutdown(Shutdown::Read);
}

/// Tell a client it cannot be served (the server is full) and stop sending; the socket closes
/// when the caller drops it. No lingering: this runs on the accepting thread, which must not
/// wait on a newcomer, and a client that has just connected has sent nothing yet for a reset
/// to destroy.
pub fn refuse(stream: &TcpStream, line: &str) {
    let mut stream = stream;
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// Turn a newcomer away: count it (saying why the first time) and tell it the server is full.
pub fn turn_away(stream: &TcpStream, counters: &Counters, why: &str) {
    counters.turned_away(why);
    refuse(stream, &full(why));
}
