//! The asyncio executor: the chapter's `asyncio.gather` with a semaphore, and
//! `loop.run_in_executor` for CPU-bound work. One event loop (a one-thread tokio runtime, like
//! asyncio's) runs every task; at most `--workers` are in flight at a time.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`:
//! `diff serial/src/pool.rs asyncio/src/pool.rs` shows what tasks add to a loop.
//!
//! - I/O-bound work ([`Pool::map_in_order_async`]): one task per item, each holding a permit of
//!   a semaphore from before it starts, so at most K tasks exist at a time. While one waits on
//!   its socket the loop runs the others: K requests in flight on one thread. A `JoinSet`
//!   gathers them; results go back in input order.
//! - CPU-bound work ([`Pool::map_in_order`]): a task cannot compute and leave the loop free at
//!   the same time, so where the computation runs is the choice (`--variant`):
//!   `spawn_blocking` (the default, the right way) hands it to tokio's blocking threads, at most
//!   K at a time, and the loop stays free (Python's `run_in_executor`, which under the GIL would
//!   still not compute in parallel; Rust's threads do); `blocking` (the mistake, on purpose)
//!   computes inside the task, on the loop: nothing else runs until it returns. A ticker task
//!   ([`Ticker`]) shows the difference: `ticker_max_late_ms` in the summary.
//! - A pipeline ([`Pool::map_pipeline`]): each task downloads on the loop, then computes where
//!   `--variant` says: on the blocking threads behind a bounded channel (the right way), or on
//!   the loop itself (the mistake, which stalls every download in flight).

use crate::MODEL;
use crate::ticker::Ticker;
use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};
use scenarios::job::{AsyncJob, Job};
use scenarios::outcome::{self, OnError, Outcome, Stopper};
use scenarios::progress::Progress;
use scenarios::{Label, Run, say};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

/// Where CPU-bound work runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// CPU work on tokio's blocking threads; the event loop stays free (the right way)
    #[default]
    #[value(name = "spawn_blocking", alias = "spawn-blocking")]
    SpawnBlocking,
    /// CPU work inside the async tasks, blocking the one-thread event loop (the mistake)
    Blocking,
}

/// `--variant`, for the CPU-bound scenarios.
#[derive(Args, Debug, Clone, Copy)]
pub struct CpuArgs {
    /// Where the CPU work runs: tokio's blocking threads, or on the event loop itself
    #[arg(long, value_enum, default_value_t = Variant::SpawnBlocking)]
    pub variant: Variant,
}

