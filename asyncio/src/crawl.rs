//! A web crawl as tasks on one event loop: the chapter's "web scraping -> asyncio", as a reader
//! with `aiohttp` would write it. At most K tasks are in flight, each waiting for a permit of
//! its URL's host (a semaphore of C per host); one async client for all. Parsing is CPU work:
//! by default it goes to tokio's blocking threads (`spawn_blocking`), and the loop stays free;
//! `--variant blocking` parses on the loop itself, and the ticker (`ticker_max_late_ms`) and
//! every fetch's latency (`fetch_p95_ms`) show the loop stalling for each page. (The ticker
//! runs while the loop does: between levels, while the crawl admits the next one, it waits
//! too, a millisecond or so in either variant.)
//!
//! Start the site, then the crawler:
//!
//! ```text
//! cargo run --release -p decision-table -- site --port 8100 --pages 3000 --latency-ms 10 &
//! cargo run --release -p asyncio -- crawl --url http://127.0.0.2:8100/ --depth 3 --workers 16 [--variant blocking]
//! ```

use crate::{pool::CpuArgs, pool::Pool, pool::Variant::Blocking, ticker::Ticker};
use anyhow::Result;
use scenarios::crawl::{self, CrawlArgs, Sharding, nonblocking::FetchPages, nonblocking::ParseOn};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary};

pub fn run(args: &CrawlArgs, cpu: &CpuArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).cpu(cpu);
    let job = FetchPages::new(args, ParseOn::of(cpu.variant == Blocking))?;
    let mut run = Run::start("crawl", pool.label(), 0);
    let threads = ThreadSampler::start();
    let ticker = pool.block_on(async { Ticker::start() })?;
    let crawled = crawl::crawl(
        args,
        Sharding::PerUrl,
        |origin| pool.block_on(job.robots(origin)),
        |items| pool.map_in_order_async(&mut run, items, job.clone()),
    )?;
    pool.block_on(async { ticker.stop_into(&mut run) })?;
    let threads = threads.stop();
    Ok(crawl::finish(run, crawled, threads))
}
