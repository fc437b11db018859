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

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, DownloadsArgs, blocking::Download};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &DownloadsArgs, options: &PoolArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).options(options);
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
