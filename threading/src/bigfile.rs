//! The chapter's "processing large files" row on a pool of threads: the file is mapped into
//! memory once (`memmap2`), its ranges are the items of `pool.rs`'s `map_in_order`, and each
//! thread turns the ranges it takes into a partial aggregate, straight from the page cache's
//! pages (no copy). The partial aggregates are merged in range order. Rust threads have no GIL,
//! so this is the parallel model here; `--gil` runs the same loop behind an emulation of
//! CPython's, one 1 MiB piece at a time.
//!
//! ```text
//! cargo run --release -p threading -- bigfile data/bigfile.txt [--workers N] [--cold] [--gil]
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::bigfile::{self, Aggregate, BigfileArgs, Reader};
use scenarios::{Run, Summary};

pub fn run(args: &BigfileArgs) -> Result<Summary> {
    let plan = bigfile::plan(args)?;
    let pool = Pool::new(args.workers).on_error(args.on_error());
    let mut run = Run::start(bigfile::SCENARIO, pool.label(), plan.ranges.len());
    let reader = Reader::Mmap;
    let job = Aggregate::new(&plan, reader);
    let outcomes = pool.map_in_order(&mut run, plan.ranges.clone(), job)?;
    bigfile::summarise(run, &plan, reader.name(), outcomes)
}
