//! The per-scenario chart: what matters in that scenario, per model, as horizontal bars in
//! columns that share the rows' names. One panel per language (Python above Rust), bars
//! coloured by model with a legend. Drawn with plotters' SVG backend (no system fonts or C
//! libraries needed to write it).
//!
//! The columns ([`columns`], data apart from drawing so tests can check it):
//!
//! - **wall time**: mean with ±σ whiskers, labelled with the speedup over the same language's
//!   serial run. For chat the timed command is the load client, so this column is the burst's
//!   **throughput** instead (deliveries per second, higher is better);
//! - **CPU time**: user (dark) and system (light) seconds per run, stacked, children included;
//!   for chat the server's, per load run (its whole life's CPU over the runs it served);
//! - **memory**: the peak, PSS for runs with child processes (filled) with summed RSS as an
//!   outline where the summary has both; for chat the server's;
//! - **latency**, where the summaries have it: p50 (dark) and p99 (light). For chat that is
//!   the burst's: mostly the time a message waited in line (the paced latency is in the
//!   chat-capacity sweep).
//!
//! A column's axis is logarithmic when its values span more than [`LOG_SPAN`]. The panels share
//! each axis when both languages ran the same inputs; otherwise each has its own, and the
//! title says so, because Python's smaller inputs would make a shared axis claim a comparison
//! the report refuses to make.

use super::markdown::{ratio, seconds};
use super::run::{Entry, Language, Scenario};
use crate::table::Model;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::path::Path;

const TITLE_H: u32 = 58;
/// Room for the language caption, the column titles and the axes of a panel.
const PANEL_FRAME_H: u32 = 100;
const ROW_H: u32 = 30;
/// Room left of the bars for names like `python-multiprocessing-rayon`.
const NAME_W: u32 = 215;
const COLUMN_W: u32 = 285;

/// The colour of a model, the same in every chart.
pub fn colour(model: Option<Model>) -> RGBColor {
    match model {
        Some(Model::Serial) => RGBColor(120, 120, 120),
        Some(Model::Threading) => RGBColor(31, 119, 180),
        Some(Model::Multiprocessing) => RGBColor(214, 39, 40),
        Some(Model::Asyncio) => RGBColor(44, 160, 44),
        None => RGBColor(148, 103, 189),
    }
}

/// The model a bar is coloured by: the summary's, or, where that names no model of the chapter
/// (the chat load client's summary names the server, `python-asyncio`), the hyperfine name's.
fn model(e: &Entry) -> Option<Model> {
    e.model().or_else(|| {
        let name = &e.bench.name;
        let bare = name.strip_prefix(e.language.name_prefix()).unwrap_or(name);
        Model::from_name(bare.split('-').next().unwrap_or(bare))
    })
}

/// The lighter shade of a colour, for a bar's second part (system time, p99).
fn light(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.55) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// What a column measures: how its values read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantity {
    /// Seconds.
    Time,
    /// KiB.
    Memory,
    /// Milliseconds.
    Latency,
    /// Per second.
    Throughput,
}

/// One entry's bar in a column, in the column's base unit (s, KiB, ms, per s).
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The filled bar's parts from the axis' start, each ending at its value: the first in
    /// the model's colour, a second in its lighter shade (user then system, p50 then p99).
    pub parts: Vec<f64>,
    /// An outlined bar behind the filled one (summed RSS behind PSS).
    pub outline: Option<f64>,
    /// ±σ.
    pub whisker: Option<(f64, f64)>,
    pub label: String,
}

/// One column of the chart: a title and a cell per entry, in the scenario's entry order.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub title: String,
    pub quantity: Quantity,
    pub cells: Vec<Option<Cell>>,
}

fn num(s: Option<&scenarios::Summary>, key: &str) -> Option<f64> {
    s?.extra.get(key).and_then(Value::as_f64)
}

/// The memory a run reports, in KiB: the peak (PSS for child processes, as the summary
/// counts them) and, where the summary has both, the same peak with the children's summed RSS.
pub fn memory_kib(s: &scenarios::Summary) -> (f64, Option<f64>) {
    let peak = s.max_rss_kib as f64;
    match (
        num(Some(s), "children_pss_kib"),
        num(Some(s), "children_rss_kib"),
    ) {
        (Some(pss), Some(rss)) => (peak, Some(peak - pss + rss)),
        _ => (peak, None),
    }
}

