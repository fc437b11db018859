//! `decision-table chat-load`: the client that puts a chat server under load and counts every
//! message.
//!
//! ```text
//! cargo run --release -p asyncio -- chat-server &     # any of the four servers
//! cargo run --release -p decision-table -- chat-load --clients 1000 --senders 10 --messages 10
//! ```
//!
//! It connects `--clients` clients (a few dozen connections in flight at a time, so the
//! server's listen queue never overflows) and waits until the server has welcomed every one of
//! them: a client that was welcomed is on the server's list and must receive everything relayed
//! afterwards. Then the first `--senders` clients send `--messages` lines each, `load <sender>
//! <seq> <sent at, µs>`, as fast as the server takes them or `--rate` per second each. Every
//! client checks that each message from each other sender arrives exactly once and in order,
//! under the right sender id, and notes how long it took. The run ends when every client has
//! seen every sender's last message, or at `--timeout-s`, after which whatever is missing
//! counts as lost.
//!
//! With `--rate` the senders are paced: each sends at fixed times (`t0 + seq / rate`, the
//! senders spread evenly within each interval), and the summary says how late the sends left
//! against that schedule (`send_late_p99_ms`, `send_late_max_ms`) and the rate achieved
//! (`sent_per_s`): a load client too busy to keep its own schedule would measure itself, not
//! the server. Without `--rate` everything leaves at once, a burst: its figure is throughput
//! (deliveries per second), and its "latency" is mostly the time each message waited in line.
//!
//! With `--server-pid PID` it also reads the server's memory from outside, the same way for
//! every model and language: the PSS (and RSS) of PID and all its descendants, summed from
//! `/proc/<pid>/smaps_rollup`, once before the first client connects (`server_pss_idle_kib`)
//! and once at the moment every client is in (`server_pss_kib`, `server_rss_kib`,
//! `server_processes`), before anything is sent: the memory of holding N connections.
//!
//! The report: the time to connect everyone, messages expected / delivered / lost / duplicated,
//! latency p50 / p99 / max, and deliveries per second. The exit status is non-zero if anything
//! was lost, duplicated or unexpected, or if the server did not let every client in within
//! `--connect-timeout-s` (the serial server serves one client at a time: everyone else waits,
//! and the report says so).
//!
//! Everything runs on tokio in this process: the receiving clients on a multi-thread runtime,
//! the senders on a runtime of their own (see `SenderLoop`); tests call [`run`] directly.

use anyhow::{Context, Result, bail};
use clap::Args;
use scenarios::chat::{self, Incoming};
use scenarios::digest::Digest;
use scenarios::{Label, Run, Summary, say};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::timeout_at;

/// Connections being set up at once: well under the listen queue of every server (std's
/// `TcpListener` asks for 128), so no connection attempt is dropped and retried a second later.
const CONNECTS_IN_FLIGHT: usize = 64;
/// How long clients keep listening after everything arrived, to catch late duplicates.
const GRACE: Duration = Duration::from_millis(100);

fn clients(s: &str) -> Result<usize, String> {
    scenarios::cli::bounded(s, 1, 100_000).map(|v| v as usize)
}

fn messages(s: &str) -> Result<usize, String> {
    scenarios::cli::bounded(s, 1, 1_000_000).map(|v| v as usize)
}

fn rate(s: &str) -> Result<u64, String> {
    scenarios::cli::bounded(s, 1, 1_000_000)
}

fn payload(s: &str) -> Result<usize, String> {
    scenarios::cli::bounded(s, 0, 8000).map(|v| v as usize)
}

fn pid(s: &str) -> Result<u32, String> {
    scenarios::cli::bounded(s, 1, i32::MAX as u64).map(|v| v as u32)
}

fn seconds(s: &str) -> Result<u64, String> {
    scenarios::cli::bounded(s, 1, 3600)
}

