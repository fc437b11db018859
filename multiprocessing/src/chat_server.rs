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
//!   `G` when the client has gone, and last `P` + the child's peak memory (KiB, little-endian).
//! - parent -> child: `D` + bytes to write to the client (relayed lines, gathered). The parent
//!   closing its end means "say nothing more and close".
//!
//! In the parent, each child has a reading and a writing thread and a bounded queue in the
//! same registry as the threading server ([`Registry`]): a child whose client stops reading is
//! cut off with a notice when its queue overflows, and nobody else waits for it. Inside the
//! child, one thread reads the client and one writes to it.
//!
//! Children never outlive the parent: they die with it (`PR_SET_PDEATHSIG`), check it is still
//! there when they start, and exit when their channel to it ends. They ignore Ctrl-C (the
//! blocked signal mask is inherited) and wait for the parent, which on Ctrl-C or SIGTERM closes
//! every channel after the shutdown notice, waits for the children, and exits 0. Each child
//! reports its peak memory when it ends, and the summary's peak memory adds the most the
//! children held at the same time (`usage::ChildSpans`): a process per client is what this
//! model costs.

use crate::MODEL;
use crate::process::PARENT_PID_ENV;
use anyhow::{Context, Result, bail};
use scenarios::chat::{self, Acceptor, ChatServerArgs, Line, Stats};
use scenarios::chat_hub::{self, Out, Registry};
use scenarios::frame::{read_frame, write_frame};
use scenarios::thread_budget::ThreadBudget;
use scenarios::{Run, Summary, console, say, usage};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Stack reserved per parent thread: they hold a few small buffers (see the threading server).
const STACK: usize = 64 * 1024;

/// The children alive, by client id, to kill any that do not finish at shutdown.
type Children = Arc<Mutex<HashMap<u64, u32>>>;

/// Every child's lifetime and peak memory, for the summary.
static SPANS: LazyLock<usage::ChildSpans> = LazyLock::new(usage::ChildSpans::default);

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", MODEL, "processes", 0, 0);
    let acceptor = Acceptor::listen(MODEL, args.addr, || {})?;
    let stats = Arc::new(Stats::default());
    let registry = Arc::new(Registry::new(args.queue, Arc::clone(&stats)));
    let children: Children = Arc::default();
    let budget = Arc::new(ThreadBudget::of_this_process());
    // Children are started from this thread, which lives as long as the server:
    // PR_SET_PDEATHSIG fires when the thread that started a child ends.
    acceptor.serve(|stream| accept(stream, &registry, &children, &budget));
    registry.close_all(chat::SHUTDOWN);
    if !stats.wait_until_empty(chat::LINGER + Duration::from_secs(2)) {
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
        stats.wait_until_empty(Duration::from_secs(2));
    }
    usage::add_child_peak(SPANS.concurrent_peak_kib());
    Ok(stats.finish(run))
}

/// Start a child for a new connection, and the parent's two threads that serve it.
fn accept(
    stream: TcpStream,
    registry: &Arc<Registry>,
    children: &Children,
    budget: &Arc<ThreadBudget>,
) {
    let stats = registry.stats();
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
    match child {
        Ok(()) => {}
        Err(e) => {
            stats.turned_away(&format!("{e:#}"));
            chat::refuse(stream, &chat::full(&format!("{e:#}")));
        }
    }
}