fn mib_label(kib: f64) -> String {
    let m = kib / 1024.0;
    if m >= 100.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

fn ms_label(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The chat server's CPU per load run: its whole life's user and system time, divided by the
/// runs it served (clients served over clients per run).
fn server_cpu_per_run(e: &Entry) -> Option<(f64, f64)> {
    let server = e.server.as_ref()?;
    let served = num(Some(server), "clients_served")?;
    let clients = num(e.summary.as_ref(), "clients")?;
    let runs = (served / clients).max(1.0);
    Some((server.user_s / runs, server.sys_s / runs))
}

/// The columns of scenario `s`.
pub fn columns(s: &Scenario) -> Vec<Column> {
    let chat = s.name == "chat";
    let mut cols = Vec::new();
    if chat {
        cols.push(Column {
            title: "burst throughput, deliveries/s (higher is better)".into(),
            quantity: Quantity::Throughput,
            cells: s
                .entries
                .iter()
                .map(|e| {
                    let d = num(e.summary.as_ref(), "deliveries_per_s")?;
                    Some(Cell {
                        parts: vec![d],
                        outline: None,
                        whisker: None,
                        label: format!("{:.2} M/s", d / 1e6),
                    })
                })
                .collect(),
        });
    } else {
        cols.push(Column {
            title: "wall time, mean ± σ".into(),
            quantity: Quantity::Time,
            cells: s
                .entries
                .iter()
                .map(|e| {
                    let b = &e.bench;
                    Some(Cell {
                        parts: vec![b.mean],
                        outline: None,
                        whisker: Some((b.mean - b.stddev, b.mean + b.stddev)),
                        label: match s.speedup(e) {
                            Some(sp) => format!("{} · {}x", seconds(b.mean), ratio(sp)),
                            None => seconds(b.mean),
                        },
                    })
                })
                .collect(),
        });
    }
    cols.push(Column {
        title: if chat {
            "server CPU per run: user + system".into()
        } else {
            "CPU time per run: user + system".into()
        },
        quantity: Quantity::Time,
        cells: s
            .entries
            .iter()
            .map(|e| {
                let (user, system) = if chat {
                    server_cpu_per_run(e)?
                } else {
                    (e.bench.user, e.bench.system)
                };
                Some(Cell {
                    parts: vec![user, user + system],
                    outline: None,
                    whisker: None,
                    label: format!("{} + {}", seconds(user), seconds(system)),
                })
            })
            .collect(),
    });
    cols.push(Column {
        title: if chat {
            "server peak memory, MiB: PSS (RSS outlined)".into()
        } else {
            "peak memory, MiB: PSS (RSS outlined)".into()
        },
        quantity: Quantity::Memory,
        cells: s
            .entries
            .iter()
            .map(|e| {
                let (peak, rss) = memory_kib(e.own_summary()?);
                Some(Cell {
                    parts: vec![peak],
                    outline: rss,
                    whisker: None,
                    label: match rss {
                        Some(r) => format!("{} (RSS {})", mib_label(peak), mib_label(r)),
                        None => mib_label(peak),
                    },
                })
            })
            .collect(),
    });
    let latency: Vec<Option<Cell>> = s
        .entries
        .iter()
        .map(|e| {
            let p50 = num(e.summary.as_ref(), "latency_p50_ms")?;
            let p99 = num(e.summary.as_ref(), "latency_p99_ms")?;
            Some(Cell {
                parts: vec![p50, p99.max(p50)],
                outline: None,
                whisker: None,
                label: format!("{} / {} ms", ms_label(p50), ms_label(p99)),
            })
        })
        .collect();
    if latency.iter().any(Option::is_some) {
        cols.push(Column {
            title: if chat {
                "latency in the burst, ms: p50 / p99".into()
            } else {
                "latency, ms: p50 / p99".into()
            },
            quantity: Quantity::Latency,
            cells: latency,
        });
    }
    cols
}

/// A column's axis over some of its cells.
struct Axis {
    lo: f64,
    hi: f64,
    /// Base unit to shown unit.
    scale: f64,
    unit: &'static str,
    log: bool,
}

/// Largest over smallest value beyond which an axis is logarithmic: on a linear one a 20 s
/// serial run leaves the concurrent runs' bars a pixel long.
const LOG_SPAN: f64 = 20.0;

impl Axis {
    fn new(quantity: Quantity, cells: &[&Cell]) -> Axis {
        let (mut shortest, mut longest) = (f64::MAX, 0.0_f64);
        for c in cells {
            let end = c
                .parts
                .iter()
                .copied()
                .chain(c.outline)
                .chain(c.whisker.map(|w| w.1))
                .fold(0.0, f64::max);
            let first = c.parts.first().copied().unwrap_or(end);
            if first > 0.0 {
                shortest = shortest.min(first);
            }
            longest = longest.max(end);
        }
        let longest = longest.max(1e-9);
        let shortest = shortest.clamp(1e-12, longest);
        let (scale, unit) = match quantity {
            Quantity::Time if longest < 1.0 => (1000.0, "ms"),
            Quantity::Time => (1.0, "s"),
            Quantity::Memory => (1.0 / 1024.0, "MiB"),
            Quantity::Latency => (1.0, "ms"),
            Quantity::Throughput => (1e-6, "M/s"),
        };
        if longest / shortest > LOG_SPAN {
            // From the power of ten below the shortest bar, with room right of the longest for
            // its label.
            let lo = 10f64.powf((shortest * scale * 0.8).log10().floor());
            let top = longest * scale;
            let hi = top * (top / lo).powf(0.45);
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
                hi: longest * scale * 1.8,
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
    let cols = columns(s);
    let panel_h = |l: Language| PANEL_FRAME_H + ROW_H * s.entries_of(l).count() as u32;
    let height = TITLE_H + languages.iter().map(|l| panel_h(*l)).sum::<u32>() + 8;
    let width = NAME_W + COLUMN_W * cols.len() as u32 + 10;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    let draw = || -> DrawResult {
        root.fill(&WHITE)?;
        let shared_inputs = languages.len() > 1 && {
            let inputs: Vec<_> = languages
                .iter()
                .map(|l| s.reference(*l).and_then(Entry::inputs))
                .collect();
            inputs.iter().all(|i| i.is_some() && *i == inputs[0])
        };
        let what = if s.name == "chat" {
            "the burst (every sender at once) per server"
        } else {
            "wall time, CPU time and memory per model (lower is better)"
        };
        let title = if languages.len() > 1 && !shared_inputs {
            format!(
                "{}: {what}; each language on its own time scale: their inputs differ",
                s.name
            )
        } else {
            format!("{}: {what}", s.name)
        };
        root.draw(&Text::new(
            title,
            (12, 8),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        legend(&root, s)?;
        let (_, mut rest) = root.split_vertically(TITLE_H);
        for language in &languages {
            let (panel, below) = rest.split_vertically(panel_h(*language));
            draw_panel(&root, &panel, s, &cols, *language, shared_inputs)?;
            rest = below;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

/// A swatch per model that appears, so colours read without the table, and how a bar's parts
/// read. Bars are coloured by the crate that ran them, as their names read
/// (`multiprocessing-rayon` is red), even where the verdicts count a run as the model it
/// really ran (rayon is threads).
fn legend(root: &DrawingArea<SVGBackend, Shift>, s: &Scenario) -> DrawResult {
    let mut models: Vec<Option<Model>> = s.entries.iter().map(model).collect();
    models.sort();
    models.dedup();
    let mut x = 12;
    let y = 34;
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
    let grey = RGBColor(120, 120, 120);
    root.draw(&Rectangle::new(
        [(x + 8, y), (x + 20, y + 12)],
        grey.filled(),
    ))?;
    root.draw(&Rectangle::new(
        [(x + 20, y), (x + 32, y + 12)],
        light(grey).filled(),
    ))?;
    root.draw(&Text::new(
        "dark + light: user + system CPU, or p50 + p99 · outline: summed RSS · whiskers: ±σ · \
         ×: speedup vs serial",
        (x + 38, y),
        ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    Ok(())
}

/// One language's panel: its caption, then a column per quantity.
fn draw_panel(
    root: &DrawingArea<SVGBackend, Shift>,
    panel: &DrawingArea<SVGBackend, Shift>,
    s: &Scenario,
    cols: &[Column],
    language: Language,
    shared: bool,
) -> DrawResult {
    let mut caption = language.label().to_string();
    if let Some(inputs) = s.reference(language).and_then(Entry::inputs) {
        caption.push_str(&format!(" · {inputs}"));
    }
    panel.draw(&Text::new(
        caption,
        (12, 6),
        ("sans-serif", 15)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
    ))?;
    let (_, body) = panel.split_vertically(26);
    let (_, columns_area) = body.split_horizontally(NAME_W);
    let areas = columns_area.split_evenly((1, cols.len().max(1)));
    // Row i of the panel holds the language's i-th entry; `index` maps it to the scenario's.
    let index: Vec<usize> = s
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.language == language)
        .map(|(i, _)| i)
        .collect();
    for (k, (col, area)) in cols.iter().zip(areas.iter()).enumerate() {
        let cells: Vec<Option<&Cell>> = index.iter().map(|&i| col.cells[i].as_ref()).collect();
        let scope: Vec<&Cell> = if shared {
            col.cells.iter().flatten().collect()
        } else {
            cells.iter().copied().flatten().collect()
        };
        let axis = Axis::new(col.quantity, &scope);
        let rows = Rows {
            colours: index
                .iter()
                .map(|&i| colour(model(&s.entries[i])))
                .collect(),
            names: (k == 0).then(|| {
                let names = index.iter().map(|&i| s.entries[i].bench.name.clone());
                (root, names.collect())
            }),
        };
        if axis.log {
            let x = (axis.lo..axis.hi).log_scale();
            draw_column(area, col, &cells, &axis, x, &rows)?;
        } else {
            draw_column(area, col, &cells, &axis, axis.lo..axis.hi, &rows)?;
        }
    }
    Ok(())
}

/// A panel's rows: each one's colour (its model's), and the names, drawn once beside the first
/// column on the whole image.
struct Rows<'a, 'b> {
    colours: Vec<RGBColor>,
    names: Option<(&'a DrawingArea<SVGBackend<'b>, Shift>, Vec<String>)>,
}

/// One column of one panel. Generic over the axis, which is linear or logarithmic.
fn draw_column<X>(
    area: &DrawingArea<SVGBackend, Shift>,
    col: &Column,
    cells: &[Option<&Cell>],
    axis: &Axis,
    x_spec: X,
    rows: &Rows<'_, '_>,
) -> DrawResult
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let n = cells.len();
    let mut c = ChartBuilder::on(area)
        .caption(col.title.clone(), ("sans-serif", 13).into_font())
        .margin_left(4)
        .margin_right(14)
        .x_label_area_size(34)
        .build_cartesian_2d(x_spec, 0.0..n.max(1) as f64)?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(5)
        .x_desc(axis.description())
        .x_label_formatter(&tick)
        // Fixed sizes: plotters' defaults scale with the panel, unreadably small for one bar.
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 12))
        .light_line_style(WHITE)
        .draw()?;
    // Row 0 is the top of the panel: y counts upwards, so row i sits at n - 1 - i.
    let y = |i: usize| (n - 1 - i) as f64;
    // Bars start at the axis' left end: 0, or the log axis' first power of ten.
    let at = |v: f64| (v * axis.scale).max(axis.lo);
    let value_style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = cell else { continue };
        let base = rows.colours[i];
        if let Some(o) = cell.outline {
            c.draw_series([Rectangle::new(
                [(axis.lo, y(i) + 0.14), (at(o), y(i) + 0.86)],
                base.stroke_width(1),
            )])?;
        }
        let mut from = axis.lo;
        for (k, &end) in cell.parts.iter().enumerate() {
            let shade = if k == 0 { base } else { light(base) };
            let to = at(end);
            if to > from {
                c.draw_series([Rectangle::new(
                    [(from, y(i) + 0.2), (to, y(i) + 0.8)],
                    shade.filled(),
                )])?;
            }
            from = from.max(to);
        }
        let mut label_at = from.max(cell.outline.map_or(axis.lo, at));
        if let Some((lo, hi)) = cell.whisker {
            let (lo, hi, mid) = (at(lo), at(hi), y(i) + 0.5);
            let w = BLACK.stroke_width(1);
            c.draw_series([
                PathElement::new(vec![(lo, mid), (hi, mid)], w),
                PathElement::new(vec![(lo, mid - 0.15), (lo, mid + 0.15)], w),
                PathElement::new(vec![(hi, mid - 0.15), (hi, mid + 0.15)], w),
            ])?;
            label_at = label_at.max(hi);
        }
        c.draw_series([EmptyElement::at((label_at, y(i) + 0.5))
            + Text::new(cell.label.clone(), (6, 0), value_style.clone())])?;
    }
    if let Some((root, names)) = &rows.names {
        // The names, right-aligned against the first column's axis: drawn on the whole image
        // at the pixel the chart maps each row to, as plotters' own tick labels cannot be
        // placed on a row's middle.
        let name_style = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in names.iter().enumerate() {
            let (px, py) = c.backend_coord(&(axis.lo, y(i) + 0.5));
            root.draw(&Text::new(name.clone(), (px - 10, py), name_style.clone()))?;
        }
    }
    Ok(())
}
