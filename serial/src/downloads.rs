//! Downloading files one after another: the baseline for the chapter's "downloading files ->
//! threading". Each file waits for the one before it, so N files take N x (latency +
//! size / bandwidth); the other crates overlap those waits.
//!
//! Start the server, then the client (`--workers` is accepted and ignored: one at a time here):
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p serial -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-serial
//! ```

use crate::MODEL;
use anyhow::Result;
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, DownloadsArgs, Progress, Threads};

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, 1)?;
    let manifest = fetcher.manifest()?;
    fetch::prepare_out(&args.out)?;
    let n = manifest.files.len();
    let run = Run::start("downloads", MODEL, "serial", 1, n);
    let progress = Progress::new(n, "files");
    let outcomes: Vec<_> = manifest
        .files
        .iter()
        .map(|entry| {
            let outcome = fetcher.download(entry, &args.out);
            progress.done();
            outcome
        })
        .collect();
    progress.finish();
    Ok(fetch::finish_downloads(
        run,
        &manifest,
        &args.out,
        1,
        &outcomes,
        Threads::this_process(),
    ))
}
