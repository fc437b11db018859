//! The distributed executor: the chapter's `concurrent.futures` when the workers are on other
//! machines. This process is the *driver*: it puts each item's input in the engine (Redis) and
//! a task entry on the queue's stream, the workers (`distributed worker` on each host,
//! `worker.rs`) take the entries through a consumer group, and the driver collects the results
//! and puts them back in input order.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`, so
//! `diff multiprocessing/src/pool.rs distributed/src/pool.rs` shows what changes when the
//! worker is a machine away rather than a pipe away: the data travels (`remote.rs`), workers
//! die and others take their tasks, nothing can be assumed about who is listening.
//!
//! What the driver bounds, so that a run can neither hang nor fill the broker:
//! - at most [`WINDOW_TASKS`] tasks and [`WINDOW_BYTES`] of inputs are in the engine at once
//!   (more are enqueued as results come back), so a run of any size uses bounded broker memory;
//! - a task whose result has not come back within its deadline (the job's, once per attempt)
//!   is lost, named, and the run goes on;
//! - a run with no live worker for [`NO_WORKER_S`] seconds stops with an error that says how
//!   to start one; a broker that goes away stops it with an error that says how much arrived.
//!
//! `--workers N` is how many worker processes serve the run: started here, on this machine,
//! as children (the default, so `distributed images DIR` works on its own against a local
//! Redis), or, with `--remote`, started on other hosts beforehand; the driver then waits for N
//! of them to be alive.

use crate::MODEL;
use crate::broker::{self, BrokerArgs, Keys, RUN_TTL_S, RunKeys};
use crate::cost::Costs;
use crate::remote::{self, Remote};
use crate::worker::TaskResult;
use anyhow::{Context, Result, bail};
use clap::Args;
use redis::Connection;
use redis::streams::StreamReadReply;
use scenarios::cli::{bounded, millis};
use scenarios::outcome::{OnError, Outcome, Stopper};
use scenarios::progress::Progress;
use scenarios::{Label, Run, say};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Tasks in the engine at once, at most.
pub const WINDOW_TASKS: usize = 64;
/// Input bytes in the engine at once, at most (one task may exceed it alone).
pub const WINDOW_BYTES: usize = 256 << 20;
/// A run with no live worker for this long stops.
pub const NO_WORKER_S: u64 = 10;
/// Longest wait for one reply from the broker.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The distributed model's own flags, beside the scenario's.
#[derive(Args, Debug, Clone)]
pub struct DriverArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// The workers run elsewhere (`distributed worker --broker URL` on each host): wait for
    /// --workers of them to be alive instead of starting them here
    #[arg(long)]
    pub remote: bool,
    /// How many times a task is handed out before it is failed: a task that kills every worker
    /// that takes it is failed and named, not retried for ever
    #[arg(long, default_value_t = 3, value_parser = attempts, allow_negative_numbers = true)]
    pub max_attempts: u32,
    /// Local workers only: how long a task whose worker went silent waits before another
    /// worker claims it, in milliseconds
    #[arg(long, default_value_t = 3000, value_parser = millis, allow_negative_numbers = true)]
    pub claim_after_ms: u64,
    /// How long to wait for the workers to be alive, in seconds
    #[arg(long, default_value_t = 30, value_parser = wait_s, allow_negative_numbers = true)]
    pub wait_workers_s: u64,
    /// Test fault: the task with this index kills every worker that takes it
    #[arg(long, hide = true)]
    pub poison_task: Option<u64>,
    /// Test fault: the task with this index kills (SIGKILL) the first worker that takes it
    #[arg(long, hide = true)]
    pub kill_once_task: Option<u64>,
}

fn attempts(s: &str) -> Result<u32, String> {
    bounded(s, 1, 100).map(|v| v as u32)
}

fn wait_s(s: &str) -> Result<u64, String> {
    bounded(s, 1, 600)
}

