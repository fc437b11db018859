//! The chapter's "mathematical computation" row in asyncio's world, where it does not belong:
//! each block of C's rows is a task on the one-thread event loop.
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

use crate::cpu::{CpuArgs, Ticker};
use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::items;
use scenarios::matrix::{self, MatrixArgs, PackedB};
use scenarios::{Run, Summary};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub fn run(args: &MatrixArgs, cpu: &CpuArgs) -> Result<Summary> {
    let (m, k, n) = matrix::check_inputs(&args.a(), &args.b())?;
    let (rows, blocks) = (args.block_rows, m.div_ceil(args.block_rows));
    let mut run = Run::start("matrix", MODEL, cpu.name(), args.workers, blocks);
    let (a, b) = (Arc::new(args.a()), Arc::new(PackedB::read(&args.b())?));
    let (outcomes, ticks, late_ms) = event_loop()?.block_on(async {
        let ticker = Ticker::start();
        // At most `--workers` blocks computing at once, like a pool of that size.
        let limit = Arc::new(Semaphore::new(args.workers));
        let tasks: Vec<_> = (0..blocks)
            .map(|i| {
                let (a, b, limit, cpu) = (a.clone(), b.clone(), limit.clone(), *cpu);
                let start = i * rows;
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await?;
                    cpu.compute(move || {
                        // Each task owns its rows of C: 'static work cannot borrow a shared C.
                        let mut c = vec![0.0; rows.min(m - start) * n];
                        matrix::block(&a, &b, start, &mut c)
                    })
                    .await?
                })
            })
            .collect();
        // Awaiting the handles in order is asyncio.gather: results come back in input order.
        let mut outcomes = Vec::with_capacity(blocks);
        for task in tasks {
            outcomes.push(items::outcome(task.await?));
        }
        let (ticks, late_ms) = ticker.stop();
        anyhow::Ok((outcomes, ticks, late_ms))
    })?;
    scenarios::say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
    run.extra("ticks", ticks)
        .extra("ticker_max_late_ms", late_ms);
    Ok(matrix::summarise(run, (m, k, n), rows, outcomes))
}
