//! `distributed worker --broker URL`: what runs on every host. It keeps `--processes` worker
//! processes (copies of this binary, the hidden `work` subcommand) alive, starting another
//! when one dies, the way a Celery worker's pool or systemd would; each worker process loops:
//!
//! 1. take a task: first any task another worker took and went silent on for
//!    `--claim-after-ms` (`XAUTOCLAIM`: its process died, its host went away), else a new one
//!    (`XREADGROUP ... >`, blocking at most a second);
//! 2. fetch the run's job and what its tasks share, once per run (the matrix's B), then the
//!    task's input (`GET`), timed: that is the time on the wire;
//! 3. compute (`remote.rs`), timed;
//! 4. store the result, announce it and acknowledge the task in one script (`broker::STORE`).
//!
//! A heartbeat thread renews the process's `alive` key every half second and keeps the task it
//! is working on from looking abandoned (`XCLAIM ... JUSTID` resets its idle time without
//! counting a delivery), so only a worker that is really gone loses its task to another. A
//! task delivered more than its run's `max_attempts` times (every worker that took it died: a
//! poisoned task) is not run again: it is stored as failed, naming it.
//!
//! If the broker goes away, a worker process reconnects for `--broker-wait-s` seconds (a
//! restarted Redis has lost its streams; the group is made again), then gives up; the host's
//! `worker` then stops with an error rather than restart processes that cannot work. Worker
//! processes die with the host's `worker` process (`PR_SET_PDEATHSIG`): none is left behind.
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no &
//! cargo run --release -p distributed -- worker --broker redis://127.0.0.1:6390 --processes 2
//! ```

use crate::broker::{self, ALIVE_MS, BrokerArgs, GROUP, Keys, RUN_TTL_S, RunKeys, STORE};
use crate::remote::{self, Runner};
use anyhow::{Context, Result, bail};
use clap::Args;
use redis::Connection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use scenarios::cli::{bounded, millis};
use scenarios::say;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that carries the pid of the process that started a worker.
pub const PARENT_PID_ENV: &str = "DISTRIBUTED_PARENT_PID";
/// A worker process's exit status when the broker has been unreachable for too long.
pub const EXIT_BROKER_GONE: i32 = 3;
/// Longest wait for one reply from the broker (a blocking read waits one second).
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// `distributed worker`: the worker processes of one host.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// How many worker processes this host runs (default: one per core)
    #[arg(long, default_value_t = scenarios::cli::cores(), value_parser = scenarios::cli::workers, allow_negative_numbers = true)]
    pub processes: usize,
    /// The host's name in the run's summary (default: the machine's host name)
    #[arg(long)]
    pub host: Option<String>,
    /// A task whose worker has been silent this long, in milliseconds, is claimed by another
    #[arg(long, default_value_t = 3000, value_parser = claim_ms, allow_negative_numbers = true)]
    pub claim_after_ms: u64,
    /// How long a worker keeps trying to reach a broker that went away, in seconds
    #[arg(long, default_value_t = 30, value_parser = wait_s, allow_negative_numbers = true)]
    pub broker_wait_s: u64,
    /// How many dead worker processes this host replaces before it gives up
    #[arg(long, default_value_t = 100, value_parser = restarts, allow_negative_numbers = true)]
    pub max_restarts: u64,
    /// Test fault: a slow host, sleeping this many milliseconds before each task
    #[arg(long, hide = true, default_value_t = 0, value_parser = millis)]
    pub slow_ms: u64,
}

fn claim_ms(s: &str) -> Result<u64, String> {
    let v = millis(s)?;
    if v < 100 {
        return Err(format!(
            "{v} ms is too short: a live worker renews its task every 500 ms; use at least 100"
        ));
    }
    Ok(v)
}

fn wait_s(s: &str) -> Result<u64, String> {
    bounded(s, 1, 600)
}

fn restarts(s: &str) -> Result<u64, String> {
    bounded(s, 0, 100_000)
}

impl WorkerArgs {
    fn host(&self) -> String {
        self.host.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "host".into())
        })
    }
}

/// What a worker stores for one task: the result, and what the run's summary needs of it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskResult {
    /// The bytes for the driver to unpack, or the task's error.
    pub result: Result<Vec<u8>, String>,
    pub worker: String,
    pub host: String,
    /// Which delivery of the task this was (1: the first).
    pub attempt: u32,
    /// Seconds fetching the input.
    pub fetch_s: f64,
    /// Seconds computing.
    pub compute_s: f64,
    /// What the run shares, fetched for this task (this worker's first task of the run), and
    /// how long it took.
    pub shared_bytes: u64,
    pub shared_s: f64,
}

