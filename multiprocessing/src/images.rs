//! The chapter's "image processing" row with processes, its own recommendation. Each file is a
//! task for a pool of worker processes (copies of this binary): the task names the file, the
//! worker reads it, computes, writes the result (temporary name, then rename) and replies with
//! the output's SHA-256, or with why the input was bad.
//!
//! `--engine rayon` processes the same files with rayon's `par_iter` on threads in this one
//! process: Rust's usual answer to `Pool.map`.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p multiprocessing -- images data/images --out data/images-out [--engine rayon] [--keep-going]
//! ```
//!
//! A bad input stops the run (no new tasks are handed out) with an error naming it, unless
//! `--keep-going`. A worker that dies (hidden test flags `--die-on-task I --die-how
//! kill|panic|exit`) is not a bad input: its image fails naming the process, a new worker takes
//! its place, every other image completes, and the exit status is 1.

use crate::MODEL;
use crate::engine::{Engine, EngineArgs};
use crate::pool::Pool;
use anyhow::{Context, Result};
use scenarios::images::{self, ImagesArgs};
use scenarios::items::FailFast;
use scenarios::{Run, Summary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// One task: process `input` into `out`.
#[derive(Serialize, Deserialize)]
struct Task {
    input: PathBuf,
    out: PathBuf,
    sigma: f32,
}

pub fn run(args: &ImagesArgs, engine: &EngineArgs) -> Result<Summary> {
    let fault = engine.fault()?;
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let mut run = Run::start(
        "images",
        MODEL,
        engine.variant(),
        args.workers,
        inputs.len(),
    );
    let fail = FailFast::new(args.keep_going);
    let outcomes = match engine.engine {
        Engine::Rayon => EngineArgs::rayon_pool(args.workers)?.install(|| {
            inputs
                .par_iter()
                .enumerate()
                .map(|(i, input)| {
                    fail.run(i, || images::process_file(input, &args.out, args.sigma))
                })
                .collect()
        }),
        Engine::Processes => {
            let tasks = inputs
                .iter()
                .map(|input| {
                    let (input, out, sigma) = (input.clone(), args.out.clone(), args.sigma);
                    serde_json::to_value(Task { input, out, sigma })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut outcomes = vec![None; inputs.len()];
            let pool = Pool::new(args.workers)
                .with_fault(fault)
                .with_stop(fail.flag());
            let out = pool.map("image", tasks, |i, reply| {
                let outcome = match reply {
                    // The worker's verdict on its input: a bad one may stop the run.
                    Ok(bytes) => {
                        let verdict = images::decode_outcome(bytes);
                        let outcome = verdict.unwrap_or_else(|e| Err(format!("{e:#}")));
                        fail.record(i, &outcome);
                        outcome
                    }
                    // The worker died: counted as failed, never a reason to stop the others.
                    Err(died) => {
                        scenarios::say!("failed: {died}");
                        Err(died.clone())
                    }
                };
                outcomes[i] = Some(outcome);
            });
            run.extra("parent_pid", std::process::id())
                .extra("pids", out.pids)
                .extra("replaced", out.replaced);
            outcomes
        }
    };
    images::summarise(run, fail, outcomes)
}

/// The worker's side: one image. A bad input is this image's verdict, not the worker's
/// failure, so it travels inside the reply and the worker lives on.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let task: Task = serde_json::from_value(arg).context("an image task")?;
    let result = images::process_file(&task.input, &task.out, task.sigma);
    Ok(images::encode_outcome(
        &result.map_err(|e| format!("{e:#}")),
    ))
}