/// An executor of at most `workers` tasks in flight on one event loop.
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
    /// Where CPU-bound jobs run; `None` for a pool that runs I/O-bound tasks only.
    variant: Option<Variant>,
    /// A pipeline's blocking threads for its CPU stage (`--cpu-workers`); `workers` is then the
    /// downloads in flight.
    cpu_workers: Option<usize>,
    /// The event loop, made on first use and kept: a client's connections belong to the loop
    /// that opened them, so the documents fetched first and the items after share one.
    event_loop: OnceLock<Result<Runtime, String>>,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers,
            on_error: OnError::Stop,
            variant: None,
            cpu_workers: None,
            event_loop: OnceLock::new(),
        }
    }

    /// How many blocking threads compute a pipeline's second stage at once (`--cpu-workers`).
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

    /// Where CPU-bound jobs run (`--variant`).
    pub fn cpu(self, cpu: &CpuArgs) -> Pool {
        Pool {
            variant: Some(cpu.variant),
            ..self
        }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        let variant = match self.variant {
            None => "tasks",
            Some(Variant::SpawnBlocking) => "spawn_blocking",
            Some(Variant::Blocking) => "blocking",
        };
        Label::new(MODEL, variant, self.workers)
    }

    /// Run one future on the event loop until it is done (the chapter's `asyncio.run`).
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> Result<T> {
        Ok(self.event_loop()?.block_on(future))
    }

    fn event_loop(&self) -> Result<&Runtime> {
        let made = self.event_loop.get_or_init(|| {
            crate::event_loop().map_err(|e| format!("cannot start the event loop: {e:#}"))
        });
        made.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// Run a CPU-bound `job` on every item, at most `workers` at a time, where `--variant`
    /// says; one outcome per item, in input order. Notes the ticker's figures in `run`.
    pub fn map_in_order<J: Job>(
        &self,
        run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let (job, stopper) = (Arc::new(job), Arc::new(Stopper::new(self.on_error)));
        let variant = self.variant.unwrap_or_default();
        let (outcomes, ticks, late_ms) = self.block_on(async {
            let ticker = Ticker::start();
            let outcomes = self
                .gather(
                    items,
                    move |item| {
                        let (job, stopper) = (Arc::clone(&job), Arc::clone(&stopper));
                        async move {
                            match variant {
                                Variant::SpawnBlocking => tokio::task::spawn_blocking(move || {
                                    stopper.run(|| job.run(item))
                                })
                                .await
                                .context("a job panicked"),
                                // Deliberately wrong: this blocks the event loop until the job returns.
                                Variant::Blocking => Ok(stopper.run(|| job.run(item))),
                            }
                        }
                    },
                    Spawn::AllAtOnce,
                )
                .await;
            let (ticks, late_ms) = ticker.stop();
            anyhow::Ok((outcomes?, ticks, late_ms))
        })??;
        say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
        run.extra("ticks", ticks)
            .extra("ticker_max_late_ms", late_ms);
        Ok(outcomes)
    }

    /// Run an I/O-bound `job` on every item as tasks, at most `workers` in flight; one outcome
    /// per item, in input order.
    pub fn map_in_order_async<J: AsyncJob>(
        &self,
        _run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let (job, stopper) = (Arc::new(job), Arc::new(Stopper::new(self.on_error)));
        self.block_on(self.gather(
            items,
            move |item| {
                let (job, stopper) = (Arc::clone(&job), Arc::clone(&stopper));
                async move {
                    if stopper.stopped() {
                        return Ok(Outcome::Skipped);
                    }
                    let outcome = Outcome::of(job.run(item).await);
                    stopper.record(&outcome);
                    Ok(outcome)
                }
            },
            Spawn::WithPermit,
        ))?
    }

    /// A pipeline: one task per item, at most `workers` in flight, each running the async
    /// first stage (`download`, on the event loop, so K downloads share one thread) and then
    /// the CPU-bound second stage (`compute`) where `--variant` says:
    ///
    /// - `spawn_blocking` (the right way): the task hands its item to the CPU stage, a bounded
    ///   channel in front of at most `--cpu-workers` blocking threads ([`CpuStage`]), and awaits
    ///   the result; the loop stays free to read every other download meanwhile. A task waiting
    ///   for room in the channel still holds its place among the K, so when the CPUs fall
    ///   behind, downloads pause instead of piling images up in memory.
    /// - `blocking` (the mistake): the task computes on the loop itself, and every download in
    ///   flight waits unread until it is done (`download_late_*_ms`, and the ticker).
    ///
    /// One outcome per item, in input order; a failed download is its item's failure. Notes
    /// the ticker's figures in `run`.
    pub fn map_pipeline<D: AsyncJob, C: Job<Item = D::Output>>(
        &self,
        run: &mut Run,
        items: Vec<D::Item>,
        download: D,
        compute: C,
    ) -> Result<Vec<Outcome<C::Output>>> {
        let (download, compute) = (Arc::new(download), Arc::new(compute));
        let stopper = Arc::new(Stopper::new(self.on_error));
        let variant = self.variant.unwrap_or_default();
        let cpu_workers = self.cpu_workers.unwrap_or(self.workers);
        let (outcomes, ticks, late_ms) = self.block_on(async {
            let ticker = Ticker::start();
            let cpu = match variant {
                Variant::SpawnBlocking => {
                    Some(Arc::new(CpuStage::start(cpu_workers, Arc::clone(&compute))))
                }
                Variant::Blocking => None,
            };
            let outcomes = self
                .gather(
                    items,
                    |item| {
                        let (download, compute) = (Arc::clone(&download), Arc::clone(&compute));
                        let (stopper, cpu) = (Arc::clone(&stopper), cpu.clone());
                        async move {
                            if stopper.stopped() {
                                return Ok(Outcome::Skipped);
                            }
                            let outcome = match download.run(item).await {
                                Err(e) => Outcome::Failed(format!("{e:#}")),
                                Ok(got) => match cpu {
                                    Some(cpu) => cpu.run(got).await?,
                                    // Deliberately wrong: this blocks the event loop, and every
                                    // download in flight, until the computation returns.
                                    None => Outcome::of(compute.run(got)),
                                },
                            };
                            stopper.record(&outcome);
                            Ok(outcome)
                        }
                    },
                    Spawn::WithPermit,
                )
                .await;
            // Every task is done with the CPU stage: closing its channel ends it.
            drop(cpu);
            let (ticks, late_ms) = ticker.stop();
            anyhow::Ok((outcomes?, ticks, late_ms))
        })??;
        say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
        run.extra("ticks", ticks)
            .extra("ticker_max_late_ms", late_ms);
        Ok(outcomes)
    }

    /// Spawn one task per item and gather their outcomes back in input order
    /// (`asyncio.gather`), at most `workers` running at a time (an `asyncio.Semaphore`).
    /// I/O-bound tasks are only spawned once they hold a permit, so at most K exist at a time
    /// (a run of a million requests does not hold a million tasks); CPU-bound items are few,
    /// and are all spawned at once, each waiting for its permit inside its task, as a program
    /// that awaits `gather(*tasks)` over `run_in_executor` calls would.
    async fn gather<I, T, F>(
        &self,
        items: Vec<I>,
        task: impl Fn(I) -> F,
        spawn: Spawn,
    ) -> Result<Vec<Outcome<T>>>
    where
        T: Send + 'static,
        F: Future<Output = Result<Outcome<T>>> + Send + 'static,
    {
        let n = items.len();
        let progress = Progress::new(n);
        let permits = Arc::new(Semaphore::new(self.workers));
        let mut tasks = JoinSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let held = match spawn {
                Spawn::WithPermit => Some(Arc::clone(&permits).acquire_owned().await?),
                Spawn::AllAtOnce => None,
            };
            let (future, progress, permits) = (task(item), progress.clone(), Arc::clone(&permits));
            tasks.spawn(async move {
                let permit = match held {
                    Some(permit) => permit,
                    None => permits.acquire_owned().await?,
                };
                let outcome = future.await;
                drop(permit);
                progress.tick();
                outcome.map(|o| (i, o))
            });
        }
        let mut done = Vec::with_capacity(n);
        while let Some(finished) = tasks.join_next().await {
            done.push(finished.context("a task panicked")??);
        }
        progress.finish();
        Ok(outcome::in_input_order(n, done))
    }
}

