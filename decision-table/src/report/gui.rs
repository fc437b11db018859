//! The gui scenario in the report: the chart of frame intervals over time per model, the
//! figures worth a glance, and the verdict, which for this row is about responsiveness, not
//! wall time (every model does the same job; what differs is whether the interface kept
//! drawing while it ran).
//!
//! Everything here reads the `--json` summaries the harness keeps (`summaries/gui/<name>.json`):
//! `frame_intervals_ms` (every interval of the session, in order), `first_frame_s`,
//! `job_started_s` and `job_ended_s` on the same clock, and the figures during the job
//! (`frame_p99_ms`, `frame_max_ms`, `frames_over_100ms`, `click_p99_ms`).

use super::run::{Entry, Language, Scenario};
use super::verdict::{LanguageVerdict, Verdict};
use crate::table::{Model, Row};
use anyhow::Result;
use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;

/// The scenario this module is about.
pub const SCENARIO: &str = "gui";

fn num(e: &Entry, key: &str) -> Option<f64> {
    e.summary.as_ref()?.extra.get(key)?.as_f64()
}

/// The p99 frame interval during the job, the verdict's measure.
fn p99(e: &Entry) -> Option<f64> {
    num(e, "frame_p99_ms")
}

/// "frames p99 17.1 ms, max 2400 ms, 1 over 100 ms; clicks p99 2.1 s"
pub fn figures(e: &Entry) -> Option<String> {
    let p = p99(e)?;
    let mut s = format!("frames p99 {p:.1} ms");
    if let Some(m) = num(e, "frame_max_ms") {
        s.push_str(&format!(", max {m:.0} ms"));
    }
    if let Some(n) = num(e, "frames_over_100ms") {
        s.push_str(&format!(", {n} over 100 ms"));
    }
    if let Some(c) = num(e, "click_p99_ms") {
        s.push_str(&format!("; clicks p99 {c:.0} ms"));
    }
    if let Some(w) = num(e, "ui_gil_wait_p99_ms") {
        s.push_str(&format!("; UI waited p99 {w:.1} ms for the GIL"));
    }
    Some(s)
}

/// Two p99s are a tie within 10% or 2 ms: at 60 Hz anything under a frame is the same picture.
fn tie(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2.0_f64.max(0.1 * a.min(b))
}

/// The verdict on the "Responsive GUI" row in one language: the model whose interface drew most
/// smoothly while the job ran (lowest p99 frame interval), against the chapter's choice.
pub fn judge(row: &Row, scenario: &Scenario, language: Language) -> LanguageVerdict {
    let runs: Vec<(&Entry, f64)> = scenario
        .entries_of(language)
        .filter_map(|e| p99(e).map(|p| (e, p)))
        .collect();
    let Some(&(best, best_p99)) = runs.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return LanguageVerdict {
            fastest: None,
            verdict: Verdict::NotCovered,
            why: format!("no {language} run of the gui scenario reported its frames"),
        };
    };
    let chosen = |e: &Entry| e.runs_as().is_some_and(|m| row.recommends(m));
    let chapter = runs
        .iter()
        .filter(|(e, _)| chosen(e))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let serial = runs.iter().find(|(e, _)| e.model() == Some(Model::Serial));
    let verdict = if chosen(best) {
        Verdict::Agrees
    } else if chapter.is_some_and(|(_, p)| tie(*p, best_p99)) {
        Verdict::Tie
    } else {
        Verdict::Differs
    };
    let mut why = format!(
        "smoothest while the job ran: {} (p99 frame interval {best_p99:.1} ms)",
        best.bench.name
    );
    if let Some((c, p)) = chapter
        && c.bench.name != best.bench.name
    {
        why.push_str(&format!(", the chapter's {} {p:.1} ms", c.bench.name));
    }
    if let Some((s, p)) = serial {
        let max = num(s, "frame_max_ms").unwrap_or(*p);
        why.push_str(&format!(
            "; {} froze the interface for {:.2} s (the job ran inside the frame)",
            s.bench.name,
            max / 1000.0
        ));
    }
    if let Some((g, p)) = runs.iter().find(|(e, _)| e.bench.name.ends_with("-gil")) {
        why.push_str(&format!(
            "; behind the emulated GIL the interface waits for its turn: {} p99 {p:.1} ms",
            g.bench.name
        ));
    }
    LanguageVerdict {
        fastest: Some(best.bench.name.clone()),
        verdict,
        why,
    }
}

