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

use crate::MODEL;
use anyhow::Result;
use scenarios::items;
use scenarios::matrix::{self, MatrixArgs, PackedB};
use scenarios::{Run, Summary};

pub fn run(args: &MatrixArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let run = Run::start("matrix", MODEL, "serial", 1, m.div_ceil(args.block_rows));
    let (a, b) = (args.a(), PackedB::read(&args.b())?);
    let mut c = vec![0.0; m * n];
    let mut outcomes = Vec::new();
    for (i, c_block) in c.chunks_mut(args.block_rows * n).enumerate() {
        outcomes.push(items::outcome(matrix::block(
            &a,
            &b,
            i * args.block_rows,
            c_block,
        )));
    }
    Ok(matrix::summarise(run, (m, k, n), args.block_rows, outcomes))
}
