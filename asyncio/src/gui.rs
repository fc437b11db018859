//! The chapter's "responsive GUI" row with an event loop beside the interface: a tokio runtime
//! with its own thread runs one task per image, each handing its image to `spawn_blocking` (the
//! chapter's `loop.run_in_executor`), at most `--workers` at a time (the runtime's blocking
//! threads), and reporting the result over a channel with `request_repaint` (the library's
//! `Outbox`). The interface thread never enters the runtime: it only spawns the tasks and
//! drains the channel once a frame, as an asyncio program beside a Tkinter loop does with
//! `asyncio.run_coroutine_threadsafe` and a queue.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 48 --width 640 --height 360 --out data/gui-images
//! cargo run --release -p asyncio -- gui data/gui-images --out data/gui-out --headless [--all-cores]
//! cargo run --release -p asyncio --features window -- gui data/gui-images --out data/gui-out
//! ```
//!
//! Why `spawn_blocking`: an image is ~50 ms of computing; inside a task it would hold the
//! runtime's only thread for that long (the `images --variant blocking` mistake). Closing the
//! app mid-job sets the cancel flag, so queued images are skipped, and shuts the runtime down,
//! waiting (boundedly) for the images in hand.

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::gui::{self, Backend, Cancel, GuiArgs, Outbox, STOP_BOUND};
use scenarios::images::ProcessImage;
use scenarios::job::Job;
use scenarios::outcome::Outcome;
use scenarios::{Label, Summary};
use std::path::PathBuf;
use std::sync::Arc;

struct Tasks {
    workers: usize,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Backend for Tasks {
    fn label(&self) -> Label {
        Label::new(MODEL, "spawn_blocking", self.workers)
    }

    fn start(
        &mut self,
        job: ProcessImage,
        items: Vec<PathBuf>,
        outbox: Outbox,
        cancel: Cancel,
    ) -> Result<()> {
        // One thread for the event loop; `--workers` blocking threads for the images.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(self.workers)
            .thread_name("gui-event-loop")
            .enable_all()
            .build()
            .context("cannot start the event loop")?;
        let job = Arc::new(job);
        for (i, item) in items.into_iter().enumerate() {
            let (job, outbox, cancel) = (Arc::clone(&job), outbox.clone(), cancel.clone());
            runtime.spawn(async move {
                let done = tokio::task::spawn_blocking(move || {
                    (!cancel.cancelled()).then(|| Outcome::of(job.run(item)))
                })
                .await;
                match done {
                    Ok(Some(outcome)) => outbox.send(i, outcome),
                    // Cancelled before it started: the interface is closing.
                    Ok(None) => {}
                    Err(e) => outbox.send(i, Outcome::Lost(format!("the task failed: {e}"))),
                }
            });
        }
        self.runtime = Some(runtime);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(runtime) = self.runtime.take() {
            // Waits for the blocking threads' images in hand, at most the bound.
            runtime.shutdown_timeout(STOP_BOUND);
        }
        Ok(())
    }
}

pub fn run(args: &GuiArgs) -> Result<Summary> {
    gui::run(
        args,
        Tasks {
            workers: args.job_workers(),
            runtime: None,
        },
    )
}
