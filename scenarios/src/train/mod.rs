//! The `train` scenario, written once: the chapter's "machine-learning training" row, as
//! mini-batch SGD of a small classifier on Fashion-MNIST (60,000 training and 10,000 test
//! images of clothes, 28 x 28 gray pixels, ten classes).
//!
//! - Data, offline: the IDX files of Debian's `dataset-fashion-mnist` package (`--data DIR` for
//!   another copy), parsed by [`idx`]; [`data::Dataset`] holds them in memory as bytes.
//! - The job: an MLP 784-128-10 (`--hidden 0`: softmax regression 784-10) trained for
//!   `--epochs` passes from a seeded initialisation, SGD with momentum and a learning rate that
//!   falls linearly to zero; the arithmetic is in [`net`].
//! - Synchronous data-parallel, so that every model trains the same model: each batch is cut
//!   into `--shards` pieces by position (never by worker), the models compute the shards'
//!   gradients wherever they like ([`Executor`]: a loop, threads, processes, blocking tasks),
//!   and [`train`] sums them in shard order and makes one update. `--workers 1` and
//!   `--workers 2` give the same bits, in every model. The test set is evaluated the same way,
//!   cut into fixed chunks.
//! - Hogwild, the variant a reader will have heard of: threads updating shared weights with no
//!   lock ([`hogwild`]); faster, and not reproducible: its digest is reported as such.
//! - Digest: SHA-256 of the final weights' bytes (f32, little-endian, the layout of
//!   [`net`]).
//! - Figures: test accuracy and loss after each evaluation (`curve`), `accuracy` at the end,
//!   `samples_per_s` (training samples over the time spent in training steps, evaluations
//!   excluded), `seconds_to_target` (from the start of training, evaluations included, to the
//!   first evaluation at or above `--target`), and the time it took to load the data.

pub mod data;
pub mod hogwild;
pub mod idx;
pub mod net;

pub use data::{Dataset, Sizes};

use crate::cli::{bounded, cores, workers};
use crate::digest::of_all;
use crate::gil;
use crate::job::Job;
use crate::{Run, say};
use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Args;
use net::Net;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Where Debian's `dataset-fashion-mnist` installs the files.
pub const DEFAULT_DATA: &str = "/usr/share/datasets/fashion-mnist";
/// Test samples per evaluation task: a fixed cut, whatever `--workers` is.
pub const EVAL_CHUNK: usize = 1000;

/// `train`: mini-batch SGD on Fashion-MNIST.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The folder holding Fashion-MNIST's four IDX files (Debian: apt-get install dataset-fashion-mnist)
    #[arg(long, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// How many workers compute the shards of each batch (default: one per core)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// Passes over the training set
    #[arg(long, default_value_t = 5, value_parser = epochs, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Samples per SGD step
    #[arg(long, default_value_t = 128, value_parser = batch, allow_negative_numbers = true)]
    pub batch: usize,
    /// Pieces each batch is cut into, by position, whatever --workers is (the unit of work)
    #[arg(long, default_value_t = 4, value_parser = shards, allow_negative_numbers = true)]
    pub shards: usize,
    /// Units of the hidden layer; 0 trains softmax regression (no hidden layer)
    #[arg(long, default_value_t = 128, value_parser = hidden, allow_negative_numbers = true)]
    pub hidden: usize,
    /// The learning rate at the start; it falls linearly to 0 at the end of the last epoch
    #[arg(long, default_value_t = 0.1, value_parser = rate, allow_negative_numbers = true)]
    pub lr: f32,
    /// Momentum of the SGD steps (0: plain SGD)
    #[arg(long, default_value_t = 0.9, value_parser = momentum, allow_negative_numbers = true)]
    pub momentum: f32,
    /// Seed of the initial weights and of each epoch's shuffle
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Train on the first N training images only (the quick run's subset)
    #[arg(long, value_parser = limit, allow_negative_numbers = true)]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images only
    #[arg(long, value_parser = limit, allow_negative_numbers = true)]
    pub test_limit: Option<usize>,
    /// The test accuracy whose first crossing is timed (`seconds_to_target`)
    #[arg(long, default_value_t = 0.85, value_parser = accuracy, allow_negative_numbers = true)]
    pub target: f64,
    /// Evaluations of the test set per epoch (their time is not counted as training)
    #[arg(long, default_value_t = 2, value_parser = evals, allow_negative_numbers = true)]
    pub evals_per_epoch: usize,
}

