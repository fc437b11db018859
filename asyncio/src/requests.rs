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

use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::nonblocking::Fetcher;
use scenarios::fetch::{self, Progress, RequestsArgs, Threads};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub fn run(args: &RequestsArgs) -> Result<Summary> {
    event_loop()?.block_on(async {
        let fetcher = Fetcher::new(&args.http, args.workers)?;
        let about = fetcher.about().await?;
        let n = args.count;
        let run = Run::start("requests", MODEL, "tasks", args.workers, n);
        let progress = Progress::new(n, "items");
        // A task is only started once it holds a permit, so at most K exist at a time.
        let permits = Arc::new(Semaphore::new(args.workers));
        let mut tasks = JoinSet::new();
        for id in 0..n as u64 {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (fetcher, progress) = (fetcher.clone(), progress.clone());
            tasks.spawn(async move {
                let outcome = fetcher.item(id).await;
                drop(permit);
                progress.done();
                (id as usize, outcome)
            });
        }
        let outcomes = fetch::in_order(n, tasks.join_all().await);
        progress.finish();
        Ok(fetch::finish_requests(
            run,
            &about,
            args.workers,
            &outcomes,
            Threads::this_process(),
        ))
    })
}
