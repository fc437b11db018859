//! The per-scenario chart: an SVG bar chart of mean wall times with ±σ whiskers, drawn with
//! plotters' SVG backend (no system fonts or C libraries needed to write it).

use super::markdown::seconds;
use super::run::Scenario;
use crate::table::Model;
use anyhow::Result;
use std::path::Path;

/// An SVG bar chart of one scenario's mean wall times, with ±σ whiskers.
pub fn chart(s: &Scenario, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let n = s.entries.len();
    let height = 90 + 36 * n as u32;
    let root = SVGBackend::new(path, (820, height)).into_drawing_area();
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let xmax = s
            .entries
            .iter()
            .map(|e| e.bench.mean + e.bench.stddev)
            .fold(0.0, f64::max)
            * 1.15;
        // Segment 0 is the bottom of the chart: list the entries from the top down.
        let row = |i: usize| n - 1 - i;
        let names: Vec<String> = s
            .entries
            .iter()
            .rev()
            .map(|e| e.bench.name.clone())
            .collect();
        let mut c = ChartBuilder::on(&root)
            .caption(
                format!("{}: mean wall time (lower is better)", s.name),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..xmax.max(1e-6), (0..n).into_segmented())?;
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("seconds")
            .draw()?;
        let palette = |model: Option<Model>| match model {
            Some(Model::Serial) => RGBColor(120, 120, 120),
            Some(Model::Threading) => RGBColor(31, 119, 180),
            Some(Model::Multiprocessing) => RGBColor(214, 39, 40),
            Some(Model::Asyncio) => RGBColor(44, 160, 44),
            None => RGBColor(148, 103, 189),
        };
        c.draw_series(s.entries.iter().enumerate().map(|(i, e)| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row(i))),
                    (e.bench.mean, SegmentValue::Exact(row(i) + 1)),
                ],
                palette(e.model()).filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            bar
        }))?;
        c.draw_series(s.entries.iter().enumerate().map(|(i, e)| {
            ErrorBar::new_horizontal(
                SegmentValue::CenterOf(row(i)),
                (e.bench.mean - e.bench.stddev).max(0.0),
                e.bench.mean,
                e.bench.mean + e.bench.stddev,
                BLACK.stroke_width(1),
                8,
            )
        }))?;
        let label = TextStyle::from(("sans-serif", 13).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ),
        );
        c.draw_series(s.entries.iter().enumerate().map(|(i, e)| {
            // The value, a few pixels right of the whisker's end.
            EmptyElement::at((
                e.bench.mean + e.bench.stddev,
                SegmentValue::CenterOf(row(i)),
            )) + Text::new(seconds(e.bench.mean), (10, 0), label.clone())
        }))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}
