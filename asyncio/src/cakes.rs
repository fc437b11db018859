//! The chapter's two cakes as two tasks on one thread. Baking is `tokio::time::sleep(..).await`:
//! while one cake waits, the event loop runs the other, so two 1 s cakes take about 1 s with a
//! single thread. (A blocking `std::thread::sleep` here would stall the loop and take 2 s.)
//!
//! `cargo run -p asyncio -- cakes [--cakes N] [--bake-ms MS]`

use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::chapter::{self, Clock};
use scenarios::cli::CakesArgs;
use scenarios::{Label, Run, Summary, say};
use std::time::Duration;

async fn bake(name: String, bake_ms: u64, clock: Clock, who: String) {
    chapter::cake_started(&name, &clock, &who);
    tokio::time::sleep(Duration::from_millis(bake_ms)).await;
    chapter::cake_done(&name, &clock, &who);
}

pub fn run(args: &CakesArgs) -> Result<Summary> {
    let run = Run::start("cakes", Label::new(MODEL, "tasks", args.cakes), args.cakes);
    let clock = Clock::now();
    event_loop()?.block_on(async {
        let tasks: Vec<_> = (0..args.cakes)
            .map(|i| {
                let who = format!("task {}", i + 1);
                tokio::spawn(bake(chapter::cake_name(i), args.bake_ms, clock, who))
            })
            .collect();
        // Awaiting the handles in order is asyncio.gather: all run at once, results in order.
        for task in tasks {
            task.await?;
        }
        anyhow::Ok(())
    })?;
    say!("Total time: {:.3} s", clock.secs());
    Ok(run.finish(chapter::cakes_digest(args.cakes), 0))
}
