//! The chapter's "machine-learning training" row in asyncio's world, where it does not belong:
//! synchronous data-parallel SGD on Fashion-MNIST with each step's shards handed to tokio's
//! blocking threads (`spawn_blocking`, Python's `run_in_executor`), one task per worker, and
//! awaited in order on the one-thread event loop. The shards and the order of their sum are the
//! serial model's, so the digest is too.
//!
//! What it shows: async adds nothing to CPU work. There is nothing to wait for but the
//! arithmetic, so the event loop only hands work to threads and collects it; the speed is the
//! threads' (`threading train`), less a little for the hand-over.
//!
//! ```text
//! apt-get install dataset-fashion-mnist        # the data, under /usr/share/datasets/fashion-mnist
//! cargo run --release -p asyncio -- train [--workers N]
//! ```

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::job::Job;
use scenarios::train::{self, Done, Executor, Plan, Step, Task, TrainArgs, TrainJob, Weights};
use scenarios::{Label, Run, Summary};
use std::sync::Arc;
use tokio::runtime::Runtime;

pub fn run(args: &TrainArgs) -> Result<Summary> {
    let plan = Plan::of(args)?;
    let label = Label::new(MODEL, "spawn_blocking", plan.workers);
    let mut run = Run::start("train", label, plan.steps(args));
    let mut exec = Blocking {
        job: Arc::new(TrainJob::load(args)?),
        workers: plan.workers,
        event_loop: crate::event_loop()?,
    };
    let digest = train::train(args, &plan, &mut run, &mut exec, None)?;
    Ok(run.finish(digest, 0))
}

/// Each step's shards on tokio's blocking threads, one task per worker.
struct Blocking {
    job: Arc<TrainJob>,
    workers: usize,
    event_loop: Runtime,
}

impl Executor for Blocking {
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> Result<Vec<Done>> {
        let n = tasks.len();
        let hands = train::deal(tasks, self.workers);
        self.event_loop.block_on(async {
            let running: Vec<_> = hands
                .into_iter()
                .map(|(positions, tasks)| {
                    let job = Arc::clone(&self.job);
                    let step = Step {
                        params: Weights(Arc::clone(params)),
                        tasks,
                    };
                    (
                        positions,
                        tokio::task::spawn_blocking(move || job.run(step)),
                    )
                })
                .collect();
            // Awaited in order; they run at once all the same, each on its own thread.
            let mut answered = Vec::with_capacity(running.len());
            for (positions, task) in running {
                answered.push((positions, task.await.context("a training task panicked")??));
            }
            train::in_task_order(n, answered)
        })
    }
}
