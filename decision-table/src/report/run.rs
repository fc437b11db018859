//! What one run of the harness measured, as the report sees it: the machine ([`Meta`]), and per
//! scenario ([`Scenario`]) every model and variant that ran ([`Entry`]: hyperfine's timing plus
//! the run's own `--json` summary), in either language.
//!
//! Rust and Python entries of a scenario share one hyperfine export but may run on different
//! inputs (pure-Python matrix multiplication gets a smaller matrix), so everything that compares
//! two entries (speedups, verdicts, digests) compares entries of one [`Language`] on the same
//! [`Inputs`].

use super::hyperfine::Bench;
use crate::table::Model;
use scenarios::Summary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

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

/// The language a model was written in.
///
/// Python comes first wherever the report lists both: the chapter's claims are about Python, so
/// its measurements are the direct check, and Rust's show what changes without a GIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    Python,
    Rust,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Python, Language::Rust];

    /// The word the summaries' `language` field uses.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Rust => "rust",
        }
    }

    /// The word for people.
    pub fn label(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::Rust => "Rust",
        }
    }

    /// The prefix of the hyperfine names of this language's runs: `python-threading-numpy`.
    /// Rust's runs keep the names they had before Python joined (`threading-gil`).
    pub fn name_prefix(self) -> &'static str {
        match self {
            Language::Python => "python-",
            Language::Rust => "",
        }
    }

    /// The language of a hyperfine name.
    pub fn of_name(name: &str) -> Language {
        if name.starts_with(Language::Python.name_prefix()) {
            Language::Python
        } else {
            Language::Rust
        }
    }

    /// The language a summary says it is. The Rust binaries predate the field: missing is Rust.
    pub fn of_summary(summary: &Summary) -> Option<Language> {
        match summary.extra.get("language") {
            None => Some(Language::Rust),
            Some(Value::String(s)) => Language::ALL.into_iter().find(|l| l.name() == s),
            Some(_) => None,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The summary fields, besides `items`, that describe a run's inputs rather than its results.
/// Two runs are on the same inputs when they agree on `items` and on every one of these that
/// either reports; a field only one of them reports makes them different. That errs towards
/// "different", which only costs a cross-language comparison; erring the other way would
/// print a misleading one.
pub const INPUT_FIELDS: [&str; 5] = ["shape", "bytes", "clients", "senders", "messages"];

/// What a run worked on, as its summary describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    pub items: usize,
    /// The [`INPUT_FIELDS`] the summary has, in that order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Inputs {
    pub fn of(summary: &Summary) -> Inputs {
        Inputs {
            items: summary.items,
            fields: INPUT_FIELDS
                .iter()
                .filter_map(|k| summary.extra.get(*k).map(|v| (*k, v.clone())))
                .collect(),
        }
    }
}

impl fmt::Display for Inputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.items == 1 { "" } else { "s" };
        write!(f, "{} item{s}", self.items)?;
        for (key, value) in &self.fields {
            match (*key, value) {
                ("shape", Value::Array(dims)) => {
                    let dims: Vec<String> = dims.iter().map(Value::to_string).collect();
                    write!(f, ", shape {}", dims.join("×"))?;
                }
                ("bytes", Value::Number(n)) => {
                    let mib = n.as_f64().unwrap_or(0.0) / (1024.0 * 1024.0);
                    write!(f, ", {mib:.0} MiB")?;
                }
                _ => write!(f, ", {value} {key}")?,
            }
        }
        Ok(())
    }
}

/// One model or variant of one scenario: its timing and its `--json` summary.
#[derive(Clone, Debug)]
pub struct Entry {
    pub bench: Bench,
    /// Decided by the hyperfine name (the harness names every run); loading checks that the
    /// summaries say the same.
    pub language: Language,
    pub summary: Option<Summary>,
    /// For a server scenario (chat), the server's own summary, written when it stopped: its
    /// peak memory is the model's cost, not the load client's.
    pub server: Option<Summary>,
    /// The rows whose digests this one must equal, as the harness grouped them (`NAME.group`
    /// beside the summary): rows on inputs of their own (bigfile's cold file, pure-Python
    /// matrices) or with another engine (the GUI's pure-Python blur) form groups of their own.
    /// `None`: the language's group.
    pub digest_group: Option<String>,
}