/// The broker stayed unreachable: the worker process exits with [`EXIT_BROKER_GONE`].
#[derive(Debug)]
pub struct BrokerGone(pub String);

impl std::fmt::Display for BrokerGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokerGone {}

/// `distributed worker`: keep `--processes` worker processes alive until killed.
pub fn run(args: &WorkerArgs) -> Result<()> {
    tie_to_parent()?;
    // Fail now, clearly, if the broker is not there at all.
    broker::connect(&args.broker.broker, IO_TIMEOUT)?;
    let host = args.host();
    let mut kids = Kids(Vec::new());
    for i in 0..args.processes {
        kids.0.push(spawn(args, &host, i)?);
    }
    say!(
        "{host}: {} worker process(es) on queue '{}' at {}",
        args.processes,
        args.broker.queue,
        args.broker.broker
    );
    let mut replaced = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..kids.0.len() {
            let Some(status) = kids.0[i].try_wait()? else {
                continue;
            };
            if status.code() == Some(EXIT_BROKER_GONE) {
                bail!(
                    "{host}: the broker at {} has been unreachable for {} s; stopping",
                    args.broker.broker,
                    args.broker_wait_s
                );
            }
            if replaced >= args.max_restarts {
                bail!(
                    "{host}: {replaced} worker processes died and were replaced; the last {}; giving up",
                    describe(status)
                );
            }
            replaced += 1;
            say!(
                "{host}: worker process {} {}; starting another",
                kids.0[i].id(),
                describe(status)
            );
            kids.0[i] = spawn(args, &host, i)?;
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => status.to_string(),
    }
}

fn spawn(args: &WorkerArgs, host: &str, index: usize) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find this program to start a worker")?;
    Command::new(exe)
        .arg("work")
        .args([
            "--broker",
            &args.broker.broker,
            "--queue",
            &args.broker.queue,
        ])
        .args(["--host", host])
        .args(["--claim-after-ms", &args.claim_after_ms.to_string()])
        .args(["--broker-wait-s", &args.broker_wait_s.to_string()])
        .args(["--slow-ms", &args.slow_ms.to_string()])
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .env("DISTRIBUTED_WORKER_INDEX", index.to_string())
        .spawn()
        .context("cannot start a worker process")
}

/// The host's worker processes; killed and reaped if the host's `worker` stops on an error.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for kid in &mut self.0 {
            let _ = kid.kill();
            let _ = kid.wait();
        }
    }
}

/// Die with the process that started us: ask the kernel to kill us when it goes.
fn tie_to_parent() -> Result<()> {
    let Ok(expected) = std::env::var(PARENT_PID_ENV) else {
        return Ok(());
    };
    // A worker started by hand has no parent to follow.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("cannot ask to die with the parent")?;
    // The parent may have died between starting us and the line above.
    if expected != std::os::unix::process::parent_id().to_string() {
        bail!("the process that started this worker ({expected}) is gone");
    }
    Ok(())
}

/// What a worker process knows about one run.
struct RunState {
    runner: Box<dyn Runner>,
    max_attempts: u32,
    /// What fetching the shared data cost, reported with this worker's next result only.
    shared: Option<(u64, f64)>,
}

/// One task, as taken from the stream.
struct Task {
    entry: String,
    run: String,
    task: u64,
    item: Vec<u8>,
    poison: bool,
    kill_once: bool,
    attempt: u32,
}

/// The hidden `work` subcommand: one worker process, until killed or the broker is gone.
pub fn serve(args: &WorkerArgs) -> Result<()> {
    tie_to_parent()?;
    let keys = Keys::new(&args.broker.queue);
    let name = format!("{}-{}", args.host(), std::process::id());
    let url = &args.broker.broker;
    let current = Arc::new(Mutex::new(None::<String>));
    {
        let (url, keys, name, current) = (url.clone(), keys.clone(), name.clone(), current.clone());
        std::thread::spawn(move || heartbeat(&url, &keys, &name, &current));
    }
    let mut w = Worker {
        con: reconnect(args)?,
        keys,
        name,
        host: args.host(),
        claim_after_ms: args.claim_after_ms,
        slow_ms: args.slow_ms,
        runs: HashMap::new(),
        current,
        script: redis::Script::new(STORE),
        last_claim: Instant::now() - Duration::from_secs(60),
    };
    loop {
        match w.step() {
            Ok(()) => {}
            Err(e) if is_disconnect(&e) => {
                say!("{}: lost the broker ({e:#}); reconnecting", w.name);
                *w.current.lock().expect("no panics under the lock") = None;
                w.runs.clear();
                w.con = reconnect(args)?;
            }
            Err(e) => return Err(e),
        }
    }
}

