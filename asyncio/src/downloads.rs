//! Downloading files as tasks on one thread: at most K downloads in flight, held to K by a
//! semaphore (the chapter's `asyncio.Semaphore`), all sharing one async HTTP client and its
//! pool of K connections. While one task waits for bytes, the event loop runs the others, so N
//! files take about ceil(N/K) x (latency + size / bandwidth), like K threads, on one thread.
//!
//! Start the server, then the client:
//!
//! ```text
//! cargo run --release -p decision-table -- serve --port 8000 --files 64 --latency-ms 50 --bandwidth 10485760 &
//! cargo run --release -p asyncio -- downloads --url http://127.0.0.1:8000 --out /tmp/dl-tasks --workers 8
//! ```

use crate::{MODEL, event_loop};
use anyhow::Result;
use scenarios::Run;
use scenarios::Summary;
use scenarios::fetch::nonblocking::Fetcher;
use scenarios::fetch::{self, DownloadsArgs, Progress, Threads};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub fn run(args: &DownloadsArgs) -> Result<Summary> {
    event_loop()?.block_on(async {
        let fetcher = Fetcher::new(&args.http, args.workers)?;
        let manifest = fetcher.manifest().await?;
        fetch::prepare_out(&args.out)?;
        let n = manifest.files.len();
        let run = Run::start("downloads", MODEL, "tasks", args.workers, n);
        let progress = Progress::new(n, "files");
        // A task is only started once it holds a permit, so at most K exist at a time.
        let permits = Arc::new(Semaphore::new(args.workers));
        let mut tasks = JoinSet::new();
        for (i, entry) in manifest.files.iter().cloned().enumerate() {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (fetcher, progress, out) = (fetcher.clone(), progress.clone(), args.out.clone());
            tasks.spawn(async move {
                let outcome = fetcher.download(&entry, &out).await;
                drop(permit);
                progress.done();
                (i, outcome)
            });
        }
        let outcomes = fetch::in_order(n, tasks.join_all().await);
        progress.finish();
        Ok(fetch::finish_downloads(
            run,
            &manifest,
            &args.out,
            args.workers,
            &outcomes,
            Threads::this_process(),
        ))
    })
}