const WIDTH: u32 = 860;
const ROW_H: u32 = 92;
const TOP: u32 = 58;
/// The y axis: 5 ms to the longest interval, log scale (a 2 s freeze and 17 ms frames on one
/// linear axis would leave the frames flat on the floor).
const Y_MIN: f64 = 5.0;

/// A run's frame intervals over time, (seconds from the job's start, interval ms), and the
/// job's span on that axis.
type Series = (Vec<(f64, f64)>, f64, f64);

/// The frame intervals of a run over time (see [`Series`]).
fn series(e: &Entry) -> Option<Series> {
    let s = e.summary.as_ref()?;
    let intervals: Vec<f64> = s
        .extra
        .get("frame_intervals_ms")?
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let start = num(e, "job_started_s")?;
    let end = num(e, "job_ended_s").unwrap_or(start);
    let mut t = num(e, "first_frame_s").unwrap_or(0.0);
    let points = intervals
        .iter()
        .map(|ms| {
            t += ms / 1000.0;
            (t - start, *ms)
        })
        .collect();
    Some((points, 0.0, end - start))
}

fn colour(e: &Entry) -> RGBColor {
    match e.model() {
        Some(Model::Serial) => RGBColor(120, 120, 120),
        Some(Model::Threading) => RGBColor(31, 119, 180),
        Some(Model::Multiprocessing) => RGBColor(214, 39, 40),
        Some(Model::Asyncio) => RGBColor(44, 160, 44),
        None => RGBColor(148, 103, 189),
    }
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draw the frame-interval chart: one strip per run (Python's, then Rust's), the job's span
/// shaded, a line at one 60 Hz frame (16.7 ms), time from the job's start on a shared axis.
pub fn chart(s: &Scenario, path: &Path) -> Result<()> {
    let runs: Vec<(&Entry, Series)> = Language::ALL
        .into_iter()
        .flat_map(|l| s.entries_of(l))
        .filter_map(|e| series(e).map(|x| (e, x)))
        .collect();
    if runs.is_empty() {
        return Ok(());
    }
    let (mut t_lo, mut t_hi, mut y_hi) = (0.0_f64, 0.0_f64, 50.0_f64);
    for (_, (points, _, _)) in &runs {
        for (t, ms) in points {
            t_lo = t_lo.min(*t);
            t_hi = t_hi.max(*t);
            y_hi = y_hi.max(*ms);
        }
    }
    let y_hi = y_hi * 1.5;
    let height = TOP + ROW_H * runs.len() as u32 + 40;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let draw = || -> DrawResult {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            "gui: frame intervals over time, per model (lower and flatter is smoother)",
            (12, 8),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        root.draw(&Text::new(
            "x: seconds from the start click · y: interval before each frame, ms, log scale · \
             shaded: the job running · dashed: one frame at 60 Hz (16.7 ms)",
            (12, 32),
            ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
        ))?;
        let (_, mut rest) = root.split_vertically(TOP);
        for (i, (e, (points, job_from, job_to))) in runs.iter().enumerate() {
            let last = i + 1 == runs.len();
            let h = if last { ROW_H + 40 } else { ROW_H };
            let (strip, below) = rest.split_vertically(h);
            let mut c = ChartBuilder::on(&strip)
                .margin_left(8)
                .margin_right(16)
                .margin_top(4)
                .x_label_area_size(if last { 40 } else { 0 })
                .y_label_area_size(200)
                .build_cartesian_2d(t_lo..t_hi, (Y_MIN..y_hi).log_scale())?;
            let mut mesh = c.configure_mesh();
            mesh.disable_x_mesh()
                .y_labels(3)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 11))
                .light_line_style(RGBColor(235, 235, 235));
            if last {
                mesh.x_desc("seconds from the start click")
                    .axis_desc_style(("sans-serif", 12));
            } else {
                mesh.x_labels(0);
            }
            mesh.draw()?;
            c.draw_series([Rectangle::new(
                [(*job_from, Y_MIN), (*job_to, y_hi)],
                RGBColor(255, 236, 200).filled(),
            )])?;
            // Dashes of a 50th of the axis (plotters' line series are a feature not built here).
            let frame = 1000.0 / 60.0;
            let dash = (t_hi - t_lo) / 100.0;
            c.draw_series((0..50).map(|k| {
                let x = t_lo + 2.0 * k as f64 * dash;
                PathElement::new(vec![(x, frame), (x + dash, frame)], BLACK.stroke_width(1))
            }))?;
            c.draw_series([PathElement::new(
                points
                    .iter()
                    .map(|(t, ms)| (*t, ms.max(Y_MIN)))
                    .collect::<Vec<_>>(),
                colour(e).stroke_width(1),
            )])?;
            let label = match p99(e) {
                Some(p) => format!("{} · p99 {p:.1} ms", e.bench.name),
                None => e.bench.name.clone(),
            };
            // Top left of the strip, right of the axis' labels.
            strip.draw(&Text::new(
                label,
                (216, 4),
                ("sans-serif", 13).into_font().color(&BLACK),
            ))?;
            rest = below;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

/// The report's extra part for the gui scenario, under its bar chart.
pub fn section(chart_dir: &str) -> String {
    format!(
        "![gui frame intervals over time]({chart_dir}/gui-frames.svg)\n\n\
         The bars above are wall times of whole sessions (the same job in every model, plus the \
         session's fixed lead-in and tail): they are not the row's measure. The row is judged \
         on the p99 interval between frames while the job ran (the *figures* column): 16.7 ms \
         is a frame every 60 Hz tick.\n\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::hyperfine::Bench;
    use scenarios::Summary;

    fn entry(name: &str, model: &str, p99: f64) -> Entry {
        let mut e = Entry::new(Bench::fixed(name, 3.0, 1));
        let extra = serde_json::json!({
            "frame_p99_ms": p99, "frame_max_ms": p99 * 1.5, "frames_over_100ms": 0,
            "frame_intervals_ms": [16.7, 16.6, p99, 16.7], "first_frame_s": 0.0,
            "job_started_s": 0.02, "job_ended_s": 0.05,
        });
        e.summary = Some(Summary {
            scenario: "gui".into(),
            model: model.into(),
            variant: "v".into(),
            workers: 1,
            items: 4,
            wall_s: 3.0,
            user_s: 1.0,
            sys_s: 0.0,
            max_rss_kib: 1,
            digest: "d".into(),
            failed: 0,
            extra: extra.as_object().unwrap().clone(),
        });
        e
    }

    fn row() -> Row {
        Row {
            job: "Responsive GUI",
            chapter_choice: &[Model::Threading],
            why: "",
            scenario: Some("gui"),
            pick: crate::table::Pick::All,
        }
    }

    #[test]
    fn the_row_is_judged_on_frames_not_on_wall_time() {
        let s = Scenario {
            name: "gui".into(),
            entries: vec![
                entry("serial", "serial", 2400.0),
                entry("threading", "threading", 17.0),
                entry("threading-gil", "threading", 22.0),
                entry("multiprocessing", "multiprocessing", 17.5),
            ],
        };
        let v = judge(&row(), &s, Language::Rust);
        assert_eq!(v.verdict, Verdict::Agrees);
        assert_eq!(v.fastest.as_deref(), Some("threading"));
        // The longest interval (the fixture's frame_max_ms, 1.5 x its p99), not the p99.
        assert!(
            v.why.contains("froze the interface for 3.60 s"),
            "{}",
            v.why
        );
        assert!(v.why.contains("threading-gil p99 22.0 ms"), "{}", v.why);
        // Processes a hair smoother than threads: a tie, not a defeat.
        let mut s2 = s.clone();
        s2.entries[3] = entry("multiprocessing", "multiprocessing", 16.9);
        assert_eq!(judge(&row(), &s2, Language::Rust).verdict, Verdict::Tie);
        assert_eq!(
            judge(&row(), &s, Language::Python).verdict,
            Verdict::NotCovered
        );
    }

    #[test]
    fn the_chart_draws_a_strip_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let s = Scenario {
            name: "gui".into(),
            entries: vec![
                entry("serial", "serial", 900.0),
                entry("python-threading", "threading", 19.0),
            ],
        };
        let path = dir.path().join("gui-frames.svg");
        chart(&s, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("python-threading · p99 19.0 ms"), "{svg}");
        assert!(svg.contains("serial · p99 900.0 ms"));
        assert!(
            figures(&s.entries[0])
                .unwrap()
                .contains("frames p99 900.0 ms")
        );
    }
}
