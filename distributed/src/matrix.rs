//! The chapter's "mathematical computation" row on more than one machine: each block of C's
//! rows is a task on the broker's queue. B is broadcast: put in the engine once per run and
//! fetched once by each worker process; the rows of A a block needs travel with its task and
//! its rows of C travel back (`remote.rs`). Where distribution stops paying: a block's bytes
//! take longer to move over a network than to multiply on a core, so the summary's
//! `wire_ms_per_task` beside `compute_ms_per_task` says how far from paying this run was.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! redis-server --port 6390 --save '' --appendonly no &
//! cargo run --release -p distributed -- matrix data/matrix --broker redis://127.0.0.1:6390 [--workers N]
//! ```
//!
//! A worker that dies mid-block loses nothing: another claims the block after
//! `--claim-after-ms` and the digest is the same.

use crate::pool::{DriverArgs, Pool};
use anyhow::Result;
use scenarios::matrix::{self, MatrixArgs, MultiplyRows};
use scenarios::outcome::OnError;
use scenarios::{Run, Summary};

pub fn run(args: &MatrixArgs, driver: &DriverArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let blocks = matrix::row_blocks(m, args.block_rows);
    // A failed block is counted and shows in the digest; the other blocks still run.
    let pool = Pool::new(args.workers)
        .on_error(OnError::KeepGoing)
        .broker(driver);
    let mut run = Run::start("matrix", pool.label(), blocks.len());
    let outcomes = pool.map_in_order(&mut run, blocks, MultiplyRows::new(args))?;
    matrix::summarise(run, (m, k, n), args, outcomes)
}
