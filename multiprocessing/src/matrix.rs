//! The chapter's "mathematical computation" row with processes, its own recommendation for
//! CPU-bound work. Each block of C's rows is an item for a pool of worker processes (copies of
//! this binary, `pool.rs`). An item names the rows, not the data: each worker reads the rows of
//! A it needs and keeps B, read and packed once, for its later items. The block's rows of C go
//! into memory the workers share with this process (`scenarios::matrix::shared`, a memory file,
//! as Python's `multiprocessing.shared_memory`); the reply through the pipe carries only their
//! hashes. Shipping C back through the pipes cost 8 % of the run at n = 2048 (measured): a pipe
//! is the channel for small answers, not for a result of 32 MiB.
//!
//! `--engine rayon` runs the same job on rayon's threads in this one process: Rust's usual
//! answer to `Pool.map`, since Rust threads have no GIL to escape.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p multiprocessing -- matrix data/matrix [--workers N] [--engine rayon]
//! ```
//!
//! A worker that dies mid-item (hidden test flags `--die-on-task I --die-how kill|panic|exit`)
//! turns into a failed block naming the process; a new worker takes its place, every other
//! block completes, and the exit status is 1.

use crate::engine::{Engine, EngineArgs};
use crate::pool::Pool;
use anyhow::Result;
use scenarios::matrix::shared::{SharedC, read_back};
use scenarios::matrix::{self, MatrixArgs, MultiplyRows};
use scenarios::outcome::OnError;
use scenarios::{Run, Summary};

pub fn run(args: &MatrixArgs, engine: &EngineArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let blocks = matrix::row_blocks(m, args.block_rows);
    // A failed block is counted and shows in the digest; the other blocks still run.
    let pool = Pool::new(args.workers)
        .on_error(OnError::KeepGoing)
        .engine(engine);
    let mut run = Run::start("matrix", pool.label(), blocks.len());
    let job = MultiplyRows::new(args);
    if engine.engine == Engine::Rayon {
        // rayon's threads keep C in this process, as `threading` does.
        let outcomes = pool.map_in_order(&mut run, blocks, job)?;
        return matrix::summarise(run, (m, k, n), args, outcomes);
    }
    // Made before the pool starts its workers, so that every one of them inherits it; kept open
    // (`c`) until C has been read back.
    let (shared, c) = SharedC::create(m, n)?;
    run.shared_memory_kib(shared.kib());
    let job = job.with_shared_c(shared);
    let mut outcomes = pool.map_in_order(&mut run, blocks.clone(), job)?;
    if args.save_c.is_some() {
        // Only to write C out: a run that just computes it leaves it in the shared memory.
        read_back(&c, n, &blocks, &mut outcomes)?;
    }
    matrix::summarise(run, (m, k, n), args, outcomes)
}
