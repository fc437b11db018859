//! The multiprocessing executor: the chapter's `ProcessPoolExecutor` / `Pool.map`. Each of the
//! pool's `workers` slots is a driver thread in this process that owns one worker process (a
//! copy of this binary, `child.rs`); drivers take items from a shared crossbeam channel, so a
//! fast worker simply takes more of them (like `Pool.map` with chunksize 1), and every result
//! comes back with its index and is put in input order.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`:
//! `diff serial/src/pool.rs multiprocessing/src/pool.rs` shows what processes add. The job is
//! the one every crate runs; a worker is handed it once when it starts (serialised, as
//! `ProcessPoolExecutor` pickles the function), then each item, and sends each output back
//! through its pipe: moving inputs and results between processes is part of what they cost.
//!
//! A worker that dies mid-item (killed, panicked, exited) does not take the run down: its item
//! is lost (an error naming the process and how it died), the driver reaps it and starts a
//! fresh worker for the next item, and the other items complete. Nothing waits on a dead
//! process, so nothing hangs; Python's `Pool.map` waits forever in the same case. Dropping the
//! pool mid-run kills and reaps every child.
//!
//! `--engine rayon` runs the same job on rayon's threads in this one process instead: Rust's
//! usual answer to `Pool.map`, since Rust threads have no GIL to escape.

use crate::MODEL;
use crate::child::{self, ChildProcess, Fault};
use crate::engine::{Engine, EngineArgs};
use anyhow::{Context, Result};
use rayon::prelude::*;
use scenarios::job::Job;
use scenarios::outcome::{OnError, Outcome, Stopper};
use scenarios::progress::Progress;
use scenarios::{Label, Run, say};
use std::thread;

/// An executor of `workers` worker processes (or rayon threads).
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
    engine: Engine,
    fault: Option<Fault>,
}

/// What a driver thread tells the parent.
enum Event<T> {
    Done(usize, Outcome<T>),
    Started(u32),
    Replaced,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers,
            on_error: OnError::Stop,
            engine: Engine::Processes,
            fault: None,
        }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error, ..self }
    }

    /// Who computes (`--engine`), and the planned worker death of the fault tests.
    pub fn engine(self, engine: &EngineArgs) -> Pool {
        Pool {
            engine: engine.engine,
            fault: engine.fault(),
            ..self
        }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        Label::new(MODEL, self.engine.variant(), self.workers)
    }

    /// Run `job` on every item on the pool's workers; one outcome per item, in input order.
    /// Notes in `run` the pids of the workers and how many died and were replaced.
    pub fn map_in_order<J: Job>(
        &self,
        run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let stopper = Stopper::new(self.on_error);
        let progress = Progress::new(items.len());
        let outcomes = match self.engine {
            Engine::Rayon => {
                // `EngineArgs::check` refused a planned death with rayon: it has no worker.
                debug_assert!(self.fault.is_none());
                rayon_pool(self.workers)?.install(|| {
                    items
                        .into_par_iter()
                        .map(|item| {
                            let outcome = stopper.run(|| job.run(item));
                            progress.tick();
                            outcome
                        })
                        .collect()
                })
            }
            Engine::Processes => self.in_processes(run, items, &job, &stopper, &progress)?,
        };
        progress.finish();
        Ok(outcomes)
    }

    fn in_processes<J: Job>(
        &self,
        run: &mut Run,
        items: Vec<J::Item>,
        job: &J,
        stopper: &Stopper,
        progress: &Progress,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let n = items.len();
        // Serialised once, handed to every worker as it starts.
        let settings = child::encode(job)?;
        let (todo_tx, todo) = crossbeam_channel::unbounded();
        for pair in items.into_iter().enumerate() {
            todo_tx.send(pair).expect("the receiver is alive");
        }
        drop(todo_tx);
        let (events_tx, events) = crossbeam_channel::unbounded();
        let mut outcomes: Vec<Outcome<J::Output>> = (0..n).map(|_| Outcome::Skipped).collect();
        let (mut pids, mut replaced) = (Vec::new(), 0);
        thread::scope(|s| {
            for _ in 0..self.workers.min(n) {
                let (todo, events_tx, settings) = (todo.clone(), events_tx.clone(), &settings);
                s.spawn(move || drive::<J>(settings, todo, events_tx, self.fault, stopper));
            }
            drop(events_tx);
            for event in events {
                match event {
                    Event::Done(i, outcome) => {
                        progress.tick();
                        outcomes[i] = outcome;
                    }
                    Event::Started(pid) => pids.push(pid),
                    Event::Replaced => replaced += 1,
                }
            }
        });
        run.extra("parent_pid", std::process::id())
            .extra("pids", pids)
            .extra("replaced", replaced);
        Ok(outcomes)
    }
}

/// One slot of the pool: a driver thread and the worker process it owns. It starts its worker
/// itself (see `child.rs` on `PR_SET_PDEATHSIG`), and decodes each output here, so the
/// drivers share that work instead of the parent's main thread doing it all.
fn drive<J: Job>(
    settings: &[u8],
    todo: crossbeam_channel::Receiver<(usize, J::Item)>,
    events: crossbeam_channel::Sender<Event<J::Output>>,
    fault: Option<Fault>,
    stopper: &Stopper,
) {
    let mut worker: Option<ChildProcess> = None;
    for (i, item) in todo {
        // Once a failure stops the run, no more items are handed out; the rest stay skipped.
        if stopper.stopped() {
            break;
        }
        // Start a worker if this slot has none (the first item, or after a death).
        let mut w = match worker.take() {
            Some(w) => w,
            None => {
                let started = ChildProcess::spawn(fault)
                    .and_then(|mut w| w.start(J::NAME, settings.to_vec()).map(|()| w));
                match started {
                    Ok(w) => {
                        let _ = events.send(Event::Started(w.pid()));
                        w
                    }
                    Err(e) => {
                        let _ = events.send(Event::Done(i, Outcome::Lost(format!("{e:#}"))));
                        continue;
                    }
                }
            }
        };
        let outcome = match w.call(i as u64, &item) {
            Ok(reply) => {
                worker = Some(w);
                match reply.result {
                    Ok(bytes) => Outcome::of(child::decode(&bytes).context("a worker's output")),
                    Err(e) => Outcome::Failed(e),
                }
            }
            Err(gone) => {
                // `call` has reaped it; how it ended is the useful part of the message.
                say!("{gone:#} during item {i}; starting a new one");
                let _ = events.send(Event::Replaced);
                Outcome::Lost(format!("{gone:#} while running task {i}"))
            }
        };
        stopper.record(&outcome);
        let _ = events.send(Event::Done(i, outcome));
    }
    if let Some(w) = worker {
        let pid = w.pid();
        if let Err(e) = w.finish() {
            say!("worker process {pid} did not shut down cleanly: {e:#}");
        }
    }
}

/// A rayon pool of exactly `workers` threads, so `--workers` means the same as elsewhere
/// (rayon's global pool would take one thread per core whatever we asked).
fn rayon_pool(workers: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .context("cannot start rayon's thread pool")
}
