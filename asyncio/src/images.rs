//! The chapter's "image processing" row in asyncio's world: each file is a task on the
//! one-thread event loop (`pool.rs`).
//!
//! - `--variant spawn_blocking` (default): each task hands its image (read, compute, write) to
//!   tokio's blocking threads, at most `--workers` at a time, and awaits it: parallel, and the
//!   event loop stays responsive.
//! - `--variant blocking`: each task processes its image on the event loop itself: one after
//!   another, and the ticker task that wants to run every 10 ms is starved
//!   (`ticker_max_late_ms`).
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p asyncio -- images data/images --out data/images-out [--variant blocking] [--keep-going]
//! ```
//!
//! The first bad input stops the run (tasks not yet started skip their image) with an error
//! naming it; with `--keep-going` the others are processed and the failures counted.

use crate::pool::{CpuArgs, Pool};
use anyhow::Result;
use scenarios::images::{self, ImagesArgs, ProcessImage};
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs, cpu: &CpuArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let pool = Pool::new(args.workers).on_error(args.on_error()).cpu(cpu);
    let mut run = Run::start("images", pool.label(), inputs.len());
    let outcomes = pool.map_in_order(&mut run, inputs, ProcessImage::new(args))?;
    images::summarise(run, args.on_error(), outcomes)
}
