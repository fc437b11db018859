//! Downloading files with K threads: the chapter's "downloading files -> threading". A fixed
//! set of threads (a `ThreadPoolExecutor`) takes file indices from a crossbeam channel; each
//! thread blocks on its download while the others run, and all of them share one HTTP client
//! and its pool of K connections. N files take about ceil(N/K) x (latency + size / bandwidth).
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p threading -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-threads --workers 8
//! ```

use crate::MODEL;
use anyhow::{Result, anyhow};
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, DownloadsArgs, Progress, Threads};
use std::thread;

/// Each thread runs a download loop and waits on sockets: 256 KiB of stack is plenty, where the
/// default 2 MiB would reserve 2 GiB of address space for a thousand threads.
const STACK: usize = 256 * 1024;

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, args.workers)?;
    let manifest = fetcher.manifest()?;
    fetch::prepare_out(&args.out)?;
    let n = manifest.files.len();
    let run = Run::start("downloads", MODEL, "threads", args.workers, n);
    let progress = Progress::new(n, "files");
    // The work queue: every file's index, taken by whichever thread is free.
    let (todo_tx, todo_rx) = crossbeam_channel::unbounded();
    for i in 0..n {
        todo_tx.send(i)?;
    }
    drop(todo_tx);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    thread::scope(|s| -> Result<()> {
        for k in 0..args.workers.min(n) {
            let (todo, done) = (todo_rx.clone(), done_tx.clone());
            let (fetcher, manifest, progress) = (&fetcher, &manifest, &progress);
            thread::Builder::new()
                .name(format!("download-{}", k + 1))
                .stack_size(STACK)
                .spawn_scoped(s, move || {
                    for i in todo {
                        let outcome = fetcher.download(&manifest.files[i], &args.out);
                        progress.done();
                        let _ = done.send((i, outcome));
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
    Ok(fetch::finish_downloads(
        run,
        &manifest,
        &args.out,
        args.workers,
        &outcomes,
        Threads::this_process(),
    ))
}
