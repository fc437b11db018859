//! The chapter's "mathematical computation" row, one thing after another: C = A x B computed
//! block of rows after block of rows on one thread. The baseline the other models are measured
//! against, and the kernel's single-core speed (`kernel_gflops`).
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p serial -- matrix data/matrix [--block-rows R]
//! ```
//!
//! `--workers` is accepted like everywhere else, and ignored: serial has one worker.

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
