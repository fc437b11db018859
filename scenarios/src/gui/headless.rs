//! The gui scenario without a window: egui driven from a 60 Hz frame clock of our own, with no
//! window, no GPU and clicks injected at known times. What CI and the harness run.
//!
//! Each frame, like a real integration's: wait for the next tick of the clock (16.7 ms apart;
//! a frame that overran skips the ticks it missed, as a display's vsync does), hand egui this
//! frame's input events, run the app's `ui` (`Context::run_ui`), and tessellate the shapes
//! into triangles as a renderer would before uploading them (the GPU upload is all that is
//! left out). Under `threading --gil` the frame holds the emulated GIL while it runs, as a
//! Python UI thread must to run its Tkinter or Qt callbacks, and waits for it like any thread.
//!
//! The clicks: the start button at `--start-ms`, then "Click me" every `--click-every-ms`
//! until the session ends (`--tail-ms` after the job). A click is a press in one frame and a
//! release in the next, on the button's centre as the last frame laid it out. A click whose
//! time comes while a frame is still running (a frozen interface) waits, as the operating
//! system queues it, and is delivered as soon as frames run again, one per two frames; its
//! latency still counts from when it was made.
//!
//! `--close-at-ms` closes the app at that time as a window's close button would.

use super::app::App;
use super::stats;
use super::{Backend, GuiArgs};
use crate::gil;
use crate::images;
use crate::{Run, Summary, say};
use anyhow::{Result, bail};
use egui::{Event, PointerButton, Pos2, RawInput, Rect, vec2};
use serde_json::json;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The frame clock's rate.
pub const HZ: f64 = 60.0;
/// The size of the screen the app is laid out on, in points (one point, one pixel).
const SCREEN: (f32, f32) = (560.0, 320.0);

/// What the driver measured beside the app's own frame log.
#[derive(Debug, Default)]
pub struct Session {
    /// "Click me" clicks made, and the latency of each one the app showed, in ms.
    pub probes_sent: usize,
    pub click_latencies_ms: Vec<f64>,
    /// From the start click's press to the end of the frame that showed the job under way.
    pub start_click_ms: Option<f64>,
    /// Under the emulated GIL: how long each frame waited to take it, in ms.
    pub ui_gil_waits_ms: Vec<f64>,
}

/// A button being held down: released in the next frame.
struct Press {
    at: Pos2,
}

/// Which button a scheduled click is for.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Start,
    Probe,
}

/// Run the app headless for a session; the summary, or the error the app showed.
pub fn run(args: &GuiArgs, backend: impl Backend) -> Result<Summary> {
    let label = backend.label();
    let items = images::list_inputs(&args.inputs).map_or(0, |f| f.len());
    let run = Run::start("gui", label, items);
    let mut app = App::new(Box::new(backend), args.job(), args.inputs.clone());
    let session = drive(&mut app, args)?;
    finish(run, &app, "headless", session)
}

/// The frame loop.
pub fn drive(app: &mut App, args: &GuiArgs) -> Result<Session> {
    let ctx = egui::Context::default();
    let screen = Rect::from_min_size(Pos2::ZERO, vec2(SCREEN.0, SCREEN.1));
    let period = 1.0 / HZ;
    let t0 = Instant::now();
    let start_due = args.start_ms as f64 / 1000.0;
    let every = args.click_every_ms as f64 / 1000.0;
    let mut session = Session::default();
    let (mut start_sent, mut next_probe) = (false, start_due + every);
    let mut pressed: Option<Press> = None;
    // Probe clicks made and not yet shown, by when they were made.
    let mut unseen: VecDeque<f64> = VecDeque::new();
    let mut tick: u64 = 0;
    let close_at = args.close_at_ms.map(|ms| ms as f64 / 1000.0);
    loop {
        let target = t0 + Duration::from_secs_f64(tick as f64 * period);
        if let Some(wait) = target.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = t0.elapsed().as_secs_f64();
        let mut events = Vec::new();
        if let Some(p) = pressed.take() {
            events.push(button(p.at, false));
        } else {
            let due = if !start_sent && t >= start_due {
                Some(Target::Start)
            } else if start_sent && t >= next_probe {
                Some(Target::Probe)
            } else {
                None
            };
            let rect = |target| match target {
                Target::Start => app.buttons.start,
                Target::Probe => app.buttons.probe,
            };
            if let Some(target) = due
                && let Some(r) = rect(target)
            {
                let at = r.center();
                events.push(Event::PointerMoved(at));
                events.push(button(at, true));
                pressed = Some(Press { at });
                match target {
                    Target::Start => start_sent = true,
                    Target::Probe => {
                        unseen.push_back(next_probe);
                        session.probes_sent += 1;
                        next_probe += every;
                    }
                }
            }
        }
        let input = RawInput {
            screen_rect: Some(screen),
            time: Some(t),
            focused: true,
            events,
            ..Default::default()
        };
        let (clicks_before, was_idle) = (app.clicks, !app.running() && !app.ended());
        let asked = Instant::now();
        let waited = gil::hold(|| {
            let waited = asked.elapsed();
            let mut out = ctx.run_ui(input, |ui| app.ui(ui));
            // What a renderer does before the upload: shapes into triangles.
            let shapes = std::mem::take(&mut out.shapes);
            let triangles = ctx.tessellate(shapes, out.pixels_per_point);
            std::hint::black_box(triangles);
            // The font atlas' updates would go to the GPU; there is none.
            out.textures_delta.clear();
            waited
        });
        let end = t0.elapsed().as_secs_f64();
        if gil::enabled() {
            session.ui_gil_waits_ms.push(waited.as_secs_f64() * 1000.0);
        }
        for _ in clicks_before..app.clicks {
            if let Some(made) = unseen.pop_front() {
                session.click_latencies_ms.push((end - made) * 1000.0);
            }
        }
        if was_idle && (app.running() || app.ended()) && session.start_click_ms.is_none() {
            session.start_click_ms = Some((end - start_due) * 1000.0);
        }
        let tail_over = app
            .job_ended_s
            .is_some_and(|e| t >= e + args.tail_ms as f64 / 1000.0);
        let closing = app.close_requested || close_at.is_some_and(|c| t >= c);
        if closing || tail_over {
            app.close()?;
            break;
        }
        if t >= args.max_seconds as f64 {
            app.close()?;
            bail!(
                "the session went on for --max-seconds {} without the job ending (is the \
                 machine very loaded, or the job far too big?)",
                args.max_seconds
            );
        }
        // The next tick after now: a frame that overran skips the ticks it missed.
        let elapsed = t0.elapsed().as_secs_f64();
        tick = (tick + 1).max((elapsed / period).floor() as u64 + 1);
    }
    Ok(session)
}