fn epochs(s: &str) -> Result<usize, String> {
    bounded(s, 1, 1000).map(|v| v as usize)
}

fn batch(s: &str) -> Result<usize, String> {
    bounded(s, 1, 65_536).map(|v| v as usize)
}

fn shards(s: &str) -> Result<usize, String> {
    bounded(s, 1, 1024).map(|v| v as usize)
}

fn hidden(s: &str) -> Result<usize, String> {
    bounded(s, 0, 4096).map(|v| v as usize)
}

fn limit(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000_000).map(|v| v as usize)
}

fn evals(s: &str) -> Result<usize, String> {
    bounded(s, 1, 100).map(|v| v as usize)
}

fn number_in(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{v} is out of range: use {lo} to {hi}"));
    }
    Ok(v)
}

fn rate(s: &str) -> Result<f32, String> {
    number_in(s, 1e-6, 10.0).map(|v| v as f32)
}

fn momentum(s: &str) -> Result<f32, String> {
    number_in(s, 0.0, 0.999).map(|v| v as f32)
}

fn accuracy(s: &str) -> Result<f64, String> {
    number_in(s, 0.0, 1.0)
}

/// One piece of work for a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// The gradient of these training samples: one shard of a batch.
    Gradient(Vec<u32>),
    /// Classify test samples `start..start + count`.
    Evaluate { start: u32, count: u32 },
}

/// What a [`Task`] produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Done {
    /// The shard's summed-loss gradient, in the parameters' layout, and its summed loss.
    Gradient {
        #[serde(with = "f32s_as_bytes")]
        grad: Vec<f32>,
        loss: f64,
    },
    /// How many of the chunk were classified right, and their summed loss.
    Evaluate { correct: u64, loss: f64 },
}

/// The weights a step is computed at: shared by reference among threads and tasks, sent as
/// raw bytes to a worker process.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub Arc<Vec<f32>>);

impl Serialize for Weights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        f32s_as_bytes::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        f32s_as_bytes::deserialize(d).map(|v| Weights(Arc::new(v)))
    }
}

/// One worker's share of one round: the weights, and its tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub params: Weights,
    pub tasks: Vec<Task>,
}

/// The job every model runs: compute a [`Step`]'s tasks at its weights, on this process's copy
/// of the data set.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrainJob {
    data: PathBuf,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    hidden: usize,
    /// The data set, read on this process's first step and kept (a worker process holds its
    /// own copy; threads and tasks share the parent's).
    #[serde(skip)]
    loaded: OnceLock<Result<Arc<Dataset>, String>>,
}

impl TrainJob {
    /// A job that reads the data set on first use (a worker process reads its own).
    pub fn new(args: &TrainArgs) -> TrainJob {
        TrainJob {
            data: args.data.clone(),
            train_limit: args.train_limit,
            test_limit: args.test_limit,
            hidden: args.hidden,
            loaded: OnceLock::new(),
        }
    }

    /// Read the data set now, in this process: the models whose workers share its memory.
    pub fn load(args: &TrainArgs) -> Result<TrainJob> {
        let job = TrainJob::new(args);
        job.data()?;
        Ok(job)
    }

    /// The data set, read on first use.
    pub fn data(&self) -> Result<&Arc<Dataset>> {
        let loaded = self.loaded.get_or_init(|| {
            Dataset::load(&self.data, self.train_limit, self.test_limit)
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        });
        loaded.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// Compute one task at `params`. Behind the emulated GIL with `threading --gil`.
    pub fn task(&self, params: &[f32], task: Task) -> Result<Done> {
        let data = self.data()?;
        let net = Net {
            inputs: data.pixels,
            hidden: self.hidden,
        };
        ensure!(
            params.len() == net.len(),
            "weights of {} parameters for a network of {}",
            params.len(),
            net.len()
        );
        Ok(match task {
            Task::Gradient(samples) => {
                ensure!(
                    samples.iter().all(|&s| (s as usize) < data.train.len()),
                    "a shard names a training sample past the {} there are",
                    data.train.len()
                );
                let split = &data.train;
                let (grad, loss) = gil::hold(|| {
                    net::gradient(&net, params, &split.images, &split.labels, &samples)
                });
                Done::Gradient { grad, loss }
            }
            Task::Evaluate { start, count } => {
                let (start, count) = (start as usize, count as usize);
                ensure!(
                    start + count <= data.test.len(),
                    "an evaluation of test samples {start}..{} of {}",
                    start + count,
                    data.test.len()
                );
                let split = &data.test;
                let (correct, loss) = gil::hold(|| {
                    net::evaluate(&net, params, &split.images, &split.labels, start, count)
                });
                Done::Evaluate { correct, loss }
            }
        })
    }
}

impl Job for TrainJob {
    const NAME: &'static str = "train-step";
    type Item = Step;
    type Output = Vec<Done>;

