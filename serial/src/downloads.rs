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

use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, DownloadsArgs, blocking::Download};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let job = Download::new(args);
    let manifest = job.manifest()?;
    fetch::prepare_out(&args.out)?;
    let mut run = Run::start("downloads", pool.label(), manifest.files.len());
    let threads = ThreadSampler::start();
    let outcomes = pool.map_in_order(&mut run, manifest.files.clone(), job)?;
    let threads = threads.stop();
    Ok(fetch::finish_downloads(
        run, &manifest, &args.out, outcomes, threads,
    ))
}