/// `chat-load`: how many clients, who sends, how much.
#[derive(Args, Debug, Clone)]
pub struct ChatLoadArgs {
    /// The chat server's address
    #[arg(long, default_value = chat::DEFAULT_ADDR, value_parser = chat::socket_addr)]
    pub addr: SocketAddr,
    /// How many clients to connect
    #[arg(long, default_value_t = 100, value_parser = clients, allow_negative_numbers = true)]
    pub clients: usize,
    /// How many of them send (at most --clients) [default: 10, or --clients if fewer]
    #[arg(long, value_parser = clients, allow_negative_numbers = true)]
    pub senders: Option<usize>,
    /// How many messages each sender sends
    #[arg(long, default_value_t = 10, value_parser = messages, allow_negative_numbers = true)]
    pub messages: usize,
    /// Messages per second per sender, senders taking turns (default: as fast as the server takes them)
    #[arg(long, value_parser = rate, allow_negative_numbers = true)]
    pub rate: Option<u64>,
    /// Bytes of padding added to each message (0 to 8000), to fill buffers faster
    #[arg(long, default_value_t = 0, value_parser = payload, allow_negative_numbers = true)]
    pub payload: usize,
    /// Seconds to wait for the server to let every client in
    #[arg(long, default_value_t = 30, value_parser = seconds, allow_negative_numbers = true)]
    pub connect_timeout_s: u64,
    /// Seconds to wait for messages once sending starts; what is missing then counts as lost
    #[arg(long, default_value_t = 60, value_parser = seconds, allow_negative_numbers = true)]
    pub timeout_s: u64,
    /// The model of the server under test, as the summary should name it
    #[arg(long, default_value = "client")]
    pub model: String,
    /// The server's process id: read its memory (PSS, children included) once every client is in
    #[arg(long, value_parser = pid, allow_negative_numbers = true)]
    pub server_pid: Option<u32>,
}

impl ChatLoadArgs {
    /// How many clients send.
    pub fn senders(&self) -> usize {
        self.senders.unwrap_or(self.clients.min(10))
    }
}

impl Default for ChatLoadArgs {
    fn default() -> Self {
        Self {
            addr: chat::DEFAULT_ADDR.parse().expect("a valid default"),
            clients: 100,
            senders: None,
            messages: 10,
            rate: None,
            payload: 0,
            connect_timeout_s: 30,
            timeout_s: 60,
            model: "client".into(),
            server_pid: None,
        }
    }
}

/// What one client saw: per sender, the next sequence number it expects.
#[derive(Debug, Clone)]
pub struct Tally {
    next: Vec<u32>,
    /// Per sender, how many distinct messages arrived.
    got: Vec<u32>,
    /// This client's own index if it is a sender (it must not receive its own messages).
    me: Option<usize>,
    messages: u32,
    /// Senders whose last message has arrived.
    finished: usize,
    pub delivered: u64,
    /// Messages skipped over: a later one from the same sender arrived first.
    pub gaps: u64,
    pub duplicated: u64,
    /// Lines that are not another sender's load message under its right id.
    pub unexpected: u64,
    /// Lines from the server (`* ...`) after the welcome.
    pub notices: u64,
    pub first_notice: Option<String>,
    pub latencies_us: Vec<u32>,
    /// When the last message arrived, in µs since the send phase began.
    pub last_us: u64,
}

impl Tally {
    /// `me`: this client's sender index, if it is one of the `senders`.
    pub fn new(senders: usize, messages: usize, me: Option<usize>) -> Self {
        Self {
            next: vec![0; senders],
            got: vec![0; senders],
            me,
            messages: messages as u32,
            finished: 0,
            delivered: 0,
            gaps: 0,
            duplicated: 0,
            unexpected: 0,
            notices: 0,
            first_notice: None,
            latencies_us: Vec::new(),
            last_us: 0,
        }
    }

    /// Messages this client must receive: every other sender's.
    pub fn expected(&self) -> u64 {
        (self.next.len() - usize::from(self.me.is_some())) as u64 * u64::from(self.messages)
    }

    /// Has every other sender's last message arrived? Nothing more is due then.
    pub fn complete(&self) -> bool {
        self.finished + usize::from(self.me.is_some()) == self.next.len()
    }

