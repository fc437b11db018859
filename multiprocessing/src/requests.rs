//! Many HTTP requests with K worker processes: the pool hands each process one item id at a
//! time; each process keeps its own HTTP client (and so its own connection) for its whole life.
//! Every process costs a few MiB and a start-up; for network waits that buys nothing threads
//! or tasks do not, which the peak memory in the summary shows.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --latency-ms 20 &
//! cargo run --release -p multiprocessing -- requests --url http://127.0.0.1:8000 --count 1000 --workers 100
//! ```

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, RequestsArgs, blocking::FetchItem};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &RequestsArgs, options: &PoolArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).options(options);
    let job = FetchItem::new(args);
    let about = job.about()?;
    let mut run = Run::start("requests", pool.label(), args.count);
    let threads = ThreadSampler::start();
    let ids = (0..args.count as u64).collect();
    let outcomes = pool.map_in_order(&mut run, ids, job)?;
    let threads = threads.stop();
    Ok(fetch::finish_requests(run, &about, outcomes, threads))
}
