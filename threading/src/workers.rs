//! The chapter's five workers, each on a thread of its own: start them all, then join them all.
//! `thread::spawn` is `threading.Thread(...).start()`, `JoinHandle::join` is `.join()`. Every
//! worker sleeps 2 s, and the sleeps overlap, so the whole run takes about 2 s.
//!
//! `cargo run -p threading -- workers [--workers N] [--sleep-ms MS]` (the crate's default)

use crate::MODEL;
use anyhow::{Result, anyhow};
use scenarios::chapter::{self, Clock};
use scenarios::cli::WorkersArgs;
use scenarios::{Label, Run, Summary, say};
use std::thread;

pub fn run(args: &WorkersArgs) -> Result<Summary> {
    let run = Run::start(
        "workers",
        Label::new(MODEL, "threads", args.workers),
        args.workers,
    );
    let clock = Clock::now();
    let sleep_ms = args.sleep_ms;
    let mut handles = Vec::with_capacity(args.workers);
    for i in 0..args.workers {
        // A small stack: these threads only sleep and print, and the default 2 MiB reserve per
        // thread would make `--workers 10000` ask for 20 GiB of address space.
        let handle = thread::Builder::new()
            .name(format!("worker-{}", i + 1))
            .stack_size(64 * 1024)
            .spawn(move || chapter::run_worker(i, sleep_ms, &clock, &format!("thread {}", i + 1)))
            .map_err(|e| anyhow!("could not start thread {} of {}: {e}", i + 1, args.workers))?;
        handles.push(handle);
    }
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("a worker thread panicked"))?;
    }
    say!(
        "All {} threads finished in {:.3} s",
        args.workers,
        clock.secs()
    );
    Ok(run.finish(chapter::workers_digest(args.workers, args.sleep_ms), 0))
}
