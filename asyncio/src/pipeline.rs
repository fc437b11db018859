//! The chapter's mixed rule in asyncio's world: each image is a task on the one-thread event
//! loop, at most `--workers` in flight, downloading with the async client (`pool.rs`).
//!
//! - `--variant spawn_blocking` (default, the right way): once an image has arrived its task
//!   hands it, through a bounded channel, to at most `--cpu-workers` computations on tokio's
//!   blocking threads, and awaits the result; the loop keeps reading every other download.
//!   Python's version is `loop.run_in_executor` with a `ProcessPoolExecutor`: it needs the
//!   processes to get around the GIL. Here the blocking threads are enough: one process, a
//!   thread pool and tokio.
//! - `--variant blocking` (without care, on purpose): each task processes its image on the
//!   event loop itself. Every other download in flight waits unread until it is done: the
//!   summary's `download_late_*_ms` (how far behind the server's schedule the downloads ran)
//!   and `ticker_max_late_ms` (a task that wants to run every 10 ms) show the stall.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 16 --seed 42 --out data/images
//! cargo run --release -p decision-table -- serve --port 8000 --images data/images --latency-ms 50 --bandwidth 20971520 &
//! cargo run --release -p asyncio -- pipeline --url http://127.0.0.1:8000 --out data/pipeline-out [--variant blocking]
//! ```
//!
//! A download that runs out of retries stops the run (tasks not yet started skip their image)
//! with an error naming the image; with `--keep-going` the others are processed and counted.

use crate::pool::{CpuArgs, Pool};
use anyhow::Result;
use scenarios::pipeline::{self, PipelineArgs, ProcessArrived, nonblocking::FetchImage};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &PipelineArgs, cpu: &CpuArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .cpu(cpu)
        .cpu_workers(args.cpu_workers);
    let download = FetchImage::new(args)?;
    let manifest = pool.block_on(download.manifest())??;
    pipeline::prepare_out(&args.out)?;
    let mut run = Run::start("pipeline", pool.label(), manifest.files.len());
    let threads = ThreadSampler::start();
    let compute = ProcessArrived::new(args);
    let outcomes = pool.map_pipeline(&mut run, manifest.files.clone(), download, compute)?;
    let threads = threads.stop();
    pipeline::finish(run, args, &manifest, outcomes, threads)
}
