//! `decision-table report DIR`: turn a run of `scripts/compare.sh` into `DIR/REPORT.md`.
//!
//! The harness leaves, in `DIR`:
//!
//! - `meta.json`: the machine, tool versions, commit, mode (quick or full), and run time;
//! - `hyperfine/<scenario>.json`: hyperfine's export, one benchmark per model and variant, each
//!   named with `-n` (`threading`, `threading-gil`, `multiprocessing-rayon`, ...);
//! - `summaries/<scenario>/<name>.json`: the `--json` summary (the output contract) of one run of
//!   that same command, taken before timing, which gives the digest, workers and peak memory.
//!
//! From these the report writes, per scenario, a table (mean ± σ, speedup vs serial, speedup
//! per worker, CPU time, peak memory, digest check) and an SVG bar chart, then the chapter's
//! decision table with the measured winner of every row the workspace covers. It also writes
//! `verdicts.json`, which `decision-table` with no arguments prints beside the chapter's table.
//!
//! Both hyperfine JSON layouts are read: 1.x (`{"results": [...]}`) and 2.0, which adds
//! `schema_version` and `metadata` beside the results and may name a benchmark in
//! `command_name`.
//!
//! `cargo run -p decision-table -- report results`

use scenarios::Summary;
use scenarios::files::write_atomically;
use crate::table::{ROWS, Row};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One benchmark of a hyperfine export.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub name: String,
    pub command: String,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// Mean CPU seconds (user + system) per run, children included (hyperfine measures the
    /// whole process tree it waits for).
    pub cpu: f64,
    pub runs: usize,
}

/// Read a hyperfine JSON export, either layout.
pub fn parse_hyperfine(text: &str) -> Result<Vec<Bench>> {
    let doc: Value = serde_json::from_str(text).context("not JSON")?;
    let results = doc
        .get("results")
        .and_then(Value::as_array)
        .context("no \"results\" array: not a hyperfine export")?;
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let num = |key: &str| r.get(key).and_then(Value::as_f64);
            let command = r
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = r
                .get("command_name")
                .or_else(|| r.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| command.clone());
            let mean = num("mean").with_context(|| format!("result {i} ({name}) has no mean"))?;
            let runs = r.get("times").and_then(Value::as_array).map_or(0, Vec::len);
            Ok(Bench {
                name,
                command,
                mean,
                // A single run has no standard deviation (hyperfine writes null).
                stddev: num("stddev").unwrap_or(0.0),
                min: num("min").unwrap_or(mean),
                max: num("max").unwrap_or(mean),
                cpu: num("user").unwrap_or(0.0) + num("system").unwrap_or(0.0),
                runs,
            })
        })
        .collect()
}

/// What `scripts/compare.sh` records about the run: the machine and the tools.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Meta {
    pub mode: String,
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub rustc: String,
    pub hyperfine: String,
    pub commit: String,
    pub seconds: f64,
}

/// One model or variant of one scenario: its timing and its `--json` summary.
#[derive(Clone, Debug)]
pub struct Entry {
    pub bench: Bench,
    pub summary: Option<Summary>,
    /// For a server scenario (chat), the server's own summary, written when it stopped: its
    /// peak memory is the model's cost, not the load client's.
    pub server: Option<Summary>,
}

impl Entry {
    /// The crate that ran it: the summary's model, or the name up to its first '-'.
    pub fn model(&self) -> &str {
        match &self.summary {
            Some(s) => &s.model,
            None => self
                .bench
                .name
                .split('-')
                .next()
                .unwrap_or(&self.bench.name),
        }
    }

    /// The model the work really ran in, for judging the chapter's advice: the multiprocessing
    /// crate's rayon engine runs threads in one process, so it counts as threading.
    pub fn runs_as(&self) -> &str {
        let variant = self.summary.as_ref().map(|s| s.variant.as_str());
        if variant == Some("rayon") || self.bench.name.ends_with("-rayon") {
            "threading"
        } else {
            self.model()
        }
    }
}

/// Every model of one scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub entries: Vec<Entry>,
}