    /// The step's tasks in order. An empty step only makes sure the data set is loaded.
    fn run(&self, step: Step) -> Result<Vec<Done>> {
        self.data()?;
        let Step { params, tasks } = step;
        tasks.into_iter().map(|t| self.task(&params.0, t)).collect()
    }

    /// A minute to start and read the data set, plus the step's arithmetic at 50 MFLOP/s: a
    /// thousand times slower than it runs here.
    fn deadline(&self, step: &Step) -> Duration {
        let per_sample = 6.0 * step.params.0.len() as f64;
        let samples: usize = step
            .tasks
            .iter()
            .map(|t| match t {
                Task::Gradient(s) => s.len(),
                Task::Evaluate { count, .. } => *count as usize / 3,
            })
            .sum();
        Duration::from_secs(60) + Duration::from_secs_f64(per_sample * samples as f64 / 50e6)
    }
}

/// How the models run a round of tasks: wherever they like, as long as the results come back
/// in task order. Each crate's `train.rs` implements it (a loop, threads, worker processes,
/// blocking tasks); [`deal`] and [`in_task_order`] are the bookkeeping they share.
pub trait Executor {
    /// Run `tasks` at `params`; one result per task, in task order.
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> Result<Vec<Done>>;
}

/// Deal tasks round-robin by position to `workers` workers: (positions, tasks) per worker,
/// workers with nothing left out. Which worker computes a task never changes its result; this
/// only spreads the work.
pub fn deal(tasks: Vec<Task>, workers: usize) -> Vec<(Vec<usize>, Vec<Task>)> {
    let mut hands: Vec<(Vec<usize>, Vec<Task>)> = (0..workers.max(1))
        .map(|_| (Vec::new(), Vec::new()))
        .collect();
    let n = hands.len();
    for (i, t) in tasks.into_iter().enumerate() {
        hands[i % n].0.push(i);
        hands[i % n].1.push(t);
    }
    hands.retain(|(positions, _)| !positions.is_empty());
    hands
}

/// The results of dealt hands put back in task order.
pub fn in_task_order(n: usize, hands: Vec<(Vec<usize>, Vec<Done>)>) -> Result<Vec<Done>> {
    let mut slots: Vec<Option<Done>> = (0..n).map(|_| None).collect();
    for (positions, done) in hands {
        ensure!(
            positions.len() == done.len(),
            "a worker answered {} tasks of {}",
            done.len(),
            positions.len()
        );
        for (i, d) in positions.into_iter().zip(done) {
            slots[i] = Some(d);
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.with_context(|| format!("task {i} has no result")))
        .collect()
}

/// One SGD step of the run: its samples and the learning rate it is taken with.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub samples: Vec<u32>,
    pub lr: f32,
}

/// What a run will do, from the arguments and the files' headers: checked before anything
/// starts, so a bad input is refused by name first.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub sizes: Sizes,
    pub net: Net,
    /// `--workers`, at most one per shard (a worker with no shard would only wait).
    pub workers: usize,
    pub steps_per_epoch: usize,
}

impl Plan {
    /// The plan of `args`, reading only the files' headers.
    pub fn of(args: &TrainArgs) -> Result<Plan> {
        let sizes = Sizes::of(&args.data, args.train_limit, args.test_limit)?;
        let workers = args.workers.min(args.shards);
        if workers < args.workers {
            say!(
                "--workers {}: a batch has only {} shards (--shards), so {workers} workers compute them",
                args.workers,
                args.shards
            );
        }
        Ok(Plan {
            net: Net {
                inputs: sizes.pixels,
                hidden: args.hidden,
            },
            workers,
            steps_per_epoch: sizes.train.div_ceil(args.batch),
            sizes,
        })
    }

    /// SGD steps over the whole run: the items of the summary.
    pub fn steps(&self, args: &TrainArgs) -> usize {
        self.steps_per_epoch * args.epochs
    }
}