/// The CPU stage of a pipeline done right: a bounded channel in front of at most `workers`
/// computations at a time on tokio's blocking threads (`spawn_blocking`), each result sent back
/// to the task that asked on a oneshot channel. (The same bridge would put the work on a rayon
/// pool instead: `rayon::spawn` in place of `spawn_blocking`; a oneshot is all it takes.)
struct CpuStage<C: Job> {
    queue: tokio::sync::mpsc::Sender<Request<C>>,
}

/// An item for the CPU stage, and where its outcome goes.
type Request<C> = (
    <C as Job>::Item,
    oneshot::Sender<Outcome<<C as Job>::Output>>,
);

impl<C: Job> CpuStage<C> {
    /// Start the stage's dispatcher task on the current event loop.
    fn start(workers: usize, job: Arc<C>) -> CpuStage<C> {
        // Room for one waiting item per blocking thread, so each finds its next image ready.
        let (queue, mut todo) = tokio::sync::mpsc::channel::<Request<C>>(workers);
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(workers));
            while let Some((item, reply)) = todo.recv().await {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                let job = Arc::clone(&job);
                tokio::task::spawn_blocking(move || {
                    // The asking task may be gone (the run failed): nobody to tell, then.
                    let _ = reply.send(Outcome::of(job.run(item)));
                    drop(permit);
                });
            }
        });
        CpuStage { queue }
    }

    /// Compute one item on the stage: wait for room in its channel, then for the result.
    async fn run(&self, item: C::Item) -> Result<Outcome<C::Output>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| anyhow!("the CPU stage has stopped"))?;
        answer.await.context("a job panicked")
    }
}

/// When [`Pool::gather`] spawns a task.
#[derive(Clone, Copy)]
enum Spawn {
    /// Once it holds a permit.
    WithPermit,
    /// At once; it waits for its permit itself.
    AllAtOnce,
}
