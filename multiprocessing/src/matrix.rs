//! The chapter's "mathematical computation" row with processes, its own recommendation for
//! CPU-bound work. Each block of C's rows is a task for a pool of worker processes (copies of
//! this binary). A task names the files and the rows, not the data: each worker reads the rows
//! of A it needs and keeps B, read and packed once, for its later tasks. The reply frame
//! carries the block's rows of C as raw f64 bytes, and the parent copies them into C as they
//! arrive: shipping results back is part of what processes cost.
//!
//! `--engine rayon` runs the same blocks with rayon's `par_chunks_mut` on threads in this one
//! process: Rust's usual answer to `Pool.map`, since Rust threads have no GIL to escape.
//!
//! ```text
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p multiprocessing -- matrix data/matrix [--workers N] [--engine rayon]
//! ```
//!
//! A worker that dies mid-task (hidden test flags `--die-on-task I --die-how kill|panic|exit`)
//! turns into a failed block naming the process; a new worker takes its place, every other
//! block completes, and the exit status is 1.

use crate::MODEL;
use crate::engine::{Engine, EngineArgs};
use crate::pool::Pool;
use anyhow::{Context, Result};
use scenarios::items;
use scenarios::matrix::{self, Block, MatrixArgs, PackedB};
use scenarios::{Run, Summary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// One task: rows `start..start + rows` of C = A x B.
#[derive(Serialize, Deserialize)]
struct Task {
    a: PathBuf,
    b: PathBuf,
    start: usize,
    rows: usize,
}

pub fn run(args: &MatrixArgs, engine: &EngineArgs) -> Result<Summary> {
    let fault = engine.fault()?;
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let (rows, blocks) = (args.block_rows, m.div_ceil(args.block_rows));
    let mut run = Run::start("matrix", MODEL, engine.variant(), args.workers, blocks);
    let mut c = vec![0.0; m * n];
    let outcomes = match engine.engine {
        Engine::Rayon => {
            let (a, b) = (args.a(), PackedB::read(&args.b())?);
            EngineArgs::rayon_pool(args.workers)?.install(|| {
                c.par_chunks_mut(rows * n)
                    .enumerate()
                    .map(|(i, c_block)| items::outcome(matrix::block(&a, &b, i * rows, c_block)))
                    .collect()
            })
        }
        Engine::Processes => {
            let tasks = (0..blocks)
                .map(|i| {
                    let (a, b, start) = (args.a(), args.b(), i * rows);
                    serde_json::to_value(Task {
                        a,
                        b,
                        start,
                        rows: rows.min(m - start),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut outcomes = vec![None; blocks];
            let mut c_blocks: Vec<&mut [f64]> = c.chunks_mut(rows * n).collect();
            let pool = Pool::new(args.workers).with_fault(fault);
            let out = pool.map("matrix-block", tasks, |i, reply| {
                // Decoded as each reply arrives, while the workers compute the next blocks.
                let block = reply.as_ref().map_err(|died| anyhow::anyhow!("{died}"));
                let block = block.and_then(|bytes| Block::decode(bytes, c_blocks[i], n));
                outcomes[i] = items::outcome(block);
            });
            run.extra("parent_pid", std::process::id())
                .extra("pids", out.pids)
                .extra("replaced", out.replaced);
            outcomes
        }
    };
    Ok(matrix::summarise(run, (m, k, n), rows, outcomes))
}

/// B, read and packed once per worker process and kept for the process's later tasks.
static PACKED: LazyLock<Mutex<HashMap<PathBuf, Arc<PackedB>>>> = LazyLock::new(Default::default);

fn packed(path: &Path) -> Result<Arc<PackedB>> {
    let mut cache = PACKED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(b) = cache.get(path) {
        return Ok(Arc::clone(b));
    }
    let b = Arc::new(PackedB::read(path)?);
    cache.insert(path.to_path_buf(), Arc::clone(&b));
    Ok(b)
}

/// The worker's side: one block of rows.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let task: Task = serde_json::from_value(arg).context("a matrix-block task")?;
    let b = packed(&task.b)?;
    let mut c = vec![0.0; task.rows * b.cols()];
    let block = matrix::block(&task.a, &b, task.start, &mut c)?;
    Ok(block.encode(&c))
}
