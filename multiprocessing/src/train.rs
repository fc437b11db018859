//! The chapter's "machine-learning training" row with processes, its own recommendation:
//! synchronous data-parallel SGD on Fashion-MNIST, `--workers` worker processes (copies of
//! this binary, `child.rs`) that each read the data set once and keep it, and a parent that
//! holds the weights. Every step the parent sends each worker the weights and its shards of
//! the batch, each worker sends back one gradient per shard, and the parent sums them in shard
//! order and updates the weights: the serial model's shards and sum, so its digest too.
//!
//! Why frames over pipes, not a shared memory map: the frames are the ones every other process
//! scenario uses (`child.rs`, postcard, a bounded frame size), a worker that dies shows up at
//! once as the end of its pipe, and it is all safe code. A memory map shared between processes
//! would save the copies, but it needs `unsafe` (which this workspace denies: another process
//! may write the memory while we read it, which Rust cannot check) and a protocol of its own to
//! say when the weights and gradients are ready, and it would hide the very cost this model
//! has: moving the weights out and the gradients back, every step, since processes share no
//! memory. The summary reports those bytes (`pipe_bytes_sent`, `pipe_bytes_received`).
//!
//! A worker that dies or stops answering mid-epoch never changes the model silently: its
//! shards are recomputed, at the same weights, by a new worker, which gives the same bits (up
//! to `--respawns` times in a run; after that the run fails naming the worker). A worker that
//! makes no reply within the step's deadline (`--task-timeout`, or one derived from the work)
//! is killed first. A bad data set that a worker cannot read fails the run with the worker's
//! message, which names the file. No child outlives the run (see `child.rs`).
//!
//! ```text
//! apt-get install dataset-fashion-mnist        # the data, under /usr/share/datasets/fashion-mnist
//! cargo run --release -p multiprocessing -- train [--workers N] [--respawns R]
//! ```

use crate::MODEL;
use crate::child::{self, ChildProcess, Fault};
use crate::engine::PoolArgs;
use anyhow::{Context, Result, anyhow, bail};
use crossbeam_channel::{Receiver, Sender};
use scenarios::cli::bounded;
use scenarios::job::Job;
use scenarios::train::{self, Done, Executor, Plan, Step, Task, TrainArgs, TrainJob, Weights};
use scenarios::{Label, Run, Summary, say};
use std::sync::Arc;
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

/// How much the pipes to and from a worker hold: a step's weights or gradients (400 KiB for
/// the MLP, 1.6 MiB for its four shards) then cross in a few writes, not one per 64 KiB.
/// Linux lets anyone ask for up to 1 MiB (`fs.pipe-max-size`).
const PIPE_BYTES: usize = 1 << 20;

/// The flags of `train` in this crate.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainPoolArgs {
    /// How many dead or stuck workers are replaced (their shards recomputed) before the run fails
    #[arg(long, default_value_t = 3, value_parser = respawns, allow_negative_numbers = true)]
    pub respawns: usize,
    #[command(flatten)]
    pub pool: PoolArgs,
}

fn respawns(s: &str) -> Result<usize, String> {
    bounded(s, 0, 1000).map(|v| v as usize)
}

pub fn run(args: &TrainArgs, opts: &TrainPoolArgs) -> Result<Summary> {
    // The headers only: the workers read the data, the parent never holds it.
    let plan = Plan::of(args)?;
    child::check_process_count("--workers", plan.workers)?;
    let label = Label::new(MODEL, "processes", plan.workers);
    let mut run = Run::start("train", label, plan.steps(args));
    let job = TrainJob::new(args);
    let settings = child::encode(&job)?;
    let (digest, facts) = thread::scope(|s| -> Result<(String, Facts)> {
        let mut procs = Processes::start(s, &settings, &job, plan.workers, opts)?;
        // Every worker reads the data set before the first step: that is the loading time.
        procs.load()?;
        let digest = train::train(args, &plan, &mut run, &mut procs, None)?;
        Ok((digest, procs.close()))
        // The drivers see their channels close, end their workers and are joined here.
    })?;
    run.extra("parent_pid", std::process::id())
        .extra("pids", facts.pids)
        .extra("replaced", facts.replaced)
        .extra("pipe_bytes_sent", facts.sent)
        .extra("pipe_bytes_received", facts.received);
    Ok(run.finish(digest, 0))
}

