//! The chapter's five workers as tasks: create them all, then gather them. Each awaits a 2 s
//! sleep; the event loop runs them all on one thread, so the run takes about 2 s.
//!
//! `cargo run -p asyncio -- workers [--workers N] [--sleep-ms MS]` (the crate's default)

use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::chapter::{self, Clock};
use scenarios::cli::WorkersArgs;
use scenarios::{Label, Run, Summary, say};
use std::time::Duration;

async fn worker(i: usize, sleep_ms: u64, clock: Clock) {
    let who = format!("task {}", i + 1);
    chapter::worker_started(i, &clock, &who);
    tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    chapter::worker_finished(i, &clock, &who);
}

pub fn run(args: &WorkersArgs) -> Result<Summary> {
    let run = Run::start(
        "workers",
        Label::new(MODEL, "tasks", args.workers),
        args.workers,
    );
    let clock = Clock::now();
    event_loop()?.block_on(async {
        let tasks: Vec<_> = (0..args.workers)
            .map(|i| tokio::spawn(worker(i, args.sleep_ms, clock)))
            .collect();
        for task in tasks {
            task.await?;
        }
        anyhow::Ok(())
    })?;
    say!(
        "All {} tasks finished in {:.3} s",
        args.workers,
        clock.secs()
    );
    Ok(run.finish(chapter::workers_digest(args.workers, args.sleep_ms), 0))
}
