//! The output contract: what every scenario run reports, in every crate.
//!
//! A run prints a few human lines, then a closing summary. With `--json` the summary is exactly
//! one JSON object on stdout:
//!
//! ```text
//! {"scenario":"cakes","model":"threading","variant":"threads","workers":2,"items":2,
//!  "wall_s":1.001,"user_s":0.0,"sys_s":0.001,"max_rss_kib":2304,"digest":"…","failed":0}
//! ```
//!
//! `wall_s` is measured from [`Run::start`] (after argument parsing) to [`Run::finish`];
//! `user_s` and `sys_s` are the CPU time this process and its children used over the same span,
//! and `max_rss_kib` the peak memory of the process plus its children's peak summed PSS (see
//! [`crate::usage`]; a run with children also reports `children_pss_kib` and
//! `children_rss_kib`), plus any memory shared between processes that none of them maps
//! (`shared_kib`, [`Run::shared_memory_kib`]). Scenario-specific figures (GFLOP/s, pids, latency percentiles) go in
//! extra fields beside these.

use crate::usage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::process::ExitCode;
use std::time::Instant;

/// One summary, as printed with `--json` and as read back by `decision-table report`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub model: String,
    pub variant: String,
    pub workers: usize,
    pub items: usize,
    pub wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    pub max_rss_kib: u64,
    pub digest: String,
    /// Items that failed (a corrupt input with `--keep-going`, a download that ran out of
    /// retries). Non-zero makes the exit status non-zero.
    #[serde(default)]
    pub failed: usize,
    /// Scenario-specific figures.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Who runs a scenario: the model (the crate), the variant within it (`threads+gil`, `rayon`,
/// `spawn_blocking`, ...) and how many workers. Every executor describes itself with one.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub model: String,
    pub variant: String,
    pub workers: usize,
}

impl Label {
    pub fn new(model: impl Into<String>, variant: impl Into<String>, workers: usize) -> Label {
        Label {
            model: model.into(),
            variant: variant.into(),
            workers,
        }
    }
}

/// A run in progress: the clock starts when it is created.
pub struct Run {
    scenario: String,
    model: String,
    variant: String,
    workers: usize,
    items: usize,
    started: Instant,
    baseline: usage::ResourceUse,
    extra: Map<String, Value>,
    shared_kib: u64,
}

impl Run {
    /// Start the clock on `items` items of `scenario`, run by `who`.
    pub fn start(scenario: &str, who: Label, items: usize) -> Run {
        Run {
            scenario: scenario.into(),
            model: who.model,
            variant: who.variant,
            workers: who.workers,
            items,
            started: Instant::now(),
            baseline: usage::current(),
            extra: Map::new(),
            shared_kib: 0,
        }
    }

    /// How many workers run it.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Seconds since the run started.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Attach a scenario-specific figure to the summary.
    pub fn extra(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Count `kib` of memory the run's processes share but none of them maps (a memory file
    /// written with `pwrite`): it is in no process's RSS or PSS, so it is added to
    /// `max_rss_kib` here, and reported as `shared_kib`.
    pub fn shared_memory_kib(&mut self, kib: u64) -> &mut Self {
        self.shared_kib += kib;
        self
    }

    /// Stop the clock, read resource use, and build the summary.
    pub fn finish(self, digest: String, failed: usize) -> Summary {
        let wall_s = self.started.elapsed().as_secs_f64();
        let used = usage::current();
        let mut extra = self.extra;
        // A run with child processes: their memory as PSS (counted in `max_rss_kib`), and as
        // summed RSS beside it, which counts every shared page once per child.
        if let Some(children) = used.children {
            extra.insert("children_pss_kib".into(), children.pss_kib.into());
            extra.insert("children_rss_kib".into(), children.rss_kib.into());
        }
        if self.shared_kib > 0 {
            extra.insert("shared_kib".into(), self.shared_kib.into());
        }
        Summary {
            scenario: self.scenario,
            model: self.model,
            variant: self.variant,
            workers: self.workers,
            items: self.items,
            wall_s: round(wall_s, 6),
            user_s: round((used.user_s - self.baseline.user_s).max(0.0), 6),
            sys_s: round((used.sys_s - self.baseline.sys_s).max(0.0), 6),
            max_rss_kib: used.max_rss_kib + self.shared_kib,
            digest,
            failed,
            extra,
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

impl Summary {
    /// The human closing line.
    pub fn human(&self) -> String {
        let short = self.digest.get(..16).unwrap_or(&self.digest);
        let mut s = format!(
            "{} / {} ({}, {} worker{}): {} item{} in {:.3} s | CPU {:.3} s user + {:.3} s sys | peak {:.1} MiB | digest {}",
            self.scenario,
            self.model,
            self.variant,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.items,
            if self.items == 1 { "" } else { "s" },
            self.wall_s,
            self.user_s,
            self.sys_s,
            self.max_rss_kib as f64 / 1024.0,
            short,
        );
        if self.failed > 0 {
            s.push_str(&format!(" | {} FAILED", self.failed));
        }
        s
    }

    /// Print the summary the way the run was asked for: JSON on stdout, or the human line.
    pub fn print(&self) {
        if crate::console::json() {
            println!(
                "{}",
                serde_json::to_string(self).expect("a summary always serialises")
            );
        } else {
            println!("{}", self.human());
        }
    }
}

/// The end of every binary's `main`: print the summary or the error, and choose the exit status.
/// A summary with failed items still prints (the reader wants the figures), then exits 1.
pub fn exit(result: anyhow::Result<Summary>) -> ExitCode {
    match result {
        Ok(summary) => {
            summary.print();
            if summary.failed > 0 {
                eprintln!("error: {} item(s) failed", summary.failed);
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_contract_fields_and_round_trips() {
        let mut run = Run::start("cakes", Label::new("serial", "serial", 1), 2);
        run.extra("pids", vec![1u32, 2]);
        let s = run.finish("abc".into(), 0);
        let v: Value = serde_json::to_value(&s).unwrap();
        for key in [
            "scenario",
            "model",
            "variant",
            "workers",
            "items",
            "wall_s",
            "user_s",
            "sys_s",
            "max_rss_kib",
            "digest",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["pids"], serde_json::json!([1, 2]));
        let back: Summary = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn human_line_mentions_failures() {
        let s = Run::start("x", Label::new("m", "v", 1), 1).finish("d".into(), 2);
        assert!(s.human().contains("2 FAILED"));
    }
}