    /// Message `seq` of sender `sender` arrived at `now_us`, sent at `sent_us`.
    pub fn record(&mut self, sender: usize, seq: u32, sent_us: u64, now_us: u64) {
        if Some(sender) == self.me || sender >= self.next.len() || seq >= self.messages {
            self.unexpected += 1;
            return;
        }
        let next = &mut self.next[sender];
        if seq < *next {
            self.duplicated += 1;
            return;
        }
        // In order (seq == next) or after a gap (the ones in between count as lost).
        self.gaps += u64::from(seq - *next);
        *next = seq + 1;
        if *next == self.messages {
            self.finished += 1;
        }
        self.got[sender] += 1;
        self.delivered += 1;
        let latency = now_us.saturating_sub(sent_us);
        self.latencies_us
            .push(latency.min(u64::from(u32::MAX)) as u32);
        self.last_us = self.last_us.max(now_us);
    }

    /// Messages that never arrived: the gaps plus everything after the last one seen.
    pub fn lost(&self) -> u64 {
        let tail: u64 = self
            .next
            .iter()
            .enumerate()
            .filter(|&(s, _)| Some(s) != self.me)
            .map(|(_, &n)| u64::from(self.messages - n))
            .sum();
        self.gaps + tail
    }

    /// Feed what this client received (how many distinct messages from each sender) into the
    /// run's digest: complete runs of the same shape give the same digest whatever the server.
    fn digest_into(&self, d: &mut Digest) {
        for &n in &self.got {
            d.update_u64(u64::from(n));
        }
    }
}

/// The `p`th percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Read a load message: `load <sender> <seq> <sent_us>[ padding]`.
fn parse_message(text: &str) -> Option<(usize, u32, u64)> {
    let mut parts = text.strip_prefix("load ")?.splitn(4, ' ');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((sender, seq, sent))
}

/// The memory of a process and all its descendants at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TreeMemory {
    /// PSS summed: each page shared between processes is split between them, so a page of the
    /// binary that 1,000 children map counts once in all, not 1,000 times.
    pub pss_kib: u64,
    /// RSS summed: every shared page once per process that maps it (an upper bound).
    pub rss_kib: u64,
    pub processes: usize,
}

/// Read the memory of `pid` and its descendants from `/proc`: `None` if `pid` itself cannot be
/// read (gone, or not ours to read). A descendant that exits while the tree is walked is left
/// out, and one that starts meanwhile may be missed: the reading is of one moment, give or take
/// the walk (about 0.1 ms per process).
pub fn tree_memory(pid: u32) -> Option<TreeMemory> {
    let (pss, rss) = scenarios::usage::rollup_kib(pid)?;
    let mut total = TreeMemory {
        pss_kib: pss,
        rss_kib: rss,
        processes: 1,
    };
    let mut todo = children(pid);
    // Every pid is visited once: a process has one parent, so the tree has no cycles, but a
    // reused pid could make one in theory; the bound keeps the walk finite whatever happens.
    let mut budget = 1_000_000usize;
    while let Some(p) = todo.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        if let Some((pss, rss)) = scenarios::usage::rollup_kib(p) {
            total.pss_kib += pss;
            total.rss_kib += rss;
            total.processes += 1;
            todo.extend(children(p));
        }
    }
    Some(total)
}

/// The children of every thread of `pid` (`/proc/<pid>/task/<tid>/children`): a child belongs
/// to the thread that started it, and a server may start them from several threads.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Counts down as clients complete; the main task waits for zero.
struct Countdown {
    left: AtomicUsize,
    zero: Notify,
}

impl Countdown {
    fn arrive(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_one();
        }
    }

    async fn wait(&self) {
        while self.left.load(Ordering::Acquire) > 0 {
            self.zero.notified().await;
        }
    }
}

/// What every client task shares.
struct Plan {
    senders: usize,
    messages: usize,
    /// The server's id of each sender, from its welcome.
    sender_ids: Vec<u64>,
    /// The send phase's start: message times are µs since then.
    t0: Instant,
    countdown: Countdown,
}

impl Plan {
    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }
}

/// How a connection attempt ended.
enum Admission {
    Welcomed(u64, BufReader<OwnedReadHalf>, OwnedWriteHalf),
    Refused(String),
    Rejected(String),
    Waiting,
}

