//! The `gui` scenario, written once: the chapter's "responsive GUI" row. Does the interface keep
//! drawing and answering while a CPU-bound job runs?
//!
//! - The app ([`app::App`], egui): a counter that ticks every frame, a button that starts the
//!   job, a progress bar, a "Click me" button with its count (the probe a person would try),
//!   and a status line that shows the job's result or its error.
//! - The job: the images kernel ([`crate::images::ProcessImage`]: decode, blur, halve, gray,
//!   encode, write atomically) over a folder of generated PNGs, on `--workers` workers (default:
//!   cores - 1, so one core stays free for the interface; `--all-cores` gives the job every
//!   core). The digest is the images scenario's: every model must print the same one.
//! - Where the job runs is the model, and the one thing each crate's `gui.rs` writes: a
//!   [`Backend`]. serial runs it inside the frame that handled the click (the interface
//!   freezes: that is the point); threading on worker threads, asyncio as `spawn_blocking`
//!   tasks of a tokio runtime beside the interface, multiprocessing in child processes; each
//!   reports finished items through an [`Outbox`] (a channel, and `request_repaint` so a
//!   waiting interface wakes up), which the frame drains ([`Inbox`]).
//! - Headless ([`headless`], the default without a display, and what the harness runs): a
//!   60 Hz frame clock drives `egui::Context::run_ui` with no window and no GPU, clicks are
//!   injected at known times, and the frame intervals and click-to-visible latencies go into
//!   the JSON summary ([`stats`]).
//! - In a window (`window`, with the `window` cargo feature and a display): the same app with
//!   eframe (OpenGL through glow, X11).
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 48 --width 640 --height 360 --out data/gui-images
//! cargo run --release -p threading -- gui data/gui-images --out data/gui-out --headless [--gil] [--all-cores]
//! cargo run --release -p threading --features window -- gui data/gui-images --out data/gui-out
//! ```

pub mod app;
pub mod headless;
pub mod stats;
#[cfg(feature = "window")]
pub mod window;

pub use egui;

use crate::cli::{bounded, cores, millis, workers};
use crate::digest::Sha;
use crate::images::{ProcessImage, sigma};
use crate::outcome::Outcome;
use crate::{Label, Summary, say};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `gui`: the responsive-GUI scenario.
#[derive(Args, Debug, Clone)]
pub struct GuiArgs {
    /// PNG files, or directories whose .png files the job processes in name order
    #[arg(default_value = "data/gui-images")]
    pub inputs: Vec<PathBuf>,
    /// Directory for the processed images (created if missing)
    #[arg(long, default_value = "data/gui-out")]
    pub out: PathBuf,
    /// Workers of the background job (default: one fewer than the cores, at least one)
    #[arg(long, value_parser = workers, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// Give the background job every core (workers = cores), none left for the interface
    #[arg(long, conflicts_with = "workers")]
    pub all_cores: bool,
    /// Standard deviation of the Gaussian blur, in pixels
    #[arg(long, default_value_t = 2.0, value_parser = sigma, allow_negative_numbers = true)]
    pub sigma: f32,
    /// Never open a window, even where there is a display
    #[arg(long)]
    pub headless: bool,
    /// Headless: when the start button is clicked, in ms from the first frame
    #[arg(long, default_value_t = 300, value_parser = millis, allow_negative_numbers = true)]
    pub start_ms: u64,
    /// Headless: click "Click me" every this many ms from then on
    #[arg(long, default_value_t = 100, value_parser = click_every, allow_negative_numbers = true)]
    pub click_every_ms: u64,
    /// Headless: keep drawing this long after the job has ended, in ms
    #[arg(long, default_value_t = 500, value_parser = millis, allow_negative_numbers = true)]
    pub tail_ms: u64,
    /// Headless: close the app at this time, in ms, as closing its window would (mid-job: the
    /// workers stop and nothing half-written is left)
    #[arg(long, value_parser = millis, allow_negative_numbers = true)]
    pub close_at_ms: Option<u64>,
    /// The longest a headless session may last, in seconds, before it closes itself
    #[arg(long, default_value_t = 300, value_parser = max_seconds, allow_negative_numbers = true)]
    pub max_seconds: u64,
}

fn click_every(s: &str) -> Result<u64, String> {
    bounded(s, 10, 10_000)
}

fn max_seconds(s: &str) -> Result<u64, String> {
    bounded(s, 1, 3600)
}

impl GuiArgs {
    /// Workers of the background job: `--workers`, or every core with `--all-cores`, or one
    /// fewer than the cores (the interface's), at least one.
    pub fn job_workers(&self) -> usize {
        match (self.workers, self.all_cores) {
            (Some(w), _) => w,
            (None, true) => cores(),
            (None, false) => cores().saturating_sub(1).max(1),
        }
    }

