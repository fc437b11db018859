//! Many HTTP requests with K threads: the chapter says threads serve "a few hundred" waits
//! before they get heavy. K threads take item ids from a crossbeam channel and share one HTTP
//! client; with K = 1000 that is a thousand OS threads, each parked on one request. Compare
//! its peak memory and thread count with asyncio's K = 1000 tasks on one thread.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --latency-ms 20 &
//! cargo run --release -p threading -- requests --url http://127.0.0.1:8000 --count 1000 --workers 1000
//! ```

use crate::MODEL;
use anyhow::{Result, anyhow};
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, Progress, RequestsArgs, Threads};
use std::thread;

/// Each thread waits on one request at a time: 256 KiB of stack is plenty, where the default
/// 2 MiB would reserve 2 GiB of address space for a thousand threads.
const STACK: usize = 256 * 1024;

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, args.workers)?;
    let about = fetcher.about()?;
    let n = args.count;
    let run = Run::start("requests", MODEL, "threads", args.workers, n);
    let progress = Progress::new(n, "items");
    // The work queue: every item id, taken by whichever thread is free.
    let (todo_tx, todo_rx) = crossbeam_channel::unbounded();
    for id in 0..n as u64 {
        todo_tx.send(id)?;
    }
    drop(todo_tx);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    thread::scope(|s| -> Result<()> {
        for k in 0..args.workers.min(n) {
            let (todo, done) = (todo_rx.clone(), done_tx.clone());
            let (fetcher, progress) = (&fetcher, &progress);
            thread::Builder::new()
                .name(format!("request-{}", k + 1))
                .stack_size(STACK)
                .spawn_scoped(s, move || {
                    for id in todo {
                        let outcome = fetcher.item(id);
                        progress.done();
                        let _ = done.send((id as usize, outcome));
                    }
                })
                .map_err(|e| {
                    anyhow!("could not start thread {} of {}: {e}", k + 1, args.workers)
                })?;
        }
        Ok(())
    })?;
    drop(done_tx);
    progress.finish();
    let outcomes = fetch::in_order(n, done_rx);
    Ok(fetch::finish_requests(
        run,
        &about,
        args.workers,
        &outcomes,
        Threads::this_process(),
    ))
}
