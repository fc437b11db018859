//! The chat server with threads: every connection gets a thread that reads its lines and a
//! thread that writes to it. This is how a chat server looks with Python's `threading` (or
//! `socketserver.ThreadingTCPServer`), and the chapter's threading-vs-asyncio table says it
//! gets heavy after a few hundred clients; in Rust it holds thousands, up to the kernel's limits
//! (see below).
//!
//! ```text
//! cargo run --release -p threading -- chat-server [--addr 127.0.0.1:7878] [--queue 256]
//! cargo run --release -p decision-table -- chat-load --clients 1000 --model threading
//! ```
//!
//! - A shared registry of clients ([`Registry`]): relaying a line puts it on the bounded
//!   outgoing queue (a crossbeam channel) of every other client and never waits.
//! - A writer thread per client drains its queue into its socket, gathering whatever is queued
//!   into one write. Only that thread ever waits on a slow client's socket, so one slow reader
//!   cannot stall the rest. **A client whose queue overflows (it fell `--queue` messages
//!   behind) is disconnected with a notice** (`* error: you fell more than 256 messages behind;
//!   disconnecting`), and one that takes no data at all for 10 s is disconnected.
//! - Small thread stacks (64 KiB reserved instead of std's 2 MiB): these threads hold a few
//!   small buffers. A reservation costs address space, not resident memory (`threading spawn`
//!   measures the same 10 KiB per thread either way), but 16,000 default stacks reserve 31 GiB
//!   of it, which a machine that accounts for overcommitted memory strictly would refuse.
//! - When a client's threads cannot be started, that client is told the server is full and
//!   disconnected; everyone else carries on. The first wall here is not memory but the number
//!   of memory maps a process may have (`vm.max_map_count`, 65530): each thread takes four, so
//!   about 15,800 threads, 7,900 clients. The server counts them (`ThreadBudget`) and turns
//!   clients away before the kernel refuses, because a thread refused half-way aborts the
//!   whole process. At the open-file limit (one descriptor per client) the acceptor turns
//!   newcomers away the same way.
//! - Ctrl-C or SIGTERM: stop accepting, queue the shutdown notice behind what every client is
//!   still due, give them a moment to read it, exit 0.

use crate::MODEL;
use anyhow::Result;
use scenarios::chat::registry::{self, ThreadInbox, ThreadQueue};
use scenarios::chat::{self, Acceptor, ChatServerArgs, Counters, Line, Registry};
use scenarios::thread_budget::ThreadBudget;
use scenarios::{Label, Run, Summary, say};
use std::io::{BufReader, ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Stack reserved per thread (see the module doc).
const STACK: usize = 64 * 1024;

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", Label::new(MODEL, "threads", 0), 0);
    let acceptor = Acceptor::listen(MODEL, args.addr, || {})?;
    let counters = Arc::new(Counters::default());
    let registry = Arc::new(Registry::<ThreadQueue>::new(args.queue, &counters));
    let budget = Arc::new(ThreadBudget::of_this_process());
    acceptor.serve(&counters, |stream| accept(stream, &registry, &budget));
    registry.close_all(chat::SHUTDOWN);
    if !counters.wait_until_empty(chat::LINGER + Duration::from_secs(2)) {
        say!("some clients did not close in time; leaving anyway");
    }
    Ok(counters.finish(run))
}

/// Start the reading thread of a new connection (it starts the writing one).
fn accept(stream: TcpStream, registry: &Arc<Registry<ThreadQueue>>, budget: &Arc<ThreadBudget>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(chat::WRITE_STALL));
    // Two threads per client, counted before they start (see ThreadBudget).
    if !budget.try_take(2) {
        chat::turn_away(&stream, registry.counters(), &budget.exhausted());
        return;
    }
    // Both threads use the one socket (`&TcpStream` reads and writes) instead of a second file
    // descriptor from `try_clone`: at 10,000 clients, two descriptors each would hit the
    // open-file limit (20,000 here) before anything else. A handle stays here to tell the
    // client the server is full if its thread cannot start.
    let stream = Arc::new(stream);
    let id = registry.next_id();
    let (stream_, registry_, budget_) = (
        Arc::clone(&stream),
        Arc::clone(registry),
        Arc::clone(budget),
    );
    let started = thread::Builder::new()
        .name(format!("read-{id}"))
        .stack_size(STACK)
        .spawn(move || {
            connection(stream_, id, registry_);
            budget_.give_back(2);
        });
    if let Err(e) = started {
        budget.give_back(2);
        let why = format!("cannot start a thread: {e}");
        chat::turn_away(&stream, registry.counters(), &why);
    }
}

/// One connection's reading thread: relay its lines until it leaves.
fn connection(stream: Arc<TcpStream>, id: u64, registry: Arc<Registry<ThreadQueue>>) {
    let counters = registry.counters();
    let out = Arc::clone(&stream);
    let queue = registry.join(id);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let registry_ = Arc::clone(&registry);
    let writer = thread::Builder::new()
        .name(format!("write-{id}"))
        .stack_size(STACK)
        .spawn(move || write_loop(out, id, queue, &registry_, done_rx));
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            registry.leave(id);
            let why = format!("cannot start a thread: {e}");
            chat::turn_away(&stream, counters, &why);
            return;
        }
    };
    counters.joined();
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, &*stream);
    let mut buf = Vec::new();
    loop {
        match chat::read_line(&mut reader, &mut buf) {
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
    let _ = writer.join();
    counters.left();
}

/// One connection's writing thread: drain its queue into the socket until the queue closes
/// (the client left, was cut off, or the server is stopping), then close.
fn write_loop(
    out: Arc<TcpStream>,
    id: u64,
    mut queue: ThreadInbox,
    registry: &Registry<ThreadQueue>,
    reader_done: crossbeam_channel::Receiver<()>,
) {
    let counters = registry.counters();
    let mut out = &*out;
    let mut buf = Vec::with_capacity(1024);
    while let Ok(first) = queue.recv() {
        let messages = registry::gather(first, &mut queue, &mut buf);
        if let Err(e) = out.write_all(&buf) {
            // The write timeout: a client that took nothing for WRITE_STALL.
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                Counters::count(&counters.kicked, 1);
            }
            registry.leave(id);
            break;
        }
        Counters::count(&counters.deliveries, messages);
    }
    // No more to say. Give the client a moment to read it and close (the reading thread
    // discards what it still sends), then stop reading too.
    let _ = out.shutdown(Shutdown::Write);
    let _ = reader_done.recv_timeout(chat::LINGER);
    let _ = out.shutdown(Shutdown::Read);
}
