//! What one run of the harness measured, as the report sees it: the machine ([`Meta`]), and per
//! scenario ([`Scenario`]) every model and variant that ran ([`Entry`]: hyperfine's timing plus
//! the run's own `--json` summary).

use super::hyperfine::Bench;
use crate::table::Model;
use scenarios::Summary;
use serde::{Deserialize, Serialize};

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
    /// The model's name: the summary's `model`, or the hyperfine name up to its first '-'.
    pub fn model_name(&self) -> &str {
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

    /// The crate that ran it, if it is one of the chapter's four models.
    pub fn model(&self) -> Option<Model> {
        Model::from_name(self.model_name())
    }

    /// The model the work really ran in, for judging the chapter's advice: the multiprocessing
    /// crate's rayon engine runs threads in one process, so it counts as threading.
    pub fn runs_as(&self) -> Option<Model> {
        let variant = self.summary.as_ref().map(|s| s.variant.as_str());
        if variant == Some("rayon") || self.bench.name.ends_with("-rayon") {
            Some(Model::Threading)
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
        self.entries
            .iter()
            .find(|e| e.model() == Some(Model::Serial))
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
