//! The measured verdict on each row of the chapter's decision table, once per language: is the
//! model the chapter recommends the fastest one measured, within noise of it, or beaten, and
//! why.
//!
//! The why is chosen from what the runs showed, not from the chapter's words: whether the
//! serial run kept a core busy (CPU-bound) or mostly waited, which model won, and, for Python,
//! whether threads were any faster than one thread (the GIL's signature) or kept up with
//! processes (a library that releases the GIL).

use super::hyperfine::Bench;
use super::run::{Entry, Language, Report, Scenario};
use crate::table::{Model, Pick, ROWS, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// How the chapter's choice fared in one language.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LanguageVerdict {
    /// The fastest model and variant measured (the hyperfine name), if the row was measured.
    pub fastest: Option<String>,
    pub verdict: Verdict,
    /// One line, from the measurements, on why that model won.
    pub why: String,
}

/// How one row of the chapter's table fared: one element of `verdicts.json`.
///
/// Rust's verdict sits at the top level (`fastest`, `verdict`, `why`), where it was when Rust
/// was all the report measured, so a `verdicts.json` of either age reads with either binary;
/// Python's is the `python` object beside it, missing from files written before Python joined.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RowVerdict {
    pub job: String,
    /// The chapter's words ("asyncio or threading"), kept as text so the file reads on its own.
    pub chapter_choice: String,
    pub scenario: Option<String>,
    #[serde(flatten)]
    pub rust: LanguageVerdict,
    #[serde(default)]
    pub python: Option<LanguageVerdict>,
}

impl RowVerdict {
    pub fn of(&self, language: Language) -> Option<&LanguageVerdict> {
        match language {
            Language::Rust => Some(&self.rust),
            Language::Python => self.python.as_ref(),
        }
    }
}

/// Two means are a tie when they are within 5% or within two standard deviations.
pub fn tie(a: &Bench, b: &Bench) -> bool {
    let gap = (a.mean - b.mean).abs();
    gap <= 0.05 * a.mean.min(b.mean) || gap <= 2.0 * (a.stddev + b.stddev)
}

/// Below this many CPU seconds per wall second, the serial run mostly waited: the row is judged
/// as I/O-bound. CPU-bound serial work sits near 1; the waiting scenarios here near 0.05.
const CPU_BOUND_SHARE: f64 = 0.5;

/// Below this many CPU seconds per wall second, a CPU-bound run used one core, not two.
const ONE_CORE_SHARE: f64 = 1.25;

/// What a language's runs of one scenario showed, for explaining a verdict.
struct Measured<'a> {
    language: Language,
    scenario: &'a str,
    /// Did the serial run keep a core busy (or, with no serial run, every run)?
    cpu_bound: bool,
    serial: Option<&'a Entry>,
    /// The fastest entry that runs as each model (rayon counts as threads).
    best: BTreeMap<Model, &'a Entry>,
}

impl<'a> Measured<'a> {
    fn new(
        scenario: &'a Scenario,
        language: Language,
        serial: Option<&'a Entry>,
        entries: &[&'a Entry],
    ) -> Measured<'a> {
        let cpu_share = match serial {
            Some(s) => s.cpu_share(),
            None => entries
                .iter()
                .map(|e| e.cpu_share())
                .fold(f64::MAX, f64::min),
        };
        let mut best: BTreeMap<Model, &Entry> = BTreeMap::new();
        for e in entries {
            if let Some(m) = e.runs_as() {
                let slot = best.entry(m).or_insert(e);
                if e.bench.mean < slot.bench.mean {
                    *slot = e;
                }
            }
        }
        Measured {
            language,
            scenario: &scenario.name,
            cpu_bound: cpu_share >= CPU_BOUND_SHARE,
            serial,
            best,
        }
    }

    fn best(&self, model: Model) -> Option<&'a Entry> {
        self.best.get(&model).copied()
    }

    /// The library that must be releasing the GIL when Python threads keep up on CPU-bound
    /// work: the variant's name if it has one (`python-threading-numpy`), else the library the
    /// Python package uses for the scenario.
    fn gil_releasing_library(&self, threads: &Entry) -> String {
        let prefix = format!("python-{}-", Model::Threading);
        match threads.bench.name.strip_prefix(&prefix) {
            Some(variant) => variant.to_string(),
            None if self.scenario == "images" => "Pillow".into(),
            None if self.scenario == "train" => "numpy's matrix products".into(),
            None => "the C code it calls".into(),
        }
    }
}