fn reconnect(args: &WorkerArgs) -> Result<Connection> {
    let url = &args.broker.broker;
    let mut con =
        broker::connect_patiently(url, IO_TIMEOUT, Duration::from_secs(args.broker_wait_s))
            .map_err(|e| anyhow::Error::new(BrokerGone(format!("{e:#}"))))?;
    broker::ensure_group(&mut con, &Keys::new(&args.broker.queue))?;
    Ok(con)
}

fn is_disconnect(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<redis::RedisError>().is_some_and(|r| {
            r.is_io_error() || r.is_connection_dropped() || r.is_connection_refusal()
        })
    }) || e.chain().any(|c| {
        // A restarted broker has no group: NOGROUP until we make it again.
        c.downcast_ref::<redis::RedisError>()
            .is_some_and(|r| r.code() == Some("NOGROUP"))
    })
}

/// Renew the heartbeat and the current task's claim every half second, on its own connection
/// (the main one may be busy for a while, sending a large result).
fn heartbeat(url: &str, keys: &Keys, name: &str, current: &Mutex<Option<String>>) {
    loop {
        let Ok(mut con) = broker::connect(url, Duration::from_secs(5)) else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        loop {
            let entry = current.lock().expect("no panics under the lock").clone();
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(keys.alive(name))
                .arg(name)
                .arg("PX")
                .arg(ALIVE_MS)
                .ignore();
            if let Some(entry) = entry {
                pipe.cmd("XCLAIM")
                    .arg(keys.tasks())
                    .arg(GROUP)
                    .arg(name)
                    .arg(0)
                    .arg(entry)
                    .arg("JUSTID")
                    .ignore();
            }
            if pipe.query::<()>(&mut con).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

struct Worker {
    con: Connection,
    keys: Keys,
    name: String,
    host: String,
    claim_after_ms: u64,
    slow_ms: u64,
    runs: HashMap<String, Option<Result<RunState, String>>>,
    current: Arc<Mutex<Option<String>>>,
    script: redis::Script,
    last_claim: Instant,
}

impl Worker {
    /// Take one task, if one comes within a second, and do it.
    fn step(&mut self) -> Result<()> {
        let Some(task) = self.take()? else {
            return Ok(());
        };
        let rk = self.keys.run(&task.run);
        if !self.runs.contains_key(&task.run) {
            // Runs come and go; a worker serving many keeps only the recent ones.
            if self.runs.len() >= 16 {
                self.runs.clear();
            }
            let state = self.open_run(&rk)?;
            self.runs.insert(task.run.clone(), state);
        }
        let (max_attempts, what) = match self.runs.get(&task.run).expect("inserted above") {
            // The driver is gone (finished or dead): nobody wants this task any more.
            None => return self.drop_task(&task),
            Some(Err(why)) => {
                let why = why.clone();
                return self.store(&rk, &task, Err(why), (0.0, 0.0), None);
            }
            Some(Ok(state)) => (state.max_attempts, state.runner.describe(&task.item)),
        };
        if task.attempt > max_attempts {
            let why = format!(
                "{what} (task {}) was given up after {max_attempts} attempts: each worker that took it died before storing a result",
                task.task
            );
            say!("{}: {why}", self.name);
            return self.store(&rk, &task, Err(why), (0.0, 0.0), None);
        }
        *self.current.lock().expect("no panics under the lock") = Some(task.entry.clone());
        let fetched = Instant::now();
        let input: Option<Vec<u8>> = redis::cmd("GET")
            .arg(rk.input(task.task))
            .query(&mut self.con)?;
        let fetch_s = fetched.elapsed().as_secs_f64();
        let Some(input) = input else {
            // Its result was stored by another worker (which deleted the input).
            return self.drop_task(&task);
        };
        // The test faults: a task that kills whoever takes it, or only its first taker.
        if task.poison || (task.kill_once && task.attempt == 1) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(self.slow_ms));
        let Some(Some(Ok(state))) = self.runs.get_mut(&task.run) else {
            unreachable!("checked above")
        };
        let computed = Instant::now();
        let result = state
            .runner
            .compute(&task.item, &input)
            .map_err(|e| format!("{e:#}"));
        let compute_s = computed.elapsed().as_secs_f64();
        let shared = state.shared.take();
        self.store(&rk, &task, result, (fetch_s, compute_s), shared)
    }

    /// The next task: one abandoned by a dead worker, else a new one.
    fn take(&mut self) -> Result<Option<Task>> {
        // XAUTOCLAIM scans the pending list; a few times a claim period is often enough.
        if self.last_claim.elapsed() >= Duration::from_millis(self.claim_after_ms / 4) {
            self.last_claim = Instant::now();
            let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.keys.tasks())
                .arg(GROUP)
                .arg(&self.name)
                .arg(self.claim_after_ms)
                .arg("0-0")
                .arg("COUNT")
                .arg(1)
                .query(&mut self.con)?;
            if let Some(entry) = claimed.claimed.into_iter().next() {
                let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                    .arg(self.keys.tasks())
                    .arg(GROUP)
                    .arg(&entry.id)
                    .arg(&entry.id)
                    .arg(1)
                    .query(&mut self.con)?;
                let attempt = pending.ids.first().map_or(2, |p| p.times_delivered as u32);
                say!(
                    "{}: claimed task entry {} (delivery {attempt}) from a silent worker",
                    self.name,
                    entry.id
                );
                return Ok(Some(self.task(entry, attempt)));
            }
        }
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.name)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(self.keys.tasks())
            .arg(">")
            .query(&mut self.con)?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .next()
            .map(|entry| self.task(entry, 1)))
    }

    fn task(&self, entry: StreamId, attempt: u32) -> Task {
        Task {
            run: entry.get("run").unwrap_or_default(),
            task: entry.get("task").unwrap_or(u64::MAX),
            item: entry.get("item").unwrap_or_default(),
            poison: entry.contains_key("poison"),
            kill_once: entry.contains_key("kill_once"),
            attempt,
            entry: entry.id,
        }
    }

    /// Fetch a run's job and shared data. `None`: the run is over.
    fn open_run(&mut self, rk: &RunKeys) -> Result<Option<Result<RunState, String>>> {
        let spec: HashMap<String, Vec<u8>> =
            redis::cmd("HGETALL").arg(rk.spec()).query(&mut self.con)?;
        if spec.is_empty() {
            return Ok(None);
        }
        let fetched = Instant::now();
        let shared: Option<Vec<u8>> = redis::cmd("GET").arg(rk.shared()).query(&mut self.con)?;
        let shared_s = fetched.elapsed().as_secs_f64();
        let shared = shared.unwrap_or_default();
        let field = |k: &str| spec.get(k).cloned().unwrap_or_default();
        let job = String::from_utf8_lossy(&field("job")).into_owned();
        let max_attempts = String::from_utf8_lossy(&field("max_attempts"))
            .parse()
            .unwrap_or(3);
        let state = remote::runner_for(&job, &field("settings"), &shared)
            .map(|runner| RunState {
                runner,
                max_attempts,
                shared: (!shared.is_empty()).then_some((shared.len() as u64, shared_s)),
            })
            .map_err(|e| format!("{e:#}"));
        Ok(Some(state))
    }

    /// Store a task's result (once, whoever stores it first), announce it and acknowledge it.
    fn store(
        &mut self,
        rk: &RunKeys,
        task: &Task,
        result: Result<Vec<u8>, String>,
        (fetch_s, compute_s): (f64, f64),
        shared: Option<(u64, f64)>,
    ) -> Result<()> {
        let (shared_bytes, shared_s) = shared.unwrap_or((0, 0.0));
        let report = TaskResult {
            result,
            worker: self.name.clone(),
            host: self.host.clone(),
            attempt: task.attempt,
            fetch_s,
            compute_s,
            shared_bytes,
            shared_s,
        };
        let bytes = remote::encode(&report)?;
        let stored_at = Instant::now();
        let stored: i64 = self
            .script
            .key(rk.spec())
            .key(rk.results())
            .key(rk.done())
            .key(rk.input(task.task))
            .key(self.keys.tasks())
            .arg(task.task)
            .arg(bytes)
            .arg(GROUP)
            .arg(&task.entry)
            .invoke(&mut self.con)?;
        let store_s = stored_at.elapsed().as_secs_f64();
        *self.current.lock().expect("no panics under the lock") = None;
        if stored == 1 {
            redis::pipe()
                .cmd("HINCRBYFLOAT")
                .arg(rk.stats())
                .arg("store_s")
                .arg(store_s)
                .ignore()
                .cmd("HINCRBY")
                .arg(rk.stats())
                .arg("stores")
                .arg(1)
                .ignore()
                .cmd("EXPIRE")
                .arg(rk.stats())
                .arg(RUN_TTL_S)
                .ignore()
                .query::<()>(&mut self.con)?;
        }
        Ok(())
    }

    /// Acknowledge and delete a task nobody needs any more.
    fn drop_task(&mut self, task: &Task) -> Result<()> {
        *self.current.lock().expect("no panics under the lock") = None;
        redis::pipe()
            .cmd("XACK")
            .arg(self.keys.tasks())
            .arg(GROUP)
            .arg(&task.entry)
            .ignore()
            .cmd("XDEL")
            .arg(self.keys.tasks())
            .arg(&task.entry)
            .ignore()
            .query::<()>(&mut self.con)?;
        Ok(())
    }
}