    /// The job every model runs on each input.
    pub fn job(&self) -> ProcessImage {
        ProcessImage {
            out: self.out.clone(),
            sigma: self.sigma,
        }
    }
}

/// One finished item of the background job, as the interface learns of it.
#[derive(Debug)]
pub struct Finished {
    pub index: usize,
    pub outcome: Outcome<Sha>,
}

/// Where a model runs the job: the one thing each crate's `gui.rs` provides.
pub trait Backend {
    /// How the summary names it.
    fn label(&self) -> Label;
    /// Start the job on `items` (the input files, in order); called from inside the frame
    /// that handled the click. It must return at once, unless the model's point is that it
    /// does not (serial). Finished items go to `outbox`.
    fn start(
        &mut self,
        job: ProcessImage,
        items: Vec<PathBuf>,
        outbox: Outbox,
        cancel: Cancel,
    ) -> Result<()>;
    /// The interface is closing (`cancel` is set): wait, boundedly, until the workers have
    /// stopped, leaving no thread or process behind. Items in hand finish (their files are
    /// written whole or not at all); the others are never started.
    fn stop(&mut self) -> Result<()>;
    /// Figures of its own for the summary (the worker processes' pids).
    fn extras(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}

/// The sending side of the interface's inbox: a channel, plus a wake-up for an interface that
/// sleeps until something happens (`request_repaint`, which is what an egui app asks of other
/// threads). Cloned into every worker.
#[derive(Clone)]
pub struct Outbox {
    tx: crossbeam_channel::Sender<Finished>,
    ui: egui::Context,
}

impl Outbox {
    /// Report one finished item. The interface never hangs up before the workers have stopped,
    /// so a failed send means it is gone and there is nobody to tell.
    pub fn send(&self, index: usize, outcome: Outcome<Sha>) {
        let _ = self.tx.send(Finished { index, outcome });
        self.ui.request_repaint();
    }
}

/// The interface's side: drained once per frame, never waiting.
pub struct Inbox {
    rx: crossbeam_channel::Receiver<Finished>,
}

impl Inbox {
    pub fn drain(&self) -> impl Iterator<Item = Finished> + '_ {
        self.rx.try_iter()
    }
}

/// A new inbox for one job. Unbounded: at most one message per input file, all of which the
/// interface drains every frame, so nothing piles up.
pub fn inbox(ui: &egui::Context) -> (Outbox, Inbox) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (Outbox { tx, ui: ui.clone() }, Inbox { rx })
}

/// Set when the interface closes: workers take no new item once it is.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How long closing the interface waits for the workers to finish the items in hand: many
/// times one small picture's time, even in a debug build.
pub const STOP_BOUND: Duration = Duration::from_secs(20);

/// Every worker holds a clone of this; when all are gone, [`Alive::wait_gone`] returns.
pub fn alive() -> (AliveToken, Alive) {
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    (AliveToken(tx), Alive(rx))
}

/// Held by a worker while it runs (dropped when it ends, however it ends).
#[derive(Clone)]
pub struct AliveToken(#[allow(dead_code)] crossbeam_channel::Sender<()>);

/// Waits for the [`AliveToken`]s to be dropped.
pub struct Alive(crossbeam_channel::Receiver<()>);

impl Alive {
    /// Wait at most `bound` for every worker to end. Nothing is ever sent on the channel: it
    /// disconnects when the last token is dropped.
    pub fn wait_gone(&self, bound: Duration) -> Result<()> {
        match self.0.recv_timeout(bound) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) | Ok(()) => Ok(()),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => anyhow::bail!(
                "the job's workers did not stop within {} s of the interface closing",
                bound.as_secs()
            ),
        }
    }
}

/// Is there a display to open a window on? Only X11 is built (`DISPLAY`).
pub fn display() -> Option<String> {
    std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.trim().is_empty())
}

/// The scenario's entry point in every crate: a window where there is a display and the
/// binary was built with the `window` feature, headless otherwise (saying so).
pub fn run(args: &GuiArgs, backend: impl Backend) -> Result<Summary> {
    if args.headless {
        return headless::run(args, backend);
    }
    match display() {
        None => {
            say!("no display (DISPLAY is not set): running headless, on a 60 Hz frame clock");
            headless::run(args, backend)
        }
        Some(d) => open_window(args, backend, &d),
    }
}

#[cfg(feature = "window")]
fn open_window(args: &GuiArgs, backend: impl Backend, display: &str) -> Result<Summary> {
    window::run(args, backend, display)
}

#[cfg(not(feature = "window"))]
fn open_window(args: &GuiArgs, backend: impl Backend, display: &str) -> Result<Summary> {
    say!(
        "DISPLAY={display}, but this binary was built without its window (the `window` cargo \
         feature: `cargo run --release -p <crate> --features window -- gui`): running headless"
    );
    headless::run(args, backend)
}
