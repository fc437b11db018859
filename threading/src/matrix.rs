//! The chapter's "mathematical computation" row on a pool of threads: the blocks of C's rows
//! go on a crossbeam channel and `--workers` scoped threads take blocks until it is empty
//! (the chapter's thread pool). Each work item carries its own `&mut` slice of C and the slot
//! for its outcome, so threads write in place without a lock: the borrow checker has proved
//! the slices disjoint.
//!
//! `--gil` runs the very same code while each block holds one global lock, an emulation of
//! CPython's GIL (see `gil.rs`): threads, but one core's worth of work.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p threading -- matrix data/matrix [--workers N] [--gil]
//! ```

use crate::MODEL;
use crate::gil::GilArgs;
use anyhow::Result;
use scenarios::items;
use scenarios::matrix::{self, MatrixArgs, PackedB};
use scenarios::{Run, Summary};
use std::thread;

pub fn run(args: &MatrixArgs, gil: &GilArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let blocks = m.div_ceil(args.block_rows);
    let run = Run::start("matrix", MODEL, gil.variant(), args.workers, blocks);
    let (a, b) = (args.a(), PackedB::read(&args.b())?);
    let mut c = vec![0.0; m * n];
    let mut outcomes = vec![None; blocks];
    let (tx, rx) = crossbeam_channel::unbounded();
    for (item, slot) in c
        .chunks_mut(args.block_rows * n)
        .enumerate()
        .zip(&mut outcomes)
    {
        tx.send((item, slot)).expect("the receiver is alive");
    }
    // Closing the channel is how the workers learn there is no more work.
    drop(tx);
    thread::scope(|s| {
        for _ in 0..args.workers {
            let (rx, a, b) = (rx.clone(), &a, &b);
            s.spawn(move || {
                for ((i, c_block), slot) in rx {
                    // The kernel times itself inside the lock: its speed, not the wait for the GIL.
                    let block = gil.hold(|| matrix::block(a, b, i * args.block_rows, c_block));
                    *slot = items::outcome(block);
                }
            });
        }
    });
    drop(rx);
    Ok(matrix::summarise(run, (m, k, n), args.block_rows, outcomes))
}