/// What the parent learned about its workers.
#[derive(Default)]
struct Facts {
    pids: Vec<u32>,
    replaced: usize,
    sent: u64,
    received: u64,
}

/// What a driver thread tells the parent.
enum Report {
    /// Driver `k` started worker process `pid`.
    Started(usize, u32),
    /// Its worker answered: the results, and the reply's size.
    Answered(usize, Vec<Done>, u64),
    /// The job failed inside the worker (a data set it cannot read): the run fails.
    Failed(usize, String),
    /// The worker died or could not start: its tasks must be computed again.
    Lost(usize, String),
}

/// The worker processes, one driver thread each: the thread that starts a worker keeps it (a
/// worker dies with the thread that spawned it, see `child.rs`).
struct Processes<'a> {
    orders: Vec<Sender<(u64, Step)>>,
    reports: Receiver<Report>,
    job: &'a TrainJob,
    task_timeout: Option<Duration>,
    respawns_left: usize,
    /// The worker process each driver has now (0: none).
    current: Vec<u32>,
    /// The drivers whose worker is busy with a step: killed if the run stops mid-step.
    busy: Vec<bool>,
    next_id: u64,
    facts: Facts,
}

impl<'a> Processes<'a> {
    fn start<'scope>(
        s: &'scope Scope<'scope, 'a>,
        settings: &'a [u8],
        job: &'a TrainJob,
        workers: usize,
        opts: &TrainPoolArgs,
    ) -> Result<Processes<'a>> {
        let (reports_tx, reports) = crossbeam_channel::unbounded();
        let fault = opts.pool.fault.fault();
        let mut orders = Vec::with_capacity(workers);
        for k in 0..workers {
            // One step at a time per worker: a bounded channel of one.
            let (tx, rx) = crossbeam_channel::bounded(1);
            let reports = reports_tx.clone();
            thread::Builder::new()
                .name(format!("driver-{}", k + 1))
                .spawn_scoped(s, move || drive(k, settings, fault, rx, reports))
                .with_context(|| format!("cannot start driver thread {} of {workers}", k + 1))?;
            orders.push(tx);
        }
        Ok(Processes {
            orders,
            reports,
            job,
            task_timeout: opts.pool.task_timeout,
            respawns_left: opts.respawns,
            current: vec![0; workers],
            busy: vec![false; workers],
            next_id: 0,
            facts: Facts::default(),
        })
    }

    /// Have every worker read the data set (an empty step), before training starts.
    fn load(&mut self) -> Result<()> {
        let empty = Arc::new(Vec::new());
        let hands = (0..self.orders.len())
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        self.round(&empty, hands).map(|_| ())
    }

    /// The hand-over of one step to the workers and back: send each its step, wait for every
    /// answer, and recompute the tasks of a worker that died in a new one.
    fn round(
        &mut self,
        params: &Arc<Vec<f32>>,
        hands: Vec<(Vec<usize>, Vec<Task>)>,
    ) -> Result<Vec<(Vec<usize>, Vec<Done>)>> {
        let steps: Vec<Step> = hands
            .iter()
            .map(|(_, tasks)| Step {
                params: Weights(Arc::clone(params)),
                tasks: tasks.clone(),
            })
            .collect();
        let deadline = steps
            .iter()
            .map(|s| self.task_timeout.unwrap_or_else(|| self.job.deadline(s)))
            .max()
            .unwrap_or_default();
        for (k, step) in steps.iter().enumerate() {
            self.send(k, step)?;
        }
        let mut answers: Vec<Option<Vec<Done>>> = steps.iter().map(|_| None).collect();
        let mut until = Instant::now() + deadline;
        let mut killed = vec![false; steps.len()];
        while answers.iter().any(Option::is_none) {
            let report = match self.reports.recv_deadline(until) {
                Ok(report) => report,
                Err(_) if killed.iter().any(|k| *k) => {
                    bail!("worker processes killed at their deadline never ended; giving up")
                }
                Err(_) => {
                    // Stuck, not dead (stopped, swapping): kill it, and its driver reports it
                    // lost like any dead worker. SIGKILL ends a stopped process too.
                    for k in 0..steps.len() {
                        if answers[k].is_none() && self.current[k] != 0 {
                            kill(self.current[k]);
                            killed[k] = true;
                        }
                    }
                    until = Instant::now() + Duration::from_secs(30);
                    continue;
                }
            };
            match report {
                Report::Started(k, pid) => {
                    self.current[k] = pid;
                    self.facts.pids.push(pid);
                }
                Report::Answered(k, done, bytes) => {
                    self.busy[k] = false;
                    self.facts.received += bytes;
                    answers[k] = Some(done);
                }
                Report::Failed(k, why) => {
                    self.busy[k] = false;
                    bail!("{why}");
                }
                Report::Lost(k, why) => {
                    self.busy[k] = false;
                    let pid = std::mem::take(&mut self.current[k]);
                    let why = if killed[k] {
                        format!(
                            "worker process {pid} made no reply within its deadline of {:.1} s \
                             and was killed",
                            deadline.as_secs_f64()
                        )
                    } else {
                        why
                    };
                    if self.respawns_left == 0 {
                        bail!("{why}; no respawns left (--respawns): giving up");
                    }
                    self.respawns_left -= 1;
                    self.facts.replaced += 1;
                    killed[k] = false;
                    say!("{why}; a new worker computes its shards again, at the same weights");
                    self.send(k, &steps[k])?;
                    until = Instant::now() + deadline;
                }
            }
        }
        Ok(hands
            .into_iter()
            .zip(answers)
            .map(|((positions, _), done)| (positions, done.expect("every answer arrived")))
            .collect())
    }

    fn send(&mut self, k: usize, step: &Step) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        self.facts.sent += 4 * step.params.0.len() as u64;
        self.busy[k] = true;
        self.orders[k]
            .send((id, step.clone()))
            .map_err(|_| anyhow!("driver thread {} has stopped", k + 1))
    }

    /// The end of a run that went well: what was learned about the workers. Dropping the
    /// channels then ends the drivers, which end their workers.
    fn close(mut self) -> Facts {
        std::mem::take(&mut self.facts)
    }
}

