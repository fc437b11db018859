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

use crate::MODEL;
use anyhow::Result;
use scenarios::images::{self, ImagesArgs};
use scenarios::items::FailFast;
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let run = Run::start("images", MODEL, "serial", 1, inputs.len());
    let fail = FailFast::new(args.keep_going);
    let mut outcomes = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        outcomes.push(fail.run(i, || images::process_file(input, &args.out, args.sigma)));
    }
    images::summarise(run, fail, outcomes)
}
