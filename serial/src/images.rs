//! The chapter's "image processing" row, one thing after another: each PNG is read, blurred,
//! halved, grayed, encoded and written before the next one starts. The baseline for the
//! other models.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p serial -- images data/images --out data/images-out [--keep-going]
//! ```
//!
//! The first bad input (corrupt, truncated, missing) stops the run with an error naming it;
//! with `--keep-going` the others are processed and the failures counted. `--workers` is
//! accepted like everywhere else, and ignored.

use crate::pool::Pool;
use anyhow::Result;
use scenarios::images::{self, ImagesArgs, ProcessImage};
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let pool = Pool::new(args.workers).on_error(args.on_error());
    let mut run = Run::start("images", pool.label(), inputs.len());
    let outcomes = pool.map_in_order(&mut run, inputs, ProcessImage::new(args))?;
    images::summarise(run, args.on_error(), outcomes)
}