/// "(a 1.234 s vs b 2.345 s)"
fn versus(a: &Entry, b: &Entry) -> String {
    format!(
        " ({} {:.3} s vs {} {:.3} s)",
        a.bench.name, a.bench.mean, b.bench.name, b.bench.mean
    )
}

/// Why `fastest` won, from what the language's runs showed. `rival` is the run it is set
/// against in the numbers: the chapter's best when the chapter chose otherwise, else the
/// fastest run of another model.
fn explain(m: &Measured, fastest: &Entry, rival: Option<&Entry>) -> String {
    let numbers = rival.map_or(String::new(), |r| versus(fastest, r));
    let winner = fastest.runs_as();
    // The mixed row: its serial run waits about half the time and computes the other half, so
    // the split into I/O- and CPU-bound below flipped between full runs on its threshold (and
    // with it the reason given). Its reason names what the winner did with both halves.
    if m.scenario == "pipeline"
        && let Some(reason) = mixed_reason(m.language, fastest, winner)
    {
        return format!("{reason}{numbers}");
    }
    let reason: String = match (m.language, m.cpu_bound, winner) {
        (_, _, Some(Model::Serial)) => {
            "the work is too small for any concurrency to pay for its set-up".into()
        }
        (Language::Python, true, Some(Model::Multiprocessing)) => {
            let threads = m.best(Model::Threading);
            return match (threads, m.serial) {
                // The GIL's signature: threads are no faster than one thread.
                (Some(t), Some(s)) if t.bench.mean >= s.bench.mean || tie(&t.bench, &s.bench) => {
                    format!(
                        "pure-Python threads run one at a time: the GIL{}; processes each \
                         have their own interpreter and use every core ({} {:.3} s)",
                        versus(t, s),
                        fastest.bench.name,
                        fastest.bench.mean
                    )
                }
                (Some(t), _) => format!(
                    "threads overlap only where the code releases the GIL; processes, each \
                     with its own interpreter, run all of it on every core{}",
                    versus(fastest, t)
                ),
                (None, _) => format!(
                    "processes each have their own interpreter, so CPU-bound Python runs on \
                     every core{numbers}"
                ),
            };
        }
        // Threads first by a margin within noise, on one core's worth of CPU: the GIL held,
        // and nothing released it (pure-Python work); not a library's doing.
        (Language::Python, true, Some(Model::Threading))
            if fastest.cpu_share() < ONE_CORE_SHARE =>
        {
            return format!(
                "the threads kept one core busy (CPU time {:.3} s in {:.3} s): the GIL ran one at a \
                 time, so this row's models are within noise of each other{numbers}",
                fastest.bench.cpu, fastest.bench.mean
            );
        }
        (Language::Python, true, Some(Model::Threading)) => {
            let library = m.gil_releasing_library(fastest);
            match m.best(Model::Multiprocessing) {
                Some(p) if tie(&fastest.bench, &p.bench) => {
                    return format!(
                        "{library} releases the GIL while it works, so Python threads match \
                         processes{}",
                        versus(fastest, p)
                    );
                }
                Some(p) => {
                    return format!(
                        "{library} releases the GIL while it works, and threads skip the \
                         processes' start-up and pickling{}",
                        versus(fastest, p)
                    );
                }
                None => format!("{library} releases the GIL while it works"),
            }
        }
        // The `blocking` variant hands nothing over: its event loop computes between waits.
        (language, true, Some(Model::Asyncio))
            if fastest.bench.name.ends_with("asyncio-blocking") =>
        {
            match language {
                Language::Python => {
                    "the event loop did the CPU work itself, between its waits, on one thread: \
                     under the GIL a pool's threads would have taken turns at it too, and this \
                     skipped handing each item over"
                }
                Language::Rust => {
                    "the event loop did the CPU work itself, between its waits, on one thread: \
                     the work was too small for handing it to a pool to pay"
                }
            }
            .into()
        }
        (Language::Python, true, Some(Model::Asyncio)) => {
            "the event loop handed the work to an executor pool, so it ran as the pool's \
             threads or processes do"
                .into()
        }
        (Language::Rust, true, Some(Model::Threading)) => {
            "Rust threads (and rayon, which runs on threads) have no GIL: they run CPU-bound code \
             on every core and share memory, so separate processes only add start-up and pipe \
             costs"
                .into()
        }
        (Language::Rust, true, Some(Model::Asyncio)) => {
            "spawn_blocking hands CPU work to tokio's thread pool: threads again, with no GIL \
             to get around"
                .into()
        }
        (Language::Rust, true, Some(Model::Multiprocessing)) => {
            "processes used the cores best here; Rust threads have no GIL to escape, so the \
             gap is what sharing one address space cost them"
                .into()
        }
        (Language::Python, false, Some(Model::Threading)) => {
            "Python threads release the GIL while they wait, so they overlap the waits as \
             tasks do at this concurrency"
                .into()
        }
        (Language::Rust, false, Some(Model::Threading)) => {
            "threads wait on the network as well as tasks do at this concurrency; the cost of \
             threads shows in memory, not time"
                .into()
        }
        (_, false, Some(Model::Asyncio)) => {
            "tasks wait on the network as well as threads, and one thread drives every \
             connection"
                .into()
        }
        (_, false, Some(Model::Multiprocessing)) => {
            "waiting processes overlap like threads do; their cost shows in memory and start-up"
                .into()
        }
        (_, _, None) => "measured on this machine".into(),
    };
    format!("{reason}{numbers}")
}

