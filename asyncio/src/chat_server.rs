//! The chat server with tasks: the chapter's pick for a chat server. Every connection is two
//! tokio tasks (one reads its lines, one writes to it), a few KiB each, and every message goes
//! through one `tokio::sync::broadcast` channel that all the writing tasks listen to.
//!
//! ```text
//! cargo run --release -p asyncio -- chat-server [--addr 127.0.0.1:7878] [--queue 256]
//! cargo run --release -p decision-table -- chat-load --clients 10000 --model asyncio
//! ```
//!
//! - The broadcast channel is bounded (`--queue` messages): it is a ring, and a sender never
//!   waits for a slow receiver. **A client that falls more than `--queue` messages behind is
//!   told how many it missed** (`* you fell behind and missed 12 messages`) and carries on from
//!   the oldest message still in the ring. That is tokio's `Lagged` error, passed on to the
//!   person instead of silently skipping; the threading server disconnects such a client
//!   instead, because it keeps a queue per client and cannot skip. A client that takes no data
//!   at all for 10 s is disconnected.
//! - The writing task gathers whatever is waiting into one write, so a burst costs one system
//!   call per client, not one per message.
//! - A multi-thread runtime, unlike the chapter's one-thread asyncio loop: the work is waiting
//!   on sockets, but at 10,000 clients one message means 10,000 writes, which both cores can
//!   share. Measured with the load client on the same two cores, a one-thread loop did about as
//!   well (docs/chat.md), so this is a choice, not a necessity; the tasks are the same either way.
//! - Ctrl-C or SIGTERM: stop accepting, every writing task sends the shutdown notice after what
//!   it was sending, the clients get a moment to read it, exit 0.

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::chat::{self, ChatServerArgs, Line, Stats};
use scenarios::{Label, Run, Summary, say};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::{oneshot, watch};
use tokio::time::timeout;

/// A relayed message: who sent it (its own writer skips it) and the line, formatted once.
#[derive(Clone)]
struct Relay {
    from: u64,
    line: Arc<[u8]>,
}

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", Label::new(MODEL, "tasks", 0), 0);
    chat::raise_fd_limit().context("cannot raise the open-file limit")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let stats = Arc::new(Stats::default());
    runtime.block_on(serve(args, Arc::clone(&stats)))?;
    Ok(stats.finish(run))
}

async fn serve(args: &ChatServerArgs, stats: Arc<Stats>) -> Result<()> {
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // Install the signal handlers before saying where we listen: a SIGTERM sent right after
    // must find them.
    let stop_signal = stop_signal()?;
    tokio::pin!(stop_signal);
    chat::announce(MODEL, listener.local_addr()?);
    let (relay, _) = broadcast::channel::<Relay>(args.queue);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id = 1;
    loop {
        tokio::select! {
            signal = &mut stop_signal => {
                say!("{signal}: closing");
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Subscribed before the welcome goes out: a client that has read its welcome
                    // gets every message relayed after it.
                    let (tx, rx) = (relay.clone(), relay.subscribe());
                    stats.joined();
                    tokio::spawn(connection(stream, next_id, tx, rx, stop_rx.clone(), Arc::clone(&stats)));
                    next_id += 1;
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait for some clients to leave.
                    say!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + chat::LINGER + Duration::from_secs(2);
    while stats.current.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        if tokio::time::Instant::now() > deadline {
            say!("some clients did not close in time; leaving anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Resolves with the signal's name on Ctrl-C or SIGTERM.
fn stop_signal() -> Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    })
}

/// One connection: a reading task, and this task writing until the client leaves, breaks the
/// protocol, stalls, or the server stops.
async fn connection(
    stream: TcpStream,
    id: u64,
    relay: broadcast::Sender<Relay>,
    mut rx: broadcast::Receiver<Relay>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<Stats>,
) {
    let _ = stream.set_nodelay(true);
    let (input, mut out) = stream.into_split();
    // The reading task's way to say "tell them this and close" (a bad line); dropped when the
    // client leaves.
    let (bye_tx, mut bye) = oneshot::channel::<&'static str>();
    let mut reader = tokio::spawn(read_loop(input, id, relay, bye_tx, Arc::clone(&stats)));
    let mut buf = chat::welcome(id).into_bytes();
    let mut messages = 0;
    let last = loop {
        if !buf.is_empty() {
            match send(&mut out, &buf).await {
                Ok(()) => Stats::count(&stats.deliveries, messages),
                Err(stalled) => {
                    if stalled {
                        Stats::count(&stats.kicked, 1);
                    }
                    break None;
                }
            }
            buf.clear();
            messages = 0;
        }
        let mut got = tokio::select! {
            biased;
            said = &mut bye => break said.ok(),
            _ = stop.wait_for(|&s| s) => break Some(chat::SHUTDOWN),
            got = rx.recv() => got,
        };
        // Take what is already waiting too, and write it all at once.
        loop {
            match got {
                Ok(m) if m.from != id => {
                    buf.extend_from_slice(&m.line);
                    messages += 1;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    Stats::count(&stats.missed, n);
                    buf.extend_from_slice(chat::missed(n).as_bytes());
                }
                Err(RecvError::Closed) => break,
            }
            if buf.len() >= chat::COALESCE {
                break;
            }
            got = match rx.try_recv() {
                Ok(m) => Ok(m),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(_) => break,
            };
        }
    };
    close(out, last, &mut reader).await;
    stats.left();
}

/// Write all of `buf`; an error says whether the client stalled (took nothing for
/// [`chat::WRITE_STALL`]) rather than went away. Most writes fit in the socket's buffer at
/// once, so they are tried first without arming a timer.
async fn send(out: &mut OwnedWriteHalf, buf: &[u8]) -> Result<(), bool> {
    let written = match out.try_write(buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return Err(false),
    };
    if written == buf.len() {
        return Ok(());
    }
    match timeout(chat::WRITE_STALL, out.write_all(&buf[written..])).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(false),
        Err(_) => Err(true),
    }
}

/// Send the last line, if any, stop sending, and give the client a moment to read it and
/// close (the reading task discards what it still sends) before cutting it off.
async fn close(
    mut out: OwnedWriteHalf,
    last: Option<&str>,
    reader: &mut tokio::task::JoinHandle<()>,
) {
    if let Some(line) = last {
        let _ = timeout(chat::LINGER, out.write_all(line.as_bytes())).await;
    }
    let _ = timeout(chat::LINGER, out.shutdown()).await;
    if timeout(chat::LINGER, &mut *reader).await.is_err() {
        reader.abort();
    }
}

/// Read a client's lines and broadcast them, until it leaves. After a bad line, ask the
/// writing task to send the error, and drop whatever else comes.
async fn read_loop(
    input: OwnedReadHalf,
    id: u64,
    relay: broadcast::Sender<Relay>,
    bye: oneshot::Sender<&'static str>,
    stats: Arc<Stats>,
) {
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, input);
    let mut buf = Vec::new();
    let mut bye = Some(bye);
    loop {
        match chat::read_line_async(&mut reader, &mut buf).await {
            Ok(Line::Text(text)) if bye.is_some() => {
                Stats::count(&stats.lines_in, 1);
                let line = chat::relay_line(id, &text).into();
                // An error only means nobody is listening, which is fine.
                let _ = relay.send(Relay { from: id, line });
            }
            Ok(Line::Text(_)) => {}
            Ok(bad @ (Line::TooLong | Line::NotUtf8)) => {
                if let Some(bye) = bye.take() {
                    Stats::count(&stats.bad_lines, 1);
                    let _ = bye.send(bad.error().expect("a bad line"));
                }
            }
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
    }
}
