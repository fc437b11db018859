//! The chapter's "mathematical computation" row on a pool of threads: the blocks of C's rows
//! are the items of `pool.rs`'s `map_in_order`, and `--workers` threads take blocks until
//! there are none left (the chapter's `ThreadPoolExecutor`). The job is the one every model
//! runs (`scenarios::matrix::MultiplyRows`); only the pool differs, so this file is serial's.
//!
//! `--gil` runs the very same code while each block's kernel holds one global lock, an
//! emulation of CPython's GIL (`scenarios::gil`): threads, but one core's worth of work.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p threading -- matrix data/matrix [--workers N] [--gil]
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::matrix::{self, MatrixArgs, MultiplyRows};
use scenarios::outcome::OnError;
use scenarios::{Run, Summary};

pub fn run(args: &MatrixArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let blocks = matrix::row_blocks(m, args.block_rows);
    // A failed block is counted and shows in the digest; the other blocks still run.
    let pool = Pool::new(args.workers).on_error(OnError::KeepGoing);
    let mut run = Run::start("matrix", pool.label(), blocks.len());
    let outcomes = pool.map_in_order(&mut run, blocks, MultiplyRows::new(args))?;
    matrix::summarise(run, (m, k, n), args, outcomes)
}
