//! The chapter's mixed rule as the chapter words it: a thread pool for the I/O, a process pool
//! for the CPU. `--workers` threads in this process download the server's images (sharing one
//! client); each image, as soon as it has arrived, is sent through a pipe to one of
//! `--cpu-workers` worker processes, which processes it (blur, halve, gray) and writes the
//! result (temporary name, then rename) and replies with its SHA-256.
//!
//! This is what Python needs to get downloads and computation to overlap on every core: threads
//! for the waits, processes for the work, the GIL being why one kind of worker cannot do both.
//! In Rust the threads could compute too (`threading pipeline`); this shows what the second kind
//! of worker costs: start-up, memory, and every image copied across a pipe.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 16 --seed 42 --out data/images
//! cargo run --release -p decision-table -- serve --port 8000 --images data/images --latency-ms 50 --bandwidth 20971520 &
//! cargo run --release -p multiprocessing -- pipeline --url http://127.0.0.1:8000 --out data/pipeline-out --workers 8 --cpu-workers 2
//! ```
//!
//! A download that runs out of retries stops the run with an error naming the image, unless
//! `--keep-going`. A worker process that dies (hidden test flags `--die-on-task I --die-how
//! kill|panic|exit`) loses only its image, which fails naming the process; a new worker takes
//! its place and every other image completes (exit status 1).

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::pipeline::{self, FetchImage, PipelineArgs, ProcessArrived};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &PipelineArgs, options: &PoolArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .options(options)
        .cpu_workers(args.cpu_workers);
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
