//! What the report adds for the `train` scenario: the figures that matter for training besides
//! wall time, from each run's `--json` summary: training throughput (`samples_per_s`), the
//! final test accuracy, and the time to reach the target accuracy; as a table, and as a chart
//! of samples per second per model (one panel per language, bars coloured by model, each
//! labelled with its throughput and accuracy), drawn with plotters' SVG backend like
//! [`super::chart`].
//!
//! A run whose summary says `"reproducible": false` (Hogwild) is shown with its digest marked
//! as such; [`super::run::Scenario::digests_agree`] leaves it out of the digest check.

use super::chart::colour;
use super::markdown::seconds;
use super::run::{Entry, Language, Scenario};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The scenario this module reports on.
pub const SCENARIO: &str = "train";
/// The chart's file name in the charts folder.
pub const CHART: &str = "train-throughput.svg";

/// One run's training figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub samples_per_s: f64,
    pub accuracy: f64,
    pub seconds_to_target: Option<f64>,
    pub target: Option<f64>,
    pub reproducible: bool,
}

impl Figures {
    /// The figures of an entry, if its summary has them.
    pub fn of(e: &Entry) -> Option<Figures> {
        let s = e.summary.as_ref()?;
        let num = |k: &str| s.extra.get(k).and_then(Value::as_f64);
        Some(Figures {
            samples_per_s: num("samples_per_s")?,
            accuracy: num("accuracy")?,
            seconds_to_target: num("seconds_to_target"),
            target: num("target"),
            reproducible: s.extra.get("reproducible") != Some(&Value::Bool(false)),
        })
    }
}

/// "123,456".
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The scenario's extra section of the report: the chart, then a table per language.
pub fn section(s: &Scenario, chart_dir: &str) -> String {
    let mut out = format!("![train: samples per second]({chart_dir}/{CHART})\n\n");
    out.push_str(
        "Training throughput is training samples over the seconds spent in training steps \
         (evaluations and loading excluded); *to target* is from the start of training, \
         evaluations included, to the first evaluation at or above the target accuracy.\n\n",
    );
    for language in s.languages() {
        let rows: Vec<(&Entry, Figures)> = s
            .entries_of(language)
            .filter_map(|e| Figures::of(e).map(|f| (e, f)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "**{language}**: training\n\n| model | samples/s | test accuracy | to target | digest |\n\
             | --- | ---: | ---: | ---: | --- |"
        );
        for (e, f) in rows {
            let to_target = match (f.seconds_to_target, f.target) {
                (Some(t), Some(target)) => format!("{} (≥ {target})", seconds(t)),
                (None, Some(target)) => format!("never reached {target}"),
                _ => "–".into(),
            };
            let digest = if f.reproducible {
                "reproducible"
            } else {
                "**not reproducible** (lock-free updates)"
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {to_target} | {digest} |",
                e.bench.name,
                thousands(f.samples_per_s),
                f.accuracy
            );
        }
        out.push('\n');
    }
    out
}

const WIDTH: u32 = 860;
const TITLE_H: u32 = 40;
const PANEL_FRAME_H: u32 = 78;
const ROW_H: u32 = 30;
const NAME_W: u32 = 220;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draw the samples-per-second chart of the train scenario to `path`.
pub fn chart(s: &Scenario, path: &Path) -> Result<()> {
    let panels: Vec<(Language, Vec<(&Entry, Figures)>)> = s
        .languages()
        .into_iter()
        .map(|l| {
            let rows = s
                .entries_of(l)
                .filter_map(|e| Figures::of(e).map(|f| (e, f)))
                .collect::<Vec<_>>();
            (l, rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    let panel_h = |n: usize| PANEL_FRAME_H + ROW_H * n as u32;
    let height = TITLE_H + panels.iter().map(|(_, r)| panel_h(r.len())).sum::<u32>() + 8;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let draw = || -> DrawResult {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            "train: training samples per second (higher is better) · label: final test accuracy",
            (12, 10),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        // One axis for every panel: the languages train the same network on the same batches.
        let top = panels
            .iter()
            .flat_map(|(_, r)| r.iter().map(|(_, f)| f.samples_per_s))
            .fold(1.0, f64::max)
            * 1.8; // room for the longest label beside its bar ("· not reproducible")
        let (_, mut rest) = root.split_vertically(TITLE_H);
        for (language, rows) in &panels {
            let (panel, below) = rest.split_vertically(panel_h(rows.len()));
            draw_panel(&root, &panel, *language, rows, top)?;
            rest = below;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

fn draw_panel(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    panel: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    language: Language,
    rows: &[(&Entry, Figures)],
    top: f64,
) -> DrawResult {
    let n = rows.len();
    let mut c = ChartBuilder::on(panel)
        .caption(
            language.label(),
            ("sans-serif", 15).into_font().style(FontStyle::Bold),
        )
        .margin_top(6)
        .margin_left(8)
        .margin_right(16)
        .x_label_area_size(34)
        .y_label_area_size(NAME_W)
        .build_cartesian_2d(0.0..top, 0.0..n as f64)?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc("training samples per second")
        .x_label_formatter(&|v| thousands(*v))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 12))
        .light_line_style(WHITE)
        .draw()?;
    let y = |i: usize| (n - 1 - i) as f64;
    c.draw_series(rows.iter().enumerate().map(|(i, (e, f))| {
        let fill = colour(e.model());
        let style = if f.reproducible {
            fill.filled()
        } else {
            // Hogwild: hatched by a lighter fill, so it does not read as one of the others.
            fill.mix(0.45).filled()
        };
        Rectangle::new([(0.0, y(i) + 0.18), (f.samples_per_s, y(i) + 0.82)], style)
    }))?;
    let value_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    c.draw_series(rows.iter().enumerate().map(|(i, (_, f))| {
        let mut label = format!("{}/s · acc {:.4}", thousands(f.samples_per_s), f.accuracy);
        if !f.reproducible {
            label.push_str(" · not reproducible");
        }
        EmptyElement::at((f.samples_per_s, y(i) + 0.5))
            + Text::new(label, (8, 0), value_style.clone())
    }))?;
    let name_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (e, _)) in rows.iter().enumerate() {
        let (px, py) = c.backend_coord(&(0.0, y(i) + 0.5));
        root.draw(&Text::new(
            e.bench.name.clone(),
            (px - 8, py),
            name_style.clone(),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
