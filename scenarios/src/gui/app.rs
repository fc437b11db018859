//! The gui scenario's app, drawn with egui: the same code headless and in a window.
//!
//! What a person sees: the model's name; `frame N`, a counter that ticks every frame (if it
//! stops, the interface is frozen); the start button; a progress bar of the images done; a
//! "Click me" button and its count (does the interface answer?); and a status line with the
//! job's time and digest, or its error in red. `Esc` or the "Close" button closes the window,
//! as the window manager's close button does; closing mid-job stops the workers
//! ([`App::close`]).
//!
//! The app also keeps what the measurement needs: when each frame began ([`App::frame_starts`])
//! and when the job started and ended, relative to the first frame. It writes a line to the
//! console on every change of state and once a second (`ui: frame 120 | 3/48 images | ...`),
//! which is how the window's smoke test reads the counter.

use super::{Backend, Cancel, Inbox, inbox};
use crate::digest::{Digest, Sha};
use crate::images::{self, ProcessImage};
use crate::outcome::Outcome;
use crate::say;
use anyhow::{Context as _, Result};
use egui::{Color32, Rect, RichText};
use std::path::PathBuf;
use std::time::Instant;

/// Where the background job is.
#[derive(Debug)]
pub enum JobState {
    /// Not started.
    Idle,
    /// Running: one slot per input, filled as items finish.
    Running {
        outcomes: Vec<Option<Outcome<Sha>>>,
        done: usize,
    },
    /// Every item finished (some may have failed).
    Finished {
        items: usize,
        failed: usize,
        seconds: f64,
        digest: String,
        first_error: Option<String>,
    },
    /// The job could not start: the inputs are missing or unreadable.
    Error(String),
    /// The app closed mid-job: `done` of `items` had finished.
    Stopped { done: usize, items: usize },
}

/// The buttons' places on screen, from the last frame: the headless driver clicks there.
#[derive(Clone, Copy, Debug, Default)]
pub struct Buttons {
    pub start: Option<Rect>,
    pub probe: Option<Rect>,
    pub close: Option<Rect>,
}

/// The app.
pub struct App<'b> {
    backend: Box<dyn Backend + 'b>,
    /// How the model is named on screen: "threading (threads+gil, 1 worker)".
    title: String,
    job: ProcessImage,
    inputs: Vec<PathBuf>,
    /// Frames drawn: the counter on screen.
    pub frames: u64,
    /// Clicks on "Click me" the app has handled.
    pub clicks: u64,
    pub state: JobState,
    inbox: Option<Inbox>,
    cancel: Cancel,
    pub buttons: Buttons,
    /// The app asked to close (Esc, the Close button).
    pub close_requested: bool,
    t0: Option<Instant>,
    frame_starts: Vec<f64>,
    started_at: Option<Instant>,
    /// When the job started and ended, in seconds from the first frame.
    pub job_started_s: Option<f64>,
    pub job_ended_s: Option<f64>,
    last_line_s: f64,
    buttons_said: bool,
}

impl<'b> App<'b> {
    pub fn new(backend: Box<dyn Backend + 'b>, job: ProcessImage, inputs: Vec<PathBuf>) -> Self {
        let label = backend.label();
        let title = format!(
            "{} ({}, {} worker{})",
            label.model,
            label.variant,
            label.workers,
            if label.workers == 1 { "" } else { "s" }
        );
        App {
            backend,
            title,
            job,
            inputs,
            frames: 0,
            clicks: 0,
            state: JobState::Idle,
            inbox: None,
            cancel: Cancel::default(),
            buttons: Buttons::default(),
            close_requested: false,
            t0: None,
            frame_starts: Vec::new(),
            started_at: None,
            job_started_s: None,
            job_ended_s: None,
            last_line_s: 0.0,
            buttons_said: false,
        }
    }

    /// When each frame began, in seconds from the first.
    pub fn frame_starts(&self) -> &[f64] {
        &self.frame_starts
    }

