//! The chapter's "responsive GUI" row with its own answer, threads: the click hands the job to
//! worker threads and returns at once, so the interface thread goes on drawing a frame every
//! 16.7 ms. Each finished image travels back over a channel, with `request_repaint` to wake the
//! interface (the library's `Outbox`); the frame drains the channel without waiting. The
//! threads take images from a shared queue, as `pool.rs`'s do.
//!
//! `--gil` runs the same threads behind the emulated GIL (`scenarios::gil`): the interface
//! thread must take it to draw each frame, and a worker computing holds it, handing it over
//! every 5 ms (CPython's switch interval) at the pipeline's checkpoints. What a CPU-bound
//! pure-Python thread does to a Tkinter or Qt frame loop, measured: `ui_gil_wait_p99_ms`.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 48 --width 640 --height 360 --out data/gui-images
//! cargo run --release -p threading -- gui data/gui-images --out data/gui-out --headless [--gil] [--all-cores]
//! cargo run --release -p threading --features window -- gui data/gui-images --out data/gui-out
//! ```
//!
//! Closing the app mid-job sets the cancel flag: each thread finishes the image in hand (its
//! file is written whole, under a temporary name then renamed) and takes no more; closing
//! waits for them, boundedly.

use crate::MODEL;
use anyhow::{Context, Result};
use scenarios::gui::{self, Alive, Backend, Cancel, GuiArgs, Outbox, STOP_BOUND};
use scenarios::images::ProcessImage;
use scenarios::job::Job;
use scenarios::outcome::Outcome;
use scenarios::{Label, Summary, gil};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

struct Threads {
    workers: usize,
    handles: Vec<JoinHandle<()>>,
    alive: Option<Alive>,
}

impl Backend for Threads {
    fn label(&self) -> Label {
        let variant = if gil::enabled() {
            "threads+gil"
        } else {
            "threads"
        };
        Label::new(MODEL, variant, self.workers)
    }

    fn start(
        &mut self,
        job: ProcessImage,
        items: Vec<PathBuf>,
        outbox: Outbox,
        cancel: Cancel,
    ) -> Result<()> {
        let (todo_tx, todo) = crossbeam_channel::unbounded();
        for pair in items.into_iter().enumerate() {
            todo_tx.send(pair).expect("the receiver is alive");
        }
        drop(todo_tx);
        let (token, alive) = gui::alive();
        let job = Arc::new(job);
        for k in 0..self.workers {
            let (todo, outbox, cancel, job, token) = (
                todo.clone(),
                outbox.clone(),
                cancel.clone(),
                Arc::clone(&job),
                token.clone(),
            );
            let handle = thread::Builder::new()
                .name(format!("gui-worker-{}", k + 1))
                .spawn(move || {
                    let _alive = token;
                    for (i, item) in todo {
                        if cancel.cancelled() {
                            break;
                        }
                        outbox.send(i, Outcome::of(job.run(item)));
                    }
                })
                .with_context(|| format!("cannot start worker thread {}", k + 1))?;
            self.handles.push(handle);
        }
        self.alive = Some(alive);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(alive) = self.alive.take() {
            alive.wait_gone(STOP_BOUND)?;
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        Ok(())
    }
}

pub fn run(args: &GuiArgs) -> Result<Summary> {
    let threads = Threads {
        workers: args.job_workers(),
        handles: Vec::new(),
        alive: None,
    };
    gui::run(args, threads)
}
