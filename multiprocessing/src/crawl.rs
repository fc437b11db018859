//! A web crawl on K worker processes, sharded by host: each level is cut into at most C shards
//! per host (a run of that host's URLs each), and a process fetches and parses its shard one
//! URL after another. No host ever has more than C processes on it, so the crawl is polite by
//! construction, with no limiter to share between processes (there could be none without
//! shared memory or a broker). The parent keeps the crawl (what was seen, robots.txt, the
//! levels) and fetches each host's robots.txt itself; the processes send back what they found,
//! links included, through their pipes.
//!
//! Start the site, then the crawler:
//!
//! ```text
//! cargo run --release -p decision-table -- site --port 8100 --pages 3000 --latency-ms 10 &
//! cargo run --release -p multiprocessing -- crawl --url http://127.0.0.2:8100/ --depth 3 --workers 16
//! ```

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::crawl::{self, CrawlArgs, Sharding, blocking::FetchPages};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &CrawlArgs, options: &PoolArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).options(options);
    let job = FetchPages::new(args);
    let mut run = Run::start("crawl", pool.label(), 0);
    let threads = ThreadSampler::start();
    let crawled = crawl::crawl(
        args,
        Sharding::ByHost {
            per_host: args.per_host,
        },
        |origin| job.robots(origin),
        |items| pool.map_in_order(&mut run, items, job.clone()),
    )?;
    let threads = threads.stop();
    Ok(crawl::finish(run, crawled, threads))
}