/// The order of the training samples in epoch `epoch`: a Fisher-Yates shuffle from its own
/// stream of `seed` (stream 0 is the initial weights').
pub fn shuffle(n: usize, seed: u64, epoch: usize) -> Vec<u32> {
    let mut rng = crate::rng::SplitMix64::for_item(seed, 1 + epoch as u64);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// The batches of epoch `epoch`, each with its learning rate: `lr * (1 - step / steps)`,
/// falling linearly to zero over the run.
pub fn batches(args: &TrainArgs, plan: &Plan, epoch: usize) -> Vec<Batch> {
    let total = plan.steps(args) as f32;
    shuffle(plan.sizes.train, args.seed, epoch)
        .chunks(args.batch)
        .enumerate()
        .map(|(b, samples)| {
            let step = (epoch * plan.steps_per_epoch + b) as f32;
            Batch {
                samples: samples.to_vec(),
                lr: args.lr * (1.0 - step / total),
            }
        })
        .collect()
}

/// A batch cut into `shards` pieces by position: the same cut whatever computes them.
pub fn shard(samples: &[u32], shards: usize) -> Vec<Task> {
    let size = samples.len().div_ceil(shards.max(1)).max(1);
    samples
        .chunks(size)
        .map(|c| Task::Gradient(c.to_vec()))
        .collect()
}

/// The evaluation of the test set: fixed chunks of [`EVAL_CHUNK`].
pub fn evaluation(test: usize) -> Vec<Task> {
    (0..test)
        .step_by(EVAL_CHUNK)
        .map(|start| Task::Evaluate {
            start: start as u32,
            count: EVAL_CHUNK.min(test - start) as u32,
        })
        .collect()
}

/// How Hogwild runs a stretch of batches between two evaluations: on shared weights, each
/// thread taking the next batch, no barrier. Returns the batches' summed training loss.
pub type HogwildRun<'a> = &'a mut dyn FnMut(&hogwild::Shared, &[Batch]) -> Result<f64>;

/// One evaluation: the test set's accuracy and mean loss.
fn evaluate(
    exec: &mut dyn Executor,
    params: &Arc<Vec<f32>>,
    tasks: &[Task],
    test: usize,
) -> Result<(f64, f64)> {
    let (mut correct, mut loss) = (0, 0.0);
    for done in exec.run(params, tasks.to_vec())? {
        match done {
            Done::Evaluate {
                correct: c,
                loss: l,
            } => {
                correct += c;
                loss += l;
            }
            Done::Gradient { .. } => bail!("a worker sent a gradient for an evaluation"),
        }
    }
    Ok((correct as f64 / test as f64, loss / test as f64))
}

/// One synchronous step: every shard's gradient, wherever the executor computes it, summed in
/// shard order, one update. Returns the batch's summed loss.
fn step(
    args: &TrainArgs,
    exec: &mut dyn Executor,
    params: &mut Arc<Vec<f32>>,
    velocity: &mut [f32],
    batch: &Batch,
) -> Result<f64> {
    let done = exec.run(params, shard(&batch.samples, args.shards))?;
    let mut loss = 0.0;
    let mut grads = Vec::with_capacity(done.len());
    for d in done {
        match d {
            Done::Gradient { grad, loss: l } => {
                ensure!(
                    grad.len() == params.len(),
                    "a worker sent a gradient of {} parameters for {}",
                    grad.len(),
                    params.len()
                );
                loss += l;
                grads.push(grad);
            }
            Done::Evaluate { .. } => bail!("a worker sent an evaluation for a gradient"),
        }
    }
    let total = net::sum_in_order(grads).context("a batch with no shards")?;
    // The workers dropped their references with their step, so this updates in place; a copy
    // only if one is still held somewhere.
    let weights = Arc::make_mut(params);
    net::momentum_step(
        weights,
        velocity,
        &total,
        batch.lr,
        args.momentum,
        batch.samples.len(),
    );
    Ok(loss)
}

/// Train as `args` says, on `exec`; with `hogwild`, the training steps run lock-free on shared
/// weights instead (threads only) and the evaluations still go through `exec`. `run` was
/// started before the data set was loaded: the time to here is the loading. Notes the figures
/// in `run` and returns the digest; the caller finishes the run once its workers are gone, so
/// that their CPU time is counted.
pub fn train(
    args: &TrainArgs,
    plan: &Plan,
    run: &mut Run,
    exec: &mut dyn Executor,
    mut hogwild: Option<HogwildRun>,
) -> Result<String> {
    let load_s = run.elapsed_s();
    let net = plan.net;
    say!(
        "{}: {} training and {} test images, {} epochs of {} steps ({} samples, {} shards each), {} worker(s)",
        net.describe(),
        plan.sizes.train,
        plan.sizes.test,
        args.epochs,
        plan.steps_per_epoch,
        args.batch,
        args.shards,
        run.workers()
    );
    let mut params = Arc::new(net.init(args.seed));
    let mut velocity = vec![0.0f32; net.len()];
    let shared = hogwild.is_some().then(|| hogwild::Shared::new(&params));
    let eval_tasks = evaluation(plan.sizes.test);
    // Evaluate after these batches of each epoch (evenly spaced, the last at its end).
    let mut marks: Vec<usize> = (1..=args.evals_per_epoch)
        .map(|k| (k * plan.steps_per_epoch).div_ceil(args.evals_per_epoch))
        .collect();
    marks.dedup();
    let started = Instant::now();
    let (mut train_s, mut eval_s, mut samples) = (0.0, 0.0, 0usize);
    let (mut curve, mut reached) = (Vec::new(), None);
    let (mut accuracy, mut test_loss, mut train_loss) = (0.0, 0.0, 0.0);
    for epoch in 0..args.epochs {
        let batches = batches(args, plan, epoch);
        let mut from = 0;
        for &to in &marks {
            let stretch = &batches[from..to.min(batches.len())];
            from = to;
            let clock = Instant::now();
            let mut loss = 0.0;
            match (&mut hogwild, &shared) {
                (Some(run_hogwild), Some(shared)) => loss += run_hogwild(shared, stretch)?,
                _ => {
                    for batch in stretch {
                        loss += step(args, exec, &mut params, &mut velocity, batch)?;
                    }
                }
            }
            train_s += clock.elapsed().as_secs_f64();
            let seen: usize = stretch.iter().map(|b| b.samples.len()).sum();
            samples += seen;
            train_loss = loss / seen.max(1) as f64;
            let clock = Instant::now();
            if let Some(shared) = &shared {
                params = Arc::new(shared.to_vec());
            }
            (accuracy, test_loss) = evaluate(exec, &params, &eval_tasks, plan.sizes.test)?;
            eval_s += clock.elapsed().as_secs_f64();
            let at_s = started.elapsed().as_secs_f64();
            let epochs_done = epoch as f64 + to.min(batches.len()) as f64 / batches.len() as f64;
            say!(
                "epoch {epochs_done:.2}: test accuracy {accuracy:.4}, test loss {test_loss:.4}, \
                 training loss {train_loss:.4}; {:.0} samples/s",
                samples as f64 / train_s
            );
            if reached.is_none() && accuracy >= args.target {
                reached = Some((at_s, samples));
            }
            curve.push(json!({
                "epoch": round(epochs_done, 4),
                "samples": samples,
                "seconds": round(at_s, 4),
                "train_seconds": round(train_s, 4),
                "accuracy": accuracy,
                "test_loss": round(test_loss, 6),
            }));
        }
    }
    let final_params = match &shared {
        Some(shared) => shared.to_vec(),
        None => params.to_vec(),
    };
    let bytes: Vec<u8> = final_params.iter().flat_map(|x| x.to_le_bytes()).collect();
    let samples_per_s = samples as f64 / train_s;
    match reached {
        Some((s, n)) => say!(
            "test accuracy {accuracy:.4}; reached the target {} after {s:.2} s ({n} samples)",
            args.target
        ),
        None => say!(
            "test accuracy {accuracy:.4}; never reached the target {}",
            args.target
        ),
    }
    run.extra("net", net.describe())
        .extra("parameters", net.len())
        .extra("train_samples", plan.sizes.train)
        .extra("test_samples", plan.sizes.test)
        .extra("epochs", args.epochs)
        .extra("batch", args.batch)
        .extra("shards", args.shards)
        .extra("lr", args.lr)
        .extra("momentum", args.momentum)
        .extra("seed", args.seed)
        .extra("accuracy", accuracy)
        .extra("test_loss", round(test_loss, 6))
        .extra("train_loss", round(train_loss, 6))
        .extra("samples_per_s", samples_per_s.round())
        .extra("target", args.target)
        .extra("seconds_to_target", reached.map(|(s, _)| round(s, 4)))
        .extra("samples_to_target", reached.map(|(_, n)| n))
        .extra("load_s", round(load_s, 4))
        .extra("train_s", round(train_s, 4))
        .extra("eval_s", round(eval_s, 4))
        .extra("curve", curve)
        .extra("digest_of", "the final weights, f32 little-endian");
    if shared.is_some() {
        // Every run interleaves its threads differently, so the weights, and the digest, differ.
        run.extra("reproducible", false);
    }
    Ok(of_all([bytes]))
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// serde for `Vec<f32>` as one run of little-endian bytes: one copy, not a number at a time.
mod f32s_as_bytes {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(xs: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        s.serialize_bytes(&bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        d.deserialize_bytes(F32s)
    }

    struct F32s;

    impl<'de> de::Visitor<'de> for F32s {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("f32s as little-endian bytes")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<f32>, E> {
            if !bytes.len().is_multiple_of(4) {
                return Err(E::custom("f32 bytes not a multiple of 4"));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect())
        }

        // Self-describing formats such as JSON write bytes as a list of numbers.
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            let mut bytes = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                bytes.push(b);
            }
            self.visit_bytes(&bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_by_position_and_the_cut_covers_it_once() {
        let samples: Vec<u32> = (0..10).collect();
        let cut = shard(&samples, 4);
        assert_eq!(
            cut,
            [
                Task::Gradient(vec![0, 1, 2]),
                Task::Gradient(vec![3, 4, 5]),
                Task::Gradient(vec![6, 7, 8]),
                Task::Gradient(vec![9])
            ]
        );
        // A batch shorter than the shard count: fewer, non-empty shards.
        assert_eq!(shard(&[5, 6], 4).len(), 2);
    }

    #[test]
    fn dealing_and_gathering_keep_task_order() {
        let tasks: Vec<Task> = (0..5).map(|i| Task::Gradient(vec![i])).collect();
        for workers in 1..=7 {
            let hands = deal(tasks.clone(), workers);
            assert_eq!(hands.len(), workers.min(5));
            let answered = hands
                .into_iter()
                .map(|(positions, tasks)| {
                    let done = tasks
                        .iter()
                        .map(|t| match t {
                            Task::Gradient(s) => Done::Evaluate {
                                correct: u64::from(s[0]),
                                loss: 0.0,
                            },
                            _ => unreachable!(),
                        })
                        .collect();
                    (positions, done)
                })
                .collect();
            let back = in_task_order(5, answered).unwrap();
            for (i, d) in back.iter().enumerate() {
                assert_eq!(
                    d,
                    &Done::Evaluate {
                        correct: i as u64,
                        loss: 0.0
                    }
                );
            }
        }
        assert!(in_task_order(2, vec![(vec![0], vec![])]).is_err());
    }

    #[test]
    fn each_epoch_is_a_permutation_of_its_own() {
        let a = shuffle(1000, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_ne!(a, shuffle(1000, 7, 1));
        assert_eq!(a, shuffle(1000, 7, 0));
        // The Python twin's test checks the same order: both languages see the same batches.
        assert_eq!(shuffle(10, 42, 0), [9, 0, 3, 2, 4, 1, 5, 8, 6, 7]);
    }

    #[test]
    fn evaluation_chunks_cover_the_test_set() {
        let tasks = evaluation(2500);
        assert_eq!(
            tasks,
            [
                Task::Evaluate {
                    start: 0,
                    count: 1000
                },
                Task::Evaluate {
                    start: 1000,
                    count: 1000
                },
                Task::Evaluate {
                    start: 2000,
                    count: 500
                }
            ]
        );
    }

    #[test]
    fn steps_survive_serialisation_bit_for_bit() {
        let step = Step {
            params: Weights(Arc::new(vec![1.5, -0.0, f32::MIN_POSITIVE])),
            tasks: vec![
                Task::Gradient(vec![3, 1]),
                Task::Evaluate { start: 0, count: 9 },
            ],
        };
        let bytes = postcard_like(&step);
        assert_eq!(bytes, step);
        let done = Done::Gradient {
            grad: vec![0.25, -1.0],
            loss: 2.5,
        };
        let json = serde_json::to_vec(&done).unwrap();
        assert_eq!(serde_json::from_slice::<Done>(&json).unwrap(), done);
    }

    /// A round trip through JSON (the library does not depend on postcard; the
    /// multiprocessing crate's tests cover its frames).
    fn postcard_like(step: &Step) -> Step {
        serde_json::from_slice(&serde_json::to_vec(step).unwrap()).unwrap()
    }
}