async fn connect(addr: SocketAddr, permits: Arc<Semaphore>) -> Admission {
    let Ok(_permit) = permits.acquire().await else {
        return Admission::Waiting;
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Admission::Refused(e.to_string()),
    };
    // Small messages must leave at once, not wait for Nagle's algorithm to batch them.
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut r = BufReader::with_capacity(4096, r);
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) => Admission::Rejected("the server closed the connection".into()),
        Ok(_) => match chat::parse_incoming(line.trim_end()) {
            Incoming::Welcome(id) => Admission::Welcomed(id, r, w),
            _ => Admission::Rejected(line.trim_end().to_string()),
        },
        Err(e) => Admission::Refused(e.to_string()),
    }
}

async fn receive(
    mut reader: BufReader<OwnedReadHalf>,
    me: usize,
    plan: Arc<Plan>,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let sender = (me < plan.senders).then_some(me);
    let mut tally = Tally::new(plan.senders, plan.messages, sender);
    let mut counted = false;
    if tally.complete() {
        plan.countdown.arrive();
        counted = true;
    }
    let mut buf = Vec::with_capacity(128);
    loop {
        buf.clear();
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|&s| s) => break,
            r = reader.read_until(b'\n', &mut buf) => r,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let now = plan.now_us();
        let Ok(line) = std::str::from_utf8(&buf) else {
            tally.unexpected += 1;
            continue;
        };
        match chat::parse_incoming(line.trim_end_matches('\n')) {
            Incoming::Relay { from, text } => match parse_message(text) {
                Some((s, seq, sent)) if plan.sender_ids.get(s) == Some(&from) => {
                    tally.record(s, seq, sent, now)
                }
                _ => tally.unexpected += 1,
            },
            Incoming::Notice(n) => {
                tally.notices += 1;
                tally.first_notice.get_or_insert_with(|| n.to_string());
            }
            Incoming::Welcome(_) | Incoming::Unknown(_) => tally.unexpected += 1,
        }
        if !counted && tally.complete() {
            plan.countdown.arrive();
            counted = true;
        }
    }
    if !counted {
        plan.countdown.arrive();
    }
    tally
}

/// What one sender did: its connection (kept open), why it stopped early if it did, and how
/// late each paced message left against its schedule, in µs.
struct Sent {
    writer: OwnedWriteHalf,
    error: Option<String>,
    late_us: Vec<u32>,
}