/// Run this binary's hidden `chat-child` with the client's socket as its stdin and one end of
/// a socket pair as its stdout. Returns the child and the parent's end.
fn start_child(stream: &TcpStream) -> Result<(Child, UnixStream)> {
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
    queue: crossbeam_channel::Receiver<Out>,
    registry: &Arc<Registry>,
    children: &Children,
    budget: &Arc<ThreadBudget>,
) -> Result<()> {
    let pid = child.id();
    let started = Instant::now();
    let spawned = (|| {
        let (out, registry_) = (channel.try_clone()?, Arc::clone(registry));
        let writer = thread::Builder::new()
            .name(format!("to-{id}"))
            .stack_size(STACK)
            .spawn(move || write_to_child(out, queue, registry_.stats()))?;
        let (registry, children_, budget_) = (
            Arc::clone(registry),
            Arc::clone(children),
            Arc::clone(budget),
        );
        thread::Builder::new()
            .name(format!("from-{id}"))
            .stack_size(STACK)
            .spawn(move || {
                registry.stats().joined();
                read_from_child(id, &mut child, started, channel, &registry);
                let _ = writer.join();
                children_.lock().expect("children").remove(&id);
                budget_.give_back(2);
                registry.stats().left();
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
fn write_to_child(channel: UnixStream, queue: crossbeam_channel::Receiver<Out>, stats: &Stats) {
    let mut out = BufWriter::new(&channel);
    let (mut lines, mut frame) = (Vec::new(), Vec::new());
    while let Ok(first) = queue.recv() {
        let messages = chat_hub::gather(first, &queue, &mut lines);
        frame.clear();
        frame.push(b'D');
        frame.extend_from_slice(&lines);
        if write_frame(&mut out, &frame)
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
        // Handed to the child, which writes it to its client next.
        Stats::count(&stats.deliveries, messages);
    }
    drop(out);
    let _ = channel.shutdown(Shutdown::Write);
}

/// Relay what a child says until it closes its channel, then reap it and record its memory.
fn read_from_child(
    id: u64,
    child: &mut Child,
    started: Instant,
    channel: UnixStream,
    registry: &Registry,
) {
    let stats = registry.stats();
    let mut input = BufReader::new(channel);
    let mut peak = None;
    while let Ok(Some(frame)) = read_frame(&mut input) {
        let (tag, body) = frame.split_first().unwrap_or((&0, &[]));
        match tag {
            // The child checked it is UTF-8.
            b'L' => {
                registry.relay(id, &String::from_utf8_lossy(body));
            }
            b'B' => {
                if registry.cut_off(id, &String::from_utf8_lossy(body)) {
                    Stats::count(&stats.bad_lines, 1);
                }
            }
            b'G' => registry.leave(id),
            b'P' => peak = body.try_into().ok().map(u64::from_le_bytes),
            _ => break,
        }
    }
    registry.leave(id);
    // A child that died without reporting: read its peak while it is a zombie-to-be, if we can.
    let peak = peak.or_else(|| usage::peak_rss_kib_of(child.id()));
    let _ = child.wait();
    SPANS.record(started, peak.unwrap_or(0));
}

/// The hidden `chat-child` subcommand: serve the client on stdin, talk to the parent on stdout.
pub fn child() -> Result<()> {
    // Stdout is the channel to the parent: human lines must go to stderr.
    console::set_json(true);
    crate::worker::tie_to_parent()?;
    let tcp = TcpStream::from(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin is not the client's socket")?,
    );
    let parent = UnixStream::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("stdout is not the channel to the parent")?,
    );
    let _ = tcp.set_nodelay(true);
    tcp.set_write_timeout(Some(chat::WRITE_STALL))?;
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let reader = {
        let (tcp, parent) = (tcp.try_clone()?, parent.try_clone()?);
        thread::Builder::new()
            .name("client-reader".into())
            .spawn(move || {
                let parent = read_client(tcp, parent);
                let _ = done_tx.send(());
                parent
            })?
    };
    // This thread: whatever the parent sends goes to the client, until the parent closes.
    let mut frames = BufReader::new(parent.try_clone()?);
    let mut out = &tcp;
    while let Ok(Some(frame)) = read_frame(&mut frames) {
        match frame.split_first() {
            Some((b'D', bytes)) if out.write_all(bytes).is_ok() => {}
            // The client stopped taking data (WRITE_STALL) or went away.
            _ => break,
        }
    }
    // Say no more, give the client a moment to read it and close, then stop reading too.
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = done_rx.recv_timeout(chat::LINGER);
    let _ = tcp.shutdown(Shutdown::Read);
    let mut parent = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reading thread panicked"))?;
    let mut peak = vec![b'P'];
    peak.extend_from_slice(&usage::own_peak_rss_kib().to_le_bytes());
    // If the parent is gone there is nobody to tell.
    let _ = write_frame(&mut parent, &peak).and_then(|()| parent.flush());
    Ok(())
}

/// The child's reading thread: pass the client's lines to the parent until it leaves. After a
/// bad line, pass the error instead and drop whatever else comes. Hands the channel back.
fn read_client(tcp: TcpStream, parent: UnixStream) -> BufWriter<UnixStream> {
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, tcp);
    let mut to_parent = BufWriter::new(parent);
    let mut buf = Vec::new();
    let mut frame = Vec::new();
    let mut closing = false;
    loop {
        frame.clear();
        match chat::read_line(&mut reader, &mut buf) {
            Ok(Line::Text(_)) if closing => continue,
            Ok(Line::Text(text)) => {
                frame.push(b'L');
                frame.extend_from_slice(text.as_bytes());
            }
            Ok(bad @ (Line::TooLong | Line::NotUtf8)) if !closing => {
                closing = true;
                frame.push(b'B');
                frame.extend_from_slice(bad.error().expect("a bad line").as_bytes());
            }
            Ok(Line::TooLong | Line::NotUtf8) => continue,
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
        // Send at once, unless another whole line is already here to go with it (then the
        // next read does not wait for the client).
        let more = !closing && reader.buffer().contains(&b'\n');
        let sent = write_frame(&mut to_parent, &frame)
            .and_then(|()| if more { Ok(()) } else { to_parent.flush() });
        if sent.is_err() {
            break;
        }
    }
    let _ = write_frame(&mut to_parent, b"G").and_then(|()| to_parent.flush());
    to_parent
}
