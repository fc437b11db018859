//! The chapter's "image processing" row on more than one machine: each PNG is a task on the
//! broker's queue, taken by a worker process on any host. A worker cannot read this machine's
//! files, so the driver sends each file's bytes through the engine and writes each result it
//! gets back (temporary name, then rename); see `remote.rs` for the split and `pool.rs` for
//! the driver. Images are independent and their bytes are small beside their computing: the
//! natural case for distribution.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! redis-server --port 6390 --save '' --appendonly no &
//! cargo run --release -p distributed -- images data/images --out data/images-out --broker redis://127.0.0.1:6390
//! cargo run --release -p distributed -- images data/images --broker URL --remote --workers 4   # workers on other hosts
//! ```
//!
//! A bad input stops the run (no new tasks are enqueued) with an error naming it, unless
//! `--keep-going`. A worker that dies is not a bad input: its task is claimed by another worker
//! and the run completes; a task that kills every worker that takes it fails after
//! `--max-attempts`, named.

use crate::pool::{DriverArgs, Pool};
use anyhow::Result;
use scenarios::images::{self, ImagesArgs, ProcessImage};
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs, driver: &DriverArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .broker(driver);
    let mut run = Run::start("images", pool.label(), inputs.len());
    let outcomes = pool.map_in_order(&mut run, inputs, ProcessImage::new(args))?;
    images::summarise(run, args.on_error(), outcomes)
}
