//! The chapter's "machine-learning training" row on threads: synchronous data-parallel SGD on
//! Fashion-MNIST. `--workers` threads live for the whole run, each with a channel of its own;
//! every step the main thread deals the batch's shards to them round-robin (with a reference to
//! the weights, not a copy), takes their gradients back, sums them in shard order and updates
//! the weights in place while the threads wait for the next step. The shards and the order of
//! the sum are the serial model's, so the digest is too, for any `--workers`.
//!
//! `--hogwild` is the variant a reader will have heard of: the same threads' worth of workers
//! take whole batches from a shared counter and update one set of weights with no lock and no
//! barrier (`scenarios::train::hogwild`). No thread waits for another, and no two runs train
//! the same bits: the summary says `"reproducible": false`. `--gil` runs the same code with
//! each shard's arithmetic behind the emulated GIL (`scenarios::gil`).
//!
//! ```text
//! apt-get install dataset-fashion-mnist        # the data, under /usr/share/datasets/fashion-mnist
//! cargo run --release -p threading -- train [--workers N] [--hogwild] [--gil]
//! ```

use crate::MODEL;
use anyhow::{Context, Result, anyhow, bail};
use crossbeam_channel::{Receiver, Sender};
use scenarios::gil;
use scenarios::job::Job;
use scenarios::train::hogwild::Shared;
use scenarios::train::{
    self, Batch, Done, Executor, Plan, Step, Task, TrainArgs, TrainJob, Weights,
};
use scenarios::{Label, Run, Summary};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

/// `--hogwild`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct HogwildArgs {
    /// Hogwild: threads update shared weights with no lock and no barrier (faster; not reproducible)
    #[arg(long)]
    pub hogwild: bool,
}

pub fn run(args: &TrainArgs, hogwild: HogwildArgs) -> Result<Summary> {
    let plan = Plan::of(args)?;
    let variant = match (hogwild.hogwild, gil::enabled()) {
        (true, false) => "hogwild",
        (true, true) => "hogwild+gil",
        (false, false) => "threads",
        (false, true) => "threads+gil",
    };
    let mut run = Run::start(
        "train",
        Label::new(MODEL, variant, plan.workers),
        plan.steps(args),
    );
    let job = TrainJob::load(args)?;
    let digest = thread::scope(|s| {
        // Dropped at the end of this closure, before the scope joins: that closes the
        // channels, which is how the threads learn there is no more work.
        let mut threads = Threads::start(s, &job, plan.workers)?;
        if hogwild.hogwild {
            let mut lock_free = |shared: &Shared, batches: &[Batch]| {
                stretch(&job, args, plan.workers, shared, batches)
            };
            train::train(args, &plan, &mut run, &mut threads, Some(&mut lock_free))
        } else {
            train::train(args, &plan, &mut run, &mut threads, None)
        }
    })?;
    Ok(run.finish(digest, 0))
}

/// The worker threads: a channel of steps each (bounded: one step at a time is all there is),
/// one channel of results for all.
struct Threads<'a> {
    work: Vec<Sender<Step>>,
    done: Receiver<(usize, Result<Vec<Done>>)>,
    job: &'a TrainJob,
}

impl<'a> Threads<'a> {
    fn start<'scope>(
        s: &'scope Scope<'scope, 'a>,
        job: &'a TrainJob,
        workers: usize,
    ) -> Result<Threads<'a>> {
        let (done_tx, done) = crossbeam_channel::unbounded();
        let mut work = Vec::with_capacity(workers);
        for k in 0..workers {
            let (tx, steps) = crossbeam_channel::bounded::<Step>(1);
            let done_tx = done_tx.clone();
            thread::Builder::new()
                .name(format!("worker-{}", k + 1))
                .spawn_scoped(s, move || {
                    // The step, and its reference to the weights, is gone before the result
                    // is sent: the main thread then holds the only one and updates in place.
                    for step in steps {
                        let _ = done_tx.send((k, job.run(step)));
                    }
                })
                .with_context(|| format!("cannot start thread {} of {workers}", k + 1))?;
            work.push(tx);
        }
        Ok(Threads { work, done, job })
    }
}

impl Executor for Threads<'_> {
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> Result<Vec<Done>> {
        let n = tasks.len();
        let mut positions = vec![Vec::new(); self.work.len()];
        let mut deadline = Duration::ZERO;
        let hands = train::deal(tasks, self.work.len());
        let busy = hands.len();
        for (k, (pos, tasks)) in hands.into_iter().enumerate() {
            let step = Step {
                params: Weights(Arc::clone(params)),
                tasks,
            };
            deadline = deadline.max(self.job.deadline(&step));
            positions[k] = pos;
            self.work[k]
                .send(step)
                .map_err(|_| anyhow!("thread worker-{} has stopped", k + 1))?;
        }
        // Every wait is bounded: a thread that died (a panic) never answers.
        let until = Instant::now() + deadline;
        let mut answered = Vec::with_capacity(busy);
        for _ in 0..busy {
            let Ok((k, result)) = self.done.recv_deadline(until) else {
                bail!(
                    "the worker threads gave no answer within {:.0} s",
                    deadline.as_secs_f64()
                );
            };
            answered.push((std::mem::take(&mut positions[k]), result?));
        }
        train::in_task_order(n, answered)
    }
}

/// Hogwild between two evaluations: `workers` threads take the next batch from a shared
/// counter, compute its gradient on a copy of the weights as they are now, and apply it with
/// no lock. Returns the batches' summed training loss.
fn stretch(
    job: &TrainJob,
    args: &TrainArgs,
    workers: usize,
    shared: &Shared,
    batches: &[Batch],
) -> Result<f64> {
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        let mut threads = Vec::with_capacity(workers);
        for k in 0..workers {
            let next = &next;
            let thread = thread::Builder::new()
                .name(format!("hogwild-{}", k + 1))
                .spawn_scoped(s, move || -> Result<f64> {
                    let (mut weights, mut loss) = (Vec::new(), 0.0);
                    while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                        shared.snapshot(&mut weights);
                        let Done::Gradient { grad, loss: l } =
                            job.task(&weights, Task::Gradient(batch.samples.clone()))?
                        else {
                            bail!("a gradient task answered with an evaluation");
                        };
                        shared.apply(&grad, batch.lr, args.momentum, batch.samples.len());
                        loss += l;
                    }
                    Ok(loss)
                })
                .with_context(|| format!("cannot start Hogwild thread {} of {workers}", k + 1))?;
            threads.push(thread);
        }
        let mut total = 0.0;
        for t in threads {
            total += t
                .join()
                .map_err(|_| anyhow!("a Hogwild thread panicked"))??;
        }
        Ok(total)
    })
}
