//! Downloading files as tasks on one thread: at most K downloads in flight, held to K by a
//! semaphore (the chapter's `asyncio.Semaphore`), all sharing one async HTTP client and its
//! pool of K connections. While one task waits for bytes, the event loop runs the others, so N
//! files take about ceil(N/K) x (latency + size / bandwidth), like K threads, on one thread.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p asyncio -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-tasks --workers 8
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, DownloadsArgs, nonblocking::Download};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let job = Download::new(args)?;
    let manifest = pool.block_on(job.manifest())??;
    fetch::prepare_out(&args.out)?;
    let mut run = Run::start("downloads", pool.label(), manifest.files.len());
    let threads = ThreadSampler::start();
    let outcomes = pool.map_in_order_async(&mut run, manifest.files.clone(), job)?;
    let threads = threads.stop();
    Ok(fetch::finish_downloads(
        run, &manifest, &args.out, outcomes, threads,
    ))
}
