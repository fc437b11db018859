//! The serial executor: the chapter's `concurrent.futures` with no concurrency at all. Every
//! job runs on this thread, one after another, in input order.
//!
//! Every concept crate has this file, with the same `Pool` and the same `map_in_order`, so
//! `diff serial/src/pool.rs threading/src/pool.rs` shows exactly what a pool of threads adds
//! (and `multiprocessing/src/pool.rs`, `asyncio/src/pool.rs` what processes and tasks add).
//! The scenarios that map a job over items (matrix, images, downloads, requests) call it; the
//! job itself is written once, in the `scenarios` library. `map_pipeline` runs two jobs per
//! item, a download then its processing (the `pipeline` scenario).
//!
//! `--workers` is accepted by every subcommand, so the same command line runs in every crate;
//! here it is ignored: one worker.

use crate::MODEL;
use anyhow::Result;
use scenarios::job::Job;
use scenarios::outcome::{OnError, Outcome, Stopper};
use scenarios::progress::Progress;
use scenarios::{Label, Run};

/// An executor of one worker: this thread.
#[derive(Debug)]
pub struct Pool {
    on_error: OnError,
}

impl Pool {
    pub fn new(_workers: usize) -> Pool {
        Pool {
            on_error: OnError::Stop,
        }
    }

    /// What a failed item does to the rest of the run (`--keep-going`).
    pub fn on_error(self, on_error: OnError) -> Pool {
        Pool { on_error }
    }

    /// How the summary names this executor.
    pub fn label(&self) -> Label {
        Label::new(MODEL, "serial", 1)
    }

    /// Run `job` on every item, in order; one outcome per item, in input order. (`run` is where
    /// other executors note what they have to say about the run; a loop has nothing to add.)
    pub fn map_in_order<J: Job>(
        &self,
        _run: &mut Run,
        items: Vec<J::Item>,
        job: J,
    ) -> Result<Vec<Outcome<J::Output>>> {
        let stopper = Stopper::new(self.on_error);
        let progress = Progress::new(items.len());
        let outcomes = items
            .into_iter()
            .map(|item| {
                let outcome = stopper.run(|| job.run(item));
                progress.tick();
                outcome
            })
            .collect();
        progress.finish();
        Ok(outcomes)
    }

    /// The two stages of a pipeline on every item, one item at a time: download it, process
    /// it, then the next (`compute` takes what `download` produced). While an image is being
    /// processed nothing downloads, and the other way round: the run takes the I/O time plus
    /// the CPU time. One outcome per item, in input order; a failed download is its item's
    /// failure.
    pub fn map_pipeline<D: Job, C: Job<Item = D::Output>>(
        &self,
        _run: &mut Run,
        items: Vec<D::Item>,
        download: D,
        compute: C,
    ) -> Result<Vec<Outcome<C::Output>>> {
        let stopper = Stopper::new(self.on_error);
        let progress = Progress::new(items.len());
        let outcomes = items
            .into_iter()
            .map(|item| {
                let outcome = stopper.run(|| compute.run(download.run(item)?));
                progress.tick();
                outcome
            })
            .collect();
        progress.finish();
        Ok(outcomes)
    }
}