impl Scenario {
    /// The serial baseline, if the scenario has one.
    pub fn serial(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.model() == "serial")
    }

    /// The fastest entry by mean wall time.
    pub fn fastest(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .min_by(|a, b| a.bench.mean.total_cmp(&b.bench.mean))
    }

    /// Do all summaries carry the same digest? `None` when there is nothing to compare.
    pub fn digests_agree(&self) -> Option<bool> {
        let digests: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|e| e.summary.as_ref().map(|s| s.digest.as_str()))
            .collect();
        (digests.len() >= 2).then(|| digests.iter().all(|d| *d == digests[0]))
    }
}

/// Everything one run of the harness produced.
#[derive(Clone, Debug)]
pub struct Report {
    pub meta: Meta,
    pub scenarios: Vec<Scenario>,
}

/// The order scenarios appear in: the chapter's examples first, then the decision table's jobs.
const ORDER: [&str; 9] = [
    "cakes",
    "workers",
    "queue",
    "map",
    "matrix",
    "images",
    "downloads",
    "requests",
    "chat",
];

/// Read a results folder.
pub fn load(dir: &Path) -> Result<Report> {
    let meta = match std::fs::read_to_string(dir.join("meta.json")) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid", dir.join("meta.json").display()))?,
        Err(_) => Meta::default(),
    };
    let hdir = dir.join("hyperfine");
    let listing = std::fs::read_dir(&hdir).with_context(|| {
        format!(
            "no hyperfine results in {} (run scripts/compare.sh first)",
            hdir.display()
        )
    })?;
    let mut scenarios = Vec::new();
    for file in listing {
        let path = file?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("odd file name")?
            .to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let benches = parse_hyperfine(&text).with_context(|| format!("in {}", path.display()))?;
        let entries = benches
            .into_iter()
            .map(|bench| {
                let spath = dir
                    .join("summaries")
                    .join(&name)
                    .join(format!("{}.json", bench.name));
                let summary = read_summary(&spath)?;
                let server = read_summary(&spath.with_extension("server.json"))?;
                // hyperfine 1.x exports the -n name as "command": the harness keeps the real
                // command line beside the summary.
                let mut bench = bench;
                if let Ok(cmd) = std::fs::read_to_string(spath.with_extension("cmd")) {
                    bench.command = cmd.trim().to_string();
                }
                Ok(Entry {
                    bench,
                    summary,
                    server,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        scenarios.push(Scenario { name, entries });
    }
    if scenarios.is_empty() {
        bail!("{} holds no hyperfine exports", hdir.display());
    }
    let rank = |n: &str| ORDER.iter().position(|o| *o == n).unwrap_or(ORDER.len());
    scenarios.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
    Ok(Report { meta, scenarios })
}

/// A summary file, if it exists; an error if it exists but is not a summary.
fn read_summary(path: &Path) -> Result<Option<Summary>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(text.trim())
            .map(Some)
            .with_context(|| format!("{} is not a summary", path.display())),
        Err(_) => Ok(None),
    }
}

/// The scenario-specific figures worth a glance, from a run's summary (and its server's).
fn figures(e: &Entry) -> String {
    let Some(s) = &e.summary else {
        return "–".into();
    };
    let num = |k: &str| s.extra.get(k).and_then(Value::as_f64);
    let mut out = Vec::new();
    if let Some(g) = num("kernel_gflops") {
        out.push(format!("kernel {g:.1} GFLOP/s"));
    }
    if let Some(i) = num("ideal_s") {
        out.push(format!("ideal {}", seconds(i)));
    }
    if let Some(t) = num("os_threads") {
        out.push(format!("{t} threads"));
    }
    if let Some(p) = num("processes").filter(|p| *p > 1.0) {
        out.push(format!("{p} processes"));
    }
    if let Some(p) = num("latency_p99_ms") {
        out.push(format!("p99 {p:.1} ms"));
    }
    if let Some(d) = num("deliveries_per_s") {
        out.push(format!("{:.2} M deliveries/s", d / 1e6));
    }
    if let Some(l) = num("lost").filter(|l| *l > 0.0) {
        out.push(format!("{l} LOST"));
    }
    if let Some(t) = num("ticker_max_late_ms") {
        out.push(format!("event loop stalled {t:.0} ms"));
    }
    if out.is_empty() {
        "–".into()
    } else {
        out.join(", ")
    }
}

/// How one row of the chapter's table fared.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub job: String,
    pub chapter_choice: String,
    pub scenario: Option<String>,
    /// The fastest model and variant measured (the hyperfine name), if the row was measured.
    pub fastest: Option<String>,
    /// "agrees", "tie", "differs" or "not covered".
    pub verdict: String,
    pub why: String,
}

