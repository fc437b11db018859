//! `decision-table report DIR`: turn a run of `scripts/compare.sh` into `DIR/REPORT.md`.
//!
//! The harness leaves, in `DIR`:
//!
//! - `meta.json`: the machine (`cores` gives the efficiency column), tool versions, commit,
//!   mode (quick or full), and run time;
//! - `hyperfine/<scenario>.json`: hyperfine's export (1.x or 2.0 layout), one benchmark per
//!   model and variant of either language, each named with `-n`: Rust's as `<model>` or
//!   `<model>-<variant>` (`threading`, `threading-gil`, `multiprocessing-rayon`), Python's as
//!   `python-<model>` or `python-<model>-<variant>` (`python-threading-numpy`);
//! - `summaries/<scenario>/<name>.json`: the `--json` summary (the output contract) of one run of
//!   that same command, taken before timing, which gives the digest, workers, inputs and peak
//!   memory; Python's carry `"language": "python"`, Rust's no `language` at all;
//!   `<name>.cmd` the command line, and for chat `<name>.server.json` the server's summary.
//!
//! From these the report writes, per scenario, a table per language (mean ± σ, speedup over
//! that language's serial run, efficiency per core, CPU time, memory, digest check), notes on
//! what may be compared across the languages, and an SVG chart with a panel per language; then
//! the chapter's decision table with the measured winner in Python and in Rust of every row the
//! workspace covers. It also writes `verdicts.json`, which `decision-table` with no arguments
//! prints beside the chapter's table.
//!
//! This module reads the folder and writes the files; the parts live beside it:
//! [`hyperfine`] (the exports, both layouts), [`run`] (what was measured), [`verdict`] (the
//! chapter's rows against the measurements), [`markdown`] and [`chart`] (a chart per scenario),
//! [`sweep`] and [`curves`] (the chat-capacity and spawn sweeps); [`gui`] is the gui scenario's
//! own (its frame-interval chart, and its verdict on frames rather than time), [`training`] the
//! train scenario's (throughput, accuracy and their chart).
//!
//! `cargo run -p decision-table -- report results`

pub mod chart;
pub mod curves;
pub mod gui;
pub mod hyperfine;
pub mod lines;
pub mod markdown;
pub mod run;
pub mod sweep;
pub mod training;
pub mod verdict;

pub use run::{Entry, Language, Meta, Report, Scenario};
pub use sweep::Sweeps;
pub use verdict::{RowVerdict, Verdict, verdicts};

use anyhow::{Context, Result, bail};
use hyperfine::Bench;
use scenarios::Summary;
use scenarios::files::write_atomically;
use std::path::{Path, PathBuf};

/// The order scenarios appear in: the chapter's examples first, then the decision table's jobs.
const ORDER: [&str; 10] = [
    "cakes",
    "workers",
    "queue",
    "map",
    "matrix",
    "images",
    "downloads",
    "requests",
    "chat",
    "gui",
];

/// Read a results folder.
pub fn load(dir: &Path) -> Result<Report> {
    // A run without meta.json still has its measurements; a broken one is a harness bug.
    let meta = match std::fs::read_to_string(dir.join("meta.json")) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid", dir.join("meta.json").display()))?,
        Err(_) => Meta::default(),
    };
    let sweeps = sweep::load(dir)?;
    let hdir = dir.join("hyperfine");
    let listing = match std::fs::read_dir(&hdir) {
        Ok(listing) => Some(listing),
        // A run of the sweeps alone has no hyperfine results, and needs none.
        Err(_) if !sweeps.is_empty() => None,
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "no hyperfine results in {} (run scripts/compare.sh first)",
                    hdir.display()
                )
            });
        }
    };
    let mut scenarios = Vec::new();
    for file in listing.into_iter().flatten() {
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
        let benches = hyperfine::parse(&text).with_context(|| format!("in {}", path.display()))?;
        // A sweep's scenario (chat-capacity, spawn) times no command: the harness leaves an
        // empty export for it, and its results are in the sweeps.
        if benches.is_empty() {
            continue;
        }
        let mut entries = benches
            .into_iter()
            .map(|bench| load_entry(dir, &name, bench))
            .collect::<Result<Vec<_>>>()?;
        order_as_added(dir, &name, &mut entries);
        scenarios.push(Scenario { name, entries });
    }
    if scenarios.is_empty() && sweeps.is_empty() {
        bail!("{} holds no hyperfine exports", hdir.display());
    }
    let rank = |n: &str| ORDER.iter().position(|o| *o == n).unwrap_or(ORDER.len());
    scenarios.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
    Ok(Report {
        meta,
        scenarios,
        sweeps,
    })
}

/// Put a scenario's entries in the order the harness added its rows (`summaries/NAME/order`,
/// one name a line), not hyperfine's: the harness times rows in groups by their number of runs,
/// so its exports put a row timed once (bigfile's `asyncio-tokio-fs`) before the serial row.
/// Without the file, or for a name it does not list, hyperfine's order stands.
fn order_as_added(dir: &Path, scenario: &str, entries: &mut [Entry]) {
    let Ok(text) = std::fs::read_to_string(dir.join("summaries").join(scenario).join("order"))
    else {
        return;
    };
    let names: Vec<&str> = text.lines().map(str::trim).collect();
    let rank = |e: &Entry| {
        names
            .iter()
            .position(|n| *n == e.bench.name)
            .unwrap_or(names.len())
    };
    entries.sort_by_key(|e| rank(e));
}