async fn send(
    mut writer: OwnedWriteHalf,
    sender: usize,
    plan: Arc<Plan>,
    interval: Option<Duration>,
    padding: Arc<str>,
) -> Sent {
    use std::fmt::Write;
    let mut line = String::with_capacity(64 + padding.len());
    let mut late_us = Vec::with_capacity(if interval.is_some() { plan.messages } else { 0 });
    for seq in 0..plan.messages {
        if let Some(every) = interval {
            // Senders take turns within each interval instead of all sending at once, so the
            // server sees an even stream of messages rather than a burst every interval. The
            // schedule is absolute: a message that leaves late does not push the next ones back.
            let offset = every * sender as u32 / plan.senders as u32;
            let due = plan.t0 + offset + every * seq as u32;
            tokio::time::sleep_until(due.into()).await;
            late_us.push(due.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
        line.clear();
        let _ = write!(line, "load {sender} {seq} {}", plan.now_us());
        if !padding.is_empty() {
            line.push(' ');
            line.push_str(&padding);
        }
        line.push('\n');
        if let Err(e) = writer.write_all(line.as_bytes()).await {
            return Sent {
                writer,
                error: Some(format!("sender {sender} stopped at message {seq}: {e}")),
                late_us,
            };
        }
    }
    Sent {
        writer,
        error: None,
        late_us,
    }
}

/// Run the load: connect, send, count. Builds its own tokio runtime.
pub fn run(args: &ChatLoadArgs) -> Result<Summary> {
    if args.senders() > args.clients {
        bail!(
            "--senders {} is more than --clients {}: senders are some of the clients",
            args.senders(),
            args.clients
        );
    }
    let limit = chat::raise_fd_limit().context("cannot read the open-file limit")?;
    let needed = args.clients as u64 + 64;
    if needed > limit {
        bail!(
            "--clients {} needs about {needed} open files, and this process may open {limit} \
             (the hard limit; `ulimit -Hn` shows it, root can raise it)",
            args.clients
        );
    }
    // Every core it may use: the load client reads up to a million lines, and a single thread
    // reading 10,000 sockets would add its own queueing delay to the latency it measures.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let senders = SenderLoop::start()?;
    runtime.block_on(load(args, senders.handle()))
}

/// The senders' own event loop, on a thread of its own. The senders' connections are made,
/// read and written there, so a message leaves when it is due even while the main runtime
/// works through thousands of receiving tasks: a timer that fires on a busy runtime waits in
/// its run queue behind every task already woken, and at 10,000 clients one relayed message
/// wakes 10,000 of them. The kernel schedules this thread on its own, and a thread waking from
/// sleep is run promptly. The summary's `send_late_*` figures show how well that held.
struct SenderLoop {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SenderLoop {
    fn start() -> Result<SenderLoop> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the senders' tokio runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // A current-thread runtime runs its tasks while a thread is in its `block_on`: this
        // thread sits there until the run is over, and `Drop` ends it.
        let thread = std::thread::Builder::new()
            .name("chat-load-senders".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .context("cannot start the senders' thread")?;
        Ok(SenderLoop {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for SenderLoop {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn load(args: &ChatLoadArgs, senders: &tokio::runtime::Handle) -> Result<Summary> {
    let (n, s, m) = (args.clients, args.senders(), args.messages);
    let expected = (s * m * (n - 1)) as u64;
    let mut run = Run::start(
        "chat",
        Label::new(&args.model, "load", n),
        expected as usize,
    );
    run.extra("clients", n)
        .extra("senders", s)
        .extra("messages", m)
        .extra("expected", expected);
    let idle = match args.server_pid {
        Some(pid) => Some(tree_memory(pid).with_context(|| {
            format!(
                "--server-pid {pid}: cannot read /proc/{pid}/smaps_rollup (no such process, or \
                 not ours to read)"
            )
        })?),
        None => None,
    };
    say!("connecting {n} clients to {}...", args.addr);
    let started = Instant::now();
    let conns = connect_all(args, senders).await?;
    let connect_s = started.elapsed().as_secs_f64();
    run.extra("admitted", conns.admitted.len())
        .extra("connect_s", round3(connect_s));
    if let (Some(pid), Some(idle)) = (args.server_pid, idle) {
        // Read now, with every client in and nothing sent yet: the cost of holding N
        // connections, without the queues and buffers of the send phase.
        let memory = tree_memory(pid);
        server_memory(&mut run, pid, idle, memory, conns.admitted.len());
    }
    if conns.admitted.len() < n {
        conns.explain(n, args.connect_timeout_s);
        run.extra("waiting", conns.waiting)
            .extra("refused", conns.refused.len())
            .extra("rejected", conns.rejected.len());
        return Ok(run.finish(String::new(), n - conns.admitted.len()));
    }
    say!(
        "{n} clients connected and welcomed in {connect_s:.3} s ({:.0} per second)",
        n as f64 / connect_s.max(1e-9)
    );
    let mut exchanged = exchange(args, conns.admitted, senders).await?;
    run.extra("send_s", round3(exchanged.send_s));
    if let Some(r) = args.rate {
        pacing(&mut run, args, r, &exchanged);
    }
    Ok(count(run, expected, &mut exchanged.tallies))
}

/// The server's memory with every client in, beside its memory before the first connected.
fn server_memory(
    run: &mut Run,
    pid: u32,
    idle: TreeMemory,
    memory: Option<TreeMemory>,
    admitted: usize,
) {
    let Some(m) = memory else {
        say!("the server (pid {pid}) was gone when every client was in: no memory reading");
        return;
    };
    let per_client = m.pss_kib.saturating_sub(idle.pss_kib) as f64 / admitted.max(1) as f64;
    say!(
        "server memory with {admitted} clients in: PSS {:.1} MiB ({:.1} MiB before the first \
         client, {per_client:.1} KiB per client), RSS {:.1} MiB, {} process{}",
        m.pss_kib as f64 / 1024.0,
        idle.pss_kib as f64 / 1024.0,
        m.rss_kib as f64 / 1024.0,
        m.processes,
        if m.processes == 1 { "" } else { "es" }
    );
    run.extra("server_pss_idle_kib", idle.pss_kib)
        .extra("server_pss_kib", m.pss_kib)
        .extra("server_rss_kib", m.rss_kib)
        .extra("server_processes", m.processes)
        .extra("server_pss_per_client_kib", round3(per_client));
}

/// How well the senders kept their schedule: how late messages left, and when the last one
/// was due against when it left.
fn pacing(run: &mut Run, args: &ChatLoadArgs, rate: u64, exchanged: &Exchanged) {
    let late = &exchanged.late_us;
    let ms = |us: u32| round3(f64::from(us) / 1000.0);
    let (p99, max) = (
        ms(percentile(late, 99.0)),
        ms(late.last().copied().unwrap_or(0)),
    );
    let (senders, m) = (args.senders() as f64, args.messages as f64);
    // When the last message was due: (messages - 1) intervals after the first, plus the last
    // sender's offset within its interval. `send_s` (when it really left) is beside it.
    let schedule_s = ((m - 1.0) + (senders - 1.0) / senders) / rate as f64;
    say!(
        "paced at {rate}/s per sender ({:.0} messages/s in all): the last was due at \
         {schedule_s:.3} s and left at {:.3} s; sends left late by p99 {p99} ms, max {max} ms",
        senders * rate as f64,
        exchanged.send_s
    );
    run.extra("rate", rate)
        .extra("schedule_s", round3(schedule_s))
        .extra("send_late_p99_ms", p99)
        .extra("send_late_max_ms", max);
}

/// How the connection attempts ended.
struct Connections {
    admitted: Vec<(u64, BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
    refused: Vec<String>,
    rejected: Vec<String>,
    waiting: usize,
}

impl Connections {
    /// Say why not everybody got in.
    fn explain(&self, n: usize, timeout_s: u64) {
        say!(
            "only {} of {n} clients were let in within {timeout_s} s",
            self.admitted.len()
        );
        if self.waiting > 0 {
            say!(
                "{} clients were still waiting for the server to welcome them: it is busy \
                 with the others (the serial server serves one client at a time)",
                self.waiting
            );
        }
        if let Some(e) = self.refused.first() {
            say!(
                "{} clients could not connect, the first because: {e}",
                self.refused.len()
            );
        }
        if let Some(line) = self.rejected.first() {
            say!(
                "{} clients were turned away, the first with: {line}",
                self.rejected.len()
            );
        }
    }
}

/// Connect every client, a few at a time, and wait for their welcomes (in client order). The
/// first `--senders` clients connect on the senders' runtime (see [`SenderLoop`]).
async fn connect_all(args: &ChatLoadArgs, senders: &tokio::runtime::Handle) -> Result<Connections> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.connect_timeout_s);
    let permits = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let attempts: Vec<_> = (0..args.clients)
        .map(|i| {
            let (permits, addr) = (Arc::clone(&permits), args.addr);
            let attempt = async move {
                timeout_at(deadline, connect(addr, permits))
                    .await
                    .unwrap_or(Admission::Waiting)
            };
            if i < args.senders() {
                senders.spawn(attempt)
            } else {
                tokio::spawn(attempt)
            }
        })
        .collect();
    let mut conns = Connections {
        admitted: Vec::with_capacity(args.clients),
        refused: Vec::new(),
        rejected: Vec::new(),
        waiting: 0,
    };
    for a in attempts {
        match a.await.context("a connecting task failed")? {
            Admission::Welcomed(id, r, w) => conns.admitted.push((id, r, w)),
            Admission::Refused(e) => conns.refused.push(e),
            Admission::Rejected(line) => conns.rejected.push(line),
            Admission::Waiting => conns.waiting += 1,
        }
    }
    Ok(conns)
}

/// Everyone listens, the senders send; wait until everything arrived or the deadline.
async fn exchange(
    args: &ChatLoadArgs,
    admitted: Vec<(u64, BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
    sender_loop: &tokio::runtime::Handle,
) -> Result<Exchanged> {
    let (n, s, m) = (args.clients, args.senders(), args.messages);
    let plan = Arc::new(Plan {
        senders: s,
        messages: m,
        sender_ids: admitted.iter().take(s).map(|(id, _, _)| *id).collect(),
        t0: Instant::now(),
        countdown: Countdown {
            left: AtomicUsize::new(n),
            zero: Notify::new(),
        },
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut receivers = Vec::with_capacity(n);
    let mut writers = Vec::with_capacity(n);
    for (i, (_, r, w)) in admitted.into_iter().enumerate() {
        let receiver = receive(r, i, Arc::clone(&plan), stop_rx.clone());
        // A connection stays on the runtime that made it: the senders' on theirs.
        receivers.push(if i < s {
            sender_loop.spawn(receiver)
        } else {
            tokio::spawn(receiver)
        });
        writers.push(w);
    }
    let interval = args.rate.map(|r| Duration::from_secs(1) / r as u32);
    let padding: Arc<str> = "x".repeat(args.payload).into();
    let senders: Vec<_> = writers
        .drain(..s)
        .enumerate()
        .map(|(i, w)| {
            let sender = send(w, i, Arc::clone(&plan), interval, Arc::clone(&padding));
            sender_loop.spawn(sender)
        })
        .collect();
    let mut late_us = Vec::new();
    for task in senders {
        let sent = task.await.context("a sending task failed")?;
        // Keep the connection open until the end: closing it now could look like leaving.
        writers.push(sent.writer);
        late_us.extend(sent.late_us);
        if let Some(e) = sent.error {
            say!("{e}");
        }
    }
    let send_s = plan.t0.elapsed().as_secs_f64();
    say!(
        "{s} senders sent {m} messages each ({} in all) in {send_s:.3} s",
        s * m
    );
    let until = tokio::time::Instant::from_std(plan.t0) + Duration::from_secs(args.timeout_s);
    if timeout_at(until, plan.countdown.wait()).await.is_ok() {
        tokio::time::sleep(GRACE).await;
    } else {
        say!(
            "gave up waiting after {} s (--timeout-s): what has not arrived counts as lost",
            args.timeout_s
        );
    }
    let _ = stop_tx.send(true);
    let mut tallies = Vec::with_capacity(n);
    for r in receivers {
        tallies.push(r.await.context("a receiving task failed")?);
    }
    late_us.sort_unstable();
    Ok(Exchanged {
        tallies,
        send_s,
        late_us,
    })
}

/// What the send phase gave: what each client saw, how long sending took, and how late each
/// paced message left (sorted; empty without `--rate`).
struct Exchanged {
    tallies: Vec<Tally>,
    send_s: f64,
    late_us: Vec<u32>,
}

/// Add up what every client saw into the run's summary.
fn count(mut run: Run, expected: u64, tallies: &mut [Tally]) -> Summary {
    let mut digest = Digest::new();
    let (mut delivered, mut lost, mut duplicated, mut unexpected, mut notices) = (0, 0, 0, 0, 0);
    let mut last_us = 0;
    let mut first_notice = None;
    let mut latencies = Vec::with_capacity(expected.min(50_000_000) as usize);
    for t in tallies.iter_mut() {
        t.digest_into(&mut digest);
        delivered += t.delivered;
        lost += t.lost();
        duplicated += t.duplicated;
        unexpected += t.unexpected;
        notices += t.notices;
        last_us = last_us.max(t.last_us);
        if first_notice.is_none() {
            first_notice = t.first_notice.take();
        }
        latencies.append(&mut t.latencies_us);
    }
    latencies.sort_unstable();
    let ms = |us: u32| round3(f64::from(us) / 1000.0);
    let (p50, p99, max) = (
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or(0)),
    );
    let deliver_s = last_us as f64 / 1e6;
    let per_s = if deliver_s > 0.0 {
        (delivered as f64 / deliver_s).round()
    } else {
        0.0
    };
    say!(
        "delivered {delivered} of {expected} expected (lost {lost}, duplicated {duplicated}, \
         unexpected {unexpected}) in {deliver_s:.3} s: {per_s:.0} deliveries/s; \
         latency p50 {p50} ms, p99 {p99} ms, max {max} ms"
    );
    if let Some(n) = &first_notice {
        say!("{notices} notices from the server, the first: {n}");
    }
    run.extra("delivered", delivered)
        .extra("lost", lost)
        .extra("duplicated", duplicated)
        .extra("unexpected", unexpected)
        .extra("notices", notices)
        .extra("deliver_s", round3(deliver_s))
        .extra("deliveries_per_s", per_s)
        .extra("latency_p50_ms", p50)
        .extra("latency_p99_ms", p99)
        .extra("latency_max_ms", max);
    let failed = lost + duplicated + unexpected;
    run.finish(digest.finish(), failed as usize)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_delivery_is_complete() {
        let mut t = Tally::new(3, 4, Some(1));
        assert_eq!(t.expected(), 8);
        for seq in 0..4 {
            for s in [0, 2] {
                t.record(s, seq, 10, 25);
            }
        }
        assert!(t.complete());
        assert_eq!((t.delivered, t.lost(), t.duplicated), (8, 0, 0));
        assert_eq!(t.latencies_us, vec![15; 8]);
    }

    #[test]
    fn gaps_tails_duplicates_and_strays_are_counted() {
        let mut t = Tally::new(2, 5, None);
        // Sender 0: 0, 1, 3 (2 skipped), 3 again, then 4; sender 1: 0 and 1, the rest never.
        for seq in [0, 1, 3, 3, 4] {
            t.record(0, seq, 0, 1);
        }
        t.record(1, 0, 0, 1);
        t.record(1, 1, 0, 1);
        assert_eq!(t.gaps, 1);
        assert_eq!(t.duplicated, 1);
        assert_eq!(t.delivered, 6);
        assert_eq!(t.lost(), 1 + 3);
        assert!(!t.complete());
        // Out of range, unknown sender.
        t.record(0, 5, 0, 1);
        t.record(7, 0, 0, 1);
        assert_eq!(t.unexpected, 2);
        // Delivered + lost is what was expected, duplicates aside.
        assert_eq!(t.delivered + t.lost(), t.expected());
    }

    #[test]
    fn a_sender_must_not_hear_itself() {
        let mut t = Tally::new(2, 1, Some(0));
        t.record(0, 0, 0, 1);
        assert_eq!((t.unexpected, t.delivered), (1, 0));
        t.record(1, 0, 0, 1);
        assert!(t.complete());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn messages_parse() {
        assert_eq!(parse_message("load 3 14 1592"), Some((3, 14, 1592)));
        assert_eq!(parse_message("load 3 14 1592 xxxx"), Some((3, 14, 1592)));
        assert_eq!(parse_message("hello"), None);
        assert_eq!(parse_message("load 3 x 1"), None);
    }

    #[test]
    fn a_process_tree_s_memory_counts_its_children() {
        let me = std::process::id();
        let alone = tree_memory(me).expect("this process can read itself");
        assert!(
            alone.pss_kib > 0 && alone.pss_kib <= alone.rss_kib,
            "{alone:?}"
        );
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        // The child appears in /proc once it has been forked; give it a moment to exec.
        let mut with_child = tree_memory(me).unwrap();
        for _ in 0..100 {
            if with_child.processes >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            with_child = tree_memory(me).unwrap();
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(with_child.processes >= 2, "{with_child:?}");
        assert!(with_child.pss_kib <= with_child.rss_kib, "{with_child:?}");
        // A pid nobody has is no reading, not a zero.
        assert_eq!(tree_memory(i32::MAX as u32), None);
    }

    #[test]
    fn more_senders_than_clients_is_refused() {
        let args = ChatLoadArgs {
            clients: 2,
            senders: Some(3),
            ..Default::default()
        };
        assert!(run(&args).unwrap_err().to_string().contains("--senders 3"));
    }
}
