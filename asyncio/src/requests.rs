//! Many HTTP requests as tasks on one thread: the chapter's "many HTTP requests -> asyncio".
//! At most K requests are in flight, held to K by a semaphore, all sharing one async HTTP
//! client. With K = 1000 that is a thousand tasks and a thousand connections on one OS thread:
//! compare the peak memory and thread count with threading's K = 1000.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --latency-ms 20 &
//! cargo run --release -p asyncio -- requests --url http://127.0.0.1:8000 --count 1000 --workers 1000
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::fetch::{self, RequestsArgs, nonblocking::FetchItem};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let job = FetchItem::new(args)?;
    let about = pool.block_on(job.about())??;
    let mut run = Run::start("requests", pool.label(), args.count);
    let threads = ThreadSampler::start();
    let ids = (0..args.count as u64).collect();
    let outcomes = pool.map_in_order_async(&mut run, ids, job)?;
    let threads = threads.stop();
    Ok(fetch::finish_requests(run, &about, outcomes, threads))
}
