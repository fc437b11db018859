//! The chapter's mixed rule with one pool of threads for both stages: each of `--workers`
//! threads downloads an image, processes it (blur, halve, gray, written atomically) and takes
//! the next, so while some threads wait on the network the others compute. In Python one
//! `ThreadPoolExecutor` cannot do this for pure-Python work (the GIL lets one thread compute at
//! a time); Rust threads compute on every core at once, so one pool is enough here.
//!
//! `--apart` downloads every image first and processes them afterwards, timing each part
//! alone: the summary's `io_s` and `cpu_s`, and `ideal_s`, the slower of the two, which no
//! pipeline can beat. It is the harness's lower bound, measured in the same run as the others.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 16 --seed 42 --out data/images
//! cargo run --release -p decision-table -- serve --port 8000 --images data/images --latency-ms 50 --bandwidth 20971520 &
//! cargo run --release -p threading -- pipeline --url http://127.0.0.1:8000 --out data/pipeline-out --workers 8 [--apart]
//! ```
//!
//! A download that runs out of retries stops the run (threads finish the image in hand and take
//! no more) with an error naming the image; with `--keep-going` the others are processed and
//! the failures counted. `--cpu-workers` is accepted and ignored: the one pool does both.

use crate::pool::Pool;
use anyhow::Result;
use scenarios::pipeline::{self, FetchImage, PipelineArgs, ProcessArrived};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &PipelineArgs, apart: bool) -> Result<Summary> {
    let pool = Pool::new(args.workers)
        .on_error(args.on_error())
        .apart(apart);
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
