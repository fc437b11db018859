//! The per-scenario chart: an SVG of mean wall times with ±σ whiskers, one panel per language
//! (Python above Rust), bars coloured by model with a legend, each bar labelled with its time
//! and its speedup over the same language's serial run. Drawn with plotters' SVG backend (no
//! system fonts or C libraries needed to write it).
//!
//! The panels share one time axis when both languages ran the same inputs, so bar lengths
//! compare across them; otherwise each has its own, and the title says so, because Python's
//! smaller inputs would make a shared axis claim a comparison the report refuses to make.

use super::markdown::{ratio, seconds};
use super::run::{Entry, Language, Scenario};
use crate::table::Model;
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const WIDTH: u32 = 860;
const TITLE_H: u32 = 54;
/// Room for the language caption above a panel and the time axis below it.
const PANEL_FRAME_H: u32 = 78;
const ROW_H: u32 = 30;
/// Room left of the bars for names like `python-multiprocessing-rayon`.
const NAME_W: u32 = 220;

pub(super) fn colour(model: Option<Model>) -> RGBColor {
    match model {
        Some(Model::Serial) => RGBColor(120, 120, 120),
        Some(Model::Threading) => RGBColor(31, 119, 180),
        Some(Model::Multiprocessing) => RGBColor(214, 39, 40),
        Some(Model::Asyncio) => RGBColor(44, 160, 44),
        None => RGBColor(148, 103, 189),
    }
}

/// The time axis of a panel (or of both, when they share it).
struct Axis {
    /// The axis' ends, in `unit`s.
    lo: f64,
    hi: f64,
    /// Seconds to `unit`s.
    scale: f64,
    unit: &'static str,
    /// A logarithmic axis, for panels whose times span more than [`LOG_SPAN`]: on a linear
    /// one a 20 s serial run leaves the concurrent runs' bars a pixel long.
    log: bool,
}

/// Longest over shortest time beyond which a panel gets a logarithmic axis.
const LOG_SPAN: f64 = 20.0;

impl Axis {
    fn for_entries<'a>(entries: impl Iterator<Item = &'a Entry>) -> Axis {
        let (mut shortest, mut longest) = (f64::MAX, 0.0_f64);
        for e in entries {
            shortest = shortest.min(e.bench.mean);
            longest = longest.max(e.bench.mean + e.bench.stddev);
        }
        let longest = longest.max(1e-6);
        let shortest = shortest.clamp(1e-9, longest);
        // Milliseconds when every bar is under a second, so tick labels stay short.
        let (scale, unit) = if longest < 1.0 {
            (1000.0, "milliseconds")
        } else {
            (1.0, "seconds")
        };
        if longest / shortest > LOG_SPAN {
            // From the power of ten below the shortest bar, with a third of the span again
            // right of the longest for its label.
            let lo = 10f64.powf((shortest * scale * 0.8).log10().floor());
            let top = longest * scale;
            let hi = top * (top / lo).powf(0.35);
            Axis {
                lo,
                hi,
                scale,
                unit,
                log: true,
            }
        } else {
            Axis {
                lo: 0.0,
                hi: longest * scale * 1.4,
                scale,
                unit,
                log: false,
            }
        }
    }

    fn description(&self) -> String {
        if self.log {
            format!("{} (log scale)", self.unit)
        } else {
            self.unit.to_string()
        }
    }
}

