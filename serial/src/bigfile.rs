//! The chapter's "processing large files" row, one thing after another: the ranges of the file
//! read in order by one buffered reader (`pread` into a 1 MiB buffer, block after block, which
//! is the whole file front to back), each line added to one table. The baseline, and the
//! single-core speed of the loop (`gb_per_s` in the summary).
//!
//! ```text
//! cargo run --release -p decision-table -- gen bigfile --rows 10000000 --out data/bigfile.txt
//! cargo run --release -p serial -- bigfile data/bigfile.txt [--cold] [--keep-going]
//! ```
//!
//! `--workers` is accepted like everywhere else, and ignored: serial has one worker.

use crate::pool::Pool;
use anyhow::Result;
use scenarios::bigfile::{self, Aggregate, BigfileArgs, Reader};
use scenarios::{Run, Summary};

pub fn run(args: &BigfileArgs) -> Result<Summary> {
    let plan = bigfile::plan(args)?;
    let pool = Pool::new(args.workers).on_error(args.on_error());
    let mut run = Run::start(bigfile::SCENARIO, pool.label(), plan.ranges.len());
    let reader = Reader::Read;
    let job = Aggregate::new(&plan, reader);
    let outcomes = pool.map_in_order(&mut run, plan.ranges.clone(), job)?;
    bigfile::summarise(run, &plan, reader.name(), outcomes)
}