fn button(at: Pos2, pressed: bool) -> Event {
    Event::PointerButton {
        pos: at,
        button: PointerButton::Primary,
        pressed,
        modifiers: Default::default(),
    }
}

/// The summary of a session (headless or in a window): the frames, the clicks, the job's
/// digest; or the error the interface showed.
pub fn finish(mut run: Run, app: &App, display: &str, session: Session) -> Result<Summary> {
    run.extra("display", display);
    for (k, v) in app.backend_extras() {
        run.extra(k, v);
    }
    let span = app
        .job_started_s
        .map(|s| (s, app.job_ended_s.unwrap_or(f64::MAX)));
    for (k, v) in stats::frame_fields(app.frame_starts(), span) {
        run.extra(k, v);
    }
    if display == "headless" {
        for (k, v) in stats::click_fields(&session.click_latencies_ms, session.probes_sent) {
            run.extra(k, v);
        }
        run.extra("start_click_ms", session.start_click_ms.map(|v| json!(v)));
    }
    run.extra("job_started_s", app.job_started_s)
        .extra("job_ended_s", app.job_ended_s)
        .extra("frame_hz", HZ)
        .extra("counter", app.frames)
        .extra("clicks", app.clicks);
    if gil::enabled() {
        let q = |p| stats::quantile(&session.ui_gil_waits_ms, p);
        run.extra("ui_gil_wait_p99_ms", q(0.99))
            .extra("ui_gil_wait_max_ms", q(1.0))
            .extra("gil_forced_switches", gil::forced_switches())
            .extra("gil_switch_interval_ms", 5);
    }
    use super::app::JobState;
    match &app.state {
        JobState::Finished {
            digest,
            failed,
            seconds,
            ..
        } => {
            run.extra("job_s", *seconds);
            say!("{}", frames_line(app));
            Ok(run.finish(digest.clone(), *failed))
        }
        JobState::Error(e) => bail!("{e}"),
        JobState::Stopped { done, items } => {
            run.extra("cancelled", true).extra("items_done", *done);
            say!("closed mid-job: {done} of {items} images were done; the workers stopped");
            Ok(run.finish(String::new(), 0))
        }
        JobState::Idle | JobState::Running { .. } => {
            run.extra("cancelled", true).extra("items_done", 0);
            say!("closed before the job started");
            Ok(run.finish(String::new(), 0))
        }
    }
}

/// "frames during the job: p50 16.7 ms, p99 17.0 ms, max 18.1 ms, 3 over 16.7 ms, 0 over 100 ms"
fn frames_line(app: &App) -> String {
    let span = app
        .job_started_s
        .map(|s| (s, app.job_ended_s.unwrap_or(f64::MAX)));
    let f: std::collections::HashMap<_, _> = stats::frame_fields(app.frame_starts(), span)
        .into_iter()
        .collect();
    format!(
        "frames during the job: p50 {} ms, p99 {} ms, max {} ms, {} over 16.7 ms, {} over 100 ms",
        f["frame_p50_ms"],
        f["frame_p99_ms"],
        f["frame_max_ms"],
        f["frames_over_16ms"],
        f["frames_over_100ms"]
    )
}
