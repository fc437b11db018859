//! The chapter's "image processing" row in asyncio's world: each file is a task on the
//! one-thread event loop.
//!
//! - `--variant spawn_blocking` (default): each task hands its image (read, compute, write) to
//!   tokio's blocking threads, at most `--workers` at a time, and awaits it: parallel, and the
//!   event loop stays responsive.
//! - `--variant blocking`: each task processes its image on the event loop itself: one after
//!   another, and the ticker task that wants to run every 10 ms is starved
//!   (`ticker_max_late_ms`).
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p asyncio -- images data/images --out data/images-out [--variant blocking] [--keep-going]
//! ```
//!
//! The first bad input stops the run (tasks not yet started skip their image) with an error
//! naming it; with `--keep-going` the others are processed and the failures counted.

use crate::cpu::{CpuArgs, Ticker};
use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::images::{self, ImagesArgs};
use scenarios::items::FailFast;
use scenarios::{Run, Summary};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub fn run(args: &ImagesArgs, cpu: &CpuArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let mut run = Run::start("images", MODEL, cpu.name(), args.workers, inputs.len());
    let fail = Arc::new(FailFast::new(args.keep_going));
    let (outcomes, ticks, late_ms) = event_loop()?.block_on(async {
        let ticker = Ticker::start();
        // At most `--workers` images in progress at once, like a pool of that size.
        let limit = Arc::new(Semaphore::new(args.workers));
        let tasks: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let (input, out, sigma) = (input.clone(), args.out.clone(), args.sigma);
                let (fail, limit, cpu) = (fail.clone(), limit.clone(), *cpu);
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await?;
                    cpu.compute(move || fail.run(i, || images::process_file(&input, &out, sigma)))
                        .await
                })
            })
            .collect();
        // Awaiting the handles in order is asyncio.gather: results come back in input order.
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await??);
        }
        let (ticks, late_ms) = ticker.stop();
        anyhow::Ok((outcomes, ticks, late_ms))
    })?;
    scenarios::say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
    run.extra("ticks", ticks)
        .extra("ticker_max_late_ms", late_ms);
    let fail = Arc::into_inner(fail).expect("every task has finished");
    images::summarise(run, fail, outcomes)
}
