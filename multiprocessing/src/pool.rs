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
//! A worker that is alive but makes no progress (stopped with SIGSTOP, deadlocked, swapping)
//! is as bad as a dead one, and is what Python's `ProcessPoolExecutor` does not handle either:
//! every item has a deadline (`--task-timeout`, or what the job says is generous for it), and
//! a watchdog thread kills a worker that overruns it. The item fails naming the worker and the
//! deadline, the worker is replaced, and the run goes on.
//!
//! `--engine rayon` runs the same job on rayon's threads in this one process instead: Rust's
//! usual answer to `Pool.map`, since Rust threads have no GIL to escape.
//!
//! `map_pipeline` is the chapter's rule for mixed work: a pool of threads runs the first stage
//! (downloads) and feeds each result, as it arrives, to this pool of worker processes, which
//! runs the second (the computation).

use crate::MODEL;
use crate::child::{self, ChildProcess, Fault};
use crate::engine::{Engine, EngineArgs, PoolArgs};
use anyhow::{Context, Result};
use rayon::prelude::*;
use scenarios::job::Job;
use scenarios::outcome::{OnError, Outcome, Stopper};
use scenarios::progress::Progress;
use scenarios::{Label, Run, say};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often the watchdog looks for workers past their deadline.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// An executor of `workers` worker processes (or rayon threads).
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
    engine: Engine,
    fault: Option<Fault>,
    /// `--task-timeout`: overrides the job's own deadline for every item.
    task_timeout: Option<Duration>,
    /// A pipeline's worker processes (`--cpu-workers`); `workers` is then its download threads.
    cpu_workers: Option<usize>,
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
            task_timeout: None,
            cpu_workers: None,
        }
    }

    /// How many worker processes compute a pipeline's second stage while `workers` threads
    /// run its first (`--cpu-workers`).
    pub fn cpu_workers(self, cpu_workers: usize) -> Pool {
        Pool {
            cpu_workers: Some(cpu_workers),
            ..self
        }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error, ..self }
    }

    /// Who computes (`--engine`), and the pool's options.
    pub fn engine(self, engine: &EngineArgs) -> Pool {
        Pool {
            engine: engine.engine,
            ..self.options(&engine.pool)
        }
    }

    /// `--task-timeout`, and the planned worker death of the fault tests.
    pub fn options(self, options: &PoolArgs) -> Pool {
        Pool {
            fault: options.fault.fault(),
            task_timeout: options.task_timeout,
            ..self
        }
    }

    /// How the summary names this executor: a pipeline's is threads and processes.
    pub fn label(&self) -> Label {
        let variant = match self.cpu_workers {
            Some(_) => "threads+processes",
            None => self.engine.variant(),
        };
        Label::new(MODEL, variant, self.workers)
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
            Engine::Processes => {
                let n = items.len();
                let (todo_tx, todo) = crossbeam_channel::unbounded();
                for pair in items.into_iter().enumerate() {
                    todo_tx.send(pair).expect("the receiver is alive");
                }
                drop(todo_tx);
                let processes = ("--workers", self.workers.min(n));
                self.in_processes(run, todo, n, processes, &job, &stopper, &progress)?
            }
        };
        progress.finish();
        Ok(outcomes)
    }

    /// The chapter's mixed rule, as it says: a pool of `workers` threads downloads (threads
    /// wait on the network well, and share one client), and a pool of `--cpu-workers` worker
    /// processes computes, fed each item as soon as its download ends. The two pools meet at a
    /// bounded channel: when the processes fall behind, downloads wait for room instead of
    /// piling images up in memory. What a download produced crosses a pipe to a worker (a
    /// downloaded image is megabytes: moving it is part of what processes cost); a worker that
    /// dies loses that item only, and is replaced, as in `map_in_order`. One outcome per item,
    /// in input order; a failed download is its item's failure.
    pub fn map_pipeline<D: Job, C: Job<Item = D::Output>>(
        &self,
        run: &mut Run,
        items: Vec<D::Item>,
        download: D,
        compute: C,
    ) -> Result<Vec<Outcome<C::Output>>> {
        let n = items.len();
        let stopper = Stopper::new(self.on_error);
        let progress = Progress::new(n);
        let processes = self.cpu_workers.unwrap_or(self.workers);
        let (todo_tx, todo) = crossbeam_channel::unbounded();
        for pair in items.into_iter().enumerate() {
            todo_tx.send(pair).expect("the receiver is alive");
        }
        drop(todo_tx);
        // Room for one waiting item per worker process: each finds its next image ready.
        let (arrived_tx, arrived) = crossbeam_channel::bounded(processes);
        let (failed_tx, failed) = crossbeam_channel::unbounded();
        let mut outcomes = thread::scope(|s| -> Result<Vec<Outcome<C::Output>>> {
            for k in 0..self.workers.min(n) {
                let (todo, arrived_tx, failed_tx) =
                    (todo.clone(), arrived_tx.clone(), failed_tx.clone());
                let (download, stopper, progress) = (&download, &stopper, &progress);
                // Small stacks, as the threading pool's: a download thread only waits on a
                // socket, and `--workers` may ask for thousands of them.
                thread::Builder::new()
                    .name(format!("download-{}", k + 1))
                    .stack_size(512 * 1024)
                    .spawn_scoped(s, move || {
                        for (i, item) in todo {
                            if stopper.stopped() {
                                break;
                            }
                            match download.run(item) {
                                // No receiver left: the process pool has ended (the run stopped).
                                Ok(got) => {
                                    if arrived_tx.send((i, got)).is_err() {
                                        break;
                                    }
                                }
                                Err(e) => {
                                    let outcome = Outcome::Failed(format!("{e:#}"));
                                    stopper.record(&outcome);
                                    progress.tick();
                                    let _ = failed_tx.send((i, outcome));
                                }
                            }
                        }
                    })
                    .with_context(|| format!("cannot start download thread {}", k + 1))?;
            }
            // The drivers see the end of the channel once every download thread is done.
            drop((arrived_tx, failed_tx));
            let processes = ("--cpu-workers", processes.min(n));
            self.in_processes(run, arrived, n, processes, &compute, &stopper, &progress)
        })?;
        for (i, outcome) in failed {
            outcomes[i] = outcome;
        }
        progress.finish();
        Ok(outcomes)
    }

    /// Run `job` on the items of `todo` (indexed, `n` at most) on `processes.1` worker
    /// processes (`processes.0` is the flag that asked for them, for the error if the machine
    /// cannot hold so many), until the channel closes. Items that never come stay skipped.
    #[allow(clippy::too_many_arguments)]
    fn in_processes<J: Job>(
        &self,
        run: &mut Run,
        todo: crossbeam_channel::Receiver<(usize, J::Item)>,
        n: usize,
        processes: (&str, usize),
        job: &J,
        stopper: &Stopper,
        progress: &Progress,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let (flag, processes) = processes;
        child::check_process_count(flag, processes)?;
        // Serialised once, handed to every worker as it starts.
        let settings = child::encode(job)?;
        let (events_tx, events) = crossbeam_channel::unbounded();
        let mut outcomes: Vec<Outcome<J::Output>> = (0..n).map(|_| Outcome::Skipped).collect();
        let (mut pids, mut replaced) = (Vec::new(), 0);
        let watchdog = Watchdog::default();
        let drivers_done = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| watchdog.watch(&drivers_done));
            let slot = Slot {
                settings: &settings,
                job,
                fault: self.fault,
                task_timeout: self.task_timeout,
                stopper,
                watchdog: &watchdog,
            };
            for _ in 0..processes {
                let (todo, events_tx) = (todo.clone(), events_tx.clone());
                s.spawn(move || slot.drive(todo, events_tx));
            }
            // Only the drivers hold the work queue now: when they stop (the run stopped), a
            // pipeline's download threads see it closed instead of waiting for room in it.
            drop(todo);
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
            // Every driver has hung up: the watchdog can stop too.
            drivers_done.store(true, Ordering::Relaxed);
        });
        run.extra("parent_pid", std::process::id())
            .extra("pids", pids)
            .extra("replaced", replaced);
        Ok(outcomes)
    }
}

