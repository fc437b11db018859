//! The threading executor: the chapter's `ThreadPoolExecutor`. `--workers` threads take items
//! from a crossbeam channel until it is empty, so a fast thread simply takes more of them;
//! every result is sent back with its index and put in input order.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`:
//! `diff serial/src/pool.rs threading/src/pool.rs` shows what a pool of threads adds to a loop.
//! `map_pipeline` runs a pipeline's two stages on the same threads (or, with `--apart`, one
//! after the other, each timed alone: the pipeline's lower bound).
//!
//! - Scoped threads (`thread::scope`): the threads borrow the job and the channel, and the
//!   scope joins every one of them before `map_in_order` returns, so no `Arc` is needed and no
//!   thread outlives the call.
//! - Rust threads have no GIL: they run the job on every core at once. `threading --gil` turns
//!   on an emulation of CPython's (`scenarios::gil`), which the library's CPU-bound code holds
//!   while it computes, so the same threads run one at a time.
//! - Small stacks: a worker runs a job and waits on sockets or files; 512 KiB is plenty, where
//!   the default 2 MiB would reserve 2 GiB of address space for `requests --workers 1000`.

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::gil;
use scenarios::job::Job;
use scenarios::outcome::{self, OnError, Outcome, Stopper};
use scenarios::pipeline;
use scenarios::progress::Progress;
use scenarios::{Label, Run};
use std::thread;
use std::time::Instant;

/// Stack reserved per worker thread (see the module doc).
const STACK: usize = 512 * 1024;

/// An executor of `workers` threads.
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
    /// `--apart`: a pipeline's two stages one after the other (see [`Pool::map_pipeline`]).
    apart: bool,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers,
            on_error: OnError::Stop,
            apart: false,
        }
    }

    /// `--apart`: run a pipeline's stages one after the other, each timed alone.
    pub fn apart(self, apart: bool) -> Pool {
        Pool { apart, ..self }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error, ..self }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        let variant = match (gil::enabled(), self.apart) {
            (true, _) => "threads+gil",
            (false, true) => "threads+apart",
            (false, false) => "threads",
        };
        Label::new(MODEL, variant, self.workers)
    }

    /// Run `job` on every item on the pool's threads; one outcome per item, in input order.
    pub fn map_in_order<J: Job>(
        &self,
        _run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let stopper = Stopper::new(self.on_error);
        self.map_with(items, &stopper, |item| job.run(item))
    }

    /// The two stages of a pipeline on the same pool (the chapter's one `ThreadPoolExecutor`
    /// for both): each thread downloads an item, processes it, and takes the next, so while
    /// some threads wait on the network the others compute. Rust threads have no GIL, so up to
    /// `workers` of them compute at once; more of them than cores only take turns. One outcome
    /// per item, in input order; a failed download is its item's failure.
    ///
    /// With `--apart` ([`Pool::apart`]) the stages run one after the other instead: every
    /// download on the pool, then every computation on it, each stage timed alone (`io_s`,
    /// `cpu_s` in the summary). No pipeline can beat the slower of the two, which makes it the
    /// lower bound; doing them apart costs their sum, and memory for every image at once.
    pub fn map_pipeline<D: Job, C: Job<Item = D::Output>>(
        &self,
        run: &mut Run,
        items: Vec<D::Item>,
        download: D,
        compute: C,
    ) -> Result<Vec<Outcome<C::Output>>> {
        let stopper = Stopper::new(self.on_error);
        if !self.apart {
            return self.map_with(items, &stopper, |item| compute.run(download.run(item)?));
        }
        let n = items.len();
        let started = Instant::now();
        let downloads = self.map_with(items, &stopper, |item| download.run(item))?;
        let io_s = started.elapsed().as_secs_f64();
        let (arrived, mut done) = pipeline::split(downloads);
        let (indices, images): (Vec<usize>, Vec<D::Output>) = arrived.into_iter().unzip();
        let started = Instant::now();
        let computed = self.map_with(images, &stopper, |image| compute.run(image))?;
        let cpu_s = started.elapsed().as_secs_f64();
        pipeline::Apart { io_s, cpu_s }.note(run);
        done.extend(indices.into_iter().zip(computed));
        Ok(outcome::in_input_order(n, done))
    }

    /// Run `work` on every item on the pool's threads; one outcome per item, in input order.
    fn map_with<I: Send, T: Send>(
        &self,
        items: Vec<I>,
        stopper: &Stopper,
        work: impl Fn(I) -> anyhow::Result<T> + Sync,
    ) -> Result<Vec<Outcome<T>>> {
        let n = items.len();
        let progress = Progress::new(n);
        // The work queue: every item with its index, taken by whichever thread is free.
        let (todo_tx, todo) = crossbeam_channel::unbounded();
        for pair in items.into_iter().enumerate() {
            todo_tx.send(pair).expect("the receiver is alive");
        }
        // Closing the channel is how the threads learn there is no more work.
        drop(todo_tx);
        let (done_tx, done) = crossbeam_channel::unbounded();
        let (work, progress) = (&work, &progress);
        thread::scope(|s| -> Result<()> {
            for k in 0..self.workers.min(n) {
                let (todo, done_tx) = (todo.clone(), done_tx.clone());
                thread::Builder::new()
                    .name(format!("worker-{}", k + 1))
                    .stack_size(STACK)
                    .spawn_scoped(s, move || {
                        for (i, item) in todo {
                            let outcome = stopper.run(|| work(item));
                            progress.tick();
                            let _ = done_tx.send((i, outcome));
                        }
                    })
                    .with_context(|| {
                        format!("cannot start thread {} of {}", k + 1, self.workers)
                    })?;
            }
            Ok(())
        })?;
        drop(done_tx);
        let outcomes = outcome::in_input_order(n, done);
        progress.finish();
        Ok(outcomes)
    }
}
