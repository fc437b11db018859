//! Downloading files with K worker processes: the pool (`Pool.map`) hands each process one
//! file at a time; each process keeps its own HTTP client for its whole life and writes the
//! file itself. Processes buy nothing for I/O-bound work that threads do not already give;
//! this shows what they cost instead (start-up, memory, one client each).
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p multiprocessing -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-procs --workers 8
//! ```

use crate::MODEL;
use crate::pool::Pool;
use anyhow::{Context, Result};
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, ChildReport, ChildTally, DownloadsArgs, HttpArgs, Progress};
use scenarios::wire::FileEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// What a worker process needs to download one file.
#[derive(Serialize, Deserialize)]
struct Download {
    http: HttpArgs,
    out: PathBuf,
    entry: FileEntry,
}

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, 1)?;
    let manifest = fetcher.manifest()?;
    fetch::prepare_out(&args.out)?;
    let n = manifest.files.len();
    let mut run = Run::start("downloads", MODEL, "processes", args.workers, n);
    let progress = Progress::new(n, "files");
    let tasks = manifest
        .files
        .iter()
        .map(|entry| {
            serde_json::to_value(Download {
                http: args.http.clone(),
                out: args.out.clone(),
                entry: entry.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let done = Pool::new(args.workers).map("download", tasks, |_, _| progress.done());
    progress.finish();
    let mut tally = ChildTally::default();
    let outcomes: Vec<_> = done.results.into_iter().map(|r| tally.decode(r)).collect();
    run.extra("parent_pid", std::process::id())
        .extra("pids", done.pids);
    Ok(fetch::finish_downloads(
        run,
        &manifest,
        &args.out,
        args.workers,
        &outcomes,
        tally.threads(),
    ))
}

/// The worker's side: download one file, with the client this process keeps for its life.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let task: Download = serde_json::from_value(arg).context("a download task")?;
    let fetcher = Fetcher::for_this_process(&task.http)?;
    ChildReport::encode(fetcher.download(&task.entry, &task.out))
}