impl Entry {
    /// An entry without summaries, its language from its name.
    pub fn new(bench: Bench) -> Entry {
        Entry {
            language: Language::of_name(&bench.name),
            bench,
            summary: None,
            server: None,
            digest_group: None,
        }
    }

    /// The model's name: the summary's `model`, or the hyperfine name (less its language
    /// prefix) up to its first '-'.
    pub fn model_name(&self) -> &str {
        // The server's summary first where there is one (chat): the load client's `model` is
        // only the label it was given, `python-asyncio` for a Python server.
        match self.own_summary() {
            Some(s) => s
                .model
                .strip_prefix(self.language.name_prefix())
                .unwrap_or(&s.model),
            None => {
                let name = &self.bench.name;
                let bare = name
                    .strip_prefix(self.language.name_prefix())
                    .unwrap_or(name);
                bare.split('-').next().unwrap_or(bare)
            }
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

    /// The summary of the model's own program: the server's where there is one (the timed
    /// command is then the load client, the same for every model).
    pub fn own_summary(&self) -> Option<&Summary> {
        self.server.as_ref().or(self.summary.as_ref())
    }

    /// The inputs, from the timed command's summary (for chat, the load it was put under).
    pub fn inputs(&self) -> Option<Inputs> {
        self.summary.as_ref().map(Inputs::of)
    }

    /// CPU seconds per wall second, from hyperfine: about 1 or more for work that keeps a core
    /// busy, far below 1 for work that mostly waits.
    pub fn cpu_share(&self) -> f64 {
        if self.bench.mean > 0.0 {
            self.bench.cpu / self.bench.mean
        } else {
            0.0
        }
    }
}

/// Could `a` and `b` have run on the same inputs? Unknown inputs (no summary) are given the
/// benefit of the doubt, as the report did before inputs were compared.
pub fn same_inputs(a: &Entry, b: &Entry) -> bool {
    match (a.inputs(), b.inputs()) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Every model of one scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub entries: Vec<Entry>,
}

impl Scenario {
    /// The languages that ran this scenario, in [`Language::ALL`]'s order.
    pub fn languages(&self) -> Vec<Language> {
        Language::ALL
            .into_iter()
            .filter(|l| self.entries.iter().any(|e| e.language == *l))
            .collect()
    }

    /// The entries of one language, in hyperfine's order.
    pub fn entries_of(&self, language: Language) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.language == language)
    }

    /// The serial baseline of a language, if it ran one.
    pub fn serial(&self, language: Language) -> Option<&Entry> {
        // The plain `serial` (or `python-serial`) row first: a variant on other inputs (bigfile's
        // `serial-cold`, on a tenth of the file) may come first in hyperfine's export.
        let plain = format!("{}serial", language.name_prefix());
        self.entries_of(language)
            .find(|e| e.bench.name == plain)
            .or_else(|| {
                self.entries_of(language)
                    .find(|e| e.model() == Some(Model::Serial))
            })
    }

    /// The language's reference run: its serial run, else its first. The other entries of the
    /// language are compared with it only if they ran on its inputs.
    pub fn reference(&self, language: Language) -> Option<&Entry> {
        self.serial(language)
            .or_else(|| self.entries_of(language).next())
    }

    /// The entries of a language that ran on its reference run's inputs: the ones whose times
    /// can be compared with each other.
    pub fn comparable(&self, language: Language) -> Vec<&Entry> {
        let Some(reference) = self.reference(language) else {
            return Vec::new();
        };
        self.entries_of(language)
            .filter(|e| same_inputs(e, reference))
            .collect()
    }

    /// The entries of a language that have no serial run of their own kind to be compared
    /// with, and ran on other inputs than its reference run.
    pub fn on_other_inputs(&self, language: Language) -> Vec<&Entry> {
        let Some(reference) = self.reference(language) else {
            return Vec::new();
        };
        self.entries_of(language)
            .filter(|e| !same_inputs(e, reference) && self.serial_for(e).is_none())
            .collect()
    }

    /// The serial run `e` is measured against: the language's plain serial run when they are
    /// of one kind (same inputs, same digest group), else a serial run of `e`'s own kind
    /// (bigfile's `serial-cold` for the cold rows, `python-serial-numpy` for numpy's).
    pub fn serial_for(&self, e: &Entry) -> Option<&Entry> {
        if let Some(plain) = self.serial(e.language)
            && Scenario::digest_peers(plain, e)
        {
            return Some(plain);
        }
        self.entries_of(e.language)
            .find(|x| x.model() == Some(Model::Serial) && Scenario::digest_peers(x, e))
    }

