//! A web crawl as tasks on one event loop: the chapter's "web scraping -> asyncio", as a reader
//! with `aiohttp` would write it. At most K tasks are in flight, each waiting for a permit of
//! its URL's host (a semaphore of C per host); one async client for all. Parsing is CPU work:
//! by default it goes to tokio's blocking threads (`spawn_blocking`), and the loop stays free;
//! `--variant blocking` parses on the loop itself, and the ticker (and every fetch's latency)
//! shows the loop stalling for each page.
//!
//! Start the site, then the crawler:
//!
//! ```text
//! cargo run --release -p decision-table -- site --port 8100 --pages 3000 --latency-ms 10 &
//! cargo run --release -p asyncio -- crawl --url http://127.0.0.2:8100/ --depth 3 --workers 16 [--variant blocking]
//! ```

use crate::pool::{CpuArgs, Pool, Variant};
use crate::ticker::Ticker;
use anyhow::Result;
use scenarios::crawl::nonblocking::{FetchPages, ParseOn};
use scenarios::crawl::{self, CrawlArgs, Sharding};
use scenarios::usage::ThreadSampler;
use scenarios::{Run, Summary, say};

pub fn run(args: &CrawlArgs, cpu: &CpuArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).cpu(cpu);
    let parse_on = match cpu.variant {
        Variant::SpawnBlocking => ParseOn::Pool,
        Variant::Blocking => ParseOn::Loop,
    };
    let job = FetchPages::new(args, parse_on)?;
    let mut run = Run::start("crawl", pool.label(), 0);
    let threads = ThreadSampler::start();
    let ticker = pool.block_on(async { Ticker::start() })?;
    let crawled = crawl::crawl(
        args,
        Sharding::PerUrl,
        |origin| pool.block_on(job.robots(origin)),
        |items| pool.map_in_order_async(&mut run, items, job.clone()),
    )?;
    let (ticks, late_ms) = pool.block_on(async { ticker.stop() })?;
    say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
    run.extra("ticks", ticks)
        .extra("ticker_max_late_ms", late_ms);
    let threads = threads.stop();
    Ok(crawl::finish(run, crawled, threads))
}
