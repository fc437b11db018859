//! The chat server with tasks: the chapter's pick for a chat server. Every connection is two
//! tokio tasks (one reads its lines, one writes to it), a few KiB each, sharing one registry of
//! clients with a bounded queue each, like the threading server's threads.
//!
//! ```text
//! cargo run --release -p asyncio -- chat-server [--addr 127.0.0.1:7878] [--queue 256]
//! cargo run --release -p decision-table -- chat-load --clients 10000 --model asyncio
//! ```
//!
//! - A shared registry of clients ([`Registry`]): relaying a line puts it on the bounded
//!   outgoing queue (a `tokio::sync::mpsc` channel) of every other client and never waits.
//!   **A client whose queue overflows (it fell `--queue` messages behind) is disconnected with
//!   a notice**, exactly as in the threading and multiprocessing servers, so that the three
//!   are measured doing the same work and differ only in what waits on the sockets. (Tokio's
//!   `broadcast` ring, one queue for all, would cost less memory per client, but it skips
//!   messages for a slow client instead: another policy, other figures.) A client that takes
//!   no data at all for 10 s is disconnected.
//! - The writing task gathers whatever is waiting into one write, so a burst costs one system
//!   call per client, not one per message.
//! - A multi-thread runtime, unlike the chapter's one-thread asyncio loop: the work is waiting
//!   on sockets, but at 10,000 clients one message means 10,000 writes, which both cores can
//!   share. Measured with the load client on the same two cores, a one-thread loop did about as
//!   well (docs/chat.md), so this is a choice, not a necessity; the tasks are the same either way.
//! - Listening, the stop signal and the open-file limit are the library's [`AsyncAcceptor`];
//!   this file is what a connection does.
//! - Ctrl-C or SIGTERM: stop accepting, queue the shutdown notice behind what every client is
//!   still due, give them a moment to read it, exit 0.

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::chat::registry::{self, TaskInbox, TaskQueue};
use scenarios::chat::{self, AsyncAcceptor, ChatServerArgs, Counters, Line, Registry};
use scenarios::{Label, Run, Summary, say};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio::time::timeout;

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", Label::new(MODEL, "tasks", 0), 0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let acceptor = runtime.block_on(AsyncAcceptor::listen(MODEL, args.addr))?;
    let counters = Arc::new(Counters::default());
    let registry = Arc::new(Registry::<TaskQueue>::new(args.queue, &counters));
    runtime.block_on(acceptor.serve(&counters, |stream| accept(stream, &registry)));
    registry.close_all(chat::SHUTDOWN);
    // The runtime's threads carry on with the clients' tasks while this one waits.
    if !counters.wait_until_empty(chat::LINGER + Duration::from_secs(2)) {
        say!("some clients did not close in time; leaving anyway");
    }
    Ok(counters.finish(run))
}

/// Start the reading task of a new connection (it starts the writing one).
fn accept(stream: TcpStream, registry: &Arc<Registry<TaskQueue>>) {
    let _ = stream.set_nodelay(true);
    let id = registry.next_id();
    tokio::spawn(connection(stream, id, Arc::clone(registry)));
}

/// One connection's reading task: relay its lines until it leaves.
async fn connection(stream: TcpStream, id: u64, registry: Arc<Registry<TaskQueue>>) {
    let counters = registry.counters();
    let (input, out) = stream.into_split();
    let queue = registry.join(id);
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let registry_ = Arc::clone(&registry);
    let mut writer = tokio::spawn(write_loop(out, id, queue, registry_, done_rx));
    counters.joined();
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, input);
    let mut buf = Vec::new();
    loop {
        let line = tokio::select! {
            line = chat::read_line_async(&mut reader, &mut buf) => line,
            // The writer has closed and given the client its moment: stop reading too.
            _ = &mut writer => break,
        };
        match line {
            // False once this client is cut off: its lines are read and dropped until it goes.
            Ok(Line::Text(text)) => {
                registry.relay(id, &text);
            }
            Ok(bad @ (Line::TooLong | Line::NotUtf8)) => {
                if registry.cut_off(id, bad.error().expect("a bad line")) {
                    Counters::count(&counters.bad_lines, 1);
                }
            }
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
    }
    registry.leave(id);
    let _ = done_tx.send(());
    // (A finished writer's handle, already awaited above, must not be awaited again.)
    if !writer.is_finished() {
        let _ = writer.await;
    }
    counters.left();
}

/// One connection's writing task: drain its queue into the socket until the queue closes
/// (the client left, was cut off, or the server is stopping), then close.
async fn write_loop(
    mut out: OwnedWriteHalf,
    id: u64,
    mut queue: TaskInbox,
    registry: Arc<Registry<TaskQueue>>,
    reader_done: oneshot::Receiver<()>,
) {
    let counters = registry.counters();
    let mut buf = Vec::with_capacity(1024);
    while let Some(first) = queue.recv().await {
        let messages = registry::gather(first, &mut queue, &mut buf);
        if let Err(stalled) = send(&mut out, &buf).await {
            // A client that took nothing for WRITE_STALL.
            if stalled {
                Counters::count(&counters.kicked, 1);
            }
            registry.leave(id);
            break;
        }
        Counters::count(&counters.deliveries, messages);
    }
    // No more to say. Give the client a moment to read it and close (the reading task
    // discards what it still sends), then the reading task stops too.
    let _ = timeout(chat::LINGER, out.shutdown()).await;
    let _ = timeout(chat::LINGER, reader_done).await;
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
