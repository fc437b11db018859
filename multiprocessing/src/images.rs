//! The chapter's "image processing" row with processes, its own recommendation. Each file is an
//! item for a pool of worker processes (copies of this binary, `pool.rs`): the item names the
//! file, the worker reads it, computes, writes the result (temporary name, then rename) and
//! replies with the output's SHA-256, or with why the input was bad.
//!
//! `--engine rayon` processes the same files on rayon's threads in this one process: Rust's
//! usual answer to `Pool.map`.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p multiprocessing -- images data/images --out data/images-out [--engine rayon] [--keep-going]
//! ```
//!
//! A bad input stops the run (no new items are handed out) with an error naming it, unless
//! `--keep-going`. A worker that dies (hidden test flags `--die-on-task I --die-how
//! kill|panic|exit`) is not a bad input: its image fails naming the process, a new worker takes
//! its place, every other image completes, and the exit status is 1.

use crate::engine::EngineArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::images::{self, ImagesArgs, ProcessImage};
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs, engine: &EngineArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .engine(engine);
    let mut run = Run::start("images", pool.label(), inputs.len());
    let outcomes = pool.map_in_order(&mut run, inputs, ProcessImage::new(args))?;
    images::summarise(run, args.on_error(), outcomes)
}