/// Two means are a tie when they are within 5% or within two standard deviations.
fn tie(a: &Bench, b: &Bench) -> bool {
    let gap = (a.mean - b.mean).abs();
    gap <= 0.05 * a.mean.min(b.mean) || gap <= 2.0 * (a.stddev + b.stddev)
}

fn explain(chapter: &str, fastest: &Entry, best_of_chapter: Option<&Entry>) -> String {
    let f = fastest.runs_as();
    let numbers = match best_of_chapter {
        Some(c) => format!(
            " ({} {:.3} s vs {} {:.3} s)",
            fastest.bench.name, fastest.bench.mean, c.bench.name, c.bench.mean
        ),
        None => String::new(),
    };
    let reason = match (chapter.contains("multiprocessing"), f) {
        (true, "threading") => {
            "Rust threads (and rayon, which runs on threads) have no GIL: they run CPU-bound code \
             on every core and share memory, so separate processes only add start-up and pipe \
             costs"
        }
        (true, "asyncio") => {
            "spawn_blocking hands CPU work to tokio's thread pool: threads again, with no GIL \
             to get around"
        }
        (_, "serial") => "the work is too small for any concurrency to pay for its set-up",
        (false, "threading") => {
            "threads wait on the network as well as tasks do at this concurrency; the cost of \
             threads shows in memory, not time"
        }
        (false, "asyncio") => {
            "tasks wait on the network as well as threads, and one thread drives every \
             connection"
        }
        (false, "multiprocessing") => {
            "waiting processes overlap like threads do; their cost shows in memory and start-up"
        }
        _ => "measured on this machine",
    };
    format!("{reason}{numbers}")
}

/// The chapter's rows with the measured winner where a scenario covers them.
pub fn verdicts(report: &Report) -> Vec<Verdict> {
    ROWS.iter().map(|row| verdict(row, report)).collect()
}

fn verdict(row: &Row, report: &Report) -> Verdict {
    let base = Verdict {
        job: row.job.into(),
        chapter_choice: row.chapter_choice.into(),
        scenario: row.scenario.map(str::to_string),
        fastest: None,
        verdict: "not covered".into(),
        why: "no scenario of this workspace measures this job yet".into(),
    };
    let Some(name) = row.scenario else {
        return base;
    };
    let Some(scenario) = report.scenarios.iter().find(|s| s.name == name) else {
        return Verdict {
            why: format!("the '{name}' scenario was not part of this run"),
            ..base
        };
    };
    let Some(fastest) = scenario.fastest() else {
        return base;
    };
    let choices: Vec<&str> = row.chapter_choice.split(" or ").collect();
    let best_of_chapter = scenario
        .entries
        .iter()
        .filter(|e| choices.contains(&e.runs_as()))
        .min_by(|a, b| a.bench.mean.total_cmp(&b.bench.mean));
    let (verdict, why) = if choices.contains(&fastest.runs_as()) {
        (
            "agrees",
            "the chapter's choice was the fastest here".to_string(),
        )
    } else if best_of_chapter.is_some_and(|c| tie(&c.bench, &fastest.bench)) {
        ("tie", explain(row.chapter_choice, fastest, best_of_chapter))
    } else {
        (
            "differs",
            explain(row.chapter_choice, fastest, best_of_chapter),
        )
    };
    Verdict {
        fastest: Some(fastest.bench.name.clone()),
        verdict: verdict.into(),
        why,
        ..base
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn seconds(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.2} s")
    } else if s >= 0.1 {
        format!("{s:.3} s")
    } else {
        format!("{:.1} ms", s * 1000.0)
    }
}