    fn now_s(&self) -> f64 {
        self.t0.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// Is the job running?
    pub fn running(&self) -> bool {
        matches!(self.state, JobState::Running { .. })
    }

    /// Has the job come to an end (finished, failed to start, or stopped)?
    pub fn ended(&self) -> bool {
        !matches!(self.state, JobState::Idle | JobState::Running { .. })
    }

    /// One line for the console.
    fn status_line(&self) -> String {
        let (done, total) = self.progress();
        format!(
            "ui: frame {} | {done}/{total} images | {} clicks | {}",
            self.frames,
            self.clicks,
            self.status_text()
        )
    }

    fn progress(&self) -> (usize, usize) {
        match &self.state {
            JobState::Running { outcomes, done } => (*done, outcomes.len()),
            JobState::Finished { items, .. } => (*items, *items),
            JobState::Stopped { done, items } => (*done, *items),
            JobState::Idle | JobState::Error(_) => (0, 0),
        }
    }

    fn status_text(&self) -> String {
        match &self.state {
            JobState::Idle => "idle: press the button to start the job".into(),
            JobState::Running { .. } => "running".into(),
            JobState::Finished {
                items,
                failed,
                seconds,
                digest,
                first_error,
            } => {
                let mut s = format!(
                    "done: {} of {items} images in {seconds:.2} s, digest {}",
                    items - failed,
                    digest.get(..16).unwrap_or(digest)
                );
                if let Some(e) = first_error {
                    s.push_str(&format!("; {failed} failed, first: {e}"));
                }
                s
            }
            JobState::Error(e) => format!("error: {e}"),
            JobState::Stopped { done, items } => {
                format!("stopped: closed with {done} of {items} images done")
            }
        }
    }

    /// Start the job (the button's click): list the inputs, prepare the output folder, hand the
    /// files to the backend. Any error is shown, never a panic.
    fn start(&mut self, ui: &egui::Context) {
        let started = (|| -> Result<usize> {
            // A named input that is not there is the whole job's error, not one item's.
            for input in &self.inputs {
                if !input.exists() {
                    anyhow::bail!(
                        "{}: no such file or directory (make inputs with `cargo run --release \
                         -p decision-table -- gen images --out {}`)",
                        input.display(),
                        input.display()
                    );
                }
            }
            let files = images::list_inputs(&self.inputs)?;
            images::prepare_out(&self.job.out, &files)?;
            let n = files.len();
            let (outbox, inbox) = inbox(ui);
            self.inbox = Some(inbox);
            self.state = JobState::Running {
                outcomes: (0..n).map(|_| None).collect(),
                done: 0,
            };
            self.started_at = Some(Instant::now());
            self.job_started_s = Some(self.now_s());
            say!("{}", self.status_line());
            self.backend
                .start(self.job.clone(), files, outbox, self.cancel.clone())
                .context("cannot start the job")?;
            Ok(n)
        })();
        if let Err(e) = started {
            self.state = JobState::Error(format!("{e:#}"));
            self.job_ended_s = Some(self.now_s());
            say!("{}", self.status_line());
        }
    }

    /// Take in what the workers finished since the last frame.
    fn receive(&mut self) {
        let (Some(inbox), JobState::Running { outcomes, done }) = (&self.inbox, &mut self.state)
        else {
            return;
        };
        for f in inbox.drain() {
            if let Some(slot) = outcomes.get_mut(f.index)
                && slot.is_none()
            {
                *slot = Some(f.outcome);
                *done += 1;
            }
        }
        if *done < outcomes.len() {
            return;
        }
        // The digest of the images scenario: each output's SHA-256 in input order, a failed
        // item counting as the bytes "failed".
        let mut digest = Digest::new();
        let (mut failed, mut first_error) = (0, None);
        for o in outcomes.iter().flatten() {
            match o {
                Outcome::Done(sha) => digest.update(sha),
                other => {
                    failed += 1;
                    first_error.get_or_insert_with(|| other.why_not().unwrap_or("").to_string());
                    digest.update(b"failed")
                }
            };
        }
        self.state = JobState::Finished {
            items: outcomes.len(),
            failed,
            seconds: self.started_at.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            digest: digest.finish(),
            first_error,
        };
        self.job_ended_s = Some(self.now_s());
        say!("{}", self.status_line());
    }

    /// The interface is closing: stop the job if it runs (no new items; the ones in hand
    /// finish), wait for the workers, and say what was left undone.
    pub fn close(&mut self) -> Result<()> {
        self.cancel.cancel();
        let stopped = self.backend.stop();
        // What finished while the workers stopped counts (it may even be the last image).
        self.receive();
        if let JobState::Running { outcomes, done } = &self.state {
            let (done, items) = (*done, outcomes.len());
            self.state = JobState::Stopped { done, items };
            self.job_ended_s = Some(self.now_s());
            say!("{}", self.status_line());
        }
        stopped
    }

    /// One frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let t0 = *self.t0.get_or_insert_with(Instant::now);
        let now = t0.elapsed().as_secs_f64();
        self.frame_starts.push(now);
        self.frames += 1;
        let ctx = ui.ctx().clone();
        self.receive();
        if ctx.input(|i| i.key_pressed(egui::Key::Escape)) {
            self.close_requested = true;
        }
        let mut start_clicked = false;
        egui::CentralPanel::default_margins().show(ui, |ui| {
            ui.heading(format!("Responsive GUI: {}", self.title));
            ui.label(
                RichText::new(format!("frame {}", self.frames))
                    .monospace()
                    .size(22.0),
            );
            ui.add_space(6.0);
            let (done, total) = self.progress();
            let start = ui.add_enabled(
                !self.running(),
                egui::Button::new(match self.title_workers() {
                    1 => "Process the images (1 worker)".to_string(),
                    n => format!("Process the images ({n} workers)"),
                }),
            );
            self.buttons.start = Some(start.rect);
            start_clicked = start.clicked();
            let fraction = if total == 0 {
                0.0
            } else {
                done as f32 / total as f32
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(format!("{done} / {total} images"))
                    .desired_width(360.0),
            );
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                let probe = ui.button("Click me");
                self.buttons.probe = Some(probe.rect);
                if probe.clicked() {
                    self.clicks += 1;
                }
                ui.label(format!("clicks: {}", self.clicks));
            });
            ui.add_space(6.0);
            let status = self.status_text();
            match self.state {
                JobState::Error(_) => ui.colored_label(Color32::from_rgb(200, 40, 40), status),
                _ => ui.label(status),
            };
            ui.add_space(6.0);
            let close = ui.button("Close");
            self.buttons.close = Some(close.rect);
            if close.clicked() {
                self.close_requested = true;
            }
        });
        if start_clicked && !self.running() {
            // serial runs the whole job right here, inside this frame.
            self.start(&ctx);
            self.receive();
        }
        if !self.buttons_said
            && let (Some(start), Some(probe), Some(close)) =
                (self.buttons.start, self.buttons.probe, self.buttons.close)
        {
            // Where to click, for a person reading the log and for the window's smoke test.
            self.buttons_said = true;
            let at = |r: Rect| format!("{:.0},{:.0}", r.center().x, r.center().y);
            say!(
                "ui: buttons at (points from the window's top left): start {}, click me {}, close {}",
                at(start),
                at(probe),
                at(close)
            );
        }
        if now - self.last_line_s >= 1.0 {
            self.last_line_s = now;
            say!("{}", self.status_line());
        }
        // The counter ticks every frame, so every frame asks for the next.
        ctx.request_repaint();
    }

    fn title_workers(&self) -> usize {
        self.backend.label().workers
    }

    /// The backend's own summary fields (a process pool's pids).
    pub fn backend_extras(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.backend.extras()
    }
}
