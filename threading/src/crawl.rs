//! A web crawl on K threads: the chapter's "web scraping -> threading" with a blocking client,
//! as a reader with `requests` and a `ThreadPoolExecutor` would write it. K threads take a
//! level's URLs; each waits for a slot of its URL's host (at most C per host, a limiter the
//! threads share), fetches, gives the slot back and parses the page on the same thread. Rust
//! threads parse in parallel; `--gil` makes them take turns, as CPython's do.
//!
//! Start the site, then the crawler:
//!
//! ```text
//! cargo run --release -p decision-table -- site --port 8100 --pages 3000 --latency-ms 10 &
//! cargo run --release -p threading -- crawl --url http://127.0.0.2:8100/ --depth 3 --workers 16 [--gil]
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