/// The scenario's table in Markdown.
pub fn scenario_table(s: &Scenario) -> String {
    let serial = s.serial().map(|e| e.bench.mean);
    let mut out = String::from(
        "| model | mean ± σ | speedup vs serial | speedup per worker | CPU time | peak memory | digest | figures |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    let agree = s.digests_agree();
    let reference = s
        .entries
        .iter()
        .find_map(|e| e.summary.as_ref().map(|x| x.digest.clone()));
    for e in &s.entries {
        let speedup = serial.map(|base| base / e.bench.mean);
        let workers = e.summary.as_ref().map(|x| x.workers.max(1));
        let per_worker = match (speedup, workers) {
            (Some(sp), Some(w)) => format!("{:.2}", sp / w as f64),
            _ => "–".into(),
        };
        let digest = match (&e.summary, &reference) {
            (Some(x), Some(r)) if agree.is_some() => {
                let short = x.digest.get(..12).unwrap_or(&x.digest);
                if &x.digest == r {
                    format!("✓ `{short}`")
                } else {
                    format!("✗ `{short}` differs")
                }
            }
            (Some(x), _) => format!("`{}`", x.digest.get(..12).unwrap_or(&x.digest)),
            (None, _) => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {}{} | {} ± {} | {} | {} | {} | {} | {} | {} |",
            e.bench.name,
            workers.map_or(String::new(), |w| format!(
                " ({w} worker{})",
                if w == 1 { "" } else { "s" }
            )),
            seconds(e.bench.mean),
            seconds(e.bench.stddev),
            speedup.map_or("–".into(), |v| format!("{v:.2}x")),
            per_worker,
            seconds(e.bench.cpu),
            match (&e.server, &e.summary) {
                (Some(server), _) => format!("{} (server)", mib(server.max_rss_kib)),
                (None, Some(x)) => mib(x.max_rss_kib),
                (None, None) => "–".into(),
            },
            digest,
            figures(e),
        );
    }
    out
}

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
        let palette = |model: &str| match model {
            "serial" => RGBColor(120, 120, 120),
            "threading" => RGBColor(31, 119, 180),
            "multiprocessing" => RGBColor(214, 39, 40),
            "asyncio" => RGBColor(44, 160, 44),
            _ => RGBColor(148, 103, 189),
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

/// The whole report in Markdown. `chart_dir` is where the charts are, relative to the report.
pub fn render(report: &Report, chart_dir: &str) -> String {
    let m = &report.meta;
    let mut out = String::from("# The decision table, measured\n\n");
    let _ = writeln!(
        out,
        "| machine | tools | run |\n| --- | --- | --- |\n| {} · {} cores · {:.0} GiB · {} | {} · hyperfine {} | {} mode · commit `{}` · {} · took {:.0} s |\n",
        or_unknown(&m.cpu),
        m.cores,
        m.memory_gib,
        or_unknown(&m.os),
        or_unknown(&m.rustc),
        or_unknown(&m.hyperfine),
        or_unknown(&m.mode),
        m.commit.get(..12).unwrap_or(or_unknown(&m.commit)),
        or_unknown(&m.date),
        m.seconds,
    );
    out.push_str(
        "Each scenario ran every model on the same inputs under hyperfine (wall time, mean ± σ \
         of the runs). *Speedup per worker* is the speedup over serial divided by the workers \
         the run used: 1.00 means every worker was fully used. CPU time is user + system per \
         run, child processes included; peak memory comes from the run's own summary and also \
         counts its children (for chat, the server's own peak; its CPU time is the load client's). The digest column \
         checks that every model computed the same result; *figures* are the scenario's own \
         (kernel speed, the ideal time, threads used, latency).\n\n",
    );
    out.push_str("## The chapter's decision table against the measurements\n\n");
    out.push_str("| job | chapter's choice | measured fastest | verdict | why |\n| --- | --- | --- | --- | --- |\n");
    for v in verdicts(report) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            v.job,
            v.chapter_choice,
            v.fastest.as_deref().unwrap_or("–"),
            v.verdict,
            v.why
        );
    }
    out.push('\n');
    for s in &report.scenarios {
        let _ = writeln!(out, "## {}\n", s.name);
        let _ = writeln!(out, "![{} chart]({chart_dir}/{}.svg)\n", s.name, s.name);
        out.push_str(&scenario_table(s));
        if s.digests_agree() == Some(false) {
            out.push_str("\n**The digests differ: the models did not compute the same result.**\n");
        }
        out.push_str("\n<details><summary>commands</summary>\n\n");
        for e in &s.entries {
            let _ = writeln!(
                out,
                "- `{}`: `{}` ({} runs)",
                e.bench.name, e.bench.command, e.bench.runs
            );
        }
        out.push_str("\n</details>\n\n");
    }
    out
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

/// Write `REPORT.md`, `charts/<scenario>.svg` and `verdicts.json` into `dir`.
pub fn write(dir: &Path) -> Result<PathBuf> {
    let report = load(dir)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts)
        .with_context(|| format!("cannot create {}", charts.display()))?;
    for s in &report.scenarios {
        chart(s, &charts.join(format!("{}.svg", s.name)))?;
    }
    let path = dir.join("REPORT.md");
    write_atomically(&path, render(&report, "charts").as_bytes())?;
    let verdicts = serde_json::to_vec_pretty(&verdicts(&report))?;
    write_atomically(&dir.join("verdicts.json"), &verdicts)?;
    Ok(path)
}

