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

use crate::MODEL;
use crate::pool::Pool;
use anyhow::{Context, Result};
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::blocking::Fetcher;
use scenarios::fetch::{self, ChildReport, ChildTally, HttpArgs, Progress, RequestsArgs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a worker process needs to fetch one item.
#[derive(Serialize, Deserialize)]
struct Request {
    http: HttpArgs,
    id: u64,
}

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    let fetcher = Fetcher::new(&args.http, 1)?;
    let about = fetcher.about()?;
    let n = args.count;
    let mut run = Run::start("requests", MODEL, "processes", args.workers, n);
    let progress = Progress::new(n, "items");
    let tasks = (0..n as u64)
        .map(|id| {
            serde_json::to_value(Request {
                http: args.http.clone(),
                id,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let done = Pool::new(args.workers).map("request", tasks, |_, _| progress.done());
    progress.finish();
    let mut tally = ChildTally::default();
    let outcomes: Vec<_> = done.results.into_iter().map(|r| tally.decode(r)).collect();
    run.extra("parent_pid", std::process::id())
        .extra("pids", done.pids);
    Ok(fetch::finish_requests(
        run,
        &about,
        args.workers,
        &outcomes,
        tally.threads(),
    ))
}

/// The worker's side: fetch one item, with the client this process keeps for its life.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let task: Request = serde_json::from_value(arg).context("a request task")?;
    let fetcher = Fetcher::for_this_process(&task.http)?;
    ChildReport::encode(fetcher.item(task.id))
}
