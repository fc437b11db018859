//! Line charts for the scale curves: panels side by side, each a value against N on
//! logarithmic axes (N spans 100 to 20,000 clients, or 1,000 to 1,000,000 tasks; latency and
//! memory span as many decades), one line per model, Rust's solid with filled dots and
//! Python's dashed with hollow ones, coloured by model as in the bar charts. A bound (250 ms)
//! is a grey dashed line across the panel; a point that gave no value (clients not let in, a
//! thread that could not start) is a cross at the top of the panel, named in the legend.
//!
//! The drawing is separate from the data ([`Panel`], [`Series`]), which the report builds and
//! its tests check.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One line: a model's values against N.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub colour: RGBColor,
    /// Python's lines are dashed, Rust's solid.
    pub dashed: bool,
    /// (N, value), by N.
    pub points: Vec<(f64, f64)>,
    /// N where the model gave no value (drawn as a cross at the panel's top), and why.
    pub stopped: Option<(f64, String)>,
}

/// One panel: a value against N.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// A horizontal line (a bound, a target) and its label.
    pub bound: Option<(f64, String)>,
}

const PANEL_W: u32 = 600;
const PANEL_H: u32 = 470;
const TITLE_H: u32 = 40;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The log axis' range around `values`: from the power of ten at or below the smallest to the
/// one at or above the largest, so every decade is labelled.
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (1.0, 10.0);
    }
    let lo = 10f64.powf(lo.log10().floor());
    let mut hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    (lo, hi)
}

/// A tick label: "100", "1k", "20k", "1M", "0.5", "0.01".
pub fn tick(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if v >= 1e3 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if v >= 1.0 {
        trim(format!("{v:.1}"))
    } else {
        let digits = (1 - v.max(1e-12).log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.digits$}"))
    }
}

/// The values a panel's y axis must show: its points and its bound.
fn y_values(p: &Panel) -> Vec<f64> {
    let mut v: Vec<f64> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.1))
        .collect();
    if let Some((b, _)) = &p.bound {
        v.push(*b);
    }
    v
}

fn x_values(p: &Panel) -> Vec<f64> {
    p.series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|q| q.0)
                .chain(s.stopped.as_ref().map(|x| x.0))
        })
        .collect()
}

/// The legend's lines of a panel: a series, and a series' stop, each get one.
fn legend_lines(p: &Panel) -> usize {
    p.series
        .iter()
        .map(|s| 1 + usize::from(s.stopped.is_some()))
        .sum()
}

const LEGEND_LINE_H: u32 = 19;

/// Draw `panels` side by side under `title` into an SVG at `path`.
pub fn draw(title: &str, panels: &[Panel], path: &Path) -> Result<()> {
    let width = PANEL_W * panels.len().max(1) as u32;
    // The legend goes under each panel, not on it, where it would hide the lines.
    let legend_h = panels.iter().map(legend_lines).max().unwrap_or(0) as u32 * LEGEND_LINE_H + 12;
    let root = SVGBackend::new(path, (width, TITLE_H + PANEL_H + legend_h)).into_drawing_area();
    let run = || -> DrawResult {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            title.to_string(),
            (12, 10),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        let (_, body) = root.split_vertically(TITLE_H);
        let areas = body.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            draw_panel(&root, panel, area)?;
        }
        root.present()?;
        Ok(())
    };
    run().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

/// A dashed line through `points` (pixels of the whole image): dashes of `on` pixels, gaps
/// of `off`, carried across the corners. plotters' own line series need a feature this
/// workspace does not build, and a path is all it takes.
fn dashed(
    root: &DrawingArea<SVGBackend, Shift>,
    points: &[(i32, i32)],
    on: f64,
    off: f64,
    style: ShapeStyle,
) -> DrawResult {
    let mut phase = 0.0; // how far into the current dash-and-gap period
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let len = dx.hypot(dy);
        let mut t = 0.0;
        while t < len {
            let period_left = if phase < on {
                on - phase
            } else {
                on + off - phase
            };
            let step = period_left.min(len - t);
            if phase < on {
                let p = |u: f64| {
                    (
                        a.0 + (dx * u / len).round() as i32,
                        a.1 + (dy * u / len).round() as i32,
                    )
                };
                root.draw(&PathElement::new(vec![p(t), p(t + step)], style))?;
            }
            t += step;
            phase = (phase + step) % (on + off);
        }
    }
    Ok(())
}