/// What every driver thread of one run shares.
struct Slot<'a, J> {
    /// The job, serialised once.
    settings: &'a [u8],
    job: &'a J,
    fault: Option<Fault>,
    task_timeout: Option<Duration>,
    stopper: &'a Stopper,
    watchdog: &'a Watchdog,
}

// Copy whatever J is: the slot holds only references to it.
impl<J> Clone for Slot<'_, J> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<J> Copy for Slot<'_, J> {}

impl<J: Job> Slot<'_, J> {
    /// One slot of the pool: a driver thread and the worker process it owns. It starts its
    /// worker itself (see `child.rs` on `PR_SET_PDEATHSIG`), and decodes each output here, so
    /// the drivers share that work instead of the parent's main thread doing it all.
    fn drive(
        self,
        todo: crossbeam_channel::Receiver<(usize, J::Item)>,
        events: crossbeam_channel::Sender<Event<J::Output>>,
    ) {
        let mut worker: Option<ChildProcess> = None;
        for (i, item) in todo {
            // Once a failure stops the run, no more items are handed out; the rest stay skipped.
            if self.stopper.stopped() {
                break;
            }
            // Start a worker if this slot has none (the first item, or after a death).
            let mut w = match worker.take() {
                Some(w) => w,
                None => {
                    let started = ChildProcess::spawn(self.fault)
                        .and_then(|mut w| w.start(J::NAME, self.settings.to_vec()).map(|()| w));
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
            let deadline = self
                .task_timeout
                .unwrap_or_else(|| self.job.deadline(&item));
            self.watchdog.arm(w.pid(), deadline);
            let reply = w.call(i as u64, &item);
            let overran = self.watchdog.disarm(w.pid());
            let outcome = match reply {
                Ok(reply) => {
                    if overran {
                        // It replied just as the watchdog killed it: keep the reply, not the
                        // worker, or the next item would be lost to it.
                        w.reap();
                        let _ = events.send(Event::Replaced);
                    } else {
                        worker = Some(w);
                    }
                    match reply.result {
                        Ok(bytes) => {
                            Outcome::of(child::decode(&bytes).context("a worker's output"))
                        }
                        Err(e) => Outcome::Failed(e),
                    }
                }
                Err(gone) => {
                    // `call` has reaped it; how it ended is the useful part of the message.
                    let _ = events.send(Event::Replaced);
                    let why = if overran {
                        format!(
                            "worker process {} made no reply within its deadline of {:.1} s and \
                             was killed",
                            w.pid(),
                            deadline.as_secs_f64()
                        )
                    } else {
                        format!("{gone:#}")
                    };
                    say!("{why} during item {i}; starting a new one");
                    Outcome::Lost(format!("{why} while running task {i}"))
                }
            };
            self.stopper.record(&outcome);
            let _ = events.send(Event::Done(i, outcome));
        }
        if let Some(w) = worker {
            let pid = w.pid();
            if let Err(e) = w.finish() {
                say!("worker process {pid} did not shut down cleanly: {e:#}");
            }
        }
    }
}

/// The workers busy with an item, and when each must have replied. A watchdog thread kills
/// whichever overruns: the driver waiting on it then reads end-of-file instead of waiting for
/// ever, and replaces it.
#[derive(Default)]
struct Watchdog {
    /// Busy workers by pid: the deadline, and whether the watchdog killed it.
    busy: Mutex<HashMap<u32, (Instant, bool)>>,
}

impl Watchdog {
    fn arm(&self, pid: u32, deadline: Duration) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.insert(pid, (Instant::now() + deadline, false));
    }

    /// The worker replied or died: stop watching it. True if the watchdog had killed it.
    fn disarm(&self, pid: u32) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&pid).is_some_and(|(_, killed)| killed)
    }

    /// Kill every worker past its deadline, until `done`.
    fn watch(&self, done: &AtomicBool) {
        while !done.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            for (&pid, (deadline, killed)) in busy.iter_mut() {
                if !*killed && now >= *deadline {
                    // SIGKILL works on a stopped process too, where SIGTERM would wait for it.
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    *killed = true;
                }
            }
            drop(busy);
            thread::sleep(WATCH_EVERY);
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