impl Executor for Processes<'_> {
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> Result<Vec<Done>> {
        let n = tasks.len();
        let hands = train::deal(tasks, self.orders.len());
        let answered = self.round(params, hands)?;
        train::in_task_order(n, answered)
    }
}

impl Drop for Processes<'_> {
    /// A run that stops mid-step (an error) kills the workers still busy, so that no driver
    /// waits on one for ever; the drivers then reap them.
    fn drop(&mut self) {
        for (k, busy) in self.busy.iter().enumerate() {
            if *busy && self.current[k] != 0 {
                kill(self.current[k]);
            }
        }
    }
}

fn kill(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Driver `k`: start a worker when it has none (the first step, or after a death), hand it
/// each step and report its answer. Ends when the parent closes its channel, ending its worker.
fn drive(
    k: usize,
    settings: &[u8],
    fault: Option<Fault>,
    orders: Receiver<(u64, Step)>,
    reports: Sender<Report>,
) {
    let mut worker: Option<ChildProcess> = None;
    for (id, step) in orders {
        let mut w = match worker.take() {
            Some(w) => w,
            None => {
                let started = ChildProcess::spawn(fault)
                    .and_then(|mut w| w.start(TrainJob::NAME, settings.to_vec()).map(|()| w));
                match started {
                    Ok(w) => {
                        w.widen_pipes(PIPE_BYTES);
                        let _ = reports.send(Report::Started(k, w.pid()));
                        w
                    }
                    Err(e) => {
                        let _ = reports.send(Report::Lost(k, format!("{e:#}")));
                        continue;
                    }
                }
            }
        };
        let pid = w.pid();
        let reply = w.call(id, &step);
        // The step's reference to the weights goes before the parent hears back.
        drop(step);
        let report = match reply {
            Ok(reply) => {
                worker = Some(w);
                match reply.result {
                    Ok(bytes) => match child::decode::<Vec<Done>>(&bytes) {
                        Ok(done) => Report::Answered(k, done, bytes.len() as u64),
                        Err(e) => Report::Failed(k, format!("worker process {pid}: {e:#}")),
                    },
                    Err(e) => Report::Failed(k, format!("worker process {pid}: {e}")),
                }
            }
            // `call` has reaped it; how it ended is the message.
            Err(gone) => Report::Lost(k, format!("{gone:#}")),
        };
        let _ = reports.send(report);
    }
    if let Some(w) = worker {
        let pid = w.pid();
        if let Err(e) = w.finish() {
            say!("worker process {pid} did not shut down cleanly: {e:#}");
        }
    }
}