/// A line's sample for the legend: a short stretch of it and its dot.
fn sample(area: &DrawingArea<SVGBackend, Shift>, s: &Series, (x, y): (i32, i32)) -> DrawResult {
    let style = s.colour.stroke_width(2);
    if s.dashed {
        area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], style))?;
        area.draw(&PathElement::new(vec![(x + 16, y), (x + 26, y)], style))?;
        area.draw(&Circle::new((x + 13, y), 4, style))?;
    } else {
        area.draw(&PathElement::new(vec![(x, y), (x + 26, y)], style))?;
        area.draw(&Circle::new((x + 13, y), 4, s.colour.filled()))?;
    }
    Ok(())
}

fn legend(area: &DrawingArea<SVGBackend, Shift>, p: &Panel) -> DrawResult {
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let style = font.pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 8 + LEGEND_LINE_H as i32 / 2;
    for s in &p.series {
        sample(area, s, (72, y))?;
        area.draw(&Text::new(s.label.clone(), (106, y), style.clone()))?;
        y += LEGEND_LINE_H as i32;
        if let Some((x, why)) = &s.stopped {
            area.draw(&Cross::new((85, y), 6, s.colour.stroke_width(3)))?;
            area.draw(&Text::new(
                format!("{}: none from {} on ({why})", s.label, tick(*x)),
                (106, y),
                style.clone(),
            ))?;
            y += LEGEND_LINE_H as i32;
        }
    }
    Ok(())
}

fn draw_panel(
    root: &DrawingArea<SVGBackend, Shift>,
    p: &Panel,
    whole: &DrawingArea<SVGBackend, Shift>,
) -> DrawResult {
    let (area, below) = whole.split_vertically(PANEL_H);
    legend(&below, p)?;
    // Whole decades, padded a little so no point sits on the frame.
    let (x_lo, x_hi) = decades(x_values(p).into_iter());
    let (y_lo, y_hi) = decades(y_values(p).into_iter());
    let (x_lo, x_hi, y_lo, y_hi) = (x_lo / 1.25, x_hi * 1.25, y_lo / 1.4, y_hi * 1.4);
    let mut c = ChartBuilder::on(&area)
        .caption(
            p.title.clone(),
            ("sans-serif", 15).into_font().style(FontStyle::Bold),
        )
        .margin(10)
        .margin_right(22)
        .x_label_area_size(44)
        .y_label_area_size(62)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())?;
    c.configure_mesh()
        .x_desc(p.x_desc.clone())
        .y_desc(p.y_desc.clone())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    if let Some((b, label)) = &p.bound {
        let grey = RGBColor(110, 110, 110);
        let ends = [c.backend_coord(&(x_lo, *b)), c.backend_coord(&(x_hi, *b))];
        dashed(root, &ends, 6.0, 4.0, grey.stroke_width(2))?;
        let style = ("sans-serif", 13)
            .into_font()
            .color(&grey)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        // At the right end, where the lines of small N (the left) are not.
        c.draw_series([EmptyElement::at((x_hi, *b)) + Text::new(label.clone(), (-6, -3), style)])?;
    }
    for s in &p.series {
        let style = s.colour.stroke_width(2);
        let pts = s.points.clone();
        if s.dashed {
            let px: Vec<(i32, i32)> = pts.iter().map(|q| c.backend_coord(q)).collect();
            dashed(root, &px, 8.0, 5.0, style)?;
        } else {
            c.draw_series([PathElement::new(pts.clone(), style)])?;
        }
        let (colour, dashed) = (s.colour, s.dashed);
        c.draw_series(pts.iter().map(|&(x, y)| {
            if dashed {
                Circle::new((x, y), 4, colour.stroke_width(2))
            } else {
                Circle::new((x, y), 4, colour.filled())
            }
        }))?;
        if let Some((x, _)) = &s.stopped {
            // At the top of the panel: there is no value to put it at.
            c.draw_series([Cross::new((*x, y_hi / 1.25), 7, colour.stroke_width(3))])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_short() {
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(20_000.0), "20k");
        assert_eq!(tick(1_000_000.0), "1M");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(0.01), "0.01");
        assert_eq!(tick(2.5), "2.5");
    }

    #[test]
    fn log_ranges_cover_whole_decades() {
        assert_eq!(decades([120.0, 19_900.0].into_iter()), (100.0, 100_000.0));
        assert_eq!(decades([0.46, 26.0].into_iter()), (0.1, 100.0));
        assert_eq!(decades(std::iter::empty()), (1.0, 10.0));
    }
}
