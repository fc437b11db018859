//! Many HTTP requests, one after another: the baseline for the chapter's "many HTTP requests
//! -> asyncio". Every request waits out the server's latency before the next one starts, so
//! 1000 requests at 20 ms take about 20 s.
//!
//! Start the server, then the client (`--workers` is accepted and ignored: one at a time here):
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --latency-ms 20 &
//! cargo run --release -p serial -- requests --url http://127.0.0.1:8000 --count 1000
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, RequestsArgs, blocking::FetchItem};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let job = FetchItem::new(args);
    let about = job.about()?;
    let mut run = Run::start("requests", pool.label(), args.count);
    let threads = ThreadSampler::start();
    let ids = (0..args.count as u64).collect();
    let outcomes = pool.map_in_order(&mut run, ids, job)?;
    let threads = threads.stop();
    Ok(fetch::finish_requests(run, &about, outcomes, threads))
}
