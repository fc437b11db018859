//! The chapter's "processing large files" row with processes, its own recommendation: each
//! range of the file is an item for a pool of worker processes (copies of this binary,
//! `pool.rs`). An item names the bytes, not the data: the child opens the file itself, reads
//! its range with its own buffered reader, and sends back only its partial aggregate (a few
//! hundred stations' figures) in a frame; the parent merges them in range order.
//!
//! ```text
//! cargo run --release -p multiprocessing -- bigfile data/bigfile.txt [--workers N] [--cold]
//! ```
//!
//! A worker that dies mid-range (hidden test flags `--die-on-task I --die-how kill|panic|exit`)
//! loses its range: the pool replaces the worker, and the run fails naming the range, because
//! an answer without its rows would be silently wrong.

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::bigfile::{self, Aggregate, BigfileArgs, Reader};
use scenarios::{Run, Summary};

pub fn run(args: &BigfileArgs, options: &PoolArgs) -> Result<Summary> {
    let plan = bigfile::plan(args)?;
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .options(options);
    let mut run = Run::start(bigfile::SCENARIO, pool.label(), plan.ranges.len());
    let reader = Reader::Read;
    let job = Aggregate::new(&plan, reader);
    let outcomes = pool.map_in_order(&mut run, plan.ranges.clone(), job)?;
    bigfile::summarise(run, &plan, reader.name(), outcomes)
}
