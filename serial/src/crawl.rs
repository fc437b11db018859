//! A web crawl, one request at a time: the baseline for the chapter's "web scraping -> asyncio
//! or threading". Every page waits out the site's latency, then is parsed, before the next
//! request goes out; politeness is trivial (one request in flight, to one host).
//!
//! Start the site, then the crawler (`--workers` is accepted and ignored: one at a time here):
//!
//! ```text
//! cargo run --release -p decision-table -- site --port 8100 --pages 3000 --latency-ms 10 &
//! cargo run --release -p serial -- crawl --url http://127.0.0.2:8100/ --depth 3
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::crawl::{self, CrawlArgs, Sharding, blocking::FetchPages};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &CrawlArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let job = FetchPages::new(args);
    let mut run = Run::start("crawl", pool.label(), 0);
    let threads = ThreadSampler::start();
    let crawled = crawl::crawl(
        args,
        Sharding::PerUrl,
        |origin| job.robots(origin),
        |items| pool.map_in_order(&mut run, items, job.clone()),
    )?;
    let threads = threads.stop();
    Ok(crawl::finish(run, crawled, threads))
}
