//! How many tasks one thread takes: start `--count` tasks that each sleep `--sleep-ms`, then
//! join them all, and report the time to start them, the time until the last finished, and
//! the memory per task. The threading crate's `spawn` does the same with threads.
//!
//! ```text
//! cargo run --release -p asyncio -- spawn --count 1000000 --sleep-ms 1000
//! ```
//!
//! A task is a future on the heap (its state, a few hundred bytes) plus a timer entry, driven
//! by the one-thread event loop like asyncio's; the kernel knows nothing about it, so none of
//! the limits that stop threads (pid_max, max_map_count) apply. Memory is the only wall.

use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::spawn::{Meter, SpawnArgs};
use scenarios::{Label, Run, Summary};

pub fn run(args: &SpawnArgs) -> Result<Summary> {
    let n = args.count;
    let run = Run::start("spawn", Label::new(MODEL, "tasks", n), n);
    let sleep = args.sleep();
    let mut meter = Meter::start("task");
    let results = event_loop()?.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                tokio::spawn(async move {
                    tokio::time::sleep(sleep).await;
                    i as u64
                })
            })
            .collect();
        meter.all_started();
        let mut results = Vec::with_capacity(n);
        for h in handles {
            results.push(h.await?);
        }
        anyhow::Ok(results)
    })?;
    Ok(meter.finish(run, args, &results))
}
