//! Many HTTP requests with K threads: the chapter says threads serve "a few hundred" waits
//! before they get heavy. The pool's K threads (`pool.rs`) take item ids from a crossbeam
//! channel and share one HTTP client; with K = 1000 that is a thousand OS threads, each parked on one request. Compare
//! its peak memory and thread count with asyncio's K = 1000 tasks on one thread.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --latency-ms 20 &
//! cargo run --release -p threading -- requests --url http://127.0.0.1:8000 --count 1000 --workers 1000
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