impl Default for DriverArgs {
    fn default() -> DriverArgs {
        DriverArgs {
            broker: BrokerArgs {
                broker: "redis://127.0.0.1:6379".into(),
                queue: "rust".into(),
            },
            remote: false,
            max_attempts: 3,
            claim_after_ms: 3000,
            wait_workers_s: 30,
            poison_task: None,
            kill_once_task: None,
        }
    }
}

/// An executor whose workers take tasks from a broker.
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
    args: DriverArgs,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers,
            on_error: OnError::Stop,
            args: DriverArgs::default(),
        }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error, ..self }
    }

    /// Which broker, which queue, and whether the workers are elsewhere.
    pub fn broker(self, args: &DriverArgs) -> Pool {
        Pool {
            args: args.clone(),
            ..self
        }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        Label::new(MODEL, "streams", self.workers)
    }

    /// Run `job` on every item on the broker's workers; one outcome per item, in input order.
    /// What the run cost in bytes and seconds is noted on `run`.
    pub fn map_in_order<J: Remote>(
        &self,
        run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let url = &self.args.broker.broker;
        let keys = Keys::new(&self.args.broker.queue);
        let mut con = broker::connect(url, IO_TIMEOUT)?;
        broker::ensure_group(&mut con, &keys)?;
        // Started before we wait for them, killed when this returns, however it returns.
        let _local = match self.args.remote {
            true => None,
            false => Some(LocalWorkers::start(&self.args, self.workers)?),
        };
        self.wait_for_workers(&mut con, &keys)?;
        let id = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let rk = keys.run(&id);
        let mut driver = Driver {
            job,
            con,
            keys: &keys,
            rk: &rk,
            run_id: &id,
            args: &self.args,
            m: Measures::default(),
        };
        let tasks = items.len();
        let result = driver
            .open()
            .and_then(|()| driver.drive(items, self.on_error));
        // Whatever happened, the run's keys go (a broker that went away has none left).
        driver.close(tasks);
        let outcomes = result.map_err(|e| e.context(format!("the broker at {url}")))?;
        driver.m.note(run, self.workers);
        Ok(outcomes)
    }

    fn wait_for_workers(&self, con: &mut Connection, keys: &Keys) -> Result<()> {
        let within = Duration::from_secs(self.args.wait_workers_s);
        let started = Instant::now();
        loop {
            let alive = broker::alive_workers(con, keys)?;
            if alive >= self.workers {
                return Ok(());
            }
            if started.elapsed() >= within {
                bail!(
                    "only {alive} of the {} workers asked for are alive on queue '{}' after {} s: \
                     start them with `distributed worker --broker {} --queue {}` on each host, \
                     or drop --remote to start them here",
                    self.workers,
                    self.args.broker.queue,
                    within.as_secs(),
                    self.args.broker.broker,
                    self.args.broker.queue
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One task in the engine, waiting for its result.
struct Flight<I> {
    item: I,
    since: Instant,
    deadline: Duration,
    bytes: usize,
}

/// What the run cost, in bytes and seconds, from the driver's clocks and the workers' reports.
#[derive(Debug, Default)]
struct Measures {
    results: usize,
    bytes_to_workers: u64,
    bytes_from_workers: u64,
    broadcast_bytes: u64,
    broadcast_s: f64,
    broadcasts: usize,
    fetch_s: f64,
    store_s: f64,
    compute_s: f64,
    driver_s: f64,
    redelivered: usize,
    duplicates: usize,
    workers: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

impl Measures {
    fn note(&self, run: &mut Run, workers: usize) {
        let per_task = |x: f64| x / self.results.max(1) as f64;
        let ms = |x: f64| (per_task(x) * 1e6).round() / 1e3;
        let costs = Costs {
            tasks: self.results,
            compute_s: per_task(self.compute_s),
            wire_s: per_task(self.fetch_s + self.store_s),
            driver_s: per_task(self.driver_s),
            broadcast_s: self.broadcast_s / self.broadcasts.max(1) as f64,
            per_host: (self.workers.len().max(workers) as f64 / self.hosts.len().max(1) as f64)
                .max(1.0),
        };
        say!(
            "moved {:.1} MiB to the workers ({:.1} MiB of it broadcast) and {:.1} MiB back; per task {:.1} ms computing, {:.1} ms on the wire, {:.1} ms in the driver",
            self.bytes_to_workers as f64 / 1048576.0,
            self.broadcast_bytes as f64 / 1048576.0,
            self.bytes_from_workers as f64 / 1048576.0,
            ms(self.compute_s),
            ms(self.fetch_s + self.store_s),
            ms(self.driver_s)
        );
        say!("{}", costs.explain());
        run.extra("hosts", self.hosts.len())
            .extra("processes", self.workers.len())
            .extra("bytes_to_workers", self.bytes_to_workers)
            .extra("bytes_from_workers", self.bytes_from_workers)
            .extra("broadcast_bytes", self.broadcast_bytes)
            .extra(
                "bytes_per_task",
                (self.bytes_to_workers - self.broadcast_bytes + self.bytes_from_workers)
                    / self.results.max(1) as u64,
            )
            .extra("compute_ms_per_task", ms(self.compute_s))
            .extra("wire_ms_per_task", ms(self.fetch_s + self.store_s))
            .extra("driver_ms_per_task", ms(self.driver_s))
            .extra("redelivered", self.redelivered)
            .extra("duplicates", self.duplicates)
            .extra("projected_s", costs.projection())
            .extra("hosts_until_driver_bound", costs.driver_bound_hosts());
    }
}

/// One run on the broker.
struct Driver<'a, J> {
    job: J,
    con: Connection,
    keys: &'a Keys,
    rk: &'a RunKeys,
    run_id: &'a str,
    args: &'a DriverArgs,
    m: Measures,
}

impl<J: Remote> Driver<'_, J> {
    /// Put the run's job and what its tasks share in the engine.
    fn open(&mut self) -> Result<()> {
        let settings = remote::encode(&self.job)?;
        let shared = self.job.shared_bytes()?;
        broker::check_size("what the tasks share", shared.len())?;
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(self.rk.spec())
            .arg("job")
            .arg(J::NAME)
            .arg("settings")
            .arg(settings)
            .arg("max_attempts")
            .arg(self.args.max_attempts)
            .ignore()
            .cmd("SET")
            .arg(self.rk.shared())
            .arg(shared)
            .arg("EX")
            .arg(RUN_TTL_S)
            .ignore()
            .cmd("EXPIRE")
            .arg(self.rk.spec())
            .arg(RUN_TTL_S)
            .ignore()
            .query::<()>(&mut self.con)
            .context("cannot open the run")
    }

    /// Enqueue within the window, collect as results arrive, until every item has an outcome.
    fn drive(&mut self, items: Vec<J::Item>, on_error: OnError) -> Result<Vec<Outcome<J::Output>>> {
        let n = items.len();
        let mut outcomes: Vec<Option<Outcome<J::Output>>> = (0..n).map(|_| None).collect();
        let stopper = Stopper::new(on_error);
        let progress = Progress::new(n);
        let mut queue = items.into_iter().enumerate();
        let mut flying: BTreeMap<u64, Flight<J::Item>> = BTreeMap::new();
        let (mut flying_bytes, mut settled) = (0, 0);
        let mut last_notice = "0-0".to_string();
        let (mut last_alive, mut last_check) = (Instant::now(), Instant::now());
        let settle = |outcomes: &mut Vec<Option<Outcome<J::Output>>>, i: usize, o| {
            stopper.record(&o);
            outcomes[i] = Some(o);
            progress.tick();
        };
        while settled < n {
            while flying.len() < WINDOW_TASKS && flying_bytes < WINDOW_BYTES {
                let Some((i, item)) = queue.next() else { break };
                if stopper.stopped() {
                    settle(&mut outcomes, i, Outcome::Skipped);
                    settled += 1;
                    continue;
                }
                let started = Instant::now();
                match self.enqueue(i as u64, &item) {
                    Ok(bytes) => {
                        let deadline = (self.job.deadline(&item)
                            + Duration::from_millis(self.args.claim_after_ms))
                            * self.args.max_attempts;
                        flying_bytes += bytes;
                        flying.insert(
                            i as u64,
                            Flight {
                                item,
                                since: Instant::now(),
                                deadline,
                                bytes,
                            },
                        );
                    }
                    Err(e) if broker_error(&e) => return Err(e),
                    Err(e) => {
                        settle(&mut outcomes, i, Outcome::Failed(format!("{e:#}")));
                        settled += 1;
                    }
                }
                self.m.driver_s += started.elapsed().as_secs_f64();
            }
            if settled == n {
                break;
            }
            let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(64)
                .arg("BLOCK")
                .arg(500)
                .arg("STREAMS")
                .arg(self.rk.done())
                .arg(&last_notice)
                .query(&mut self.con)
                .with_context(|| lost_broker(settled, n))?;
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                last_notice = entry.id.clone();
                let Some(task) = entry.get::<u64>("task") else {
                    continue;
                };
                let Some(flight) = flying.remove(&task) else {
                    // Stored once by design (HSETNX): a second notice would be a bug here.
                    self.m.duplicates += 1;
                    continue;
                };
                flying_bytes -= flight.bytes;
                let started = Instant::now();
                let outcome = self
                    .collect(task, &flight)
                    .with_context(|| lost_broker(settled, n))?;
                self.m.driver_s += started.elapsed().as_secs_f64();
                settle(&mut outcomes, task as usize, outcome);
                settled += 1;
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                let alive = broker::alive_workers(&mut self.con, self.keys)
                    .with_context(|| lost_broker(settled, n))?;
                if alive > 0 {
                    last_alive = Instant::now();
                } else if last_alive.elapsed() >= Duration::from_secs(NO_WORKER_S) {
                    bail!(
                        "no worker has been alive on queue '{}' for {NO_WORKER_S} s, with {} of {n} \
                         results in: start one with `distributed worker --broker {} --queue {}`",
                        self.args.broker.queue,
                        settled,
                        self.args.broker.broker,
                        self.args.broker.queue
                    );
                }
                let late: Vec<u64> = flying
                    .iter()
                    .filter(|(_, f)| f.since.elapsed() > f.deadline)
                    .map(|(t, _)| *t)
                    .collect();
                for task in late {
                    let f = flying.remove(&task).expect("listed above");
                    flying_bytes -= f.bytes;
                    let why = format!(
                        "{}: no worker returned a result within {} s",
                        self.job.describe(&f.item),
                        f.deadline.as_secs()
                    );
                    settle(&mut outcomes, task as usize, Outcome::Lost(why));
                    settled += 1;
                }
            }
        }
        progress.finish();
        self.read_stats()?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every item settled"))
            .collect())
    }

    /// Put one item's input and its task entry in the engine; returns the input's size.
    fn enqueue(&mut self, task: u64, item: &J::Item) -> Result<usize> {
        let input = self.job.pack(item)?;
        broker::check_size(&self.job.describe(item), input.len())?;
        let bytes = input.len();
        let mut fields: Vec<(&str, Vec<u8>)> = vec![
            ("run", self.run_id.as_bytes().to_vec()),
            ("task", task.to_string().into_bytes()),
            ("item", remote::encode(item)?),
        ];
        if self.args.poison_task == Some(task) {
            fields.push(("poison", b"1".to_vec()));
        }
        if self.args.kill_once_task == Some(task) {
            fields.push(("kill_once", b"1".to_vec()));
        }
        redis::pipe()
            .cmd("SET")
            .arg(self.rk.input(task))
            .arg(input)
            .arg("EX")
            .arg(RUN_TTL_S)
            .ignore()
            .cmd("XADD")
            .arg(self.keys.tasks())
            .arg("*")
            .arg(&fields)
            .ignore()
            .query::<()>(&mut self.con)
            .map_err(BrokerError)?;
        self.m.bytes_to_workers += bytes as u64;
        Ok(bytes)
    }

    /// The outcome of a task whose result was announced.
    fn collect(&mut self, task: u64, flight: &Flight<J::Item>) -> Result<Outcome<J::Output>> {
        let (bytes,): (Option<Vec<u8>>,) = redis::pipe()
            .cmd("HGET")
            .arg(self.rk.results())
            .arg(task)
            .cmd("HDEL")
            .arg(self.rk.results())
            .arg(task)
            .ignore()
            .query(&mut self.con)?;
        let what = self.job.describe(&flight.item);
        let Some(bytes) = bytes else {
            return Ok(Outcome::Lost(format!(
                "{what}: its result was announced but is not in the broker"
            )));
        };
        let r: TaskResult = remote::decode(&bytes)?;
        self.m.results += 1;
        self.m.bytes_from_workers += r.result.as_ref().map_or(0, |b| b.len()) as u64;
        self.m.bytes_to_workers += r.shared_bytes;
        self.m.broadcast_bytes += r.shared_bytes;
        if r.shared_bytes > 0 {
            self.m.broadcast_s += r.shared_s;
            self.m.broadcasts += 1;
        }
        self.m.fetch_s += r.fetch_s;
        self.m.compute_s += r.compute_s;
        self.m.redelivered += usize::from(r.attempt > 1);
        self.m.workers.insert(r.worker);
        self.m.hosts.insert(r.host);
        Ok(match r.result {
            Ok(returned) => Outcome::of(self.job.unpack(&flight.item, returned)),
            Err(e) => Outcome::Failed(e),
        })
    }

    /// The store times the workers add after each result (bounded wait for the last ones).
    fn read_stats(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            let (stores, store_s): (Option<usize>, Option<f64>) = redis::cmd("HMGET")
                .arg(self.rk.stats())
                .arg("stores")
                .arg("store_s")
                .query(&mut self.con)?;
            if stores.unwrap_or(0) >= self.m.results || started.elapsed() > Duration::from_secs(2) {
                self.m.store_s = store_s.unwrap_or(0.0);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Delete the run's keys, and the inputs of tasks that never finished (a run that stopped
    /// early); their stream entries are dropped by the first worker that finds the run gone.
    fn close(&mut self, tasks: usize) {
        let mut keys = self.rk.all().to_vec();
        keys.extend((0..tasks as u64).map(|t| self.rk.input(t)));
        for chunk in keys.chunks(1000) {
            let _ = redis::cmd("DEL").arg(chunk).query::<()>(&mut self.con);
        }
    }
}

/// An error talking to the broker, as opposed to an item's own failure.
#[derive(Debug)]
struct BrokerError(redis::RedisError);

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BrokerError {}

fn broker_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<BrokerError>().is_some()
}

fn lost_broker(settled: usize, n: usize) -> String {
    format!(
        "the broker failed mid-run ({settled} of {n} items settled): a broker restarted with \
         persistence off has lost the queue and every result not yet collected; nothing was \
         written for those items"
    )
}

/// Worker processes on this machine, for a run without `--remote`: one `distributed worker`
/// child (which keeps its own worker processes), killed when the run ends.
struct LocalWorkers {
    child: Child,
}

impl LocalWorkers {
    fn start(args: &DriverArgs, workers: usize) -> Result<LocalWorkers> {
        let exe = std::env::current_exe().context("cannot find this program to start workers")?;
        let child = Command::new(exe)
            .arg("worker")
            .args([
                "--broker",
                &args.broker.broker,
                "--queue",
                &args.broker.queue,
            ])
            .args(["--processes", &workers.to_string(), "--host", "local"])
            .args(["--claim-after-ms", &args.claim_after_ms.to_string()])
            .env(
                crate::worker::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            // stdout is the driver's summary: the workers' lines go to stderr.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the local workers")?;
        Ok(LocalWorkers { child })
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        // Its worker processes die with it (PR_SET_PDEATHSIG, see worker.rs).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
