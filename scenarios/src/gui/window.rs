//! The gui scenario in a real window: the same [`App`] with eframe (OpenGL through glow, X11
//! only), built with the `window` cargo feature:
//!
//! ```text
//! cargo run --release -p threading --features window -- gui data/gui-images --out data/gui-out
//! ```
//!
//! eframe calls the app once per frame, at the display's rate while the counter ticks. Under
//! `threading --gil` each frame holds the emulated GIL while the app runs, as a Python UI
//! thread must. Closing the window (the window manager's button, `Esc`, or "Close") stops the
//! job: no new items, the ones in hand finish, every worker thread or process is gone before
//! the program prints its summary. The summary has the same frame figures as a headless run
//! (no click latencies: the clicks are a person's, at times nobody recorded).
//!
//! A display that cannot be opened (a stale `DISPLAY`) is said so, and the session runs
//! headless instead.

use super::app::App;
use super::headless::{self, Session};
use super::{Backend, GuiArgs};
use crate::gil;
use crate::images;
use crate::{Run, Summary, say};
use anyhow::Result;

struct Window<'a, 'b> {
    app: &'a mut App<'b>,
}

impl eframe::App for Window<'_, '_> {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        gil::hold(|| self.app.ui(ui));
        if self.app.close_requested {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

/// Open the window on `display` and run until it is closed.
pub fn run(args: &GuiArgs, backend: impl Backend, display: &str) -> Result<Summary> {
    let label = backend.label();
    let items = images::list_inputs(&args.inputs).map_or(0, |f| f.len());
    let run = Run::start("gui", label.clone(), items);
    let mut app = App::new(Box::new(backend), args.job(), args.inputs.clone());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([560.0, 320.0])
            .with_title(format!("Responsive GUI: {}", label.model)),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    say!("opening a window on DISPLAY={display}");
    let opened = eframe::run_native(
        "gui",
        options,
        Box::new(|_cc| Ok(Box::new(Window { app: &mut app }))),
    );
    if let Err(e) = opened {
        if app.frames == 0 {
            say!("cannot open a window on DISPLAY={display} ({e}): running headless instead");
            let session = headless::drive(&mut app, args)?;
            return headless::finish(run, &app, "headless", session);
        }
        app.close()?;
        anyhow::bail!("the window failed: {e}");
    }
    // The window is closed: stop the job if it still runs, and wait for its workers.
    app.close()?;
    headless::finish(run, &app, "window", Session::default())
}