/// The chapter's table with the verdicts of the latest report in `dir`, if there is one.
pub fn table_with_verdicts(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("verdicts.json")).ok()?;
    let verdicts: Vec<Verdict> = serde_json::from_str(&text).ok()?;
    let by_job: BTreeMap<&str, &Verdict> = verdicts.iter().map(|v| (v.job.as_str(), v)).collect();
    let mut s = String::from(
        "The chapter's decision table, with the verdicts of the latest measured run:\n\n\
         | job | chapter's choice | measured fastest | verdict |\n| --- | --- | --- | --- |\n",
    );
    for row in ROWS {
        let v = by_job.get(row.job);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.job,
            row.chapter_choice,
            v.and_then(|v| v.fastest.as_deref()).unwrap_or("–"),
            v.map_or("not covered", |v| v.verdict.as_str()),
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"results":[
      {"command":"serial","mean":2.0,"stddev":0.01,"median":2.0,"user":1.9,"system":0.1,"min":1.99,"max":2.01,"times":[1.99,2.0,2.01],"exit_codes":[0,0,0]},
      {"command":"threading","mean":1.0,"stddev":null,"median":1.0,"user":1.9,"system":0.1,"min":1.0,"max":1.0,"times":[1.0],"exit_codes":[0]}]}"#;

    const V2: &str = r#"{"schema_version":"2.0","metadata":{"hyperfine_version":"2.0.0"},"results":[
      {"command_name":"serial","command":"./serial x","mean":2.0,"stddev":0.01,"user":1.9,"system":0.1,"min":1.99,"max":2.01,"times":[1.99,2.0,2.01]}]}"#;

    #[test]
    fn reads_both_layouts() {
        let v1 = parse_hyperfine(V1).unwrap();
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1].name, "threading");
        assert_eq!(v1[1].stddev, 0.0);
        assert_eq!(v1[0].runs, 3);
        assert!((v1[0].cpu - 2.0).abs() < 1e-9);
        let v2 = parse_hyperfine(V2).unwrap();
        assert_eq!(v2[0].name, "serial");
        assert_eq!(v2[0].command, "./serial x");
    }

    #[test]
    fn refuses_what_is_not_an_export() {
        assert!(parse_hyperfine("[]").is_err());
        assert!(parse_hyperfine("{\"results\":[{\"command\":\"x\"}]}").is_err());
        assert!(parse_hyperfine("nope").is_err());
    }

    fn bench(name: &str, mean: f64) -> Bench {
        Bench {
            name: name.into(),
            command: name.into(),
            mean,
            stddev: 0.0,
            min: mean,
            max: mean,
            cpu: mean,
            runs: 3,
        }
    }

    fn scenario(name: &str, entries: &[(&str, f64)]) -> Scenario {
        Scenario {
            name: name.into(),
            entries: entries
                .iter()
                .map(|(n, m)| Entry {
                    bench: bench(n, *m),
                    summary: None,
                    server: None,
                })
                .collect(),
        }
    }

    #[test]
    fn verdicts_agree_tie_differ_and_not_covered() {
        let report = Report {
            meta: Meta::default(),
            scenarios: vec![
                scenario(
                    "matrix",
                    &[
                        ("serial", 2.0),
                        ("threading", 1.0),
                        ("multiprocessing", 1.3),
                    ],
                ),
                scenario(
                    "images",
                    &[
                        ("serial", 2.0),
                        ("threading", 1.0),
                        ("multiprocessing", 1.02),
                    ],
                ),
                scenario(
                    "requests",
                    &[("serial", 9.0), ("asyncio", 1.0), ("threading", 1.5)],
                ),
            ],
        };
        let v = verdicts(&report);
        let get = |job: &str| v.iter().find(|v| v.job == job).unwrap().clone();
        // The scenario fields of the table decide which rows are measured; check the logic on
        // hand-made rows instead of depending on them.
        let row = |scenario: &'static str, choice: &'static str| Row {
            job: "x",
            chapter_choice: choice,
            why: "",
            scenario: Some(scenario),
        };
        assert_eq!(
            verdict(&row("matrix", "multiprocessing"), &report).verdict,
            "differs"
        );
        assert!(
            verdict(&row("matrix", "multiprocessing"), &report)
                .why
                .contains("no GIL")
        );
        assert_eq!(
            verdict(&row("images", "multiprocessing"), &report).verdict,
            "tie"
        );
        assert_eq!(
            verdict(&row("requests", "asyncio"), &report).verdict,
            "agrees"
        );
        assert_eq!(
            verdict(&row("requests", "asyncio or threading"), &report).verdict,
            "agrees"
        );
        assert_eq!(
            verdict(&row("chat", "asyncio"), &report).verdict,
            "not covered"
        );
        assert_eq!(get("Responsive GUI").verdict, "not covered");
        // rayon inside the multiprocessing crate is threads, not processes.
        let rayon = Report {
            meta: Meta::default(),
            scenarios: vec![scenario(
                "matrix",
                &[
                    ("serial", 2.0),
                    ("multiprocessing-rayon", 1.0),
                    ("multiprocessing", 1.4),
                ],
            )],
        };
        let v = verdict(&row("matrix", "multiprocessing"), &rayon);
        assert_eq!(v.verdict, "differs");
        assert!(v.why.contains("rayon"), "{}", v.why);
    }

    #[test]
    fn table_shows_speedup_and_digest_mismatch() {
        let mut s = scenario("cakes", &[("serial", 2.0), ("threading", 1.0)]);
        let summary = |model: &str, digest: &str, workers| Summary {
            scenario: "cakes".into(),
            model: model.into(),
            variant: "v".into(),
            workers,
            items: 2,
            wall_s: 1.0,
            user_s: 0.0,
            sys_s: 0.0,
            max_rss_kib: 2048,
            digest: digest.into(),
            failed: 0,
            extra: Default::default(),
        };
        s.entries[0].summary = Some(summary("serial", "aaaa", 1));
        s.entries[1].summary = Some(summary("threading", "aaaa", 2));
        let t = scenario_table(&s);
        assert!(t.contains("| 2.00x | 1.00 |"), "{t}");
        assert!(t.contains("✓"));
        assert_eq!(s.digests_agree(), Some(true));
        s.entries[1].summary.as_mut().unwrap().digest = "bbbb".into();
        assert_eq!(s.digests_agree(), Some(false));
        assert!(scenario_table(&s).contains("differs"));
    }
}
