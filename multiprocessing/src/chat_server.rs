//! The chat server with a process per connection, the way forking servers were written: the
//! parent accepts, hands each connection to a child process of its own, and relays lines
//! between the children. No child sees another's socket; everything a client says travels
//! client -> its child -> the parent -> every other child -> their clients.
//!
//! ```text
//! cargo run --release -p multiprocessing -- chat-server [--addr 127.0.0.1:7878] [--queue 256]
//! cargo run --release -p decision-table -- chat-load --clients 1000 --model multiprocessing
//! ```
//!
//! How a connection reaches its child, with the standard library only: the accepted socket
//! becomes the child's stdin (a socket is two-way, so the child reads *and* writes its client
//! through it), and the child's stdout is one end of a `UnixStream::pair()`, its two-way
//! channel to the parent, carrying length-prefixed frames (`scenarios::frame`):
//!
//! - child -> parent: `L` + a valid line from the client, `B` + the error line for a bad one,
//!   `G` when the client has gone.
//! - parent -> child: `D` + bytes to write to the client (relayed lines, gathered). The parent
//!   closing its end means "say nothing more and close".
//!
//! This file is the parent's side; the child's is `chat_child.rs`. In the parent, each child
//! has a reading and a writing thread and a bounded queue in the same registry as the threading
//! server ([`Registry`]): a child whose client stops reading is cut off with a notice when its
//! queue overflows, and nobody else waits for it. Inside the child, one thread reads the client
//! and one writes to it.
//!
//! Children never outlive the parent: they die with it (`PR_SET_PDEATHSIG`), check it is still
//! there when they start, and exit when their channel to it ends. They ignore Ctrl-C (the
//! blocked signal mask is inherited) and wait for the parent, which on Ctrl-C or SIGTERM closes
//! every channel after the shutdown notice, waits for the children, and exits 0. The children's
//! memory is sampled while they live (their PSS summed, `usage::watch_children`), and the
//! summary's peak memory adds the most they held at the same time: a process per client is
//! what this model costs.

use crate::MODEL;
use crate::chat_child::{BAD, DATA, GONE, LINE};
use crate::child::PARENT_PID_ENV;
use anyhow::{Context, Result, bail};
use scenarios::chat::registry::{self, ThreadInbox, ThreadQueue};
use scenarios::chat::{self, Acceptor, ChatServerArgs, Counters, Registry};
use scenarios::frame::{read_frame, write_frame};
use scenarios::thread_budget::ThreadBudget;
use scenarios::{Label, Run, Summary, say, usage};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Stack reserved per parent thread: they hold a few small buffers (see the threading server).
const STACK: usize = 64 * 1024;

/// The children alive, by client id, to kill any that do not finish at shutdown.
type Children = Arc<Mutex<HashMap<u64, u32>>>;

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", Label::new(MODEL, "processes", 0), 0);
    let acceptor = Acceptor::listen(MODEL, args.addr, || {})?;
    let counters = Arc::new(Counters::default());
    let registry = Arc::new(Registry::<ThreadQueue>::new(args.queue, &counters));
    let children: Children = Arc::default();
    let budget = Arc::new(ThreadBudget::of_this_process());
    // Children are started from this thread, which lives as long as the server:
    // PR_SET_PDEATHSIG fires when the thread that started a child ends.
    acceptor.serve(&counters, |stream| {
        accept(stream, &registry, &children, &budget)
    });
    registry.close_all(chat::SHUTDOWN);
    if !counters.wait_until_empty(chat::LINGER + Duration::from_secs(2)) {
        let stuck: Vec<u32> = children
            .lock()
            .expect("children")
            .values()
            .copied()
            .collect();
        say!(
            "{} children did not finish in time; killing them",
            stuck.len()
        );
        for pid in stuck {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        counters.wait_until_empty(Duration::from_secs(2));
    }
    Ok(counters.finish(run))
}

/// Start a child for a new connection, and the parent's two threads that serve it.
fn accept(
    stream: TcpStream,
    registry: &Arc<Registry<ThreadQueue>>,
    children: &Children,
    budget: &Arc<ThreadBudget>,
) {
    let id = registry.next_id();
    // Two parent threads per child, counted before they start (see ThreadBudget).
    let child = if budget.try_take(2) {
        start_child(&stream)
            .and_then(|(child, channel)| {
                let queue = registry.join(id);
                serve_child(id, child, channel, queue, registry, children, budget)
                    .inspect_err(|_| registry.leave(id))
            })
            .inspect_err(|_| budget.give_back(2))
    } else {
        Err(anyhow::anyhow!(budget.exhausted()))
    };
    if let Err(e) = child {
        chat::turn_away(&stream, registry.counters(), &format!("{e:#}"));
    }
}