/// Why a model won the mixed I/O + CPU row (`pipeline`), or `None` where the general reasons
/// fit as they are (serial: too small to pay; the event loop that computed itself).
fn mixed_reason(
    language: Language,
    fastest: &Entry,
    winner: Option<Model>,
) -> Option<&'static str> {
    if fastest.bench.name.ends_with("-blocking") {
        return None;
    }
    Some(match (language, winner?) {
        (_, Model::Serial) => return None,
        (Language::Python, Model::Multiprocessing) => {
            "a thread pool overlapped the downloads while worker processes, each with its own \
             interpreter, computed the images on every core: the chapter's rule"
        }
        (Language::Python, Model::Threading) => {
            "one thread pool did both halves: the downloads overlapped, and Pillow released the \
             GIL while it computed, so processes were not needed"
        }
        (Language::Python, Model::Asyncio) => {
            "the event loop overlapped the downloads and handed each image to a process pool \
             (run_in_executor): the chapter's rule, from asyncio"
        }
        (Language::Rust, Model::Multiprocessing) => {
            "threads overlapped the downloads while worker processes computed the images on \
             every core: the chapter's rule"
        }
        (Language::Rust, Model::Threading) => {
            "the same threads overlapped the downloads and computed on every core: Rust threads \
             have no GIL, so the mixed job needs no processes"
        }
        (Language::Rust, Model::Asyncio) => {
            "one event loop overlapped the downloads while spawn_blocking computed the images \
             on tokio's blocking threads: with no GIL, no processes were needed"
        }
    })
}

/// The chapter's rows with the measured winner, in each language, where a scenario covers them.
pub fn verdicts(report: &Report) -> Vec<RowVerdict> {
    ROWS.iter().map(|row| verdict(row, report)).collect()
}

pub fn verdict(row: &Row, report: &Report) -> RowVerdict {
    RowVerdict {
        job: row.job.into(),
        chapter_choice: row.chapter_choice_text(),
        scenario: row.scenario.map(str::to_string),
        rust: judge(row, report, Language::Rust),
        python: Some(judge(row, report, Language::Python)),
    }
}

