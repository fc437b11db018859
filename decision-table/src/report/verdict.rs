//! The measured verdict on each row of the chapter's decision table: is the model the chapter
//! recommends the fastest one measured, within noise of it, or beaten, and why.

use super::hyperfine::Bench;
use super::run::{Entry, Report};
use crate::table::{Model, ROWS, Row};
use serde::{Deserialize, Serialize};

/// How the chapter's choice fared against the measurements.
///
/// Serialised as the words `verdicts.json` has always held, so a report written before this
/// type existed still reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The chapter's choice was the fastest.
    #[serde(rename = "agrees")]
    Agrees,
    /// Another model was fastest, but within noise of the chapter's choice (see [`tie`]).
    #[serde(rename = "tie")]
    Tie,
    /// Another model was clearly faster.
    #[serde(rename = "differs")]
    Differs,
    /// Nothing in this run measures the row.
    #[serde(rename = "not covered")]
    NotCovered,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees",
            Verdict::Tie => "tie",
            Verdict::Differs => "differs",
            Verdict::NotCovered => "not covered",
        }
    }
}

/// How one row of the chapter's table fared: one element of `verdicts.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RowVerdict {
    pub job: String,
    /// The chapter's words ("asyncio or threading"), kept as text so the file reads on its own.
    pub chapter_choice: String,
    pub scenario: Option<String>,
    /// The fastest model and variant measured (the hyperfine name), if the row was measured.
    pub fastest: Option<String>,
    pub verdict: Verdict,
    pub why: String,
}

/// Two means are a tie when they are within 5% or within two standard deviations.
pub fn tie(a: &Bench, b: &Bench) -> bool {
    let gap = (a.mean - b.mean).abs();
    gap <= 0.05 * a.mean.min(b.mean) || gap <= 2.0 * (a.stddev + b.stddev)
}

/// Why the fastest model beat the chapter's choice, or tied with it. The chapter recommends
/// processes only for CPU-bound jobs, so "the chapter chose multiprocessing" stands for "this
/// row is CPU-bound" here.
fn explain(row: &Row, fastest: &Entry, best_of_chapter: Option<&Entry>) -> String {
    let numbers = match best_of_chapter {
        Some(c) => format!(
            " ({} {:.3} s vs {} {:.3} s)",
            fastest.bench.name, fastest.bench.mean, c.bench.name, c.bench.mean
        ),
        None => String::new(),
    };
    let cpu_bound = row.recommends(Model::Multiprocessing);
    let reason = match (cpu_bound, fastest.runs_as()) {
        (true, Some(Model::Threading)) => {
            "Rust threads (and rayon, which runs on threads) have no GIL: they run CPU-bound code \
             on every core and share memory, so separate processes only add start-up and pipe \
             costs"
        }
        (true, Some(Model::Asyncio)) => {
            "spawn_blocking hands CPU work to tokio's thread pool: threads again, with no GIL \
             to get around"
        }
        (_, Some(Model::Serial)) => {
            "the work is too small for any concurrency to pay for its set-up"
        }
        (false, Some(Model::Threading)) => {
            "threads wait on the network as well as tasks do at this concurrency; the cost of \
             threads shows in memory, not time"
        }
        (false, Some(Model::Asyncio)) => {
            "tasks wait on the network as well as threads, and one thread drives every \
             connection"
        }
        (false, Some(Model::Multiprocessing)) => {
            "waiting processes overlap like threads do; their cost shows in memory and start-up"
        }
        _ => "measured on this machine",
    };
    format!("{reason}{numbers}")
}

/// The chapter's rows with the measured winner where a scenario covers them.
pub fn verdicts(report: &Report) -> Vec<RowVerdict> {
    ROWS.iter().map(|row| verdict(row, report)).collect()
}

pub fn verdict(row: &Row, report: &Report) -> RowVerdict {
    let base = RowVerdict {
        job: row.job.into(),
        chapter_choice: row.chapter_choice_text(),
        scenario: row.scenario.map(str::to_string),
        fastest: None,
        verdict: Verdict::NotCovered,
        why: "no scenario of this workspace measures this job yet".into(),
    };
    let Some(name) = row.scenario else {
        return base;
    };
    let Some(scenario) = report.scenarios.iter().find(|s| s.name == name) else {
        return RowVerdict {
            why: format!("the '{name}' scenario was not part of this run"),
            ..base
        };
    };
    let Some(fastest) = scenario.fastest() else {
        return base;
    };
    let chosen = |e: &Entry| e.runs_as().is_some_and(|m| row.recommends(m));
    let best_of_chapter = scenario
        .entries
        .iter()
        .filter(|e| chosen(e))
        .min_by(|a, b| a.bench.mean.total_cmp(&b.bench.mean));
    let (verdict, why) = if chosen(fastest) {
        (
            Verdict::Agrees,
            "the chapter's choice was the fastest here".to_string(),
        )
    } else if best_of_chapter.is_some_and(|c| tie(&c.bench, &fastest.bench)) {
        (Verdict::Tie, explain(row, fastest, best_of_chapter))
    } else {
        (Verdict::Differs, explain(row, fastest, best_of_chapter))
    };
    RowVerdict {
        fastest: Some(fastest.bench.name.clone()),
        verdict,
        why,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run::{Meta, Scenario};

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

    /// A hand-made row: the verdict logic is checked on it rather than on the chapter's rows,
    /// whose scenario fields decide which rows are measured.
    fn row(scenario: &'static str, choice: &'static [Model]) -> Row {
        Row {
            job: "x",
            chapter_choice: choice,
            why: "",
            scenario: Some(scenario),
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
        let processes = &[Model::Multiprocessing];
        let matrix = verdict(&row("matrix", processes), &report);
        assert_eq!(matrix.verdict, Verdict::Differs);
        assert!(matrix.why.contains("no GIL"), "{}", matrix.why);
        assert_eq!(
            verdict(&row("images", processes), &report).verdict,
            Verdict::Tie
        );
        assert_eq!(
            verdict(&row("requests", &[Model::Asyncio]), &report).verdict,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(
                &row("requests", &[Model::Asyncio, Model::Threading]),
                &report
            )
            .verdict,
            Verdict::Agrees
        );
        assert_eq!(
            verdict(&row("chat", &[Model::Asyncio]), &report).verdict,
            Verdict::NotCovered
        );
        let all = verdicts(&report);
        let gui = all.iter().find(|v| v.job == "Responsive GUI").unwrap();
        assert_eq!(gui.verdict, Verdict::NotCovered);
    }

    #[test]
    fn rayon_inside_the_multiprocessing_crate_counts_as_threads() {
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
        let v = verdict(&row("matrix", &[Model::Multiprocessing]), &rayon);
        assert_eq!(v.verdict, Verdict::Differs);
        assert!(v.why.contains("rayon"), "{}", v.why);
    }

    #[test]
    fn verdict_words_are_the_ones_verdicts_json_always_held() {
        for v in [
            Verdict::Agrees,
            Verdict::Tie,
            Verdict::Differs,
            Verdict::NotCovered,
        ] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
        }
    }
}
