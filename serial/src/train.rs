//! The chapter's "machine-learning training" row, one thing after another: mini-batch SGD on
//! Fashion-MNIST with every shard of every batch computed on this thread, in order. The
//! baseline, and the reference the other models' digests must equal: they compute the same
//! shards, sum them in the same order, and so train the same bits.
//!
//! ```text
//! apt-get install dataset-fashion-mnist        # the data, under /usr/share/datasets/fashion-mnist
//! cargo run --release -p serial -- train [--data DIR] [--epochs 5] [--hidden 128]
//! ```
//!
//! `--workers` is accepted like everywhere else, and ignored: serial has one worker.

use crate::MODEL;
use anyhow::Result;
use scenarios::job::Job;
use scenarios::train::{self, Done, Executor, Plan, Step, Task, TrainArgs, TrainJob, Weights};
use scenarios::{Label, Run, Summary};
use std::sync::Arc;

pub fn run(args: &TrainArgs) -> Result<Summary> {
    let plan = Plan::of(args)?;
    let mut run = Run::start("train", Label::new(MODEL, "serial", 1), plan.steps(args));
    let mut exec = Loop(TrainJob::load(args)?);
    let digest = train::train(args, &plan, &mut run, &mut exec, None)?;
    Ok(run.finish(digest, 0))
}

/// Every task on this thread, in order.
struct Loop(TrainJob);

impl Executor for Loop {
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> Result<Vec<Done>> {
        let params = Weights(Arc::clone(params));
        self.0.run(Step { params, tasks })
    }
}