/// A tick label without float noise: 3 significant digits, no trailing zeros ("0.2", "20").
fn tick(v: &f64) -> String {
    let digits = (2 - v.abs().max(1e-12).log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draw the chart of scenario `s` to `path`.
pub fn chart(s: &Scenario, path: &Path) -> Result<()> {
    let languages = s.languages();
    let panel_h = |l: Language| PANEL_FRAME_H + ROW_H * s.entries_of(l).count() as u32;
    let height = TITLE_H + languages.iter().map(|l| panel_h(*l)).sum::<u32>() + 8;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let draw = || -> DrawResult {
        root.fill(&WHITE)?;
        let shared_inputs = languages.len() > 1 && {
            let inputs: Vec<_> = languages
                .iter()
                .map(|l| s.reference(*l).and_then(Entry::inputs))
                .collect();
            inputs.iter().all(|i| i.is_some() && *i == inputs[0])
        };
        let title = if languages.len() > 1 && !shared_inputs {
            format!(
                "{}: mean wall time (lower is better); each language on its own time scale: \
                 their inputs differ",
                s.name
            )
        } else {
            format!("{}: mean wall time (lower is better)", s.name)
        };
        root.draw(&Text::new(
            title,
            (12, 8),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        legend(&root, s)?;
        let shared_axis = shared_inputs.then(|| Axis::for_entries(s.entries.iter()));
        // The title and legend take the top strip; the panels stack below it.
        let (_, mut rest) = root.split_vertically(TITLE_H);
        for language in &languages {
            let (panel, below) = rest.split_vertically(panel_h(*language));
            let own_axis;
            let axis = match &shared_axis {
                Some(a) => a,
                None => {
                    own_axis = Axis::for_entries(s.entries_of(*language));
                    &own_axis
                }
            };
            if axis.log {
                let x = (axis.lo..axis.hi).log_scale();
                draw_panel(&root, &panel, s, *language, axis, x)?;
            } else {
                draw_panel(&root, &panel, s, *language, axis, axis.lo..axis.hi)?;
            }
            rest = below;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

/// A swatch per model that appears, so colours read without the table. Bars are coloured by
/// the crate that ran them, as their names read (`multiprocessing-rayon` is red), even where
/// the verdicts count a run as the model it really ran (rayon is threads).
fn legend(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, s: &Scenario) -> DrawResult {
    let mut models: Vec<Option<Model>> = s.entries.iter().map(Entry::model).collect();
    models.sort();
    models.dedup();
    let mut x = 12;
    let y = 32;
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    for m in models {
        root.draw(&Rectangle::new(
            [(x, y), (x + 12, y + 12)],
            colour(m).filled(),
        ))?;
        let name = m.map_or("other", Model::name);
        root.draw(&Text::new(name, (x + 17, y), font.clone()))?;
        x += 34 + 7 * name.len() as i32;
    }
    root.draw(&Text::new(
        "whiskers: ±σ · label: mean, speedup over the same language's serial run",
        (x + 12, y),
        ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    Ok(())
}

/// One language's bars. Generic over the time axis, which is linear or logarithmic.
fn draw_panel<X>(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    panel: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    s: &Scenario,
    language: Language,
    axis: &Axis,
    x_spec: X,
) -> DrawResult
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let entries: Vec<&Entry> = s.entries_of(language).collect();
    let n = entries.len();
    let mut caption = language.label().to_string();
    if let Some(inputs) = s.reference(language).and_then(Entry::inputs) {
        caption.push_str(&format!(" · {inputs}"));
    }
    let mut c = ChartBuilder::on(panel)
        .caption(
            caption,
            ("sans-serif", 15).into_font().style(FontStyle::Bold),
        )
        .margin_top(6)
        .margin_left(8)
        .margin_right(16)
        .x_label_area_size(34)
        .y_label_area_size(NAME_W)
        .build_cartesian_2d(x_spec, 0.0..n as f64)?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc(axis.description())
        .x_label_formatter(&tick)
        // Fixed sizes: plotters' defaults scale with the panel, unreadably small for one bar.
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 12))
        .light_line_style(WHITE)
        .draw()?;
    // Row 0 is the top of the panel: y counts upwards, so entry i sits at n - 1 - i.
    let y = |i: usize| (n - 1 - i) as f64;
    // Bars and whiskers start at the axis' left end: 0, or the log axis' first power of ten.
    let at = |v: f64| (v * axis.scale).max(axis.lo);
    c.draw_series(entries.iter().enumerate().map(|(i, e)| {
        Rectangle::new(
            [(axis.lo, y(i) + 0.18), (at(e.bench.mean), y(i) + 0.82)],
            colour(e.model()).filled(),
        )
    }))?;
    let whisker = BLACK.stroke_width(1);
    for (i, e) in entries.iter().enumerate() {
        let (lo, hi) = (
            at(e.bench.mean - e.bench.stddev),
            at(e.bench.mean + e.bench.stddev),
        );
        let mid = y(i) + 0.5;
        c.draw_series([
            PathElement::new(vec![(lo, mid), (hi, mid)], whisker),
            PathElement::new(vec![(lo, mid - 0.15), (lo, mid + 0.15)], whisker),
            PathElement::new(vec![(hi, mid - 0.15), (hi, mid + 0.15)], whisker),
        ])?;
    }
    let value_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    c.draw_series(entries.iter().enumerate().map(|(i, e)| {
        let label = match s.speedup(e) {
            Some(sp) => format!("{} · {}x", seconds(e.bench.mean), ratio(sp)),
            None => seconds(e.bench.mean),
        };
        EmptyElement::at((at(e.bench.mean + e.bench.stddev), y(i) + 0.5))
            + Text::new(label, (8, 0), value_style.clone())
    }))?;
    // The names, right-aligned against the axis: drawn on the whole image at the pixel the
    // chart maps each row to, as plotters' own tick labels cannot be placed on a row's middle.
    let name_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, e) in entries.iter().enumerate() {
        let (px, py) = c.backend_coord(&(axis.lo, y(i) + 0.5));
        root.draw(&Text::new(
            e.bench.name.clone(),
            (px - 8, py),
            name_style.clone(),
        ))?;
    }
    Ok(())
}
