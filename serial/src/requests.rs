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

use crate::MODEL;
use anyhow::Result;
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, Progress, RequestsArgs, Threads};

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, 1)?;
    let about = fetcher.about()?;
    let n = args.count;
    let run = Run::start("requests", MODEL, "serial", 1, n);
    let progress = Progress::new(n, "items");
    let outcomes: Vec<_> = (0..n as u64)
        .map(|id| {
            let outcome = fetcher.item(id);
            progress.done();
            outcome
        })
        .collect();
    progress.finish();
    Ok(fetch::finish_requests(
        run,
        &about,
        1,
        &outcomes,
        Threads::this_process(),
    ))
}
