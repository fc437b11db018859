//! The threading executor: the chapter's `ThreadPoolExecutor`. `--workers` threads take items
//! from a crossbeam channel until it is empty, so a fast thread simply takes more of them;
//! every result is sent back with its index and put in input order.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`:
//! `diff serial/src/pool.rs threading/src/pool.rs` shows what a pool of threads adds to a loop.
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
use scenarios::progress::Progress;
use scenarios::{Label, Run};
use std::thread;

/// Stack reserved per worker thread (see the module doc).
const STACK: usize = 512 * 1024;

/// An executor of `workers` threads.
#[derive(Debug)]
pub struct Pool {
    workers: usize,
    on_error: OnError,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers,
            on_error: OnError::Stop,
        }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error, ..self }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        let variant = if gil::enabled() {
            "threads+gil"
        } else {
            "threads"
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
        let (job, stopper, progress) = (&job, &stopper, &progress);
        thread::scope(|s| -> Result<()> {
            for k in 0..self.workers.min(n) {
                let (todo, done_tx) = (todo.clone(), done_tx.clone());
                thread::Builder::new()
                    .name(format!("worker-{}", k + 1))
                    .stack_size(STACK)
                    .spawn_scoped(s, move || {
                        for (i, item) in todo {
                            let outcome = stopper.run(|| job.run(item));
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
