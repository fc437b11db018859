//! The chapter's mixed rule, one thing after another: each image is downloaded, then
//! processed (blur, halve, gray, written atomically), then the next one is downloaded. Nothing
//! overlaps, so the run takes the I/O time plus the CPU time: the baseline the other models
//! overlap.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 16 --seed 42 --out data/images
//! cargo run --release -p decision-table -- serve --port 8000 --images data/images --latency-ms 50 --bandwidth 20971520 &
//! cargo run --release -p serial -- pipeline --url http://127.0.0.1:8000 --out data/pipeline-out
//! ```
//!
//! A download that runs out of retries stops the run with an error naming the image (nothing
//! is written under its name); with `--keep-going` the others are processed and the failures
//! counted. `--workers` and `--cpu-workers` are accepted like everywhere else, and ignored.

use crate::pool::Pool;
use anyhow::Result;
use scenarios::pipeline::{self, FetchImage, PipelineArgs, ProcessArrived};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &PipelineArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).on_error(args.on_error());
    let download = FetchImage::new(args);
    let manifest = download.manifest()?;
    pipeline::prepare_out(&args.out)?;
    let mut run = Run::start("pipeline", pool.label(), manifest.files.len());
    let threads = ThreadSampler::start();
    let compute = ProcessArrived::new(args);
    let outcomes = pool.map_pipeline(&mut run, manifest.files.clone(), download, compute)?;
    let threads = threads.stop();
    pipeline::finish(run, args, &manifest, outcomes, threads)
}