    /// The speedup of `e` over the serial run of its kind, if there is one.
    pub fn speedup(&self, e: &Entry) -> Option<f64> {
        let serial = self.serial_for(e)?;
        Some(serial.bench.mean / e.bench.mean)
    }

    /// Does a run promise the same digest every time? Not one whose summary says
    /// `"reproducible": false` (Hogwild's lock-free updates).
    pub fn reproducible(summary: &Summary) -> bool {
        summary.extra.get("reproducible") != Some(&Value::Bool(false))
    }

    /// Is `a`'s digest to be checked against `b`'s? Same language, same digest group (as the
    /// harness grouped them; else the same inputs), and both reproducible.
    pub fn digest_peers(a: &Entry, b: &Entry) -> bool {
        a.language == b.language
            && match (a.digest_group.as_deref(), b.digest_group.as_deref()) {
                (Some(x), Some(y)) => x == y,
                (None, None) => same_inputs(a, b),
                _ => false,
            }
    }

    /// The reproducible summaries of a language, in hyperfine's order.
    fn checked(&self, language: Language) -> impl Iterator<Item = (&Entry, &Summary)> {
        self.entries_of(language).filter_map(|e| {
            e.summary
                .as_ref()
                .filter(|s| Scenario::reproducible(s))
                .map(|s| (e, s))
        })
    }

    /// The digest `e` must carry: the first reproducible one of its digest group.
    pub fn group_digest(&self, e: &Entry) -> Option<&str> {
        self.checked(e.language)
            .find(|(x, _)| Scenario::digest_peers(x, e))
            .map(|(_, s)| s.digest.as_str())
    }

    /// Does every summary of a language carry its group's digest? `None` when no group has two
    /// to compare. Runs that are not reproducible are left out.
    pub fn digests_agree(&self, language: Language) -> Option<bool> {
        let mut compared = false;
        for (e, s) in self.checked(language) {
            let peers = self
                .checked(language)
                .filter(|(x, _)| Scenario::digest_peers(x, e))
                .count();
            compared |= peers >= 2;
            if self.group_digest(e) != Some(s.digest.as_str()) {
                return Some(false);
            }
        }
        compared.then_some(true)
    }

    /// The digest a language is known by across languages: its reference run's (the serial
    /// one), else its first reproducible summary's.
    pub fn reference_digest(&self, language: Language) -> Option<&str> {
        self.reference(language)
            .and_then(|r| self.group_digest(r))
            .or_else(|| {
                self.checked(language)
                    .next()
                    .map(|(_, s)| s.digest.as_str())
            })
    }
}

/// Everything one run of the harness produced.
#[derive(Clone, Debug)]
pub struct Report {
    pub meta: Meta,
    pub scenarios: Vec<Scenario>,
    /// The scale curves (the chat capacity sweep, the spawn curve), those that ran.
    pub sweeps: super::sweep::Sweeps,
}

impl Report {
    /// The scenario called `name`, if it ran.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_decides_the_language_and_the_model() {
        let bench = |name: &str| Bench::fixed(name, 1.0, 1);
        let e = Entry::new(bench("python-threading-numpy"));
        assert_eq!(e.language, Language::Python);
        assert_eq!(e.model(), Some(Model::Threading));
        let e = Entry::new(bench("multiprocessing-rayon"));
        assert_eq!(e.language, Language::Rust);
        assert_eq!(e.model(), Some(Model::Multiprocessing));
        assert_eq!(e.runs_as(), Some(Model::Threading));
    }

    #[test]
    fn inputs_read_as_a_sentence() {
        let summary: Summary = serde_json::from_str(
            r#"{"scenario":"matrix","model":"serial","variant":"serial","workers":1,"items":4,
            "wall_s":1.0,"user_s":1.0,"sys_s":0.0,"max_rss_kib":1,"digest":"d","failed":0,
            "shape":[256,256,256],"gflops":0.01}"#,
        )
        .unwrap();
        assert_eq!(
            Inputs::of(&summary).to_string(),
            "4 items, shape 256×256×256"
        );
    }
}
