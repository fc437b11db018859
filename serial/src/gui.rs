//! The chapter's "responsive GUI" row, done wrong on purpose: the job runs inside the frame
//! that handled the click, on the interface's own thread, so nothing is drawn and no click is
//! answered until every image is done. The frame counter stops, the progress bar jumps from
//! empty to full, and the clicks made meanwhile are answered all at once afterwards: the
//! frozen window of a Tkinter program whose button callback does the work itself.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 48 --width 640 --height 360 --out data/gui-images
//! cargo run --release -p serial -- gui data/gui-images --out data/gui-out --headless
//! cargo run --release -p serial --features window -- gui data/gui-images --out data/gui-out
//! ```
//!
//! The app, the frame clock and the figures are the library's (`scenarios::gui`); this file is
//! only where the job runs. `--workers` is accepted like everywhere else, and ignored.

use crate::MODEL;
use anyhow::Result;
use scenarios::gui::{Backend, Cancel, GuiArgs, Outbox};
use scenarios::images::ProcessImage;
use scenarios::job::Job;
use scenarios::outcome::Outcome;
use scenarios::{Label, Summary};
use std::path::PathBuf;

/// The job, run to the end by whoever starts it.
struct InTheFrame;

impl Backend for InTheFrame {
    fn label(&self) -> Label {
        Label::new(MODEL, "in-frame", 1)
    }

    fn start(
        &mut self,
        job: ProcessImage,
        items: Vec<PathBuf>,
        outbox: Outbox,
        cancel: Cancel,
    ) -> Result<()> {
        // Here, in the click's frame: the interface waits for all of it.
        for (i, item) in items.into_iter().enumerate() {
            if cancel.cancelled() {
                break;
            }
            outbox.send(i, Outcome::of(job.run(item)));
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        // Nothing runs once `start` has returned.
        Ok(())
    }
}

pub fn run(args: &GuiArgs) -> Result<Summary> {
    scenarios::gui::run(args, InTheFrame)
}
