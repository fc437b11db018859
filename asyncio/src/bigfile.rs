//! The chapter's "processing large files" row in asyncio's world, two ways (`--variant`):
//!
//! - `spawn_blocking` (default, the right way): each range is a task that hands the whole
//!   range to tokio's blocking threads (`pool.rs`'s `map_in_order`), at most `--workers` at a
//!   time, reading from one memory map as the threading model does. Big pieces of blocking
//!   work, few hand-offs, every core busy, and the event loop free.
//! - `tokio-fs` (the naive way, on purpose): each range is a task that reads through
//!   `tokio::fs::File` and tokio's `BufReader` and parses on the event loop. Linux has no
//!   asynchronous file reads that tokio uses, so every 8 KiB read is a trip to a blocking
//!   thread and back, and all the parsing shares the loop's one thread: what "async file I/O"
//!   costs when it is not.
//!
//! ```text
//! cargo run --release -p asyncio -- bigfile data/bigfile.txt [--workers N] [--variant tokio-fs]
//! ```

use crate::MODEL;
use crate::pool::{CpuArgs, Pool, Variant};
use anyhow::Result;
use scenarios::bigfile::{self, Aggregate, AsyncRead, AsyncReadArgs, BigfileArgs, Reader, TokioFs};
use scenarios::{Label, Run, Summary};

pub fn run(args: &BigfileArgs, how: &AsyncReadArgs) -> Result<Summary> {
    let plan = bigfile::plan(args)?;
    let cpu = CpuArgs {
        variant: Variant::SpawnBlocking,
    };
    let pool = Pool::new(args.workers).on_error(args.on_error()).cpu(&cpu);
    let label = Label::new(MODEL, how.variant.name(), args.workers);
    let mut run = Run::start(bigfile::SCENARIO, label, plan.ranges.len());
    let (ranges, job) = (plan.ranges.clone(), Aggregate::new(&plan, Reader::Mmap));
    let outcomes = match how.variant {
        AsyncRead::SpawnBlocking => pool.map_in_order(&mut run, ranges, job)?,
        AsyncRead::TokioFs => pool.map_in_order_async(&mut run, ranges, TokioFs::new(&plan))?,
    };
    bigfile::summarise(run, &plan, how.variant.reader(), outcomes)
}
