//! The chapter's "responsive GUI" row with processes: the click hands the job to worker
//! processes (copies of this binary, `child.rs`), so the interface's process only draws. Each
//! worker is owned by a driver thread here that sends it one image at a time as a frame on its
//! stdin and reads each reply frame from its stdout: the progress travels in frames over the
//! pipe, then over a channel to the interface, with `request_repaint` (the library's `Outbox`).
//! A Tkinter program does the same with a `multiprocessing.Queue` it polls from `after()`.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 48 --width 640 --height 360 --out data/gui-images
//! cargo run --release -p multiprocessing -- gui data/gui-images --out data/gui-out --headless [--all-cores]
//! cargo run --release -p multiprocessing --features window -- gui data/gui-images --out data/gui-out
//! ```
//!
//! Closing the app mid-job: no more images are sent; each worker finishes the one in hand,
//! reads end-of-file on its stdin and exits, and its driver reaps it. Closing waits for that,
//! boundedly; a worker still there after the bound is killed and reaped. (A worker killed with
//! its parent, `PR_SET_PDEATHSIG`, may leave a temporary file, never a file under a final name.)
//! A worker that dies mid-image loses that image (named in the status line); a new one takes
//! the next.

use crate::MODEL;
use crate::child::{self, ChildProcess};
use anyhow::{Context, Result};
use scenarios::digest::Sha;
use scenarios::gui::{self, Alive, Backend, Cancel, GuiArgs, Outbox, STOP_BOUND};
use scenarios::images::ProcessImage;
use scenarios::outcome::Outcome;
use scenarios::{Label, Summary, say};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

struct Processes {
    workers: usize,
    handles: Vec<JoinHandle<()>>,
    alive: Option<Alive>,
    /// Every worker started, so that one that outstays the bound can be killed.
    pids: Arc<Mutex<Vec<u32>>>,
}

/// One driver thread: start a worker, feed it images one at a time, report each reply.
fn drive(
    job: &ProcessImage,
    todo: crossbeam_channel::Receiver<(usize, PathBuf)>,
    outbox: Outbox,
    cancel: Cancel,
    pids: &Mutex<Vec<u32>>,
) {
    let mut worker: Option<ChildProcess> = None;
    for (i, item) in todo {
        if cancel.cancelled() {
            break;
        }
        let mut w = match worker.take() {
            Some(w) => w,
            None => match ChildProcess::for_job(job, None) {
                Ok(w) => {
                    pids.lock().unwrap_or_else(|e| e.into_inner()).push(w.pid());
                    w
                }
                Err(e) => {
                    outbox.send(i, Outcome::Lost(format!("{e:#}")));
                    continue;
                }
            },
        };
        let outcome = match w.call(i as u64, &item) {
            Ok(reply) => {
                worker = Some(w);
                match reply.result {
                    Ok(bytes) => Outcome::of(child::decode::<Sha>(&bytes)),
                    Err(e) => Outcome::Failed(e),
                }
            }
            // `call` reaped it and says how it ended; the next image gets a new worker.
            Err(gone) => Outcome::Lost(format!("{gone:#}")),
        };
        outbox.send(i, outcome);
    }
    if let Some(w) = worker {
        let pid = w.pid();
        if let Err(e) = w.finish() {
            say!("worker process {pid} did not shut down cleanly: {e:#}");
        }
    }
}

impl Backend for Processes {
    fn label(&self) -> Label {
        Label::new(MODEL, "processes", self.workers)
    }

    fn start(
        &mut self,
        job: ProcessImage,
        items: Vec<PathBuf>,
        outbox: Outbox,
        cancel: Cancel,
    ) -> Result<()> {
        child::check_process_count("--workers", self.workers)?;
        let (todo_tx, todo) = crossbeam_channel::unbounded();
        for pair in items.into_iter().enumerate() {
            todo_tx.send(pair).expect("the receiver is alive");
        }
        drop(todo_tx);
        let (token, alive) = gui::alive();
        let job = Arc::new(job);
        for k in 0..self.workers {
            let (todo, outbox, cancel, job, token, pids) = (
                todo.clone(),
                outbox.clone(),
                cancel.clone(),
                Arc::clone(&job),
                token.clone(),
                Arc::clone(&self.pids),
            );
            // The driver spawns its worker itself and outlives it (see child.rs on
            // PR_SET_PDEATHSIG).
            let handle = thread::Builder::new()
                .name(format!("gui-driver-{}", k + 1))
                .spawn(move || {
                    let _alive = token;
                    drive(&job, todo, outbox, cancel, &pids);
                })
                .with_context(|| format!("cannot start driver thread {}", k + 1))?;
            self.handles.push(handle);
        }
        self.alive = Some(alive);
        Ok(())
    }

    fn extras(&self) -> Vec<(&'static str, serde_json::Value)> {
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        vec![
            ("parent_pid", std::process::id().into()),
            ("pids", pids.into()),
        ]
    }

    fn stop(&mut self) -> Result<()> {
        let Some(alive) = self.alive.take() else {
            return Ok(());
        };
        let outcome = alive.wait_gone(STOP_BOUND);
        if outcome.is_err() {
            // Past the bound: kill what is left; the drivers then read end-of-file and reap.
            for pid in self.pids.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            alive.wait_gone(Duration::from_secs(5))?;
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        outcome
    }
}

pub fn run(args: &GuiArgs) -> Result<Summary> {
    let processes = Processes {
        workers: args.job_workers(),
        handles: Vec::new(),
        alive: None,
        pids: Arc::default(),
    };
    gui::run(args, processes)
}