/// Run this binary's hidden `chat-child` with the client's socket as its stdin and one end of
/// a socket pair as its stdout. Returns the child and the parent's end.
fn start_child(stream: &TcpStream) -> Result<(Child, UnixStream)> {
    usage::watch_children();
    let exe = std::env::current_exe().context("cannot find this program's own executable")?;
    let (parent_end, child_end) = UnixStream::pair().context("cannot make a socket pair")?;
    let socket = stream.try_clone().context("cannot hand the socket over")?;
    // The command holds the child's ends of both sockets until it is dropped, at the end of
    // this statement: then only the child has them.
    let child = Command::new(&exe)
        .arg("chat-child")
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .stdin(Stdio::from(OwnedFd::from(socket)))
        .stdout(Stdio::from(OwnedFd::from(child_end)))
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a process")?;
    Ok((child, parent_end))
}

/// The parent's side of one child: a thread writing its queue to it, a thread reading it.
fn serve_child(
    id: u64,
    mut child: Child,
    channel: UnixStream,
    queue: ThreadInbox,
    registry: &Arc<Registry<ThreadQueue>>,
    children: &Children,
    budget: &Arc<ThreadBudget>,
) -> Result<()> {
    let pid = child.id();
    let spawned = (|| {
        let (out, registry_) = (channel.try_clone()?, Arc::clone(registry));
        let writer = thread::Builder::new()
            .name(format!("to-{id}"))
            .stack_size(STACK)
            .spawn(move || write_to_child(out, queue, registry_.counters()))?;
        let (registry, children_, budget_) = (
            Arc::clone(registry),
            Arc::clone(children),
            Arc::clone(budget),
        );
        thread::Builder::new()
            .name(format!("from-{id}"))
            .stack_size(STACK)
            .spawn(move || {
                registry.counters().joined();
                read_from_child(id, &mut child, channel, &registry);
                let _ = writer.join();
                children_.lock().expect("children").remove(&id);
                budget_.give_back(2);
                registry.counters().left();
            })?;
        std::io::Result::Ok(())
    })();
    match spawned {
        Ok(()) => {
            children.lock().expect("children").insert(id, pid);
            Ok(())
        }
        Err(e) => {
            // The writer, if it started, ends when the queue closes; the child must go, and be
            // reaped here since its `Child` went down with the thread that never started.
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            bail!("cannot start a thread for process {pid}: {e}")
        }
    }
}

/// Drain a child's queue into its channel until the queue closes, then close the channel:
/// the child sends what it has and closes its client.
fn write_to_child(channel: UnixStream, mut queue: ThreadInbox, counters: &Counters) {
    let mut out = BufWriter::new(&channel);
    let (mut lines, mut frame) = (Vec::new(), Vec::new());
    while let Ok(first) = queue.recv() {
        let messages = registry::gather(first, &mut queue, &mut lines);
        frame.clear();
        frame.push(DATA);
        frame.extend_from_slice(&lines);
        if write_frame(&mut out, &frame)
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
        // Handed to the child, which writes it to its client next.
        Counters::count(&counters.deliveries, messages);
    }
    drop(out);
    let _ = channel.shutdown(Shutdown::Write);
}

/// Relay what a child says until it closes its channel, then reap it and record its memory.
fn read_from_child(
    id: u64,
    child: &mut Child,
    channel: UnixStream,
    registry: &Registry<ThreadQueue>,
) {
    let counters = registry.counters();
    let mut input = BufReader::new(channel);
    while let Ok(Some(frame)) = read_frame(&mut input) {
        let (tag, body) = frame.split_first().unwrap_or((&0, &[]));
        match *tag {
            // The child checked it is UTF-8.
            LINE => {
                registry.relay(id, &String::from_utf8_lossy(body));
            }
            BAD => {
                if registry.cut_off(id, &String::from_utf8_lossy(body)) {
                    Counters::count(&counters.bad_lines, 1);
                }
            }
            GONE => registry.leave(id),
            _ => break,
        }
    }
    registry.leave(id);
    let _ = child.wait();
}
