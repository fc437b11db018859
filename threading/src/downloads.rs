//! Downloading files with K threads: the chapter's "downloading files -> threading". The pool's
//! threads (`pool.rs`, a `ThreadPoolExecutor`) take files from a crossbeam channel; each thread
//! blocks on its download while the others run, and all of them share one HTTP client and its
//! pool of K connections. N files take about ceil(N/K) x (latency + size / bandwidth).
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p threading -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-threads --workers 8
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