/// The verdict on one row in one language: only that language's runs, on one set of inputs,
/// are compared.
pub fn judge(row: &Row, report: &Report, language: Language) -> LanguageVerdict {
    let not_covered = |why: String| LanguageVerdict {
        fastest: None,
        verdict: Verdict::NotCovered,
        why,
    };
    let Some(name) = row.scenario else {
        return not_covered("no scenario of this workspace measures this job yet".into());
    };
    let Some(scenario) = report.scenarios.iter().find(|s| s.name == name) else {
        return not_covered(format!("the '{name}' scenario was not part of this run"));
    };
    // The responsive-GUI row is judged on how smoothly the interface drew, not on time.
    if name == super::gui::SCENARIO {
        return super::gui::judge(row, scenario, language);
    }
    // Only the models compete: a ceiling timed beside them (bigfile's `cat` and `wc -l`, which
    // read without parsing) and a lower bound (the pipeline's `-apart` rows, its two halves
    // timed alone) are yardsticks for the report's tables, not answers to the chapter's question.
    // The row's own rows (bigfile's warm or cold ones), compared on one kind of input: those of
    // the picked serial run (`serial`, or `serial-cold`), else of the first picked row.
    let picked: Vec<&Entry> = scenario
        .entries_of(language)
        .filter(|e| row.pick.takes(&e.bench.name))
        .collect();
    let plain = format!("{}serial{}", language.name_prefix(), row.pick.suffix());
    let serial = picked
        .iter()
        .find(|e| e.bench.name == plain)
        .or_else(|| picked.iter().find(|e| e.model() == Some(Model::Serial)))
        .copied();
    let Some(reference) = serial.or_else(|| picked.first().copied()) else {
        return not_covered(format!(
            "no {language} run of the '{name}' scenario{} in this run",
            match row.pick {
                Pick::With(suffix) => format!("'s `{suffix}` rows"),
                _ => String::new(),
            }
        ));
    };
    let entries: Vec<&Entry> = picked
        .into_iter()
        .filter(|e| e.runs_as().is_some() && !e.bench.name.ends_with("-apart"))
        .filter(|e| Scenario::digest_peers(e, reference))
        .collect();
    let by_time = |a: &&&Entry, b: &&&Entry| a.bench.mean.total_cmp(&b.bench.mean);
    let Some(&fastest) = entries.iter().min_by(by_time) else {
        return not_covered(format!(
            "no {language} run of the '{name}' scenario in this run"
        ));
    };
    let measured = Measured::new(scenario, language, serial, &entries);
    let chosen = |e: &Entry| e.runs_as().is_some_and(|m| row.recommends(m));
    let best_of_chapter = entries
        .iter()
        .filter(|e| chosen(e))
        .min_by(by_time)
        .copied();
    let runner_up = entries
        .iter()
        .filter(|e| e.runs_as() != fastest.runs_as())
        .min_by(by_time)
        .copied();
    let (verdict, rival) = if chosen(fastest) {
        (Verdict::Agrees, runner_up)
    } else if best_of_chapter.is_some_and(|c| tie(&c.bench, &fastest.bench)) {
        (Verdict::Tie, best_of_chapter)
    } else {
        (Verdict::Differs, best_of_chapter.or(runner_up))
    };
    LanguageVerdict {
        fastest: Some(fastest.bench.name.clone()),
        verdict,
        why: explain(&measured, fastest, rival),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run::{Meta, Scenario};

    fn bench(name: &str, mean: f64) -> Bench {
        Bench::fixed(name, mean, 3)
    }

    fn scenario(name: &str, entries: &[(&str, f64)]) -> Scenario {
        Scenario {
            name: name.into(),
            entries: entries
                .iter()
                .map(|(n, m)| Entry::new(bench(n, *m)))
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
            pick: Pick::All,
        }
    }

    /// One language's verdict on a hand-made row over a one-scenario report.
    fn judged(
        name: &'static str,
        choice: &'static [Model],
        language: Language,
        entries: &[(&str, f64)],
    ) -> LanguageVerdict {
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![scenario(name, entries)],
        };
        judge(&row(name, choice), &report, language)
    }

    #[test]
    fn verdicts_agree_tie_differ_and_not_covered() {
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
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
        let rust = |r: Row| judge(&r, &report, Language::Rust);
        let matrix = rust(row("matrix", processes));
        assert_eq!(matrix.verdict, Verdict::Differs);
        assert!(matrix.why.contains("no GIL"), "{}", matrix.why);
        assert_eq!(rust(row("images", processes)).verdict, Verdict::Tie);
        let asyncio = rust(row("requests", &[Model::Asyncio]));
        assert_eq!(asyncio.verdict, Verdict::Agrees);
        let either = rust(row("requests", &[Model::Asyncio, Model::Threading]));
        assert_eq!(either.verdict, Verdict::Agrees);
        let chat = rust(row("chat", &[Model::Asyncio]));
        assert_eq!(chat.verdict, Verdict::NotCovered);
        // Only Rust ran: Python's verdict is "not covered", not Rust's borrowed.
        let python = judge(&row("matrix", processes), &report, Language::Python);
        assert_eq!(python.verdict, Verdict::NotCovered);
        assert!(python.why.contains("no Python run"), "{}", python.why);
        let all = verdicts(&report);
        let gui = all.iter().find(|v| v.job == "Responsive GUI").unwrap();
        assert_eq!(gui.rust.verdict, Verdict::NotCovered);
    }

    #[test]
    fn python_threads_on_one_core_are_not_credited_to_a_library() {
        // Pure-Python threads came first within noise, on one core's CPU time (bench() gives
        // every run as much CPU as wall): the GIL, not a library releasing it.
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![scenario(
                "matrix",
                &[
                    ("python-serial", 1.46),
                    ("python-threading", 1.21),
                    ("python-multiprocessing", 1.36),
                ],
            )],
        };
        let v = judge(
            &row("matrix", &[Model::Multiprocessing]),
            &report,
            Language::Python,
        );
        assert_eq!(v.fastest.as_deref(), Some("python-threading"));
        assert!(v.why.contains("one core busy"), "{}", v.why);
        assert!(!v.why.contains("releases the GIL"), "{}", v.why);
    }

    #[test]
    fn an_event_loop_that_computed_itself_is_not_said_to_have_used_a_pool() {
        let here = |language, entries: &[(&str, f64)]| {
            judged("matrix", &[Model::Asyncio], language, entries)
        };
        let python = [
            ("python-serial", 2.0),
            ("python-threading", 1.9),
            ("python-asyncio", 1.8),
        ];
        let blocking = here(
            Language::Python,
            &[
                python[0],
                python[1],
                python[2],
                ("python-asyncio-blocking", 1.2),
            ],
        );
        assert_eq!(blocking.fastest.as_deref(), Some("python-asyncio-blocking"));
        assert!(
            blocking.why.contains("did the CPU work itself"),
            "{}",
            blocking.why
        );
        assert!(!blocking.why.contains("executor pool"), "{}", blocking.why);
        let pooled = here(Language::Python, &python);
        assert_eq!(pooled.fastest.as_deref(), Some("python-asyncio"));
        assert!(pooled.why.contains("executor pool"), "{}", pooled.why);
        let rust = here(
            Language::Rust,
            &[("serial", 2.0), ("asyncio", 1.5), ("asyncio-blocking", 1.0)],
        );
        assert_eq!(rust.fastest.as_deref(), Some("asyncio-blocking"));
        assert!(rust.why.contains("did the CPU work itself"), "{}", rust.why);
        assert!(!rust.why.contains("spawn_blocking"), "{}", rust.why);
    }

    #[test]
    fn the_mixed_row_names_both_halves_whatever_its_cpu_share() {
        // Bench::fixed entries spend their whole wall time on CPU, so without its own reasons
        // the pipeline row would be explained as CPU-bound work; measured, it flipped.
        let here = |language, entries: &[(&str, f64)]| {
            judged("pipeline", &[Model::Multiprocessing], language, entries)
        };
        let python = here(
            Language::Python,
            &[
                ("python-serial", 4.0),
                ("python-threading", 3.1),
                ("python-multiprocessing", 2.3),
                ("python-asyncio", 2.4),
            ],
        );
        assert_eq!(python.fastest.as_deref(), Some("python-multiprocessing"));
        assert!(
            python.why.contains("thread pool overlapped the downloads"),
            "{}",
            python.why
        );
        assert!(python.why.contains("chapter's rule"), "{}", python.why);
        let rust = here(
            Language::Rust,
            &[
                ("serial", 3.0),
                ("threading", 1.8),
                ("multiprocessing", 1.7),
                ("asyncio", 1.5),
            ],
        );
        assert_eq!(rust.fastest.as_deref(), Some("asyncio"));
        assert!(
            rust.why.contains("spawn_blocking computed the images"),
            "{}",
            rust.why
        );
        // The same entries under another scenario keep the general, CPU-bound reason.
        let other = judged(
            "matrix",
            &[Model::Multiprocessing],
            Language::Rust,
            &[("serial", 3.0), ("threading", 1.8), ("asyncio", 1.5)],
        );
        assert!(!other.why.contains("downloads"), "{}", other.why);
    }

    #[test]
    fn warm_and_cold_rows_of_bigfile_are_two_rows_of_the_table() {
        // Threads win warm, processes cold; each pick sees only its own rows, and the cold one
        // is measured against `serial-cold`, not against the warm serial run.
        let mut s = scenario(
            "bigfile",
            &[
                ("serial-cold", 0.9),
                ("threading-cold", 0.6),
                ("multiprocessing-cold", 0.5),
                ("cat-cold", 0.1),
                ("serial", 2.0),
                ("threading", 1.0),
                ("multiprocessing", 1.3),
                ("cat", 0.1),
            ],
        );
        for e in &mut s.entries {
            let cold = e.bench.name.ends_with("-cold");
            if !e.bench.name.starts_with("cat") {
                e.digest_group = Some(if cold { "rust-cold" } else { "rust" }.into());
            }
        }
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![s],
        };
        let rows: Vec<&Row> = ROWS
            .iter()
            .filter(|r| r.scenario == Some("bigfile"))
            .collect();
        assert_eq!(rows.len(), 2, "warm and cold are two rows");
        let warm = judge(rows[0], &report, Language::Rust);
        assert_eq!(warm.fastest.as_deref(), Some("threading"));
        assert_eq!(warm.verdict, Verdict::Differs);
        let cold = judge(rows[1], &report, Language::Rust);
        assert_eq!(cold.fastest.as_deref(), Some("multiprocessing-cold"));
        assert_eq!(cold.verdict, Verdict::Agrees);
        assert!(cold.why.contains("threading-cold"), "{}", cold.why);
        let bigfile = report.scenario("bigfile").unwrap();
        let threading_cold = &bigfile.entries[1];
        let speedup = bigfile.speedup(threading_cold).unwrap();
        assert!(
            (speedup - 1.5).abs() < 1e-9,
            "against serial-cold: {speedup}"
        );
        // No Python cold rows: that half of the row is not covered, and says which rows.
        let python = judge(rows[1], &report, Language::Python);
        assert_eq!(python.verdict, Verdict::NotCovered);
        assert!(python.why.contains("-cold"), "{}", python.why);
    }

    #[test]
    fn ceilings_and_lower_bounds_are_not_candidates() {
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![
                scenario(
                    "bigfile",
                    &[
                        ("serial", 2.0),
                        ("multiprocessing", 1.1),
                        ("threading", 1.0),
                        ("cat", 0.1),
                        ("wc-l", 0.2),
                    ],
                ),
                scenario(
                    "pipeline",
                    &[
                        ("serial", 3.0),
                        ("threading-apart", 0.9),
                        ("multiprocessing", 1.0),
                        ("threading", 1.6),
                    ],
                ),
            ],
        };
        let processes = &[Model::Multiprocessing];
        let bigfile = judge(&row("bigfile", processes), &report, Language::Rust);
        assert_eq!(bigfile.fastest.as_deref(), Some("threading"));
        let pipeline = judge(&row("pipeline", processes), &report, Language::Rust);
        assert_eq!(pipeline.fastest.as_deref(), Some("multiprocessing"));
        assert_eq!(pipeline.verdict, Verdict::Agrees);
    }

    #[test]
    fn rayon_inside_the_multiprocessing_crate_counts_as_threads() {
        let rayon = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![scenario(
                "matrix",
                &[
                    ("serial", 2.0),
                    ("multiprocessing-rayon", 1.0),
                    ("multiprocessing", 1.4),
                ],
            )],
        };
        let v = judge(
            &row("matrix", &[Model::Multiprocessing]),
            &rayon,
            Language::Rust,
        );
        assert_eq!(v.verdict, Verdict::Differs);
        assert!(v.why.contains("rayon"), "{}", v.why);
    }

    #[test]
    fn verdicts_json_keeps_rust_at_the_top_level_and_reads_files_without_python() {
        let report = Report {
            meta: Meta::default(),
            sweeps: Default::default(),
            scenarios: vec![scenario(
                "matrix",
                &[
                    ("serial", 2.0),
                    ("threading", 1.0),
                    ("python-serial", 4.0),
                    ("python-multiprocessing", 2.1),
                ],
            )],
        };
        let v = verdict(&row("matrix", &[Model::Multiprocessing]), &report);
        let json: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(json["fastest"], "threading");
        assert_eq!(json["verdict"], "differs");
        assert_eq!(json["python"]["fastest"], "python-multiprocessing");
        assert_eq!(json["python"]["verdict"], "agrees");
        let old = r#"{"job":"x","chapter_choice":"asyncio","scenario":null,"fastest":null,
                     "verdict":"not covered","why":"no scenario"}"#;
        let old: RowVerdict = serde_json::from_str(old).unwrap();
        assert_eq!(old.rust.verdict, Verdict::NotCovered);
        assert_eq!(old.python, None);
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