/// One benchmark of scenario `scenario`, with the summaries the harness kept beside it.
fn load_entry(dir: &Path, scenario: &str, bench: Bench) -> Result<Entry> {
    let spath = dir
        .join("summaries")
        .join(scenario)
        .join(format!("{}.json", bench.name));
    let server_path = spath.with_extension("server.json");
    let mut entry = Entry::new(bench);
    entry.summary = read_summary(&spath)?;
    entry.server = read_summary(&server_path)?;
    entry.digest_group = match std::fs::read_to_string(spath.with_extension("group")) {
        Ok(g) if !g.trim().is_empty() => Some(g.trim().to_string()),
        _ => None,
    };
    for (path, summary) in [(&spath, &entry.summary), (&server_path, &entry.server)] {
        if let Some(summary) = summary {
            check_summary(path, summary, scenario, &entry)?;
        }
    }
    // hyperfine 1.x exports the -n name as "command": the harness keeps the real command line
    // beside the summary.
    if let Ok(cmd) = std::fs::read_to_string(spath.with_extension("cmd")) {
        entry.bench.command = cmd.trim().to_string();
    }
    Ok(entry)
}

/// A summary filed under the wrong scenario or the wrong language would put its digest and
/// memory in the wrong table: refuse it, naming the file.
fn check_summary(path: &Path, summary: &Summary, scenario: &str, entry: &Entry) -> Result<()> {
    if summary.scenario != scenario {
        bail!(
            "{} is a summary of the '{}' scenario, filed under '{scenario}'",
            path.display(),
            summary.scenario
        );
    }
    // The chat load client is the same Rust program under every model, Python's included: its
    // summary says nothing about the model's language.
    if summary.variant == "load" {
        return Ok(());
    }
    let said = Language::of_summary(summary).with_context(|| {
        format!(
            "{}: \"language\" must be \"rust\" or \"python\"",
            path.display()
        )
    })?;
    if said != entry.language {
        bail!(
            "{} says its language is {said}, but its hyperfine name '{}' makes it {} (Python \
             runs are named python-<model> or python-<model>-<variant>; a summary without \
             \"language\" is Rust's)",
            path.display(),
            entry.bench.name,
            entry.language
        );
    }
    Ok(())
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

/// Write `REPORT.md`, `charts/<scenario>.svg` (and the sweeps' `charts/chat-capacity.svg`,
/// `charts/spawn.svg`) and `verdicts.json` into `dir`.
pub fn write(dir: &Path) -> Result<PathBuf> {
    let report = load(dir)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts)
        .with_context(|| format!("cannot create {}", charts.display()))?;
    for s in &report.scenarios {
        chart::chart(s, &charts.join(format!("{}.svg", s.name)))?;
        if s.name == gui::SCENARIO {
            gui::chart(s, &charts.join("gui-frames.svg"))?;
        }
        // Training is judged by its throughput and accuracy too: a chart of its own.
        if s.name == training::SCENARIO {
            training::chart(s, &charts.join(training::CHART))?;
        }
    }
    curves::write_charts(&report.sweeps, &charts)?;
    let path = dir.join("REPORT.md");
    write_atomically(&path, markdown::render(&report, "charts").as_bytes())?;
    let verdicts = serde_json::to_vec_pretty(&verdicts(&report))?;
    write_atomically(&dir.join("verdicts.json"), &verdicts)?;
    Ok(path)
}

/// The chapter's table with the verdicts of the latest report in `dir`, if there is one.
pub fn table_with_verdicts(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("verdicts.json")).ok()?;
    let verdicts: Vec<RowVerdict> = serde_json::from_str(&text).ok()?;
    Some(markdown::chapter_table_with_verdicts(&verdicts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry::new(Bench::fixed(name, 1.0, 1))
    }

    #[test]
    fn entries_follow_the_order_the_harness_added_them() {
        let dir = tempfile::tempdir().unwrap();
        let names = |es: &[Entry]| es.iter().map(|e| e.bench.name.clone()).collect::<Vec<_>>();
        // hyperfine's order: the row timed once first, then the groups of more runs.
        let mut es = vec![
            entry("slow"),
            entry("serial"),
            entry("extra"),
            entry("threads"),
        ];
        order_as_added(dir.path(), "s", &mut es);
        assert_eq!(
            names(&es),
            ["slow", "serial", "extra", "threads"],
            "no file: as given"
        );
        std::fs::create_dir_all(dir.path().join("summaries/s")).unwrap();
        std::fs::write(
            dir.path().join("summaries/s/order"),
            "serial\nthreads\nslow\n",
        )
        .unwrap();
        order_as_added(dir.path(), "s", &mut es);
        assert_eq!(
            names(&es),
            ["serial", "threads", "slow", "extra"],
            "unlisted ones last"
        );
    }
}
