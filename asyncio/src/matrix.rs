//! The chapter's "mathematical computation" row in asyncio's world, where it does not belong:
//! each block of C's rows is a task on the one-thread event loop (`pool.rs`).
//!
//! - `--variant spawn_blocking` (default): each task hands its block to tokio's blocking
//!   threads, at most `--workers` at a time, and awaits it. The blocks compute in parallel and
//!   the event loop stays responsive.
//! - `--variant blocking`: each task computes its block on the event loop itself. The blocks
//!   run one after another (no speedup), and a ticker task that wants to run every 10 ms is
//!   starved: `ticker_max_late_ms` in the summary shows how long it waited.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p asyncio -- matrix data/matrix [--workers N] [--variant blocking]
//! ```

use crate::pool::{CpuArgs, Pool};
use anyhow::Result;
use scenarios::matrix::{self, MatrixArgs, MultiplyRows};
use scenarios::outcome::OnError;
use scenarios::{Run, Summary};

pub fn run(args: &MatrixArgs, cpu: &CpuArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let blocks = matrix::row_blocks(m, args.block_rows);
    // A failed block is counted and shows in the digest; the other blocks still run.
    let pool = Pool::new(args.workers)
        .on_error(OnError::KeepGoing)
        .cpu(cpu);
    let mut run = Run::start("matrix", pool.label(), blocks.len());
    let outcomes = pool.map_in_order(&mut run, blocks, MultiplyRows::new(args))?;
    matrix::summarise(run, (m, k, n), args, outcomes)
}
