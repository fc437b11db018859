//! The chapter's five workers that each wait 2 s, run one after another: 10 s in all, where
//! threads, processes and tasks take about 2 s because their waits overlap.
//!
//! `cargo run -p serial -- workers [--workers N] [--sleep-ms MS]`

use crate::MODEL;
use anyhow::Result;
use scenarios::chapter::{self, Clock};
use scenarios::cli::WorkersArgs;
use scenarios::{Label, Run, Summary, say};

pub fn run(args: &WorkersArgs) -> Result<Summary> {
    let run = Run::start("workers", Label::new(MODEL, "serial", 1), args.workers);
    let clock = Clock::now();
    for i in 0..args.workers {
        chapter::run_worker(i, args.sleep_ms, &clock, "main thread");
    }
    say!(
        "All {} workers finished in {:.3} s, one after another. threading, multiprocessing and \
         asyncio overlap the waits and take about {:.3} s, the longest single wait.",
        args.workers,
        clock.secs(),
        args.sleep_ms as f64 / 1000.0
    );
    Ok(run.finish(chapter::workers_digest(args.workers, args.sleep_ms), 0))
}
